//! Hostile inputs never bring the emulator down (issue 13). Deep and self-referencing inputs
//! for every reader of the HTTP surface (`$filter` and its parameter aliases, `$orderby`,
//! `$expand`, `$apply`, `?sql=`, FetchXML, QueryExpression, JSON bodies, `$batch`) are sent to
//! the router in-process. Each must get a well-formed answer — for most, 400 in Dataverse's
//! error shape `{"error":{"code":"0x…","message":"…"}}` — and a normal
//! `GET accounts?$top=1` must still answer 200 afterwards.
//!
//! A reader that recurses without bound overflows its stack, and a stack overflow aborts the
//! whole process: no test harness can catch it. So every group of inputs runs in a child
//! process (this test binary again, running only [`child_process_entry`] with
//! `D365_HOSTILE_GROUP` set), on a thread with a small stack ([`STACK`], or
//! `D365_HOSTILE_STACK_KIB`); the parent test reads the child's exit status and reports
//! "child aborted on input X" (the last input the child announced), a timeout (an input
//! whose reading blows up exponentially), or the child's failed assertion.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::Method;
use d365_emulator::testing::{self, Answer};
use serde_json::Value;

#[path = "hostile_inputs/bodies.rs"]
mod bodies;
#[path = "hostile_inputs/queries.rs"]
mod queries;

use bodies::{batch, json_depth, query_expression_depth};
use queries::{
    apply_depth, expand_depth, fetchxml_depth, filter_aliases, filter_depth, generated, sql_depth,
};

/// Selects the group a child process runs.
const GROUP_ENV: &str = "D365_HOSTILE_GROUP";
/// The signing key the parent made, so children skip RSA key generation.
const KEY_ENV: &str = "D365_HOSTILE_KEY";
/// The child's request thread stack in KiB (default [`STACK`]).
const STACK_ENV: &str = "D365_HOSTILE_STACK_KIB";
/// The request thread's stack: 2 MiB, tokio's default and so what the emulator's handlers run
/// on in `d365 emulator`. Smaller is not enough for bounded paths in a debug build (at 512 KiB
/// serde_json's own 128-level limit overflows first; at 1 MiB the `$filter` parser's
/// 100-level limit does), and the inputs here are nested thousands of levels deep or
/// infinitely, so an unbounded reader overflows 2 MiB all the same.
const STACK: usize = 2 * 1024 * 1024;
/// Runs only the N-th input of each group (diagnostics).
const ONLY_ENV: &str = "D365_HOSTILE_ONLY";
/// A child taking longer than this is killed and reported (a debug child needs about 2 s).
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);
/// The child prints this before each input, so the parent can name the one it died on.
const MARK: &str = "hostile-input: ";

const BASE: &str = "http://127.0.0.1:9";
const API: &str = "/api/data/v9.2";
/// Dataverse's URL cap; a longer URL gets 414 before any reader sees it.
const MAX_URL: usize = 32_768;

// ---------------------------------------------------------------------------------------------
// The parent: one test per group, each running its group in a child process.

#[test]
fn filter_self_referencing_aliases() {
    run_group("filter_aliases");
}

#[test]
fn filter_and_orderby_nesting() {
    run_group("filter_depth");
}

#[test]
fn expand_nesting() {
    run_group("expand_depth");
}

#[test]
fn apply_nesting() {
    run_group("apply_depth");
}

#[test]
fn sql_nesting() {
    run_group("sql_depth");
}

#[test]
fn fetchxml_nesting() {
    run_group("fetchxml_depth");
}

#[test]
fn query_expression_nesting() {
    run_group("query_expression_depth");
}

#[test]
fn json_body_nesting() {
    run_group("json_depth");
}

#[test]
fn batch_nesting_and_hostile_parts() {
    run_group("batch");
}

#[test]
fn generated_aliases_and_nesting() {
    run_group("generated");
}

/// Runs `group` in a child process and fails with what happened to it.
fn run_group(group: &str) {
    let key = d365_testkit::shared_signing_key();
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(GROUP_ENV, group)
        .env(KEY_ENV, key)
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the child");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            break Some(status);
        }
        if started.elapsed() > CHILD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = reader.join().unwrap_or_default();
    let last = stderr
        .lines()
        .filter_map(|l| l.strip_prefix(MARK))
        .next_back()
        .unwrap_or("(none: the child died while starting)")
        .to_owned();
    let tail = tail(&stderr, 25);
    match status {
        None => panic!(
            "group {group}: the child was still running after {CHILD_TIMEOUT:?}, on input {last}\n--- child stderr (end) ---\n{tail}"
        ),
        Some(s) if s.success() => {}
        Some(s) => {
            use std::os::unix::process::ExitStatusExt;
            match s.signal() {
                Some(signal) => panic!(
                    "group {group}: the child ABORTED (signal {signal}{}) on input {last}\n--- child stderr (end) ---\n{tail}",
                    if stderr.contains("overflowed its stack") {
                        ", stack overflow"
                    } else {
                        ""
                    }
                ),
                None => panic!(
                    "group {group}: the child failed ({s}) on input {last}\n--- child stderr (end) ---\n{tail}"
                ),
            }
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| {
            if l.len() > 400 {
                format!("{}…", cut(l, 400))
            } else {
                (*l).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs a group when this binary is a child; does nothing in a normal test run.
#[test]
fn child_process_entry() {
    let Ok(group) = std::env::var(GROUP_ENV) else {
        return;
    };
    let stack = std::env::var(STACK_ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(STACK, |kib| kib * 1024);
    let thread = std::thread::Builder::new()
        .name(format!("hostile-{group}"))
        .stack_size(stack)
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(run_child(&group));
        })
        .expect("the request thread");
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

// ---------------------------------------------------------------------------------------------
// The child: an in-memory emulator, its router called without a socket.

struct Emulator {
    router: axum::Router,
    token: String,
}

/// One hostile request.
#[derive(Debug, Clone)]
enum Req {
    /// `GET {API}/{path and query}`; only what cannot stand in a URI is escaped.
    Get(String),
    /// `POST`/`PATCH {API}/{path}` with a content type and a body.
    Send(Method, String, String, String),
}

/// What a hostile request must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// 400 in Dataverse's error shape.
    Rejected,
    /// Any well-formed answer below 500 (2xx, or 4xx in Dataverse's error shape): for inputs
    /// that are large but finite and that a reader may accept.
    Answered,
    /// A `$batch` that stops at a part answered with 400.
    BatchPartRejected,
    /// A `$batch` whose parts may succeed or be refused, but none gets a 5xx.
    BatchAnswered,
}

#[derive(Debug, Clone)]
struct Case {
    label: String,
    req: Req,
    expect: Expect,
}

fn case(label: impl Into<String>, req: Req, expect: Expect) -> Case {
    let case = Case {
        label: label.into(),
        req,
        expect,
    };
    if let Req::Get(q) = &case.req {
        let len = encode(&format!("{API}/{q}")).len();
        assert!(
            len <= MAX_URL,
            "{}: the URL is {len} characters, over the cap: it would never reach the reader",
            case.label
        );
    }
    case
}

fn get(label: impl Into<String>, q: impl Into<String>, expect: Expect) -> Case {
    case(label, Req::Get(q.into()), expect)
}

fn post_json(label: impl Into<String>, path: &str, body: String, expect: Expect) -> Case {
    case(
        label,
        Req::Send(Method::POST, path.into(), "application/json".into(), body),
        expect,
    )
}

fn encode(uri: &str) -> String {
    d365_emulator::testing::encode_uri(uri)
}

impl Emulator {
    async fn new() -> Self {
        let key = std::env::var(KEY_ENV).expect("the parent's signing key");
        let config = d365_emulator::EmulatorConfig {
            seed_accounts: 5,
            signing_key_pem: Some(d365_emulator::config::PrivateKeyPem(key)),
            ..d365_emulator::EmulatorConfig::default()
        };
        let state = testing::in_memory_state(config.clone(), BASE)
            .await
            .expect("emulator state");
        let router = d365_emulator::router(state);
        let token = testing::app_token(&router, &config, BASE).await;
        Self { router, token }
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        body: Option<(&str, String)>,
        bearer: bool,
    ) -> Answer {
        let request = testing::request(
            method,
            &encode(uri),
            bearer.then_some(self.token.as_str()),
            body.map(|(content_type, text)| (content_type, text.into_bytes())),
        );
        testing::send(&self.router, request).await
    }

    async fn send(&self, req: &Req) -> Answer {
        match req {
            Req::Get(q) => {
                self.call(Method::GET, &format!("{API}/{q}"), None, true)
                    .await
            }
            Req::Send(method, path, content_type, body) => {
                self.call(
                    method.clone(),
                    &format!("{API}/{path}"),
                    Some((content_type, body.clone())),
                    true,
                )
                .await
            }
        }
    }

    /// Sends one hostile case, checks its answer, then checks a normal request still works.
    async fn run(&self, case: &Case) {
        eprintln!("{MARK}{}", case.label);
        let answer = self.send(&case.req).await;
        let text = answer.text();
        let shown = cut(&text, 600);
        let what = format!(
            "{}: HTTP {} {}: {shown}",
            case.label, answer.status, answer.content_type
        );
        match case.expect {
            Expect::Rejected => {
                assert_eq!(answer.status, 400, "{what}");
                dataverse_error(&answer, &what);
            }
            Expect::Answered => {
                assert!(answer.status < 500, "{what}");
                if answer.status >= 400 {
                    dataverse_error(&answer, &what);
                }
            }
            Expect::BatchAnswered => {
                assert!(answer.status == 200 || answer.status == 400, "{what}");
                assert!(!text.contains("HTTP/1.1 5"), "{what}");
            }
            Expect::BatchPartRejected => {
                assert_eq!(answer.status, 400, "{what}");
                if answer.content_type.starts_with("multipart/mixed") {
                    assert!(text.contains("HTTP/1.1 400"), "{what}");
                } else {
                    dataverse_error(&answer, &what);
                }
            }
        }
        let normal = self
            .call(Method::GET, &format!("{API}/accounts?$top=1"), None, true)
            .await;
        assert_eq!(
            normal.status,
            200,
            "after {}: a normal request got {}",
            case.label,
            normal.text()
        );
    }
}

/// `{"error":{"code":"0x…","message":"…"}}`.
fn dataverse_error(answer: &Answer, what: &str) {
    let json: Value = serde_json::from_slice(&answer.body)
        .unwrap_or_else(|e| panic!("{what}: the body is not JSON ({e})"));
    let code = json["error"]["code"].as_str().unwrap_or_default();
    assert!(code.starts_with("0x"), "{what}: no error.code 0x…");
    assert!(
        json["error"]["message"].is_string(),
        "{what}: no error.message"
    );
}

async fn run_child(group: &str) {
    let emulator = Emulator::new().await;
    let cases = match group {
        "filter_aliases" => filter_aliases(),
        "filter_depth" => filter_depth(),
        "expand_depth" => expand_depth(),
        "apply_depth" => apply_depth(),
        "sql_depth" => sql_depth(),
        "fetchxml_depth" => fetchxml_depth(),
        "query_expression_depth" => query_expression_depth(),
        "json_depth" => json_depth(),
        "batch" => batch(),
        "generated" => generated(),
        other => panic!("no group {other}"),
    };
    // D365_HOSTILE_ONLY=N runs only the N-th input (from 0) of each group, to see past the
    // first one that aborts.
    let only = std::env::var(ONLY_ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    for (i, case) in cases.iter().enumerate() {
        if only.is_none_or(|n| n == i) {
            emulator.run(case).await;
        }
    }
}

/// The first `n` bytes of `s` or fewer, cut at a character boundary.
fn cut(s: &str, n: usize) -> &str {
    let mut n = n.min(s.len());
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}
