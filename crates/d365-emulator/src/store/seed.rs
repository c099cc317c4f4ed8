//! Deterministic, realistic seed data: accounts with two contacts each, the first being the
//! account's primary contact. The same seed gives the same rows, ids included.

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use d365_odata::model::Model;

use super::schema::ident;

/// SplitMix64: tiny, fast, and good enough for test data (not for secrets).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (hi exclusive).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo) as u64) as i64
    }

    /// One of the items.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next_u64() as usize % items.len()]
    }

    /// A version-4-shaped GUID.
    pub fn guid(&mut self) -> uuid::Uuid {
        let bytes = ((self.next_u64() as u128) << 64) | self.next_u64() as u128;
        uuid::Builder::from_random_bytes(bytes.to_le_bytes()).into_uuid()
    }
}

const PREFIXES: &[&str] = &[
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Adventure",
    "Litware",
    "Tailspin",
    "Wingtip",
    "Proseware",
    "Alpine",
    "Coho",
    "Humongous",
    "Lucerne",
    "Margie's",
    "Trey",
    "Wide World",
    "Blue Yonder",
    "Fourth Coffee",
    "Graphic Design",
    "Woodgrove",
    "Relecloud",
    "Datum",
    "City Power",
    "Southridge",
    "Consolidated",
    "Bellows",
    "Munson's",
    "Lamna",
    "VanArsdel",
    "Best For You",
    "Nod",
];
const NOUNS: &[&str] = &[
    "Traders",
    "Works",
    "Systems",
    "Logistics",
    "Foods",
    "Energy",
    "Health",
    "Motors",
    "Airlines",
    "Bank",
    "Insurance",
    "Labs",
    "Publishing",
    "Outfitters",
    "Winery",
    "Pharmaceuticals",
    "Consulting",
    "Industries",
    "Partners",
    "Retail",
];
const SUFFIXES: &[&str] = &[
    "Inc.", "Ltd", "GmbH", "LLC", "Corp.", "S.A.", "plc", "AG", "Pty Ltd", "Co.",
];
const FIRST: &[&str] = &[
    "Maria", "James", "Aiko", "Carlos", "Fatima", "Liam", "Olga", "Chen", "Priya", "Noah", "Amara",
    "Lukas", "Sofia", "Mateo", "Ingrid", "Kwame", "Yuki", "Elena", "Omar", "Grace", "Hugo",
    "Zanele", "Ravi", "Nora",
];
const LAST: &[&str] = &[
    "Garcia",
    "Smith",
    "Tanaka",
    "O'Brien",
    "Haddad",
    "Müller",
    "Ivanova",
    "Wang",
    "Patel",
    "Johnson",
    "Okafor",
    "Schmidt",
    "Rossi",
    "Fernández",
    "Larsen",
    "Mensah",
    "Sato",
    "Popescu",
    "Khan",
    "Lee",
    "Dubois",
    "Dlamini",
    "Sharma",
    "Nilsen",
];
const CITIES: &[(&str, &str)] = &[
    ("Seattle", "United States"),
    ("Redmond", "United States"),
    ("Chicago", "United States"),
    ("Toronto", "Canada"),
    ("London", "United Kingdom"),
    ("Dublin", "Ireland"),
    ("Berlin", "Germany"),
    ("Munich", "Germany"),
    ("Paris", "France"),
    ("Madrid", "Spain"),
    ("Milan", "Italy"),
    ("Amsterdam", "Netherlands"),
    ("Stockholm", "Sweden"),
    ("Oslo", "Norway"),
    ("Tokyo", "Japan"),
    ("Sydney", "Australia"),
    ("Singapore", "Singapore"),
    ("São Paulo", "Brazil"),
    ("Mexico City", "Mexico"),
    ("Johannesburg", "South Africa"),
    ("Mumbai", "India"),
    ("Nairobi", "Kenya"),
];
const TITLES: &[&str] = &[
    "Purchasing Manager",
    "CFO",
    "CEO",
    "IT Director",
    "Sales Representative",
    "Office Manager",
    "Operations Lead",
    "Procurement Specialist",
    "Head of Finance",
    "Account Executive",
];

/// 2020-01-01T00:00:00Z.
const EPOCH_2020: i64 = 1_577_836_800;

fn slug(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            'ü' => Some('u'),
            'á' => Some('a'),
            _ => None,
        })
        .collect()
}

fn insert_sql(model: &Model, entity: &str) -> (String, Vec<String>) {
    let e = model.entity_type(entity).expect("built-in entity");
    let names: Vec<String> = e.properties.iter().map(|p| p.name.clone()).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        ident(entity),
        names
            .iter()
            .map(|n| ident(n))
            .collect::<Vec<_>>()
            .join(", "),
        vec!["?"; names.len()].join(", ")
    );
    (sql, names)
}

fn row(names: &[String], values: Vec<(&str, Value)>) -> Vec<Value> {
    names
        .iter()
        .map(|n| {
            values
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null)
        })
        .collect()
}

/// Seeds `accounts` accounts and twice as many contacts, unless accounts already exist.
/// Returns the number of accounts inserted.
pub fn seed(
    conn: &mut Connection,
    model: &Model,
    accounts: usize,
    seed: u64,
) -> rusqlite::Result<usize> {
    let existing: i64 = conn.query_row("SELECT count(*) FROM account", [], |r| r.get(0))?;
    if existing > 0 || accounts == 0 {
        return Ok(0);
    }
    let mut rng = Rng::new(seed);
    let tx = conn.transaction()?;
    {
        let (account_sql, account_cols) = insert_sql(model, "account");
        let (contact_sql, contact_cols) = insert_sql(model, "contact");
        let mut insert_account = tx.prepare(&account_sql)?;
        let mut insert_contact = tx.prepare(&contact_sql)?;
        let mut version: i64 = 100_000;
        // Spread creation times over six years, in creation order.
        let span = 6 * 365 * 86_400 / accounts.max(1) as i64;
        for i in 0..accounts {
            let account_id = rng.guid();
            let name = format!(
                "{} {} {}",
                rng.pick(PREFIXES),
                rng.pick(NOUNS),
                rng.pick(SUFFIXES)
            );
            let domain = format!(
                "{}{}.example.com",
                slug(&name[..name.find(' ').unwrap_or(name.len())]),
                i
            );
            let (city, country) = CITIES[rng.next_u64() as usize % CITIES.len()];
            let created = EPOCH_2020 + i as i64 * span + rng.range(0, span.max(1));
            let inactive = rng.range(0, 20) == 0;
            let mut contact_ids = Vec::new();
            for c in 0..2 {
                let contact_id = rng.guid();
                contact_ids.push(contact_id);
                let first = rng.pick(FIRST);
                let last = rng.pick(LAST);
                let birth = time::Date::from_julian_day(rng.range(2_433_283, 2_452_276) as i32)
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                version += 1;
                insert_contact.execute(params_from_iter(row(
                    &contact_cols,
                    vec![
                        ("contactid", Value::Blob(contact_id.as_bytes().to_vec())),
                        ("createdon", Value::Integer(created + 60 * (c + 1))),
                        (
                            "modifiedon",
                            Value::Integer(created + 60 * (c + 1) + rng.range(0, 86_400 * 30)),
                        ),
                        ("versionnumber", Value::Integer(version)),
                        ("firstname", Value::Text(first.into())),
                        ("lastname", Value::Text(last.into())),
                        ("fullname", Value::Text(format!("{first} {last}"))),
                        (
                            "emailaddress1",
                            Value::Text(format!("{}.{}@{domain}", slug(first), slug(last))),
                        ),
                        (
                            "telephone1",
                            Value::Text(format!("+1-425-555-{:04}", rng.range(0, 10_000))),
                        ),
                        ("jobtitle", Value::Text(rng.pick(TITLES).into())),
                        ("birthdate", Value::Text(birth)),
                        ("statecode", Value::Integer(0)),
                        ("statuscode", Value::Integer(1)),
                        (
                            "_parentcustomerid_value",
                            Value::Blob(account_id.as_bytes().to_vec()),
                        ),
                    ],
                )))?;
            }
            version += 1;
            // Revenue in whole cents, stored scaled by 10^4.
            let revenue_cents = rng.range(1_000_000, 50_000_000_000);
            insert_account.execute(params_from_iter(row(
                &account_cols,
                vec![
                    ("accountid", Value::Blob(account_id.as_bytes().to_vec())),
                    ("createdon", Value::Integer(created)),
                    (
                        "modifiedon",
                        Value::Integer(created + rng.range(0, 86_400 * 90)),
                    ),
                    ("versionnumber", Value::Integer(version)),
                    ("name", Value::Text(name)),
                    ("accountnumber", Value::Text(format!("ACC-{:06}", i + 1))),
                    ("revenue", Value::Integer(revenue_cents * 100)),
                    ("numberofemployees", Value::Integer(rng.range(5, 50_000))),
                    (
                        "telephone1",
                        Value::Text(format!("+1-206-555-{:04}", rng.range(0, 10_000))),
                    ),
                    ("emailaddress1", Value::Text(format!("info@{domain}"))),
                    ("websiteurl", Value::Text(format!("https://www.{domain}"))),
                    ("address1_city", Value::Text(city.into())),
                    ("address1_country", Value::Text(country.into())),
                    ("industrycode", Value::Integer(rng.range(1, 34))),
                    (
                        "creditonhold",
                        Value::Integer((rng.range(0, 10) == 0) as i64),
                    ),
                    ("statecode", Value::Integer(inactive as i64)),
                    ("statuscode", Value::Integer(if inactive { 2 } else { 1 })),
                    (
                        "_primarycontactid_value",
                        Value::Blob(contact_ids[0].as_bytes().to_vec()),
                    ),
                ],
            )))?;
        }
    }
    tx.commit()?;
    Ok(accounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_related() {
        let model = crate::dataverse::model::DataverseModel::default().model;
        let run = || {
            let mut conn = Connection::open_in_memory().unwrap();
            super::super::schema::create_tables(&conn, &model).unwrap();
            assert_eq!(seed(&mut conn, &model, 50, 7).unwrap(), 50);
            assert_eq!(
                seed(&mut conn, &model, 50, 7).unwrap(),
                0,
                "never seeds twice"
            );
            let names: Vec<String> = conn
                .prepare("SELECT name FROM account ORDER BY createdon")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let orphans: i64 = conn
                .query_row("SELECT count(*) FROM contact c WHERE NOT EXISTS (SELECT 1 FROM account a WHERE a.accountid = c._parentcustomerid_value)", [], |r| r.get(0))
                .unwrap();
            let contacts: i64 = conn
                .query_row("SELECT count(*) FROM contact", [], |r| r.get(0))
                .unwrap();
            (names, orphans, contacts)
        };
        let (a, orphans, contacts) = run();
        assert_eq!(a, run().0);
        assert_eq!(orphans, 0);
        assert_eq!(contacts, 100);
    }
}
