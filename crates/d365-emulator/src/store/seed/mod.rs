//! Deterministic, realistic seed data: accounts with two contacts each, the first being the
//! account's primary contact. The same seed gives the same rows, ids included.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params_from_iter};

use d365_odata::model::Model;

use super::guid;
use super::schema::ident;

mod load;
mod names;

use names::{
    CITIES, FIRST, LAST, LEAD_SUBJECTS, NOUNS, OPPORTUNITY_TOPICS, PREFIXES, SUFFIXES,
    TASK_SUBJECTS, TITLES,
};

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

    /// A version-4-shaped GUID whose first six bytes are `n`: ids handed out in order sort in
    /// creation order, as Dataverse's sequential GUIDs do, so bulk inserts append to the key
    /// index instead of splitting pages all over it.
    pub fn sequential_guid(&mut self, n: u64) -> uuid::Uuid {
        let mut bytes = (((self.next_u64() as u128) << 64) | self.next_u64() as u128).to_be_bytes();
        bytes[..6].copy_from_slice(&n.to_be_bytes()[2..]);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// A version-4-shaped GUID.
    pub fn guid(&mut self) -> uuid::Uuid {
        let bytes = ((self.next_u64() as u128) << 64) | self.next_u64() as u128;
        uuid::Builder::from_random_bytes(bytes.to_le_bytes()).into_uuid()
    }
}

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
    let names: Vec<String> = super::schema::stored_columns(e)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
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

/// The directory rows every emulator has: the root business unit, the organization, its
/// default team, and a systemuser per configured user and application user.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// The organization (`organizationid`, name).
    pub organization: (uuid::Uuid, String),
    /// The root business unit.
    pub business_unit: uuid::Uuid,
    /// Users: (`systemuserid`, Entra object id, UPN, first name, last name).
    pub users: Vec<(uuid::Uuid, uuid::Uuid, String, String, String)>,
    /// Application users: (`systemuserid`, application id, name).
    pub app_users: Vec<(uuid::Uuid, uuid::Uuid, String)>,
}

/// The default team's id: derived from the business unit, so it is stable across restarts.
fn default_team(bu: uuid::Uuid) -> uuid::Uuid {
    let mut b = *bu.as_bytes();
    b[0] ^= 0x7e;
    uuid::Uuid::from_bytes(b)
}

/// The base currency's id: derived from the organization, so it is stable across restarts.
pub fn base_currency(organization: uuid::Uuid) -> uuid::Uuid {
    let mut b = *organization.as_bytes();
    b[0] ^= 0x5c;
    uuid::Uuid::from_bytes(b)
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// Inserts rows of one table through one prepared statement.
struct Inserter<'c> {
    statement: rusqlite::Statement<'c>,
    /// Column names in parameter order.
    names: Vec<String>,
    /// For the i-th value of the last call: its column's name and parameter position. Calls
    /// list columns in the same order every time, so this turns lookups into one compare.
    memo: Vec<(String, Option<usize>)>,
    /// Polymorphic lookups whose rows all point at one table: (value position, target type
    /// position, the table).
    targets: Vec<(usize, usize, Value)>,
}

impl<'c> Inserter<'c> {
    fn new(
        tx: &'c Connection,
        model: &Model,
        entity: &str,
        or_ignore: bool,
    ) -> rusqlite::Result<Self> {
        let (sql, names) = insert_sql(model, entity);
        let sql = if or_ignore {
            sql.replacen("INSERT", "INSERT OR IGNORE", 1)
        } else {
            sql
        };
        Ok(Self {
            statement: tx.prepare(&sql)?,
            names,
            memo: Vec::new(),
            targets: Vec::new(),
        })
    }

    /// Every row's `lookup` points into `table` (a seeded owner is a user; a seeded customer,
    /// regarding record or note parent an account): its target type is written with it.
    fn pointing(mut self, lookup: &str, table: &str) -> Self {
        let kind = super::schema::lookup_type_column(lookup);
        let at = |name: &str| self.names.iter().position(|n| n == name);
        if let (Some(value), Some(kind)) = (at(lookup), at(&kind)) {
            self.targets.push((value, kind, text(table)));
        }
        self
    }

    fn position(&mut self, i: usize, name: &str) -> Option<usize> {
        if let Some((memo_name, pos)) = self.memo.get(i)
            && memo_name == name
        {
            return *pos;
        }
        let pos = self.names.iter().position(|n| n == name);
        if i < self.memo.len() {
            self.memo[i] = (name.to_owned(), pos);
        } else {
            self.memo.push((name.to_owned(), pos));
        }
        pos
    }

    /// Inserts a row; columns the table lacks (a `--metadata` table with fewer columns) are
    /// skipped, columns not given are null.
    fn insert(&mut self, values: Vec<(&str, Value)>) -> rusqlite::Result<()> {
        let mut row = vec![Value::Null; self.names.len()];
        for (i, (name, value)) in values.into_iter().enumerate() {
            if let Some(p) = self.position(i, name) {
                row[p] = value;
            }
        }
        for (value, kind, table) in &self.targets {
            if row[*value] != Value::Null {
                row[*kind] = table.clone();
            }
        }
        self.statement.execute(params_from_iter(row)).map(|_| ())
    }
}

/// Writes (or refreshes) the directory rows, in the caller's transaction. Idempotent.
pub fn seed_directory(conn: &Connection, model: &Model, dir: &Directory) -> rusqlite::Result<()> {
    let tx = conn;
    let created = Value::Integer(EPOCH_2020 - 86_400);
    // Every directory row is stamped created in 2020, at the next version from 1,000.
    let mut version = 999;
    let mut insert = |table: &mut Inserter<'_>, columns: Vec<(&'static str, Value)>| {
        version += 1;
        let mut values = vec![
            ("createdon", created.clone()),
            ("modifiedon", created.clone()),
            ("versionnumber", Value::Integer(version)),
        ];
        values.extend(columns);
        table.insert(values)
    };
    insert(
        &mut Inserter::new(tx, model, "organization", true)?,
        vec![
            ("organizationid", guid(dir.organization.0)),
            ("name", text(&dir.organization.1)),
            ("languagecode", Value::Integer(1033)),
            ("localeid", Value::Integer(1033)),
            ("currencysymbol", text("$")),
            ("pricingdecimalprecision", Value::Integer(2)),
        ],
    )?;
    insert(
        &mut Inserter::new(tx, model, "businessunit", true)?,
        vec![
            ("businessunitid", guid(dir.business_unit)),
            ("name", text(&dir.organization.1)),
            ("isdisabled", Value::Integer(0)),
        ],
    )?;
    insert(
        &mut Inserter::new(tx, model, "transactioncurrency", true)?,
        vec![
            (
                "transactioncurrencyid",
                guid(base_currency(dir.organization.0)),
            ),
            ("currencyname", text("US Dollar")),
            ("isocurrencycode", text("USD")),
            ("currencysymbol", text("$")),
            ("currencyprecision", Value::Integer(2)),
            ("exchangerate", Value::Integer(10_000_000_000)),
        ],
    )?;
    insert(
        &mut Inserter::new(tx, model, "team", true)?,
        vec![
            ("teamid", guid(default_team(dir.business_unit))),
            ("name", text(&dir.organization.1)),
            ("isdefault", Value::Integer(1)),
            ("teamtype", Value::Integer(0)),
            ("_businessunitid_value", guid(dir.business_unit)),
        ],
    )?;
    let mut user = Inserter::new(tx, model, "systemuser", true)?;
    for (id, oid, upn, first, last) in &dir.users {
        insert(
            &mut user,
            vec![
                ("systemuserid", guid(*id)),
                ("fullname", Value::Text(format!("{first} {last}"))),
                ("firstname", text(first)),
                ("lastname", text(last)),
                ("domainname", text(upn)),
                ("internalemailaddress", text(upn)),
                ("azureactivedirectoryobjectid", guid(*oid)),
                ("isdisabled", Value::Integer(0)),
                ("accessmode", Value::Integer(0)),
                ("_businessunitid_value", guid(dir.business_unit)),
            ],
        )?;
    }
    for (id, app, name) in &dir.app_users {
        insert(
            &mut user,
            vec![
                ("systemuserid", guid(*id)),
                ("fullname", Value::Text(format!("# {name}"))),
                ("lastname", text(name)),
                ("domainname", Value::Text(format!("{app}@emulator.local"))),
                ("applicationid", guid(*app)),
                ("isdisabled", Value::Integer(0)),
                ("accessmode", Value::Integer(4)),
                ("_businessunitid_value", guid(dir.business_unit)),
            ],
        )?;
    }
    Ok(())
}

/// Seeds `accounts` accounts into empty tables as a bulk load (at start-up, when this is the
/// only connection): indexes dropped and built once at the end, a big page cache, and for a
/// file database one write of each page instead of WAL plus checkpoint. Returns the number of
/// accounts inserted (0 when accounts exist).
pub fn seed(
    conn: &mut Connection,
    model: &Model,
    accounts: usize,
    seed: u64,
    owner: uuid::Uuid,
    business_unit: uuid::Uuid,
) -> rusqlite::Result<usize> {
    let existing: i64 = conn.query_row("SELECT count(*) FROM account", [], |r| r.get(0))?;
    if existing > 0 || accounts == 0 {
        return Ok(0);
    }
    super::schema::drop_indexes(conn, model)?;
    let cache: i64 = conn.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
    conn.pragma_update(None, "cache_size", -512 * 1024)?;
    let journal: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    if journal.eq_ignore_ascii_case("wal") {
        conn.query_row("PRAGMA journal_mode = MEMORY", [], |_| Ok(()))?;
    }
    let tx = conn.transaction()?;
    seed_rows(&tx, model, accounts, seed, owner, business_unit)?;
    tx.commit()?;
    super::schema::create_tables(conn, model)?;
    conn.pragma_update(None, "cache_size", cache)?;
    if journal.eq_ignore_ascii_case("wal") {
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    }
    Ok(accounts)
}

/// Inserts `accounts` accounts with, for each, two contacts (the first is the primary
/// contact), one opportunity and one task; and a lead and a note for every fifth account,
/// in the caller's transaction. Owned rows belong to `owner` in `business_unit`.
pub fn seed_rows(
    tx: &Connection,
    model: &Model,
    accounts: usize,
    seed: u64,
    owner: uuid::Uuid,
    business_unit: uuid::Uuid,
) -> rusqlite::Result<usize> {
    // Money comes in the base currency (seeded with the directory; none in bare tests).
    let currency: Value = tx
        .query_row(
            "SELECT transactioncurrencyid FROM transactioncurrency LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(Value::Null);
    let mut rng = Rng::new(seed);
    // Ids in creation order (see `Rng::sequential_guid`), starting at a seed-dependent point.
    let mut serial = (seed % 0xffff) << 32;
    let mut next_id = move |rng: &mut Rng| {
        serial += 1;
        rng.sequential_guid(serial)
    };
    {
        let owned = |table: &str| {
            Ok::<_, rusqlite::Error>(
                Inserter::new(tx, model, table, false)?.pointing("_ownerid_value", "systemuser"),
            )
        };
        let mut insert_account = owned("account")?;
        let mut insert_contact = owned("contact")?.pointing("_parentcustomerid_value", "account");
        let mut insert_opportunity = owned("opportunity")?;
        let mut insert_task = owned("task")?.pointing("_regardingobjectid_value", "account");
        let mut insert_lead = owned("lead")?;
        let mut insert_note = owned("annotation")?.pointing("_objectid_value", "account");
        let mut version: i64 = 100_000;
        // Every owned row: dates, version, creator, owner, business unit.
        let stamp = |created: i64, modified: i64, version: &mut i64| {
            *version += 1;
            vec![
                ("createdon", Value::Integer(created)),
                ("modifiedon", Value::Integer(modified)),
                ("versionnumber", Value::Integer(*version)),
                ("_createdby_value", guid(owner)),
                ("_modifiedby_value", guid(owner)),
                ("_ownerid_value", guid(owner)),
                ("_owningbusinessunit_value", guid(business_unit)),
                ("_transactioncurrencyid_value", currency.clone()),
            ]
        };
        // Spread creation times over six years, in creation order.
        let span = 6 * 365 * 86_400 / accounts.max(1) as i64;
        for i in 0..accounts {
            let account_id = next_id(&mut rng);
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
                let contact_id = next_id(&mut rng);
                contact_ids.push(contact_id);
                let first = rng.pick(FIRST);
                let last = rng.pick(LAST);
                let birth = time::Date::from_julian_day(rng.range(2_433_283, 2_452_276) as i32)
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                let at = created + 60 * (c + 1);
                let mut values = stamp(at, at + rng.range(0, 86_400 * 30), &mut version);
                values.extend([
                    ("contactid", guid(contact_id)),
                    ("firstname", text(first)),
                    ("lastname", text(last)),
                    ("fullname", Value::Text(format!("{first} {last}"))),
                    (
                        "emailaddress1",
                        Value::Text(format!("{}.{}@{domain}", slug(first), slug(last))),
                    ),
                    (
                        "telephone1",
                        Value::Text(format!("+1-425-555-{:04}", rng.range(0, 10_000))),
                    ),
                    ("jobtitle", text(rng.pick(TITLES))),
                    ("birthdate", Value::Text(birth)),
                    ("statecode", Value::Integer(0)),
                    ("statuscode", Value::Integer(1)),
                    ("_parentcustomerid_value", guid(account_id)),
                ]);
                insert_contact.insert(values)?;
            }
            // Revenue in whole cents, stored scaled by 10^4.
            let revenue_cents = rng.range(1_000_000, 50_000_000_000);
            let mut values = stamp(created, created + rng.range(0, 86_400 * 90), &mut version);
            values.extend([
                ("accountid", guid(account_id)),
                ("name", Value::Text(name.clone())),
                ("accountnumber", Value::Text(format!("ACC-{:06}", i + 1))),
                ("revenue", Value::Integer(revenue_cents * 100)),
                ("numberofemployees", Value::Integer(rng.range(5, 50_000))),
                (
                    "telephone1",
                    Value::Text(format!("+1-206-555-{:04}", rng.range(0, 10_000))),
                ),
                ("emailaddress1", Value::Text(format!("info@{domain}"))),
                ("websiteurl", Value::Text(format!("https://www.{domain}"))),
                ("address1_city", text(city)),
                ("address1_country", text(country)),
                ("industrycode", Value::Integer(rng.range(1, 34))),
                (
                    "creditonhold",
                    Value::Integer((rng.range(0, 10) == 0) as i64),
                ),
                ("statecode", Value::Integer(inactive as i64)),
                ("statuscode", Value::Integer(if inactive { 2 } else { 1 })),
                ("_primarycontactid_value", guid(contact_ids[0])),
            ]);
            insert_account.insert(values)?;

            // One opportunity per account, a third of them closed.
            let opportunity_id = next_id(&mut rng);
            let at = created + 3_600;
            let state = [0, 0, 1, 2][rng.next_u64() as usize % 4];
            let status = match state {
                0 => 1,
                1 => 3,
                _ => 4,
            };
            let value_cents = rng.range(100_000, 500_000_000);
            let close = time::Date::from_julian_day(
                2_458_850 + ((at - EPOCH_2020) / 86_400) as i32 + rng.range(14, 180) as i32,
            )
            .map(|d| d.to_string())
            .unwrap_or_default();
            let mut values = stamp(at, at + rng.range(0, 86_400 * 60), &mut version);
            values.extend([
                ("opportunityid", guid(opportunity_id)),
                (
                    "name",
                    Value::Text(format!("{} – {}", rng.pick(OPPORTUNITY_TOPICS), name)),
                ),
                ("estimatedvalue", Value::Integer(value_cents * 100)),
                ("estimatedclosedate", Value::Text(close)),
                ("closeprobability", Value::Integer(rng.range(5, 96))),
                ("opportunityratingcode", Value::Integer(rng.range(1, 4))),
                ("statecode", Value::Integer(state)),
                ("statuscode", Value::Integer(status)),
                ("_parentaccountid_value", guid(account_id)),
                ("_parentcontactid_value", guid(contact_ids[0])),
            ]);
            insert_opportunity.insert(values)?;

            // One task regarding the opportunity's account.
            let at = created + 7_200;
            let done = rng.range(0, 3) == 0;
            let mut values = stamp(at, at + rng.range(0, 86_400 * 10), &mut version);
            values.extend([
                ("activityid", guid(next_id(&mut rng))),
                ("subject", text(rng.pick(TASK_SUBJECTS))),
                (
                    "scheduledend",
                    Value::Integer(at + rng.range(86_400, 86_400 * 21)),
                ),
                (
                    "percentcomplete",
                    Value::Integer(if done { 100 } else { 0 }),
                ),
                ("prioritycode", Value::Integer(rng.range(0, 3))),
                ("statecode", Value::Integer(done as i64)),
                ("statuscode", Value::Integer(if done { 5 } else { 2 })),
                ("_regardingobjectid_value", guid(account_id)),
            ]);
            insert_task.insert(values)?;

            if i % 5 == 0 {
                let first = rng.pick(FIRST);
                let last = rng.pick(LAST);
                let at = created + 10_800;
                let mut values = stamp(at, at, &mut version);
                values.extend([
                    ("leadid", guid(next_id(&mut rng))),
                    ("subject", text(rng.pick(LEAD_SUBJECTS))),
                    ("firstname", text(first)),
                    ("lastname", text(last)),
                    ("fullname", Value::Text(format!("{first} {last}"))),
                    ("companyname", Value::Text(name.clone())),
                    (
                        "emailaddress1",
                        Value::Text(format!("{}@{domain}", slug(first))),
                    ),
                    (
                        "estimatedamount",
                        Value::Integer(rng.range(100_000, 50_000_000) * 100),
                    ),
                    ("leadsourcecode", Value::Integer(rng.range(1, 11))),
                    ("statecode", Value::Integer(0)),
                    ("statuscode", Value::Integer(1)),
                    ("_parentaccountid_value", guid(account_id)),
                ]);
                insert_lead.insert(values)?;
                let mut values = stamp(at, at, &mut version);
                values.extend([
                    ("annotationid", guid(next_id(&mut rng))),
                    ("subject", text("Call notes")),
                    (
                        "notetext",
                        Value::Text(format!("Spoke with {first} {last} about {name}.")),
                    ),
                    ("isdocument", Value::Integer(0)),
                    ("objecttypecode", text("account")),
                    ("_objectid_value", guid(account_id)),
                ]);
                insert_note.insert(values)?;
            }
        }
    }
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
            let (owner, bu) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
            assert_eq!(seed(&mut conn, &model, 50, 7, owner, bu).unwrap(), 50);
            assert_eq!(
                seed(&mut conn, &model, 50, 7, owner, bu).unwrap(),
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
            for (table, fk) in [
                ("opportunity", "_parentaccountid_value"),
                ("task", "_regardingobjectid_value"),
                ("lead", "_parentaccountid_value"),
                ("annotation", "_objectid_value"),
            ] {
                let orphans: i64 = conn
                    .query_row(&format!("SELECT count(*) FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM account a WHERE a.accountid = t.{fk})"), [], |r| r.get(0))
                    .unwrap();
                assert_eq!(orphans, 0, "{table} rows point at accounts");
            }
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
