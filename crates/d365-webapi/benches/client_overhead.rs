//! The client's own cost per record, printed (not asserted): a full paging pass over every
//! account of an in-process emulator, once by a bare HTTP loop that reads each page's bytes and
//! throws them away, and by the client three ways: its record stream (`serde_json::Value`), its
//! pages converted to a typed struct ([`Page::typed`]), and its typed record stream
//! (`into_typed_stream`, records decoded straight from the body).
//!
//! ```text
//! cargo bench -p d365-webapi --bench client_overhead                   # 1,000,000 accounts
//! BENCH_ROWS=100000 BENCH_REPEATS=5 cargo bench -p d365-webapi --bench client_overhead
//! ```
//!
//! The emulator (in memory, service protection limits off) runs on a multi-thread runtime; the
//! three passes run one after another on a current-thread runtime in their own OS thread, so
//! that thread's CPU time (`/proc/thread-self/schedstat`, nanoseconds) is the client side's:
//! HTTP, JSON, the stream, and nothing of the server. Process CPU (`/proc/self/stat`, 10 ms
//! ticks) includes the emulator's work and is printed beside it. The workspace forbids
//! `unsafe`, so no `getrusage`/`clock_gettime` calls.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use d365_auth::{Authority, ClientSecret, OAuthCredential, TokenCredential, token_client};
use d365_http::HttpClient;
use d365_webapi::{Client, Page};
use futures_util::TryStreamExt;
use serde::Deserialize;

/// The columns every pass asks for.
const SELECT: [&str; 5] = ["name", "accountnumber", "revenue", "statecode", "createdon"];
const PAGE_SIZE: u32 = 5000;

/// What the typed pass decodes each record into.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // read only through `black_box`
struct Account {
    accountid: String,
    name: Option<String>,
    accountnumber: Option<String>,
    revenue: Option<f64>,
    statecode: Option<i32>,
    createdon: Option<String>,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// CPU time of the calling thread: the first field of `/proc/thread-self/schedstat`
/// (nanoseconds on the CPU).
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = text
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// CPU time of the whole process, user + system, from `/proc/self/stat` (fields 14 and 15,
/// in clock ticks; USER_HZ is 100 on Linux). Threads that have exited are included.
fn process_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces; count fields after its closing paren.
    let rest = text.rsplit_once(") ").map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Bare,
    Value,
    Typed,
    TypedStream,
}

impl Pass {
    fn label(self) -> &'static str {
        match self {
            Pass::Bare => "bare loop (bytes discarded)",
            Pass::Value => "client, records as Value",
            Pass::Typed => "client, pages .typed::<Account>()",
            Pass::TypedStream => "client, into_typed_stream::<Account>()",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    thread_cpu: Duration,
    process_cpu: Duration,
    /// Records (client passes) or response bytes (bare loop).
    units: u64,
    pages: u64,
}

/// The `@odata.nextLink` of a page body, found in its tail: Dataverse (and the emulator) write
/// it as the last member, `…],"@odata.nextLink":"…"}`. Only the link's own JSON string is
/// decoded, so escapes are honoured but the records are never looked at.
fn next_link(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"@odata.nextLink\":";
    let tail = &body[body.len().saturating_sub(4096)..];
    let at = tail.windows(KEY.len()).rposition(|w| w == KEY)?;
    let value = tail[at + KEY.len()..].trim_ascii_end();
    let value = value.strip_suffix(b"}")?.trim_ascii_end();
    serde_json::from_slice(value).ok()
}

/// GET each page with the same headers as the client, read the body, keep only the link.
/// Returns (bytes, pages).
async fn bare_pass(
    http: &reqwest::Client,
    token: &str,
    first_url: String,
    first_page: &mut Option<Vec<u8>>,
) -> (u64, u64) {
    let (mut pages, mut bytes) = (0u64, 0u64);
    let mut next = Some(first_url);
    while let Some(url) = next.take() {
        let response = http
            .get(&url)
            .bearer_auth(token)
            .header("accept", "application/json")
            .header("odata-maxversion", "4.0")
            .header("odata-version", "4.0")
            .header("prefer", format!("odata.maxpagesize={PAGE_SIZE}"))
            .send()
            .await
            .expect("page");
        assert!(response.status().is_success(), "{}", response.status());
        let body = response.bytes().await.expect("page body");
        bytes += body.len() as u64;
        pages += 1;
        next = next_link(&body);
        if first_page.is_none() {
            *first_page = Some(body.to_vec());
        }
    }
    (bytes, pages)
}

async fn value_pass(client: &Client) -> u64 {
    client
        .query("accounts")
        .select(SELECT)
        .max_page_size(PAGE_SIZE)
        .into_stream()
        .try_fold(0u64, |n, record| {
            black_box(&record);
            std::future::ready(Ok(n + 1))
        })
        .await
        .expect("client pass")
}

async fn typed_stream_pass(client: &Client) -> u64 {
    client
        .query("accounts")
        .select(SELECT)
        .max_page_size(PAGE_SIZE)
        .into_typed_stream::<Account>()
        .try_fold(0u64, |n, record| {
            black_box(&record);
            std::future::ready(Ok(n + 1))
        })
        .await
        .expect("typed stream pass")
}

async fn typed_pass(client: &Client) -> (u64, u64) {
    client
        .query("accounts")
        .select(SELECT)
        .max_page_size(PAGE_SIZE)
        .pages()
        .try_fold((0u64, 0u64), |(records, pages), page| {
            let page: Page<Account> = page.typed().expect("typed page");
            let n = page.items.len() as u64;
            black_box(&page.items);
            std::future::ready(Ok((records + n, pages + 1)))
        })
        .await
        .expect("typed pass")
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort_unstable();
    values[values.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Target {
    environment: String,
    authority_host: String,
    tenant_id: String,
    client_id: String,
    client_secret: String,
}

/// Runs every pass `repeats` times, interleaved, on this thread; prints the table.
fn run_client(target: Target, rows: usize, repeats: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    rt.block_on(async move {
        let http = HttpClient::new().expect("HTTP client");
        let authority =
            Authority::new(&target.authority_host, &target.tenant_id).expect("authority");
        let credential = Arc::new(OAuthCredential::client_secret(
            token_client(authority).expect("token client"),
            &target.client_id,
            ClientSecret::new(target.client_secret.clone()),
        ));
        let client = Client::builder()
            .environment(&target.environment)
            .credential(credential.clone())
            .http_client(http.clone())
            .build()
            .expect("client");
        // The bare loop uses the very reqwest client (same pool and settings) and a token
        // taken once.
        let token = credential
            .get_token(client.environment())
            .await
            .expect("token")
            .secret()
            .to_owned();
        let first_url = client.query("accounts").select(SELECT).url();
        // Warm-up: connection, token cache, and the first page's plan.
        let warm = client
            .query("accounts")
            .select(SELECT)
            .top(10)
            .send()
            .await
            .expect("warm-up");
        assert_eq!(warm.items.len(), 10);

        let mut first_page = None;
        let passes = [Pass::Bare, Pass::Value, Pass::Typed, Pass::TypedStream];
        let mut samples: Vec<(Pass, Sample)> = Vec::new();
        for round in 0..repeats {
            // Rotate the order each round, so no pass always runs after the same one.
            for i in 0..passes.len() {
                let pass = passes[(i + round) % passes.len()];
                let (c0, p0, t0) = (thread_cpu(), process_cpu(), Instant::now());
                let (units, pages) = match pass {
                    Pass::Bare => {
                        bare_pass(http.inner(), &token, first_url.clone(), &mut first_page).await
                    }
                    Pass::Value => (value_pass(&client).await, 0),
                    Pass::Typed => typed_pass(&client).await,
                    Pass::TypedStream => (typed_stream_pass(&client).await, 0),
                };
                let sample = Sample {
                    wall: t0.elapsed(),
                    thread_cpu: thread_cpu() - c0,
                    process_cpu: process_cpu().saturating_sub(p0),
                    units,
                    pages,
                };
                eprintln!(
                    "round {round} {:<40} wall {:>8.1} ms, client thread CPU {:>8.1} ms, process CPU {:>8.1} ms",
                    pass.label(),
                    ms(sample.wall),
                    ms(sample.thread_cpu),
                    ms(sample.process_cpu),
                );
                samples.push((pass, sample));
            }
        }
        report(&samples, rows);
        decode_only(&first_page.expect("a page"));
    });
}

fn report(samples: &[(Pass, Sample)], rows: usize) {
    let of = |pass: Pass| -> Vec<Sample> {
        samples
            .iter()
            .filter(|(p, _)| *p == pass)
            .map(|(_, s)| *s)
            .collect()
    };
    let med = |pass: Pass, f: fn(&Sample) -> Duration| median(of(pass).iter().map(f).collect());
    let bare = of(Pass::Bare);
    let records = of(Pass::Value)[0].units;
    let bare_pages = bare[0].pages;
    let typed = of(Pass::Typed)[0];
    assert_eq!(records as usize, rows, "every account once");
    assert_eq!(typed.units, records, "typed pass saw every account");
    assert_eq!(
        of(Pass::TypedStream)[0].units,
        records,
        "typed stream saw every account"
    );
    assert_eq!(
        typed.pages, bare_pages,
        "the bare loop followed the same links"
    );
    let bytes = bare[0].units;
    // Other work on the machine (e.g. a build) shows up here and in every figure below.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nload average after the runs (1, 5, 15 min): {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "\n{records} accounts, {bare_pages} pages of {PAGE_SIZE}, {:.1} MB of JSON per pass ({:.0} bytes/record); $select={}; median of {} interleaved runs\n",
        bytes as f64 / 1e6,
        bytes as f64 / records as f64,
        SELECT.join(","),
        bare.len()
    );
    println!(
        "| pass | wall | records/s | client thread CPU | process CPU (incl. emulator) | client CPU − bare, per record |"
    );
    println!("|---|---|---|---|---|---|");
    let bare_wall = med(Pass::Bare, |s| s.wall);
    let bare_cpu = med(Pass::Bare, |s| s.thread_cpu);
    for pass in [Pass::Bare, Pass::Value, Pass::Typed, Pass::TypedStream] {
        let wall = med(pass, |s| s.wall);
        let cpu = med(pass, |s| s.thread_cpu);
        let process = med(pass, |s| s.process_cpu);
        let overhead = if pass == Pass::Bare {
            "—".to_owned()
        } else {
            format!(
                "{:.2} µs",
                (cpu.as_secs_f64() - bare_cpu.as_secs_f64()) * 1e6 / records as f64
            )
        };
        println!(
            "| {} | {:.0} ms | {:.0} | {:.0} ms ({:.2} µs/record) | {:.0} ms | {overhead} |",
            pass.label(),
            ms(wall),
            records as f64 / wall.as_secs_f64(),
            ms(cpu),
            cpu.as_secs_f64() * 1e6 / records as f64,
            ms(process),
        );
    }
    println!();
    for pass in [Pass::Value, Pass::Typed, Pass::TypedStream] {
        let ratio = med(pass, |s| s.wall).as_secs_f64() / bare_wall.as_secs_f64();
        println!(
            "wall time {} / bare loop: {ratio:.3} (goal ≤ 1.10: {})",
            pass.label(),
            if ratio <= 1.10 { "met" } else { "NOT met" }
        );
    }
}

/// The body of a collection page, decoded straight into records of type `T`.
#[derive(Deserialize)]
struct PageBody<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    #[allow(dead_code)]
    next_link: Option<String>,
}

/// Only the links of a page; the records are skipped without being built.
#[derive(Deserialize)]
struct LinksOnly {
    #[serde(rename = "@odata.nextLink")]
    #[allow(dead_code)]
    next_link: Option<String>,
}

/// CPU per record of decoding one page body, several ways, without HTTP.
fn decode_only(body: &[u8]) {
    let records = serde_json::from_slice::<PageBody<serde::de::IgnoredAny>>(body)
        .expect("page")
        .value
        .len();
    let per_record = |f: &dyn Fn()| {
        let (t, mut n) = (thread_cpu(), 0u32);
        while thread_cpu() - t < Duration::from_millis(300) {
            f();
            n += 1;
        }
        (thread_cpu() - t).as_secs_f64() * 1e6 / (f64::from(n) * records as f64)
    };
    println!(
        "\ndecoding one {:.1} MB page of {records} records, CPU per record (no HTTP):\n",
        body.len() as f64 / 1e6
    );
    println!("| decode | µs/record |\n|---|---|");
    let rows: [(&str, &dyn Fn()); 5] = [
        (
            "skip the records, keep the link (serde IgnoredAny)",
            &|| {
                black_box(serde_json::from_slice::<LinksOnly>(body).expect("page"));
            },
        ),
        (
            "whole page to Value, records taken out (what the client does)",
            &|| {
                let mut page: serde_json::Value = serde_json::from_slice(body).expect("page");
                black_box(page["value"].take());
            },
        ),
        ("page straight to Vec<Value>", &|| {
            black_box(serde_json::from_slice::<PageBody<serde_json::Value>>(body).expect("page"));
        }),
        (
            "page to Value, then each record to Account (Page::typed)",
            &|| {
                let mut page: serde_json::Value = serde_json::from_slice(body).expect("page");
                let items: Vec<Account> =
                    serde_json::from_value(page["value"].take()).expect("records");
                black_box(items);
            },
        ),
        ("page straight to Vec<Account>", &|| {
            black_box(serde_json::from_slice::<PageBody<Account>>(body).expect("page"));
        }),
    ];
    for (label, f) in rows {
        println!("| {label} | {:.2} |", per_record(f));
    }
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. `cargo test --benches`) skips.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rows = env_usize("BENCH_ROWS", 1_000_000);
    let repeats = env_usize("BENCH_REPEATS", 3).max(1);
    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("emulator runtime");
    let config = d365_testkit::EmulatorConfig {
        limits: None, // service protection off: the passes are not throttled
        token_lifetime_secs: 3600,
        ..d365_testkit::test_config(rows)
    };
    let started = Instant::now();
    let emulator = server.block_on(d365_testkit::start(config));
    eprintln!(
        "seeded {rows} accounts (and their related rows) in memory in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let info = emulator.info();
    let target = Target {
        environment: info.environment_url.clone(),
        authority_host: info.authority_host.clone(),
        tenant_id: info.tenant_id.clone(),
        client_id: info.client_id.clone(),
        client_secret: info.client_secret.clone(),
    };
    // The client side gets its own OS thread; the emulator's runtime keeps serving meanwhile.
    std::thread::Builder::new()
        .name("client".into())
        .spawn(move || run_client(target, rows, repeats))
        .expect("client thread")
        .join()
        .expect("client thread finished");
    server.block_on(emulator.stop());
}
