//! The query shapes: each a request users send, the SQL a person would write by hand for the
//! same answer over the emulator's tables (the ceiling), the parameters it varies, and how an
//! answer and the SQL's rows are compared (so the two are known to be the same query).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rusqlite::types::{Value as Sql, ValueRef};
use serde_json::Value;

use super::data::Sample;

/// Rows a page of these shapes asks for (`$top`, `top`).
const TOP: usize = 50;

/// One shape.
pub(crate) struct Shape {
    /// Its name in the table and in `BENCH_ONLY`.
    pub(crate) name: &'static str,
    /// The request with `{}` where the parameter goes, for the report.
    pub(crate) pattern: &'static str,
    /// What the parameter is, for the report.
    pub(crate) varies: &'static str,
    /// The parameters, used in turn.
    pub(crate) params: Vec<String>,
    /// The request (after `/api/data/v9.2/`) for a parameter.
    pub(crate) url: fn(&str) -> String,
    /// The hand-written SQL; its rows are compared with the answer's records.
    pub(crate) sql: &'static str,
    /// The SQL's parameters for a parameter.
    pub(crate) sql_params: fn(&str) -> Vec<Sql>,
    /// The comparison keys of an answer's records, in order.
    pub(crate) http_keys: fn(&Value) -> Vec<String>,
    /// The comparison key of one SQL row.
    pub(crate) sql_key: fn(&rusqlite::Row<'_>) -> rusqlite::Result<String>,
    /// Whether the keys are compared as sets (the answer's order is not specified).
    pub(crate) unordered: bool,
    /// Whether some parameter must give rows (a shape that always answered nothing would
    /// measure nothing).
    pub(crate) expect_rows: bool,
}

impl std::fmt::Debug for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shape").field("name", &self.name).finish()
    }
}

/// What a string literal may not hold raw in a URL query (beyond what `url` escapes itself).
const LITERAL: &AsciiSet = &d365_emulator::testing::URI_UNSAFE
    .add(b'&')
    .add(b'#')
    .add(b'+')
    .add(b'%');

/// `s` as an OData string literal's content in a URL: quotes doubled, then escaped.
fn lit(s: &str) -> String {
    utf8_percent_encode(&s.replace('\'', "''"), LITERAL).to_string()
}

/// `s` escaped for an XML attribute value in double quotes.
fn xml_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

/// The bounds of the names starting with `prefix` under SQLite's NOCASE collation (which
/// folds ASCII letters to lower case): `[prefix, prefix with its last character + 1)`.
fn prefix_range(prefix: &str) -> Vec<Sql> {
    let low = prefix.to_lowercase();
    let mut high: Vec<char> = low.chars().collect();
    let last = high.pop().expect("a non-empty prefix");
    high.push(char::from_u32(last as u32 + 1).expect("a following character"));
    vec![Sql::Text(low), Sql::Text(high.into_iter().collect())]
}

fn records(body: &Value) -> &[Value] {
    body["value"].as_array().map_or(&[], Vec::as_slice)
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn column(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<String> {
    Ok(match row.get_ref(i)? {
        ValueRef::Null => String::new(),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(x) => x.to_string(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Blob(b) => uuid::Uuid::from_slice(b)
            .map(|u| u.to_string())
            .unwrap_or_default(),
    })
}

fn field_keys(body: &Value, fields: &[&str]) -> Vec<String> {
    records(body)
        .iter()
        .map(|r| {
            fields
                .iter()
                .map(|f| text_of(f.split('/').fold(r, |v, part| &v[part])))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

fn first_two_columns(row: &rusqlite::Row<'_>) -> rusqlite::Result<String> {
    Ok(format!("{}|{}", column(row, 0)?, column(row, 1)?))
}

/// Every shape, its parameters drawn from `sample`.
pub(crate) fn all(sample: &Sample) -> Vec<Shape> {
    let prefixes = sample.prefixes.clone();
    vec![
        Shape {
            name: "typeahead",
            pattern: "accounts?$select=name,accountnumber,revenue&$filter=startswith(name,'{}')&$orderby=name&$top=50",
            varies: "a prefix of a real name, 3 characters to its first two words",
            params: prefixes.clone(),
            url: |p| {
                format!(
                    "accounts?$select=name,accountnumber,revenue&$filter=startswith(name,'{}')&$orderby=name&$top={TOP}",
                    lit(p)
                )
            },
            sql: "SELECT name, accountid, accountnumber, revenue, versionnumber FROM account \
                  WHERE name >= ?1 AND name < ?2 ORDER BY name, accountid LIMIT 50",
            sql_params: prefix_range,
            http_keys: |b| field_keys(b, &["name"]),
            sql_key: |r| column(r, 0),
            unordered: false,
            expect_rows: true,
        },
        Shape {
            name: "lookup-eq",
            pattern: "contacts?$select=fullname&$filter=_parentcustomerid_value eq {}",
            varies: "an account id spread over the table",
            params: sample.account_ids.clone(),
            url: |id| format!("contacts?$select=fullname&$filter=_parentcustomerid_value eq {id}"),
            sql: "SELECT contactid, fullname, versionnumber FROM contact \
                  WHERE _parentcustomerid_value = ?1 ORDER BY contactid",
            sql_params: |id| {
                let id = uuid::Uuid::parse_str(id).expect("an account id");
                vec![Sql::Blob(id.as_bytes().to_vec())]
            },
            http_keys: |b| field_keys(b, &["contactid"]),
            sql_key: |r| column(r, 0),
            unordered: false,
            expect_rows: true,
        },
        Shape {
            name: "active-newest",
            pattern: "accounts?$select=name,createdon&$filter=statecode eq 0&$orderby=createdon desc&$top=50",
            varies: "nothing (a view everyone opens the same way)",
            params: vec![String::new()],
            url: |_| {
                format!(
                    "accounts?$select=name,createdon&$filter=statecode eq 0&$orderby=createdon desc&$top={TOP}"
                )
            },
            sql: "SELECT accountid, name, createdon, versionnumber FROM account \
                  WHERE statecode = 0 ORDER BY createdon DESC, accountid LIMIT 50",
            sql_params: |_| Vec::new(),
            http_keys: |b| field_keys(b, &["accountid"]),
            sql_key: |r| column(r, 0),
            unordered: false,
            expect_rows: true,
        },
        Shape {
            name: "contains",
            pattern: "accounts?$select=name&$filter=contains(name,'{}')&$top=50",
            varies: "a word in no name (Robot, Quantum, …): every request reads every name",
            params: sample.absent_words.clone(),
            url: |w| {
                format!(
                    "accounts?$select=name&$filter=contains(name,'{}')&$top={TOP}",
                    lit(w)
                )
            },
            sql: "SELECT accountid, name, versionnumber FROM account \
                  WHERE name LIKE ?1 ORDER BY accountid LIMIT 50",
            sql_params: |w| vec![Sql::Text(format!("%{w}%"))],
            http_keys: |b| field_keys(b, &["accountid"]),
            sql_key: |r| column(r, 0),
            unordered: false,
            expect_rows: false,
        },
        Shape {
            name: "expand",
            pattern: "accounts?$select=name&$expand=primarycontactid($select=fullname)&$filter=startswith(name,'{}')&$orderby=name&$top=50",
            varies: "a type-ahead prefix",
            params: prefixes.clone(),
            url: |p| {
                format!(
                    "accounts?$select=name&$expand=primarycontactid($select=fullname)&$filter=startswith(name,'{}')&$orderby=name&$top={TOP}",
                    lit(p)
                )
            },
            // The page first, then its 50 contacts (SQLite keeps a subquery with LIMIT apart).
            sql: "SELECT a.name, c.fullname, a.accountid, a.versionnumber, c.contactid, c.versionnumber \
                  FROM (SELECT name, accountid, versionnumber, _primarycontactid_value FROM account \
                        WHERE name >= ?1 AND name < ?2 ORDER BY name, accountid LIMIT 50) AS a \
                  LEFT JOIN contact AS c ON c.contactid = a._primarycontactid_value \
                  ORDER BY a.name, a.accountid",
            sql_params: prefix_range,
            http_keys: |b| field_keys(b, &["name", "primarycontactid/fullname"]),
            sql_key: first_two_columns,
            unordered: false,
            expect_rows: true,
        },
        Shape {
            name: "fetchxml",
            pattern: "accounts?fetchXml=<fetch top='50'><entity name='account'>… begins-with '{}' … \
                      <link-entity name='contact' from='contactid' to='primarycontactid' link-type='outer'> …",
            varies: "a type-ahead prefix",
            params: prefixes,
            url: |p| {
                let fetch = format!(
                    "<fetch top=\"{TOP}\"><entity name=\"account\"><attribute name=\"name\"/>\
                     <attribute name=\"accountnumber\"/><order attribute=\"name\"/>\
                     <filter><condition attribute=\"name\" operator=\"begins-with\" value=\"{}\"/></filter>\
                     <link-entity name=\"contact\" from=\"contactid\" to=\"primarycontactid\" \
                     link-type=\"outer\" alias=\"pc\"><attribute name=\"fullname\"/>\
                     <attribute name=\"emailaddress1\"/></link-entity></entity></fetch>",
                    xml_attr(p)
                );
                format!(
                    "accounts?fetchXml={}",
                    utf8_percent_encode(&fetch, NON_ALPHANUMERIC)
                )
            },
            sql: "SELECT a.name, c.fullname, a.accountid, a.accountnumber, a.versionnumber, c.emailaddress1 \
                  FROM (SELECT name, accountid, accountnumber, versionnumber, _primarycontactid_value \
                        FROM account WHERE name >= ?1 AND name < ?2 ORDER BY name, accountid LIMIT 50) AS a \
                  LEFT JOIN contact AS c ON c.contactid = a._primarycontactid_value \
                  ORDER BY a.name, a.accountid",
            sql_params: prefix_range,
            http_keys: |b| field_keys(b, &["name", "pc_x002e_fullname"]),
            sql_key: first_two_columns,
            unordered: false,
            expect_rows: true,
        },
        Shape {
            name: "groupby",
            pattern: "accounts?$apply=filter(startswith(name,'{}'))/groupby((statecode),aggregate($count as count))",
            varies: "a name's first word (each under Dataverse's 50,000-row aggregate limit)",
            params: sample.group_prefixes.clone(),
            url: |p| {
                format!(
                    "accounts?$apply=filter(startswith(name,'{}'))/groupby((statecode),aggregate($count as count))",
                    lit(p)
                )
            },
            sql: "SELECT statecode, count(*) FROM account WHERE name >= ?1 AND name < ?2 \
                  GROUP BY statecode",
            sql_params: prefix_range,
            http_keys: |b| field_keys(b, &["statecode", "count"]),
            sql_key: first_two_columns,
            unordered: true,
            expect_rows: true,
        },
    ]
}
