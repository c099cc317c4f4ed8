//! Bulk writes through `d365 import` (the release binary, as a process) against an in-process
//! emulator in memory with service protection off, beside the SQLite ceiling measured in the
//! same run: a raw rusqlite loop of one prepared statement writing the same rows (the same
//! columns, server-set ones included) into the same table (its DDL and indexes copied from an
//! emulator's database file), WAL, `synchronous=OFF`, the page cache and checkpoint interval
//! as the in-memory store's writer has them, one transaction per 1,000 rows.
//!
//! - `import --mode create` (CreateMultiple) beside the prepared INSERT loop;
//! - `import --mode upsert --key accountnumber` (UpsertMultiple by alternate key; half the
//!   rows exist, half are new) beside the same INSERT loop;
//! - `import --mode update` (UpdateMultiple by primary key) beside a prepared UPDATE loop.
//!
//! Run with `cargo bench -p d365-cli --bench bulk_writes`; `BENCH_ROWS` (default 100,000) sets
//! the rows per run, `BENCH_ROUNDS` (default 1) repeats the interleaved round.

use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

mod common;

use d365_testkit::{EmulatorConfig, EmulatorInfo, keyed_config, start};
use rusqlite::types::Value;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Accounts seeded before the imports: their contacts and themselves are the rows' lookups.
const SEEDED: usize = 200;

/// An in-memory org with an alternate key on `account.accountnumber`, `SEEDED` accounts (two
/// contacts each) and service protection off: the figures are the emulator's, not the throttle's.
fn org() -> EmulatorConfig {
    EmulatorConfig {
        limits: None,
        ..keyed_config(SEEDED)
    }
}

const FIRST: &[&str] = &[
    "Northwind",
    "Ashford",
    "Contoso",
    "Fabrikam",
    "Litware",
    "Adventure",
    "Blue Yonder",
    "Coho",
    "Wide World",
    "Tailspin",
    "Proseware",
    "Alpine",
    "Fourth Coffee",
    "Margie's",
    "Humongous",
    "Lucerne",
    "Trey",
    "Woodgrove",
    "Graphic",
    "Southridge",
];
const SECOND: &[&str] = &[
    "Airlines",
    "Robotics",
    "Traders",
    "Winery",
    "Insurance",
    "Logistics",
    "Bank",
    "Vineyard",
    "Importers",
    "Toys",
    "Software",
    "Ski House",
    "Publishing",
    "Travel",
    "Design",
    "Energy",
];
const CITIES: &[&str] = &[
    "Seattle", "Redmond", "Dublin", "Lisbon", "Osaka", "Toronto", "Lyon", "Austin", "Munich",
];

/// One input row: what the user's file says about account `i`.
struct Row {
    id: uuid::Uuid,
    name: String,
    number: String,
    revenue_cents: i64,
    employees: i64,
    phone: String,
    city: &'static str,
    contact: uuid::Uuid,
    parent: Option<uuid::Uuid>,
}

fn rows(n: usize, contacts: &[uuid::Uuid], accounts: &[uuid::Uuid]) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            Row {
                // Time-ordered, as the ids the import makes for a file without them, and those
                // of any system with sequential keys.
                id: uuid::Uuid::now_v7(),
                name: format!(
                    "{} {}",
                    FIRST[(h >> 7) as usize % FIRST.len()],
                    SECOND[(h >> 19) as usize % SECOND.len()]
                ),
                number: format!("NW-{:07}", i + 1),
                revenue_cents: 1_000_000 + (h >> 24) as i64 % 5_000_000_000,
                employees: 5 + (h >> 40) as i64 % 50_000,
                phone: format!("+1-425-555-{:04}", (h >> 33) % 10_000),
                city: CITIES[(h >> 45) as usize % CITIES.len()],
                contact: contacts[i % contacts.len()],
                parent: (i % 10 == 0).then(|| accounts[i % accounts.len()]),
            }
        })
        .collect()
}

fn money(cents: i64) -> serde_json::Value {
    serde_json::Value::Number(serde_json::Number::from_string_unchecked(format!(
        "{}.{:02}",
        cents / 100,
        cents % 100
    )))
}

fn write_ndjson(path: &Path, rows: impl Iterator<Item = serde_json::Value>) {
    let mut text = String::new();
    for r in rows {
        text.push_str(&r.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// Runs `d365 args…` against the emulator; answers its wall time.
fn d365(info: &EmulatorInfo, home: &Path, args: &[&str]) -> Duration {
    let started = Instant::now();
    let output = common::d365_command(env!("CARGO_BIN_EXE_d365"), info, home)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("spawn d365");
    assert!(
        output.status.success(),
        "d365 {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    started.elapsed()
}

/// Imports `file` into a running org, answers the wall time.
async fn import(info: &EmulatorInfo, home: &Path, file: &Path, extra: &[&str]) -> Duration {
    let _ = std::fs::remove_file(format!("{}.import-journal", file.display()));
    let _ = std::fs::remove_file(format!("{}.rejects.ndjson", file.display()));
    let mut args: Vec<String> = ["import", "accounts", "--in", &file.display().to_string()]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let (info, home) = (info.clone(), home.to_owned());
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        d365(&info, &home, &args)
    })
    .await
    .unwrap()
}

/// The account table of an emulator's database as DDL (table first, then its indexes), and
/// the seeded contacts' and accounts' ids.
struct Schema {
    ddl: Vec<String>,
    contacts: Vec<uuid::Uuid>,
    accounts: Vec<uuid::Uuid>,
}

async fn schema(dir: &Path) -> Schema {
    let emulator = start(EmulatorConfig {
        data_dir: Some(dir.to_owned()),
        ..org()
    })
    .await;
    let db = rusqlite::Connection::open_with_flags(
        dir.join("dataverse.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let ddl = db
        .prepare(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'account' AND sql IS NOT NULL \
             ORDER BY type = 'index', name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<Vec<String>>>()
        .unwrap();
    let ids = |sql: &str| {
        db.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(|b| uuid::Uuid::from_slice(&b.unwrap()).unwrap())
            .collect::<Vec<_>>()
    };
    let contacts = ids("SELECT contactid FROM contact ORDER BY contactid");
    let accounts = ids("SELECT accountid FROM account ORDER BY accountid");
    drop(db);
    drop(emulator);
    Schema {
        ddl,
        contacts,
        accounts,
    }
}

/// The ceiling: the rows written by one prepared INSERT per row, then rewritten by one
/// prepared UPDATE per row (the columns an update sets), 1,000 rows per transaction, into a
/// fresh database with the emulator's table. Answers (insert time, update time).
fn ceiling(dir: &Path, schema: &Schema, rows: &[Row]) -> (Duration, Duration) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut db = rusqlite::Connection::open(dir.join("ceiling.sqlite3")).unwrap();
    db.pragma_update(None, "journal_mode", "WAL").unwrap();
    db.pragma_update(None, "synchronous", "OFF").unwrap();
    // The emulator's writer's page cache and checkpoint interval (`store/write`).
    db.pragma_update(None, "cache_size", -64 * 1024).unwrap();
    db.pragma_update(None, "wal_autocheckpoint", 10_000)
        .unwrap();
    for sql in &schema.ddl {
        db.execute_batch(sql).unwrap();
    }
    let (user, unit, currency) = (
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
    );
    let blob = |id: uuid::Uuid| Value::Blob(id.as_bytes().to_vec());
    let now = 1_765_000_000_i64;
    let row_values = |r: &Row, version: i64| -> Vec<(&'static str, Value)> {
        vec![
            ("accountid", blob(r.id)),
            ("name", Value::Text(r.name.clone())),
            ("accountnumber", Value::Text(r.number.clone())),
            ("revenue", Value::Integer(r.revenue_cents * 100)),
            ("numberofemployees", Value::Integer(r.employees)),
            ("telephone1", Value::Text(r.phone.clone())),
            ("address1_city", Value::Text(r.city.to_owned())),
            ("_primarycontactid_value", blob(r.contact)),
            ("_parentaccountid_value", r.parent.map_or(Value::Null, blob)),
            ("_ownerid_value", blob(user)),
            (
                "_ownerid_value@lookuplogicalname",
                Value::Text("systemuser".into()),
            ),
            ("_transactioncurrencyid_value", blob(currency)),
            ("statecode", Value::Integer(0)),
            ("statuscode", Value::Integer(1)),
            ("createdon", Value::Integer(now)),
            ("modifiedon", Value::Integer(now)),
            ("versionnumber", Value::Integer(version)),
            ("_createdby_value", blob(user)),
            ("_modifiedby_value", blob(user)),
            ("_createdonbehalfby_value", Value::Null),
            ("_modifiedonbehalfby_value", Value::Null),
            ("_owningbusinessunit_value", blob(unit)),
        ]
    };
    let columns: Vec<&str> = row_values(&rows[0], 0).iter().map(|(c, _)| *c).collect();
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let insert = format!(
        "INSERT INTO account ({}) VALUES ({})",
        quoted.join(", "),
        vec!["?"; columns.len()].join(", ")
    );
    let started = Instant::now();
    let mut version = 2_000_000;
    for chunk in rows.chunks(1000) {
        let tx = db.transaction().unwrap();
        {
            let mut statement = tx.prepare_cached(&insert).unwrap();
            for r in chunk {
                version += 1;
                let values = row_values(r, version);
                statement
                    .execute(rusqlite::params_from_iter(values.iter().map(|(_, v)| v)))
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let inserted = started.elapsed();
    let update = "UPDATE account SET telephone1 = ?, revenue = ?, modifiedon = ?, \
                  versionnumber = ?, _modifiedby_value = ?, _modifiedonbehalfby_value = ? \
                  WHERE accountid = ?";
    let started = Instant::now();
    for chunk in rows.chunks(1000) {
        let tx = db.transaction().unwrap();
        {
            let mut statement = tx.prepare_cached(update).unwrap();
            for r in chunk {
                version += 1;
                statement
                    .execute(rusqlite::params![
                        "+1-425-555-0100",
                        (r.revenue_cents + 100) * 100,
                        now + 60,
                        version,
                        blob(user),
                        Value::Null,
                        blob(r.id),
                    ])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    (inserted, started.elapsed())
}

fn line(what: &str, rows: usize, wall: Duration, ceiling: Option<(usize, Duration)>) {
    let rate = rows as f64 / wall.as_secs_f64();
    let ratio = ceiling.map_or(String::new(), |(n, c)| {
        format!("  {:.2}× of ceiling", rate / (n as f64 / c.as_secs_f64()))
    });
    println!(
        "  {what:<58} {rows:>9} rows {:>7.2} s {rate:>9.0} rows/s{ratio}",
        wall.as_secs_f64()
    );
}

fn main() {
    let n = env_usize("BENCH_ROWS", 100_000);
    let rounds = env_usize("BENCH_ROUNDS", 1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    runtime.block_on(async {
        let schema = schema(&home.join("schema")).await;
        println!(
            "bulk_writes: {n} rows per run; account has {} indexes",
            schema.ddl.len() - 1
        );
        let rows = rows(n, &schema.contacts, &schema.accounts);
        let lookups = |r: &Row, obj: &mut serde_json::Map<String, serde_json::Value>| {
            obj.insert(
                "_primarycontactid_value".into(),
                r.contact.to_string().into(),
            );
            if let Some(p) = r.parent {
                obj.insert("_parentaccountid_value".into(), p.to_string().into());
            }
        };
        let create = home.join("create.ndjson");
        write_ndjson(
            &create,
            rows.iter().map(|r| {
                let mut obj = serde_json::Map::new();
                obj.insert("accountid".into(), r.id.to_string().into());
                obj.insert("name".into(), r.name.clone().into());
                obj.insert("accountnumber".into(), r.number.clone().into());
                obj.insert("revenue".into(), money(r.revenue_cents));
                obj.insert("numberofemployees".into(), r.employees.into());
                obj.insert("telephone1".into(), r.phone.clone().into());
                obj.insert("address1_city".into(), r.city.into());
                lookups(r, &mut obj);
                serde_json::Value::Object(obj)
            }),
        );
        // The same rows without ids: the import makes them (most files from other systems).
        let create_without_ids = home.join("create-without-ids.ndjson");
        write_ndjson(
            &create_without_ids,
            std::io::BufReader::new(std::fs::File::open(&create).unwrap())
                .lines()
                .map(|l| {
                    let mut v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
                    v.as_object_mut().unwrap().remove("accountid");
                    v
                }),
        );
        // Upsert by key: the second half of the created rows, and as many new ones.
        let fresh = self::rows(n + n / 2, &schema.contacts, &schema.accounts);
        let upsert = home.join("upsert.ndjson");
        write_ndjson(
            &upsert,
            fresh[n / 2..n + n / 2].iter().map(|r| {
                let mut obj = serde_json::Map::new();
                obj.insert("accountnumber".into(), r.number.clone().into());
                obj.insert("name".into(), r.name.clone().into());
                obj.insert("revenue".into(), money(r.revenue_cents + 5_000));
                obj.insert("telephone1".into(), r.phone.clone().into());
                obj.insert("address1_city".into(), r.city.into());
                lookups(r, &mut obj);
                serde_json::Value::Object(obj)
            }),
        );
        let update = home.join("update.ndjson");
        write_ndjson(
            &update,
            rows.iter().map(|r| {
                serde_json::json!({
                    "accountid": r.id.to_string(),
                    "telephone1": "+1-425-555-0100",
                    "revenue": money(r.revenue_cents + 100),
                })
            }),
        );
        for round in 1..=rounds {
            println!("round {round}:");
            let (insert_ceiling, update_ceiling) = ceiling(&home.join("ceiling"), &schema, &rows);
            line(
                "ceiling: prepared INSERT loop, 1,000 rows per transaction",
                n,
                insert_ceiling,
                None,
            );
            line(
                "ceiling: prepared UPDATE loop, 1,000 rows per transaction",
                n,
                update_ceiling,
                None,
            );
            let org = start(org()).await;
            let info = org.info();
            let wall = import(&info, home, &create, &["--via", "bulk"]).await;
            line(
                "d365 import, CreateMultiple",
                n,
                wall,
                Some((n, insert_ceiling)),
            );
            let wall = import(
                &info,
                home,
                &upsert,
                &[
                    "--via",
                    "bulk",
                    "--mode",
                    "upsert",
                    "--key",
                    "accountnumber",
                ],
            )
            .await;
            line(
                "d365 import --mode upsert --key (UpsertMultiple, ½ new)",
                n,
                wall,
                Some((n, insert_ceiling)),
            );
            let wall = import(&info, home, &update, &["--via", "bulk", "--mode", "update"]).await;
            line(
                "d365 import --mode update (UpdateMultiple)",
                n,
                wall,
                Some((n, update_ceiling)),
            );
            let fresh_org = start(self::org()).await;
            let wall = import(
                &fresh_org.info(),
                home,
                &create_without_ids,
                &["--via", "bulk"],
            )
            .await;
            line(
                "d365 import, CreateMultiple, a file without ids",
                n,
                wall,
                Some((n, insert_ceiling)),
            );
        }
    });
}
