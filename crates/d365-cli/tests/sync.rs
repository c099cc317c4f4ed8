//! `d365 sync` as a process: a first load into SQLite, then only the changes (creates,
//! updates, deletes) until the mirror equals the source; an expired delta link reloads.

mod util;

use std::collections::BTreeMap;

use d365_testkit::{start, test_config};
use serde_json::Value;
use util::run_against;

const COLUMNS: &str = "accountid,name,telephone1,revenue,numberofemployees,statecode";

/// The source's accounts, by id, as text.
async fn source(info: &d365_testkit::EmulatorInfo) -> BTreeMap<String, Vec<String>> {
    let r = run_against(
        info,
        &[
            "get", "accounts", "--select", COLUMNS, "--all", "-o", "ndjson",
        ],
    )
    .await;
    r.assert_ok();
    r.stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let cell = |c: &str| match &v[c] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (
                cell("accountid"),
                COLUMNS.split(',').skip(1).map(cell).collect(),
            )
        })
        .collect()
}

/// The mirror's accounts, by id, as text.
fn mirror(db: &std::path::Path) -> BTreeMap<String, Vec<String>> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(&format!("SELECT {COLUMNS} FROM account"))
        .unwrap();
    stmt.query_map([], |r| {
        let cell = |i: usize| -> rusqlite::Result<String> {
            Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                rusqlite::types::Value::Null => String::new(),
                rusqlite::types::Value::Integer(n) => n.to_string(),
                rusqlite::types::Value::Real(f) => f.to_string(),
                rusqlite::types::Value::Text(s) => s,
                rusqlite::types::Value::Blob(_) => "<blob>".into(),
            })
        };
        Ok((
            cell(0)?,
            (1..6).map(cell).collect::<rusqlite::Result<Vec<_>>>()?,
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirror_follows_creates_updates_and_deletes() {
    let emulator = start(test_config(40)).await;
    let info = emulator.info();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mirror.db");
    let to = format!("sqlite:{}", db.display());
    let first = run_against(
        &info,
        &[
            "sync",
            "accounts",
            "contacts",
            "--to",
            &to,
            "--page-size",
            "7",
        ],
    )
    .await;
    first.assert_ok();
    assert!(
        first.stderr.contains("accounts: 40 rows loaded"),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("contacts: 80 rows loaded"),
        "{}",
        first.stderr
    );
    assert_eq!(mirror(&db), source(&info).await);

    // Changes at the source.
    let created = run_against(
        &info,
        &[
            "create",
            "accounts",
            r#"{"name":"New one","telephone1":"555-1"}"#,
        ],
    )
    .await;
    created.assert_ok();
    let before = source(&info).await;
    let mut ids = before.keys();
    let (a, b) = (ids.next().unwrap().clone(), ids.next().unwrap().clone());
    run_against(
        &info,
        &[
            "update",
            "accounts",
            &a,
            r#"{"name":"Renamed","revenue":42.5}"#,
        ],
    )
    .await
    .assert_ok();
    run_against(&info, &["delete", "accounts", &b])
        .await
        .assert_ok();

    let second = run_against(&info, &["sync", "accounts", "--to", &to]).await;
    second.assert_ok();
    assert!(
        second.stderr.contains("accounts: 2 changed, 1 deleted"),
        "{}",
        second.stderr
    );
    let now = source(&info).await;
    assert_eq!(mirror(&db), now);
    assert!(!now.contains_key(&b));

    // Nothing changed: nothing to do.
    let third = run_against(&info, &["sync", "accounts", "--to", &to]).await;
    assert!(
        third.stderr.contains("accounts: 0 changed, 0 deleted"),
        "{}",
        third.stderr
    );

    // Eight days later the link has expired: a full load again, and still equal.
    emulator.state().clock.advance(8 * 24 * 3600);
    let reload = run_against(&info, &["sync", "accounts", "--to", &to]).await;
    reload.assert_ok();
    assert!(reload.stderr.contains("expired"), "{}", reload.stderr);
    assert_eq!(mirror(&db), source(&info).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_targets_are_one_line() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    for (args, words) in [
        (vec!["sync", "accounts", "--to", "mysql://x"], "--to takes"),
        (
            vec!["sync", "nope", "--to", "sqlite:/tmp/d365-sync-nope.db"],
            "no table has the entity set 'nope'",
        ),
        (
            vec![
                "sync",
                "accounts",
                "--to",
                "sqlite:/tmp/x.db",
                "--watch",
                "soon",
            ],
            "--watch",
        ),
    ] {
        let r = run_against(&info, &args).await;
        r.assert_clean_stderr();
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(words), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.trim().lines().count(), 1, "{args:?}: {}", r.stderr);
    }
}
