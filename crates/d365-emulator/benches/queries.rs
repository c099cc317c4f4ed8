//! The query shapes users send, each at 50 concurrent HTTPS connections, beside its ceiling:
//! the same answer's hand-written SQL from 50 tasks on a pool of read-only rusqlite connections
//! (as many as the emulator's readers) on the same database file, in the same process and the
//! same run; and, once, a bare HTTPS server on the
//! same TLS stack answering a fixed body of the type-ahead answer's size. Figures are printed
//! (a markdown table for `docs/BENCHMARKS.md`), never asserted; a request that does not answer
//! 200, or an answer that differs from its SQL, fails the run.
//!
//! ```text
//! cargo bench -p d365-emulator --bench queries                          # 1,000,000 accounts
//! BENCH_ACCOUNTS=100000 BENCH_SECS=5 cargo bench -p d365-emulator --bench queries
//! BENCH_ONLY=typeahead,bare-https cargo bench -p d365-emulator --bench queries
//! BENCH_DIR=/tmp/d365-queries cargo bench -p d365-emulator --bench queries   # keep and reuse the data
//! ```
//!
//! Knobs: `BENCH_ACCOUNTS` (seeded accounts, default 1,000,000; with two contacts, an
//! opportunity and a task each), `BENCH_SECS` (measured seconds per run, default 10),
//! `BENCH_WARMUP_SECS` (default 2), `BENCH_CONNECTIONS` (default 50), `BENCH_ONLY` (shape
//! names, comma-separated: typeahead, lookup-eq, active-newest, contains, expand, fetchxml,
//! groupby, bare-https), `BENCH_CEILING_READERS` (the ceiling's SQLite connections, shared by
//! as many tasks as there are HTTP connections; default the emulator's reader pool size,
//! `store::READERS`), `BENCH_DIR` (the data directory, kept; default a temporary one).
//!
//! The emulator runs as users run it with Microsoft's clients: HTTPS (`--tls`, its own CA,
//! trusted by the load's clients), a real token, service protection off (the figures are the
//! code's, not the throttle's), its data in a file the ceiling opens too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use d365_emulator::{Emulator, EmulatorConfig};

/// The `d365` binary's allocator (crates/d365-cli/src/main.rs): the emulator as users run it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use serde_json::Value;

#[path = "queries/bare.rs"]
mod bare;
#[path = "queries/data.rs"]
mod data;
#[path = "queries/drive.rs"]
mod drive;
#[path = "queries/report.rs"]
mod report;
#[path = "queries/shapes.rs"]
mod shapes;

use drive::Timing;
use shapes::Shape;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace(['_', ','], "").parse().ok())
        .unwrap_or(default)
}

/// Whether `BENCH_ONLY` (if set) names `name`.
fn selected(name: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| {
        only.split(',').any(|s| s.trim().eq_ignore_ascii_case(name))
    })
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. `cargo test --benches`) skips.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let accounts = env_usize("BENCH_ACCOUNTS", 1_000_000);
    let connections = env_usize("BENCH_CONNECTIONS", 50).max(1);
    let timing = Timing {
        warm: Duration::from_secs(env_usize("BENCH_WARMUP_SECS", 2) as u64),
        window: Duration::from_secs(env_usize("BENCH_SECS", 10).max(1) as u64),
    };
    let (dir, _temp) = match std::env::var_os("BENCH_DIR") {
        Some(d) => (std::path::PathBuf::from(d), None),
        None => {
            let t = tempfile::tempdir().expect("a temporary directory");
            (t.path().to_owned(), Some(t))
        }
    };
    let config = EmulatorConfig {
        seed_accounts: accounts,
        data_dir: Some(dir.clone()),
        tls: true,
        token_lifetime_secs: 3600,
        limits: None,
        ..EmulatorConfig::default()
    };
    let started = Instant::now();
    let emulator = Emulator::start(config, "127.0.0.1:0".parse().expect("an address"))
        .await
        .expect("the emulator starts");
    println!(
        "emulator: seeded {accounts} accounts in {:.1} s (0 if {} held them already), TLS on, service protection off",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    let info = emulator.info();
    let ca = std::fs::read(info.ca_file.as_deref().expect("a CA file with --tls"))
        .expect("the CA certificate");
    let client = drive::client(&ca);
    let token = Arc::new(d365_testkit::app_token(&client, &info).await);
    let api = format!("{}/api/data/v9.2/", info.environment_url);
    let origin = url::Url::parse(&info.environment_url)
        .expect("the environment URL")
        .origin()
        .ascii_serialization();
    let db = dir.join("dataverse.sqlite3");

    // Every connection opens now, not in the first shape's warm-up.
    let mut conns = Vec::new();
    for _ in 0..connections {
        let mut conn = drive::Conn::open(&origin, &ca).await;
        let (status, body) = conn
            .get(&drive::target(&format!("{api}WhoAmI")), &token)
            .await
            .expect("WhoAmI");
        assert_eq!(status, 200, "WhoAmI: {}", String::from_utf8_lossy(&body));
        conns.push(conn);
    }

    let sample = {
        let db = db.clone();
        tokio::task::spawn_blocking(move || data::sample(&db))
            .await
            .expect("sampling")
            .expect("the database file")
    };
    println!(
        "data: {} accounts, {} contacts in {}; {connections} connections, {} s warm-up, {} s measured; \
         {} cores; SQLite {}",
        sample.accounts,
        sample.contacts,
        db.display(),
        timing.warm.as_secs(),
        timing.window.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        rusqlite::version(),
    );
    let shapes: Vec<Shape> = shapes::all(&sample)
        .into_iter()
        .filter(|s| selected(s.name))
        .collect();

    let readers_n = env_usize("BENCH_CEILING_READERS", d365_emulator::store::READERS).max(1);
    let mut readers = drive::open_readers(&db, readers_n);
    for shape in &shapes {
        report::describe(shape, &readers[0]);
        let rows = validate(shape, &client, &token, &api, &readers[0]).await;
        println!(
            "  checked: {rows} records over {} parameters, the same as the SQL's rows",
            shape.params.len().min(5)
        );
    }

    let mut rows = Vec::new();
    for shape in &shapes {
        let targets: Vec<String> = shape
            .params
            .iter()
            .map(|p| drive::target(&format!("{api}{}", (shape.url)(p))))
            .collect();
        let (http, back) = drive::http(conns, &token, Arc::new(targets), timing).await;
        conns = back;
        let params = shape.params.iter().map(|p| (shape.sql_params)(p)).collect();
        let (ceiling, back) =
            drive::ceiling(readers, connections, shape.sql, Arc::new(params), timing).await;
        readers = back;
        let row = report::Row::new(shape.name, http, Some(ceiling));
        println!("{}", row.line());
        rows.push(row);
    }

    if selected("bare-https") {
        let typeahead = shapes::all(&sample).remove(0);
        let url = format!("{api}{}", (typeahead.url)(&typeahead.params[0]));
        let body = drive::get(&client, &url, &token)
            .send()
            .await
            .expect("the type-ahead answer")
            .bytes()
            .await
            .expect("its body");
        let server = bare::serve(&dir.join("tls"), body.clone()).await;
        let target = drive::target(&format!(
            "{}/api/data/v9.2/{}",
            server.origin,
            (typeahead.url)(&typeahead.params[0])
        ));
        let mut bare_conns = Vec::new();
        for _ in 0..connections {
            bare_conns.push(drive::Conn::open(&server.origin, &ca).await);
        }
        let (http, _) = drive::http(bare_conns, &token, Arc::new(vec![target]), timing).await;
        let row = report::Row::new("bare-https", http, None);
        println!(
            "{} (a fixed {}-byte body: the type-ahead answer's)",
            row.line(),
            body.len()
        );
        rows.push(row);
    }

    report::table(&rows, sample.accounts, connections, readers_n);
    emulator.stop().await;
    let failed: Vec<String> = rows.iter().filter_map(report::Row::failure).collect();
    assert!(failed.is_empty(), "requests failed:\n{}", failed.join("\n"));
}

/// Sends `shape` with its first five parameters and compares each answer with its SQL's
/// rows: the same records in the same order (or the same groups). Panics on any other status
/// than 200 or any difference. The records seen.
async fn validate(
    shape: &Shape,
    client: &reqwest::Client,
    token: &str,
    api: &str,
    conn: &rusqlite::Connection,
) -> usize {
    let mut seen = 0;
    for p in shape.params.iter().take(5) {
        let url = format!("{api}{}", (shape.url)(p));
        let response = drive::get(client, &url, token)
            .send()
            .await
            .expect("a request");
        let status = response.status();
        let text = response.text().await.expect("a body");
        assert_eq!(
            status, 200,
            "{}: GET {url} answered {status}: {text}",
            shape.name
        );
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: GET {url}: not JSON ({e}): {text}", shape.name));
        let mut http = (shape.http_keys)(&body);
        let mut statement = conn.prepare_cached(shape.sql).expect("the ceiling SQL");
        let mut sql: Vec<String> = statement
            .query_map(
                rusqlite::params_from_iter((shape.sql_params)(p)),
                shape.sql_key,
            )
            .expect("the ceiling SQL runs")
            .collect::<rusqlite::Result<_>>()
            .expect("the ceiling SQL's rows");
        if shape.unordered {
            http.sort();
            sql.sort();
        }
        assert_eq!(
            http, sql,
            "{}: GET {url} differs from its SQL (left: the answer, right: the SQL)",
            shape.name
        );
        seen += http.len();
    }
    assert!(
        seen > 0 || !shape.expect_rows,
        "{}: no parameter gave a record",
        shape.name
    );
    seen
}
