//! The emulator's speed, printed (not asserted): seeding, a full paging pass, and pages sorted
//! by a lookup (the related record's name) beside the same SQL run on the database file
//! directly. The query shapes under 50 concurrent connections are the `queries` bench.
//!
//! ```text
//! cargo bench -p d365-emulator --bench emulator              # 1,000,000 accounts
//! D365_BENCH_ACCOUNTS=100000 cargo bench -p d365-emulator --bench emulator
//! D365_BENCH_DIR=/tmp/d365-bench cargo bench -p d365-emulator --bench emulator  # reuse the data
//! ```
//! The database lives in `D365_BENCH_DIR` (default: a fresh temporary directory); the pages
//! are read over loopback HTTP with a real token, as a client sees them.

use std::time::{Duration, Instant};

use d365_emulator::{Emulator, EmulatorConfig};

/// The `d365` binary's allocator (crates/d365-cli/src/main.rs): the emulator as users run it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use serde_json::Value;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb / 1024)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. `cargo test --benches`) skips.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let accounts = env_usize("D365_BENCH_ACCOUNTS", 1_000_000);
    let (dir, _temp) = match std::env::var_os("D365_BENCH_DIR") {
        Some(d) => (std::path::PathBuf::from(d), None),
        None => {
            let t = tempfile::tempdir().expect("temporary directory");
            (t.path().to_owned(), Some(t))
        }
    };
    let config = EmulatorConfig {
        seed_accounts: accounts,
        data_dir: Some(dir.clone()),
        token_lifetime_secs: 3600,
        limits: None, // service protection off: measure the emulator, not the throttle
        ..EmulatorConfig::default()
    };
    let started = Instant::now();
    let emulator = Emulator::start(config, "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("emulator start");
    let seed_secs = started.elapsed().as_secs_f64();
    println!(
        "seed: {accounts} accounts (+{} contacts, {} opportunities, {} tasks, {} leads, {} notes) in {seed_secs:.1} s into {} (0 s if it was seeded already)",
        accounts * 2,
        accounts,
        accounts,
        accounts.div_ceil(5),
        accounts.div_ceil(5),
        dir.display()
    );

    let http = reqwest::Client::new();
    let token = d365_testkit::app_token(&http, &emulator.info()).await;
    let api = format!("{}/api/data/v9.2/", emulator.info().environment_url);

    // A full paging pass: every account once, 5,000 per page, following nextLink.
    let t = Instant::now();
    let (mut pages, mut rows) = (0usize, 0usize);
    let mut next = Some(format!("{api}accounts?$select=name"));
    while let Some(url) = next.take() {
        let page: Value = http
            .get(&url)
            .bearer_auth(token.as_str())
            .header("Prefer", "odata.maxpagesize=5000")
            .send()
            .await
            .expect("page")
            .json()
            .await
            .expect("page JSON");
        rows += page["value"].as_array().map_or(0, Vec::len);
        pages += 1;
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "paging: {rows} accounts in {pages} pages of 5,000 in {secs:.1} s: {:.1} pages/s, {:.0} rows/s",
        pages as f64 / secs,
        rows as f64 / secs
    );
    lookup_order(&http, &token, &api, &dir.join("dataverse.sqlite3")).await;
    if let Some(mib) = peak_rss_mib() {
        println!("peak RSS (emulator and load generator in one process): {mib} MiB");
    }
    emulator.stop().await;
}

/// What a grid sorted by a lookup column sends: `$orderby=_primarycontactid_value` (Dataverse
/// sorts by the contact's name) with every annotation, 5,000 a page; the first page (median of
/// three) and the next four pages, beside `$orderby=name` and, as the ceiling, the same ordering
/// as one SQLite query on the database file (a join to the contact, `ORDER BY` name without
/// case, the lookup, the key; `LIMIT 5000`).
async fn lookup_order(http: &reqwest::Client, token: &str, api: &str, db: &std::path::Path) {
    const PAGE: usize = 5_000;
    let pages = |query: &'static str| async move {
        let mut firsts = Vec::new();
        let mut rest = Duration::ZERO;
        for round in 0..3 {
            let mut next = Some(format!("{api}{query}"));
            for page in 0..5 {
                let Some(url) = next.take() else { break };
                let t = Instant::now();
                let body: Value = http
                    .get(&url)
                    .bearer_auth(token)
                    .header(
                        "Prefer",
                        "odata.maxpagesize=5000,odata.include-annotations=\"*\"",
                    )
                    .send()
                    .await
                    .expect("page")
                    .json()
                    .await
                    .expect("page JSON");
                assert!(body["value"].is_array(), "{body}");
                if page == 0 {
                    firsts.push(t.elapsed());
                } else if round == 0 {
                    rest += t.elapsed();
                }
                if round > 0 {
                    break;
                }
                next = body["@odata.nextLink"].as_str().map(str::to_owned);
            }
        }
        firsts.sort_unstable();
        (firsts[1], rest / 4)
    };
    let by_name = pages("accounts?$select=name,_primarycontactid_value&$orderby=name").await;
    let by_lookup =
        pages("accounts?$select=name,_primarycontactid_value&$orderby=_primarycontactid_value")
            .await;
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("the database file");
    let sql = format!(
        "SELECT a.accountid, a.name, a._primarycontactid_value, c.fullname
         FROM account AS a LEFT JOIN contact AS c ON c.contactid = a._primarycontactid_value
         ORDER BY c.fullname COLLATE NOCASE, a._primarycontactid_value, a.accountid LIMIT {PAGE}"
    );
    let mut ceiling = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let mut statement = conn.prepare(&sql).expect("ceiling SQL");
        let n = statement
            .query_map([], |_| Ok(()))
            .expect("ceiling query")
            .count();
        assert_eq!(n.min(PAGE), n);
        ceiling.push(t.elapsed());
    }
    ceiling.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "orderby name: first page {:.0} ms, next pages {:.0} ms each; orderby _primarycontactid_value \
         (the contact's name): first page {:.0} ms, next pages {:.0} ms each; ceiling (one SQLite \
         query, join and sort, first {PAGE} rows): {:.0} ms",
        ms(by_name.0),
        ms(by_name.1),
        ms(by_lookup.0),
        ms(by_lookup.1),
        ms(ceiling[1]),
    );
}
