//! Soak: the real `d365 emulator` binary (a child process on `127.0.0.1:0`, in memory,
//! service protection off) under ten minutes of mixed load from 50 keep-alive connections:
//! queries (`$filter`/`$orderby`/`$top`/`$select`), creates, updates, deletes, `$batch`, token
//! requests, about 10 % hostile requests (self-referencing aliases, deep nesting for every
//! reader, oversized and deeply nested bodies, bad tokens, malformed batches) and 5 % injected
//! 503s (`POST /_emulator/faults`). Prints the requests sent by status class, the errors
//! (transport errors and unexpected statuses), latencies, whether the emulator is still alive
//! at the end, and its RSS at the start, after warm-up and at the end. Not a CI test.
//!
//! ```sh
//! cargo bench -p d365-cli --bench soak                      # 600 s
//! D365_SOAK_SECS=60 cargo bench -p d365-cli --bench soak    # a short check
//! ```
//!
//! `D365_SOAK_SECS` (default 600) sets the duration, `D365_SOAK_WARMUP_SECS` (default 60, at
//! most half the run) when the warm-up RSS is taken, `D365_SOAK_CONNECTIONS` (default 50),
//! `D365_SOAK_HOSTILE_SHARE` (default 0.10), `D365_SOAK_OVERSIZED_SHARE` (the share of hostile
//! requests that send a 17 MB body, default 0.02) and `D365_SOAK_FAULT_SHARE` (default 0.05)
//! the mix; `D365_SOAK_HOSTILE=safe` leaves out the inputs known to abort an unfixed emulator
//! (issue 13: self-referencing aliases and deep nesting), to soak the rest; `D365_SOAK_BIN`
//! runs another `d365` binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "soak/hostile.rs"]
mod hostile;

use hostile::{Hostile, hostile_inputs, oversized};

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The emulator's connection details, from `--info-file`.
#[derive(Debug, Clone)]
struct Info {
    authority_host: String,
    tenant_id: String,
    environment_url: String,
    client_id: String,
    client_secret: String,
}

impl Info {
    fn api(&self, path: &str) -> String {
        format!("{}/api/data/v9.2/{path}", self.environment_url)
    }
    fn token_url(&self) -> String {
        format!("{}/{}/oauth2/token", self.authority_host, self.tenant_id)
    }
}

/// `VmRSS` (or another `/proc/<pid>/status` field) in MiB.
fn proc_mib(pid: u32, field: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The emulator process; killed (and reaped) when dropped, so a failing run never leaves it
/// behind.
struct Emulator(Child);

impl Drop for Emulator {
    fn drop(&mut self) {
        // SIGTERM first, so the emulator removes its in-memory store; SIGKILL if it hangs.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_emulator(dir: &Path) -> (Emulator, Info) {
    let bin = std::env::var("D365_SOAK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_BIN_EXE_d365")));
    let info_file = dir.join("info.json");
    let log = std::fs::File::create(dir.join("emulator.log")).expect("log file");
    let mut emulator = Emulator(
        Command::new(&bin)
            .args(["emulator", "--limits", "off", "--port", "0", "--info-file"])
            .arg(&info_file)
            .env("D365_CONFIG", dir.join("config.toml"))
            .env("D365_CACHE_DIR", dir.join("cache"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display())),
    );
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(&info_file)
            && let Ok(v) = serde_json::from_str::<Value>(&text)
        {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            let info = Info {
                authority_host: s("authority_host"),
                tenant_id: s("tenant_id"),
                environment_url: s("environment_url"),
                client_id: s("client_id"),
                client_secret: s("client_secret"),
            };
            return (emulator, info);
        }
        if let Ok(Some(status)) = emulator.0.try_wait() {
            panic!(
                "the emulator exited at start ({status}): {}",
                tail_log(&dir.join("emulator.log"))
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the emulator wrote no info file in 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A small, fast generator (xorshift64*), one per connection.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, share: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= share
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Query,
    Create,
    Update,
    Delete,
    Batch,
    Token,
    Hostile,
}

/// What one connection saw.
#[derive(Debug, Default)]
struct Tally {
    /// (kind, status class "2xx" … or "transport") -> count.
    by_kind: BTreeMap<(Kind, String), u64>,
    /// Unexpected answers, a few kept for the report.
    unexpected: u64,
    samples: Vec<String>,
    transport: u64,
    /// Normal requests' latencies in microseconds.
    latencies: Vec<u32>,
}

impl Tally {
    fn note(&mut self, kind: Kind, class: String) {
        *self.by_kind.entry((kind, class)).or_default() += 1;
    }
    fn unexpected(&mut self, what: String) {
        self.unexpected += 1;
        if self.samples.len() < 5 {
            self.samples.push(what);
        }
    }
}

/// An error and its causes, without the URL (which may be 30 kB long).
fn causes(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(i) = text.find(" for url (") {
        text.truncate(i);
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

fn class(status: u16) -> String {
    format!("{}xx", status / 100)
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    id: u64,
    http: reqwest::Client,
    info: Arc<Info>,
    token: Arc<String>,
    hostile: Arc<Vec<Hostile>>,
    oversized: Arc<Hostile>,
    hostile_share: f64,
    oversized_share: f64,
    deadline: Instant,
    stop: Arc<AtomicBool>,
) -> Tally {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (id + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut tally = Tally::default();
    let mut mine: Vec<String> = Vec::new();
    let mut n = 0u64;
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        n += 1;
        let started = Instant::now();
        if rng.chance(hostile_share) {
            let h = if rng.chance(oversized_share) {
                &*oversized
            } else {
                &hostile[rng.below(hostile.len() as u64) as usize]
            };
            let (label, method, url, content_type, body, valid) = h;
            let mut request = http.request(method.clone(), url);
            request = request.bearer_auth(if *valid {
                token.as_str()
            } else {
                "eyJhbGciOiJub25lIn0.e30.bad"
            });
            if !content_type.is_empty() {
                request = request
                    .header("content-type", *content_type)
                    .body(body.clone());
            }
            match request.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let _ = r.bytes().await;
                    tally.note(Kind::Hostile, class(status));
                    // A hostile request must be refused (4xx) or get an injected 503.
                    if !(400..500).contains(&status) && status != 503 {
                        tally.unexpected(format!("hostile {label}: HTTP {status}"));
                    }
                }
                Err(e) => {
                    tally.note(Kind::Hostile, "transport".into());
                    tally.transport += 1;
                    if tally.samples.len() < 5 {
                        tally
                            .samples
                            .push(format!("hostile {label}: {}", causes(&e)));
                    }
                }
            }
            continue;
        }
        let pick = rng.below(100);
        let (kind, request) = match pick {
            0..=44 => {
                let queries = [
                    format!(
                        "accounts?$select=name,revenue&$filter=revenue gt {}&$orderby=name&$top=10",
                        rng.below(1_000_000)
                    ),
                    format!(
                        "accounts?$select=name&$filter=startswith(name,'{}')&$orderby=name desc&$top=5",
                        (b'A' + rng.below(26) as u8) as char
                    ),
                    "contacts?$select=fullname,emailaddress1&$orderby=lastname,firstname&$top=20"
                        .to_owned(),
                    format!(
                        "accounts?$select=name&$filter=statecode eq 0 and numberofemployees lt {}&$count=true&$top=3",
                        rng.below(5000)
                    ),
                    "accounts?$select=name&$expand=primarycontactid($select=fullname)&$top=5"
                        .to_owned(),
                ];
                let q = &queries[rng.below(queries.len() as u64) as usize];
                (
                    Kind::Query,
                    http.get(info.api(q)).bearer_auth(token.as_str()),
                )
            }
            45..=64 => (
                Kind::Create,
                http.post(info.api("accounts"))
                    .bearer_auth(token.as_str())
                    .json(
                        &json!({"name": format!("soak {id}-{n}"), "revenue": rng.below(100_000)}),
                    ),
            ),
            65..=74 if !mine.is_empty() => {
                let target = &mine[rng.below(mine.len() as u64) as usize];
                (
                    Kind::Update,
                    http.patch(info.api(&format!("accounts({target})")))
                        .bearer_auth(token.as_str())
                        .header("if-match", "*")
                        .json(&json!({"name": format!("soak {id}-{n} updated")})),
                )
            }
            75..=82 if !mine.is_empty() => {
                let target = mine.swap_remove(rng.below(mine.len() as u64) as usize);
                (
                    Kind::Delete,
                    http.delete(info.api(&format!("accounts({target})")))
                        .bearer_auth(token.as_str()),
                )
            }
            83..=94 => {
                let body = format!(
                    "--batch_s\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET /api/data/v9.2/accounts?$select=name&$top=2 HTTP/1.1\r\n\r\n\
--batch_s\r\nContent-Type: multipart/mixed; boundary=cs_s\r\n\r\n\
--cs_s\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\nPOST /api/data/v9.2/accounts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{{\"name\":\"soak batch {id}-{n}\"}}\r\n\
--cs_s\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\nPATCH $1 HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{{\"revenue\":{}}}\r\n\
--cs_s--\r\n--batch_s--\r\n",
                    rng.below(1000)
                );
                (
                    Kind::Batch,
                    http.post(info.api("$batch"))
                        .bearer_auth(token.as_str())
                        .header("content-type", "multipart/mixed; boundary=batch_s")
                        .body(body),
                )
            }
            95..=99 => (
                Kind::Token,
                http.post(info.token_url()).form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", info.client_id.as_str()),
                    ("client_secret", info.client_secret.as_str()),
                    ("resource", info.environment_url.as_str()),
                ]),
            ),
            // An update or delete with nothing created yet: a query instead.
            _ => (
                Kind::Query,
                http.get(info.api("accounts?$select=name&$top=1"))
                    .bearer_auth(token.as_str()),
            ),
        };
        match request.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let created = r
                    .headers()
                    .get("odata-entityid")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| {
                        v.rsplit_once('(')
                            .map(|(_, id)| id.trim_end_matches(')').to_owned())
                    });
                let body = r.bytes().await;
                tally
                    .latencies
                    .push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
                tally.note(kind, class(status));
                let ok = match kind {
                    Kind::Delete => status == 204 || status == 404,
                    Kind::Update => status == 204 || status == 404,
                    _ => (200..300).contains(&status),
                };
                if kind == Kind::Create
                    && let Some(created) = created
                    && mine.len() < 1000
                {
                    mine.push(created);
                }
                if !ok && status != 503 {
                    let text = body
                        .map(|b| String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned())
                        .unwrap_or_default();
                    tally.unexpected(format!("{kind:?}: HTTP {status} {text}"));
                }
            }
            Err(e) => {
                tally.note(kind, "transport".into());
                tally.transport += 1;
                if tally.samples.len() < 5 {
                    tally.samples.push(format!("{kind:?}: {}", causes(&e)));
                }
            }
        }
    }
    tally
}

fn main() {
    let secs: u64 = env_num("D365_SOAK_SECS", 600);
    let warmup: u64 = env_num("D365_SOAK_WARMUP_SECS", 60).min(secs / 2);
    let connections: u64 = env_num("D365_SOAK_CONNECTIONS", 50);
    let hostile_share: f64 = env_num("D365_SOAK_HOSTILE_SHARE", 0.10);
    let oversized_share: f64 = env_num("D365_SOAK_OVERSIZED_SHARE", 0.02);
    let fault_share: f64 = env_num("D365_SOAK_FAULT_SHARE", 0.05);
    let safe = std::env::var("D365_SOAK_HOSTILE").is_ok_and(|v| v == "safe");

    let dir = tempfile::tempdir().expect("temp dir");
    let (mut emulator, info) = start_emulator(dir.path());
    let pid = emulator.0.id();
    let rss_start = proc_mib(pid, "VmRSS:").unwrap_or(f64::NAN);
    println!(
        "soak: {secs} s, {connections} connections, {:.0} % hostile{}, {:.0} % injected 503s; d365 emulator pid {pid} at {}",
        hostile_share * 100.0,
        if safe { " (safe inputs only)" } else { "" },
        fault_share * 100.0,
        info.environment_url
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let info = Arc::new(info);
    let (tallies, rss_warm, elapsed, died) = runtime.block_on(async {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(connections as usize)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let token: Value = http
            .post(info.token_url())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", info.client_id.as_str()),
                ("client_secret", info.client_secret.as_str()),
                ("resource", info.environment_url.as_str()),
            ])
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token JSON");
        let token = Arc::new(token["access_token"].as_str().expect("access_token").to_owned());
        if fault_share > 0.0 {
            let r = http
                .post(format!("{}/_emulator/faults", info.environment_url))
                .json(&json!({"kind": "error", "status": 503, "share": fault_share, "path": "/api/data/*"}))
                .send()
                .await
                .expect("faults");
            assert!(r.status().is_success(), "adding the fault: {}", r.text().await.unwrap_or_default());
        }
        let hostile = Arc::new(hostile_inputs(&info, safe));
        let oversized = Arc::new(oversized(&info));
        let started = Instant::now();
        let deadline = started + Duration::from_secs(secs);
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..connections)
            .map(|id| {
                tokio::spawn(connection(
                    id,
                    http.clone(),
                    info.clone(),
                    token.clone(),
                    hostile.clone(),
                    oversized.clone(),
                    hostile_share,
                    oversized_share,
                    deadline,
                    stop.clone(),
                ))
            })
            .collect();
        // Watch the emulator: RSS after warm-up, and stop early if it dies.
        let mut rss_warm = f64::NAN;
        let mut died = None;
        let mut last_report = Instant::now();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if rss_warm.is_nan() && started.elapsed() >= Duration::from_secs(warmup) {
                rss_warm = proc_mib(pid, "VmRSS:").unwrap_or(f64::NAN);
            }
            if let Ok(Some(status)) = emulator.0.try_wait() {
                died = Some((started.elapsed(), status));
                stop.store(true, Ordering::Relaxed);
                break;
            }
            if last_report.elapsed() >= Duration::from_secs(60) {
                last_report = Instant::now();
                println!(
                    "  {:>4} s: RSS {:.1} MiB",
                    started.elapsed().as_secs(),
                    proc_mib(pid, "VmRSS:").unwrap_or(f64::NAN)
                );
            }
        }
        let mut tallies = Vec::new();
        for t in tasks {
            tallies.push(t.await.expect("connection task"));
        }
        (tallies, rss_warm, started.elapsed(), died)
    });

    let rss_end = proc_mib(pid, "VmRSS:").unwrap_or(f64::NAN);
    let rss_peak = proc_mib(pid, "VmHWM:").unwrap_or(f64::NAN);
    let alive = emulator.0.try_wait().ok().flatten().is_none();

    let mut by_kind: BTreeMap<(Kind, String), u64> = BTreeMap::new();
    let mut by_class: BTreeMap<String, u64> = BTreeMap::new();
    let (mut unexpected, mut transport) = (0u64, 0u64);
    let mut samples = Vec::new();
    let mut latencies = Vec::new();
    for t in tallies {
        for (k, v) in t.by_kind {
            *by_class.entry(k.1.clone()).or_default() += v;
            *by_kind.entry(k).or_default() += v;
        }
        unexpected += t.unexpected;
        transport += t.transport;
        samples.extend(t.samples);
        latencies.extend(t.latencies);
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |&us| us as f64 / 1000.0)
    };
    let total: u64 = by_class.values().sum();
    println!(
        "  requests: {total} in {:.1} s ({:.0}/s)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  by status class: {}",
        by_class
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut kinds: BTreeMap<Kind, Vec<String>> = BTreeMap::new();
    for ((kind, class), n) in &by_kind {
        kinds.entry(*kind).or_default().push(format!("{class} {n}"));
    }
    for (kind, classes) in kinds {
        println!("    {kind:?}: {}", classes.join(", "));
    }
    println!(
        "  normal request latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "  errors: {} ({transport} transport, {unexpected} unexpected statuses)",
        transport + unexpected
    );
    samples.sort();
    samples.dedup();
    for s in samples.iter().take(8) {
        let mut end = s.len().min(200);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        println!(
            "    e.g. {}{}",
            &s[..end],
            if end < s.len() { "…" } else { "" }
        );
    }
    match died {
        Some((at, status)) => println!(
            "  emulator alive at the end: NO — it exited after {:.1} s ({status}); log: {}",
            at.as_secs_f64(),
            tail_log(&dir.path().join("emulator.log"))
        ),
        None => println!(
            "  emulator alive at the end: {}",
            if alive { "yes" } else { "NO" }
        ),
    }
    println!(
        "  emulator RSS: start {rss_start:.1} MiB, after warm-up ({warmup} s) {rss_warm:.1} MiB, end {rss_end:.1} MiB (peak {rss_peak:.1} MiB)"
    );

    // Stop the emulator gracefully (SIGTERM), then for sure.
    if alive {
        let _ = Command::new("kill").arg(pid.to_string()).status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = emulator.0.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    drop(emulator);
    assert!(
        alive && died.is_none(),
        "the emulator did not survive the soak"
    );
}

fn tail_log(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}
