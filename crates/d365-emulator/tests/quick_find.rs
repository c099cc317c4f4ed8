//! Type-ahead queries (`startswith` on an indexed name, ordered by it, a page at a time) give
//! exactly what a scan and a sort would: the rows whose name matches the pattern as Dataverse
//! matches it (case-insensitive, `%` and `_` keeping their meaning), in name order with the key
//! breaking ties, each once across the pages of a nextLink chain. And the indexes behind them
//! come with the tables, also to a `--data-dir` store made before them.

mod common;

use common::api::Api;
use d365_emulator::config::QuickFindConfig;
use d365_testkit::{EmulatorConfig, start, test_config};
use serde_json::{Value, json};

/// Names that sort and match in tricky ways: mixed case, a prefix of another, ties, LIKE's
/// wildcards and a quote as text, non-ASCII letters (which NOCASE does not fold).
const NAMES: &[&str] = &[
    "Northwind Traders",
    "NORTHWIND TRADERS",
    "northwind traders",
    "Northwind",
    "Northwinds",
    "North",
    "Nort",
    "Northwinc",
    "Northwine",
    "Northwind Traders",
    "N%rth 100%",
    "N_rth",
    "Nxrth",
    "O'Brien & Sons",
    "o'brien",
    "Ölmann",
    "ölmann",
    "Olmann",
    "Zürich AG",
    "zürich ag",
    "Zurich",
    "~tilde",
    "@at",
    "[bracket]",
];

/// Percent-encodes a query-string value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~(),'".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// SQL's LIKE as SQLite (and Dataverse, for ASCII) applies it: `%` any run, `_` one
/// character, ASCII letters without case.
fn like(text: &[char], pattern: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('%', rest)) => (0..=text.len()).any(|i| like(&text[i..], rest)),
        Some((p, rest)) => match text.split_first() {
            Some((t, text)) => (*p == '_' || t.eq_ignore_ascii_case(p)) && like(text, rest),
            None => false,
        },
    }
}

/// NOCASE's order: bytes with ASCII letters folded, then the key.
fn sort_key(row: &(String, String)) -> (Vec<u8>, String) {
    (
        row.0.bytes().map(|b| b.to_ascii_lowercase()).collect(),
        row.1.clone(),
    )
}

fn rows(body: &Value) -> Vec<(String, String)> {
    body["value"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_owned(),
                r["accountid"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every page of `path`, following nextLinks.
async fn all_pages(api: &Api, path: &str, page: usize) -> (Vec<(String, String)>, usize) {
    let prefer = format!("odata.maxpagesize={page}");
    let mut body = api.get(path, Some(&prefer)).await;
    let mut out = rows(&body);
    let mut pages = 1;
    while let Some(next) = body["@odata.nextLink"].as_str() {
        body = api.get(next, Some(&prefer)).await;
        out.extend(rows(&body));
        pages += 1;
        assert!(pages < 1_000, "no end to the nextLinks of {path}");
    }
    (out, pages)
}

#[tokio::test]
async fn startswith_ordered_by_name_is_what_a_scan_and_a_sort_give() {
    let emulator = start(test_config(40)).await;
    let api = Api::new(emulator.info()).await;
    for name in NAMES {
        api.create("accounts", json!({ "name": name }), &[]).await;
    }
    // A row without a name sorts first and matches no prefix.
    api.create("accounts", json!({ "accountnumber": "no name" }), &[])
        .await;
    let everything = rows(&api.get("accounts?$select=name", None).await);
    assert!(everything.len() > NAMES.len());

    let prefixes = [
        "Northwind",
        "northwind ",
        "NORTH",
        "N",
        "Nort",
        "Northwine",
        "N%",
        "N%rth 1",
        "N_r",
        "O'",
        "o'brien",
        "Ö",
        "ö",
        "Zü",
        "zü",
        "~",
        "@",
        "z",
        "Northwind Traders",
        "nothing like this",
    ];
    for prefix in prefixes {
        let pattern: Vec<char> = format!("{prefix}%").chars().collect();
        let mut expected: Vec<(String, String)> = everything
            .iter()
            .filter(|(name, _)| like(&name.chars().collect::<Vec<_>>(), &pattern))
            .cloned()
            .collect();
        let literal = format!("'{}'", encode(&prefix.replace('\'', "''")));
        for desc in [false, true] {
            expected.sort_by_key(sort_key);
            if desc {
                // Name descending; ties keep the key ascending.
                expected.sort_by(|a, b| {
                    let (ka, kb) = (sort_key(a), sort_key(b));
                    kb.0.cmp(&ka.0).then(ka.1.cmp(&kb.1))
                });
            }
            let order = if desc { "name%20desc" } else { "name" };
            let path = format!(
                "accounts?$select=name,accountnumber,revenue&$filter=startswith(name,{literal})&$orderby={order}"
            );
            let whole = rows(&api.get(&path, None).await);
            assert_eq!(whole, expected, "{prefix:?} desc={desc}");
            let top = rows(&api.get(format!("{path}&$top=3"), None).await);
            assert_eq!(top, expected[..expected.len().min(3)], "{prefix:?} $top");
            // Page by page through nextLinks: every row once, in the same order.
            let (paged, pages) = all_pages(&api, &path, 2).await;
            assert_eq!(paged, expected, "{prefix:?} desc={desc}, paged");
            assert_eq!(pages, expected.len().div_ceil(2).max(1), "{prefix:?}");
        }
        // The same rows as `contains` would have, filtered to those starting so.
        if !prefix.contains(['%', '_']) {
            let contains = format!("accounts?$select=name&$filter=contains(name,{literal})");
            let mut scanned: Vec<(String, String)> = rows(&api.get(&contains, None).await)
                .into_iter()
                .filter(|(n, _)| {
                    n.len() >= prefix.len()
                        && n.is_char_boundary(prefix.len())
                        && n[..prefix.len()].eq_ignore_ascii_case(prefix)
                })
                .collect();
            scanned.sort_by_key(sort_key);
            expected.sort_by_key(sort_key);
            assert_eq!(scanned, expected, "{prefix:?} against contains");
        }
    }
}

/// A store from before the plain indexes (here: with them dropped) gets them on its next
/// start, and the columns the configuration adds to Quick Find are indexed too.
#[tokio::test]
async fn a_data_dir_store_gets_the_indexes_when_it_opens() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmulatorConfig {
        seed_accounts: 30,
        data_dir: Some(dir.path().to_owned()),
        ..test_config(30)
    };
    let first = start(config.clone()).await;
    first.stop().await;
    let file = dir.path().join("dataverse.sqlite3");
    let indexes = || -> Vec<String> {
        let conn = rusqlite::Connection::open(&file).unwrap();
        conn.prepare("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let made = indexes();
    for want in [
        "account_name",
        "account_accountnumber",
        "account_emailaddress1",
        "account_telephone1",
        "contact_fullname",
        "contact_emailaddress1",
        "opportunity_name",
        "account_createdon",
    ] {
        assert!(made.iter().any(|n| n == want), "{want} in {made:?}");
    }
    assert!(!made.iter().any(|n| n == "account_websiteurl"));
    {
        let conn = rusqlite::Connection::open(&file).unwrap();
        conn.execute_batch("DROP INDEX account_name; DROP INDEX contact_fullname;")
            .unwrap();
    }
    assert!(!indexes().iter().any(|n| n == "account_name"));

    let second = start(EmulatorConfig {
        quick_find: vec![QuickFindConfig {
            table: "account".into(),
            columns: vec!["websiteurl".into()],
        }],
        ..config.clone()
    })
    .await;
    let api = Api::new(second.info()).await;
    let body = api
        .get(
            "accounts?$select=name&$filter=startswith(websiteurl,'http')&$orderby=name&$top=5",
            None,
        )
        .await;
    assert!(body["value"].is_array(), "{body}");
    second.stop().await;
    let reopened = indexes();
    for want in ["account_name", "contact_fullname", "account_websiteurl"] {
        assert!(reopened.iter().any(|n| n == want), "{want} in {reopened:?}");
    }
}

/// A Quick Find column the table lacks stops the start with a configuration error.
#[tokio::test]
async fn a_quick_find_column_the_table_lacks_is_refused_at_start() {
    let config = EmulatorConfig {
        quick_find: vec![QuickFindConfig {
            table: "account".into(),
            columns: vec!["nosuchcolumn".into()],
        }],
        ..test_config(1)
    };
    let started = d365_testkit::Emulator::start(config, "127.0.0.1:0".parse().unwrap()).await;
    let Err(err) = started else {
        panic!("an emulator started with a Quick Find column account lacks");
    };
    assert!(err.to_string().contains("'nosuchcolumn'"), "{err}");
}
