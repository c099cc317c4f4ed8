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

/// A PostgreSQL server of the machine's installation (Debian's `postgresql` package; CI
/// installs it), in a temporary directory on a free loopback port, stopped when dropped.
struct TempPostgres {
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl TempPostgres {
    fn bin(name: &str) -> Option<std::path::PathBuf> {
        let on_path = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.exists())
        });
        on_path.or_else(|| {
            let mut found: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .filter_map(|e| Some(e.ok()?.path().join("bin").join(name)))
                .filter(|p| p.exists())
                .collect();
            found.sort();
            found.pop()
        })
    }

    fn command(&self, bin: &std::path::Path) -> std::process::Command {
        // initdb and postgres refuse to run as root: run them as the postgres user.
        if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin);
            c
        } else {
            std::process::Command::new(bin)
        }
    }

    fn start() -> Option<Self> {
        let (initdb, pg_ctl) = (Self::bin("initdb")?, Self::bin("pg_ctl")?);
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if as_postgres {
            let ok = std::process::Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = Self {
            dir,
            port,
            as_postgres,
        };
        let data = pg.dir.path().join("data");
        let out = pg
            .command(&initdb)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            pg.port,
            pg.dir.path().display()
        );
        let out = pg
            .command(&pg_ctl)
            .args(["-w", "-o", &opts, "-l"])
            .arg(pg.dir.path().join("log"))
            .arg("-D")
            .arg(&data)
            .arg("start")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(pg)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if let Some(pg_ctl) = Self::bin("pg_ctl") {
            let _ = self
                .command(&pg_ctl)
                .args(["-m", "immediate", "-D"])
                .arg(self.dir.path().join("data"))
                .arg("stop")
                .output();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirror_in_postgres_follows_the_source() {
    let Some(pg) = TempPostgres::start() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "PostgreSQL is not installed: CI installs Debian's postgresql package first"
        );
        eprintln!("SKIPPED: no PostgreSQL installation (initdb, pg_ctl) on this machine");
        return;
    };
    let emulator = start(test_config(30)).await;
    let info = emulator.info();
    let to = pg.url();
    let first = run_against(
        &info,
        &["sync", "accounts", "--to", &to, "--page-size", "8"],
    )
    .await;
    first.assert_ok();
    assert!(
        first.stderr.contains("accounts: 30 rows loaded"),
        "{}",
        first.stderr
    );
    let ids: Vec<String> = source(&info).await.keys().cloned().collect();
    run_against(
        &info,
        &[
            "update",
            "accounts",
            &ids[0],
            r#"{"name":"Pg renamed","revenue":1234.5678}"#,
        ],
    )
    .await
    .assert_ok();
    run_against(&info, &["delete", "accounts", &ids[1]])
        .await
        .assert_ok();
    run_against(&info, &["create", "accounts", r#"{"name":"Pg new"}"#])
        .await
        .assert_ok();
    let second = run_against(&info, &["sync", "accounts", "--to", &to]).await;
    second.assert_ok();
    assert!(
        second.stderr.contains("accounts: 2 changed, 1 deleted"),
        "{}",
        second.stderr
    );

    let (client, connection) = tokio_postgres::connect(&to, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT accountid::text, coalesce(name, ''), coalesce(telephone1, ''), coalesce(revenue::text, ''), \
             coalesce(numberofemployees::text, ''), coalesce(statecode::text, '') FROM account",
            &[],
        )
        .await
        .unwrap();
    let mirror: BTreeMap<String, Vec<String>> = rows
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                (1..6).map(|i| r.get::<_, String>(i)).collect(),
            )
        })
        .collect();
    let mut expected = source(&info).await;
    // numeric keeps the scale Dataverse sends; the source prints what JSON holds.
    for (id, cells) in mirror.iter() {
        let want = expected
            .get_mut(id)
            .unwrap_or_else(|| panic!("{id} is not at the source"));
        if !cells[2].is_empty() {
            let (a, b): (f64, f64) = (cells[2].parse().unwrap(), want[2].parse().unwrap());
            assert_eq!(a, b);
            want[2] = cells[2].clone();
        }
    }
    assert_eq!(mirror, expected);
    let kinds: Vec<(String, String)> = client
        .query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_name = 'account' AND column_name IN ('accountid','revenue','createdon','statecode')",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for (column, kind) in [
        ("accountid", "uuid"),
        ("revenue", "numeric"),
        ("createdon", "timestamp with time zone"),
        ("statecode", "bigint"),
    ] {
        assert!(
            kinds.contains(&(column.to_owned(), kind.to_owned())),
            "{column}: {kinds:?}"
        );
    }
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
