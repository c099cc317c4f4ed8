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
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use tower::ServiceExt;

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

struct Answer {
    status: u16,
    content_type: String,
    body: String,
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
    const UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'<')
        .add(b'>')
        .add(b'`')
        .add(b'{')
        .add(b'}')
        .add(b'|')
        .add(b'\\')
        .add(b'^');
    percent_encoding::utf8_percent_encode(uri, UNSAFE).to_string()
}

impl Emulator {
    async fn new() -> Self {
        let key = std::env::var(KEY_ENV).expect("the parent's signing key");
        let config = d365_emulator::EmulatorConfig {
            seed_accounts: 5,
            signing_key_pem: Some(d365_emulator::config::PrivateKeyPem(key)),
            ..d365_emulator::EmulatorConfig::default()
        };
        let tenant = config.tenants[0].id.clone();
        let app = config.apps[0].clone();
        let state = d365_emulator::testing::in_memory_state(config, BASE)
            .await
            .expect("emulator state");
        let mut emulator = Self {
            router: d365_emulator::router(state),
            token: String::new(),
        };
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &app.client_id)
            .append_pair("client_secret", &app.secrets[0].value)
            .append_pair("resource", BASE)
            .finish();
        let answer = emulator
            .call(
                Method::POST,
                &format!("/{tenant}/oauth2/token"),
                Some(("application/x-www-form-urlencoded", form)),
                false,
            )
            .await;
        assert_eq!(answer.status, 200, "token: {}", answer.body);
        let json: Value = serde_json::from_str(&answer.body).expect("token JSON");
        emulator.token = json["access_token"].as_str().expect("token").to_owned();
        emulator
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        body: Option<(&str, String)>,
        bearer: bool,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(encode(uri));
        if bearer {
            request = request.header("authorization", format!("Bearer {}", self.token));
        }
        let request = match body {
            Some((content_type, text)) => request
                .header("content-type", content_type)
                .body(Body::from(text)),
            None => request.body(Body::empty()),
        };
        let mut request = request.expect("request");
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 50000))));
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        Answer {
            status,
            content_type,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
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
        let shown = cut(&answer.body, 600);
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
                assert!(!answer.body.contains("HTTP/1.1 5"), "{what}");
            }
            Expect::BatchPartRejected => {
                assert_eq!(answer.status, 400, "{what}");
                if answer.content_type.starts_with("multipart/mixed") {
                    assert!(answer.body.contains("HTTP/1.1 400"), "{what}");
                } else {
                    dataverse_error(&answer, &what);
                }
            }
        }
        let normal = self
            .call(Method::GET, &format!("{API}/accounts?$top=1"), None, true)
            .await;
        assert_eq!(
            normal.status, 200,
            "after {}: a normal request got {}",
            case.label, normal.body
        );
    }
}

/// `{"error":{"code":"0x…","message":"…"}}`.
fn dataverse_error(answer: &Answer, what: &str) {
    let json: Value = serde_json::from_str(&answer.body)
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

// ---------------------------------------------------------------------------------------------
// The inputs.

fn nest(open: &str, inner: &str, close: &str, depth: usize) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

use Expect::{Answered, BatchAnswered, BatchPartRejected, Rejected};

fn filter_aliases() -> Vec<Case> {
    let chain = |n: usize| {
        let links: Vec<String> = (1..n)
            .map(|i| format!("@a{i}=@a{} or @a{}", i + 1, i + 1))
            .collect();
        format!("accounts?$filter=@a1&{}&@a{n}=name eq 'x'", links.join("&"))
    };
    vec![
        get(
            "$filter=@p1&@p1=not @p1 (issue 13)",
            "accounts?$filter=@p1&@p1=not @p1",
            Rejected,
        ),
        get(
            "$filter=@p1&@p1=name eq 'x' or @p1 (issue 13)",
            "accounts?$filter=@p1&@p1=name eq 'x' or @p1",
            Rejected,
        ),
        get(
            "@a=@b or name eq 'x'&@b=@a (a two-alias cycle)",
            "accounts?$filter=@a&@a=@b or name eq 'x'&@b=@a",
            Rejected,
        ),
        get(
            "@p1 used in $orderby and $filter, self-referencing",
            "accounts?$filter=@p1 eq 'x'&$orderby=name&@p1=@p1",
            Rejected,
        ),
        get(
            "an alias cycle inside a lambda",
            "accounts?$filter=contact_customer_accounts/any(c:@p)&@p=c/fullname eq 'x' and @p",
            Rejected,
        ),
        // Acyclic but doubling at every link: 2^40 nodes if expanded naively (a hang, or
        // memory), so the reader must share or refuse; either answer is fine.
        get(
            "@a1=@a2 or @a2 … @a40 (a chain that doubles 39 times, issue 13)",
            chain(40),
            Answered,
        ),
    ]
}

fn filter_depth() -> Vec<Case> {
    vec![
        get(
            "$filter with 10,000 nested parentheses",
            format!("accounts?$filter={}", nest("(", "name eq 'x'", ")", 10_000)),
            Rejected,
        ),
        get(
            "$filter with 5,000 nested not",
            format!("accounts?$filter={}name eq 'x'", "not ".repeat(5_000)),
            Rejected,
        ),
        get(
            "$filter with 3,000 nested tolower()",
            format!(
                "accounts?$filter={} eq 'x'",
                nest("tolower(", "name", ")", 3_000)
            ),
            Rejected,
        ),
        get(
            "$filter with 800 nested any() lambdas",
            format!(
                "accounts?$filter={}",
                nest(
                    "contact_customer_accounts/any(c:",
                    "c/fullname eq 'x'",
                    ")",
                    800
                )
            ),
            Rejected,
        ),
        get(
            "$orderby with 3,000 nested tolower()",
            format!("accounts?$orderby={}", nest("tolower(", "name", ")", 3_000)),
            Rejected,
        ),
        get(
            "$orderby with 10,000 nested parentheses",
            format!("accounts?$orderby={}", nest("(", "name", ")", 10_000)),
            Rejected,
        ),
        // Long but flat: a left-deep tree of 1,300 `and`s that a recursive binder or SQL
        // writer walks 1,300 deep. Dataverse takes long filters; either answer is fine.
        get(
            "$filter with 1,300 flat ands",
            format!(
                "accounts?$filter={}",
                vec!["name eq 'x'"; 1_300].join(" and ")
            ),
            Answered,
        ),
    ]
}

fn expand_depth() -> Vec<Case> {
    vec![
        get(
            "$expand=a($expand=a(…)) 2,800 deep (issue 13)",
            format!("accounts?$expand={}", nest("a($expand=", "a", ")", 2_800)),
            Rejected,
        ),
        get(
            "$expand of real navigation properties 500 deep",
            format!(
                "accounts?$expand={}",
                nest(
                    "primarycontactid($expand=parentcustomerid_account($expand=",
                    "primarycontactid",
                    "))",
                    250
                )
            ),
            Rejected,
        ),
        get(
            "$expand with a $filter of 8,000 nested parentheses",
            format!(
                "accounts?$expand=contact_customer_accounts($filter={})",
                nest("(", "statecode eq 0", ")", 8_000)
            ),
            Rejected,
        ),
        get(
            "$expand with a $select of 10,000 nested parentheses",
            format!(
                "accounts?$expand=primarycontactid($select={})",
                nest("(", "fullname", ")", 10_000)
            ),
            Rejected,
        ),
    ]
}

fn apply_depth() -> Vec<Case> {
    vec![
        get(
            "$apply=filter() with 10,000 nested parentheses",
            format!(
                "accounts?$apply=filter({})",
                nest("(", "name eq 'x'", ")", 10_000)
            ),
            Rejected,
        ),
        get(
            "$apply with groupby nested 1,500 deep",
            format!(
                "accounts?$apply={}",
                nest("groupby((name),", "aggregate($count as n)", ")", 1_500)
            ),
            Rejected,
        ),
        get(
            "$apply with 10,000 nested parentheses around a transformation",
            format!(
                "accounts?$apply={}",
                nest("(", "aggregate($count as n)", ")", 10_000)
            ),
            Rejected,
        ),
        get(
            "$apply with 1,000 chained filters",
            format!(
                "accounts?$apply={}",
                vec!["filter(statecode eq 0)"; 1_000].join("/")
            ),
            Answered,
        ),
    ]
}

fn sql_depth() -> Vec<Case> {
    vec![
        get(
            "?sql= WHERE with 10,000 nested parentheses (issue 13)",
            format!(
                "accounts?sql=SELECT name FROM account WHERE {}",
                nest("(", "name='x'", ")", 10_000)
            ),
            Rejected,
        ),
        get(
            "?sql= WHERE with 5,000 nested NOT",
            format!(
                "accounts?sql=SELECT name FROM account WHERE {}name='x'",
                "NOT ".repeat(5_000)
            ),
            Rejected,
        ),
        get(
            "?sql= WHERE with 3,000 nested NOT (…)",
            format!(
                "accounts?sql=SELECT name FROM account WHERE {}",
                nest("NOT (", "name='x'", ")", 3_000)
            ),
            Rejected,
        ),
        get(
            "?sql= with 1,900 flat ORs",
            format!(
                "accounts?sql=SELECT name FROM account WHERE {}",
                vec!["name='x'"; 1_900].join(" OR ")
            ),
            Answered,
        ),
    ]
}

fn fetchxml_depth() -> Vec<Case> {
    let fetch = |inner: String| {
        format!(
            "accounts?fetchXml=<fetch><entity name='account'><attribute name='name'/>{inner}</entity></fetch>"
        )
    };
    let cond = "<condition attribute='name' operator='eq' value='x'/>";
    vec![
        get(
            "FetchXML with 1,000 nested <filter>",
            fetch(nest("<filter>", cond, "</filter>", 1_000)),
            Rejected,
        ),
        get(
            "FetchXML with 300 nested <link-entity>",
            fetch(nest(
                "<link-entity name='contact' from='parentcustomerid' to='accountid'>",
                "",
                "</link-entity>",
                300,
            )),
            Rejected,
        ),
        get(
            "FetchXML with 2,000 nested unknown elements",
            fetch(nest("<x>", "", "</x>", 2_000)),
            Rejected,
        ),
    ]
}

/// A `BulkDelete` whose first query is `query` (JSON text); the second names no table, so no
/// job is ever created.
fn bulk_delete(query: &str) -> String {
    format!(
        r#"{{"QuerySet":[{query},{{"EntityName":"hostile_no_such_table"}}],"JobName":"hostile","SendEmailNotification":false,"ToRecipients":[],"CCRecipients":[],"RecurrencePattern":"","StartDateTime":"2099-01-01T00:00:00Z"}}"#
    )
}

fn query_expression_depth() -> Vec<Case> {
    // Built as text: a `serde_json::Value` this deep would overflow this test's own stack
    // (building, printing and dropping one recurse).
    let condition = r#"{"FilterOperator":"And","Conditions":[{"AttributeName":"name","Operator":"Equal","Values":[{"Value":"x","Type":"System.String"}]}]}"#;
    let filters = |depth: usize| {
        format!(
            r#"{{"EntityName":"account","Criteria":{}}}"#,
            nest(
                r#"{"FilterOperator":"Or","Filters":["#,
                condition,
                "]}",
                depth
            )
        )
    };
    let link = r#""LinkFromEntityName":"account","LinkToEntityName":"contact","LinkFromAttributeName":"accountid","LinkToAttributeName":"parentcustomerid""#;
    let links = |depth: usize| {
        format!(
            r#"{{"EntityName":"account","LinkEntities":[{}]}}"#,
            nest(
                &format!("{{{link},\"LinkEntities\":["),
                &format!("{{{link}}}"),
                "]}",
                depth
            )
        )
    };
    // serde_json refuses documents over 128 levels, so the deepest a QueryExpression can get
    // is about 60 nested filters; deeper ones must be refused by the JSON reader.
    vec![
        post_json(
            "BulkDelete with Criteria.Filters nested 60 deep",
            "BulkDelete",
            bulk_delete(&filters(60)),
            Rejected,
        ),
        post_json(
            "BulkDelete with Criteria.Filters nested 10,000 deep",
            "BulkDelete",
            bulk_delete(&filters(10_000)),
            Rejected,
        ),
        post_json(
            "BulkDelete with LinkEntities nested 30 deep",
            "BulkDelete",
            bulk_delete(&links(30)),
            Rejected,
        ),
        post_json(
            "BulkDelete with LinkEntities nested 5,000 deep",
            "BulkDelete",
            bulk_delete(&links(5_000)),
            Rejected,
        ),
    ]
}

fn json_depth() -> Vec<Case> {
    let id = "00000000-0000-0000-0000-000000000001";
    vec![
        post_json(
            "POST accounts with [[[[… 100,000 deep",
            "accounts",
            "[".repeat(100_000),
            Rejected,
        ),
        post_json(
            "POST accounts with {\"a\":{\"a\":… 100,000 deep",
            "accounts",
            "{\"a\":".repeat(100_000),
            Rejected,
        ),
        post_json(
            "POST accounts with a name of [[[[… 100,000 deep, closed",
            "accounts",
            format!("{{\"name\":{}}}", nest("[", "1", "]", 100_000)),
            Rejected,
        ),
        case(
            "PATCH accounts(id) with [[[[… 100,000 deep",
            Req::Send(
                Method::PATCH,
                format!("accounts({id})"),
                "application/json".into(),
                "[".repeat(100_000),
            ),
            Rejected,
        ),
        post_json(
            "POST CreateMultiple with Targets [[[[… 100,000 deep",
            "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
            format!("{{\"Targets\":{}", "[".repeat(100_000)),
            Rejected,
        ),
    ]
}

fn part(method: &str, url: &str, body: Option<&str>, content_id: Option<&str>) -> String {
    let mut lines = vec![
        "Content-Type: application/http".to_owned(),
        "Content-Transfer-Encoding: binary".to_owned(),
    ];
    if let Some(id) = content_id {
        lines.push(format!("Content-ID: {id}"));
    }
    lines.push(String::new());
    lines.push(format!("{method} {} HTTP/1.1", encode(url)));
    match body {
        Some(body) => {
            lines.push("Content-Type: application/json".into());
            lines.push(String::new());
            lines.push(body.to_owned());
        }
        None => lines.push(String::new()),
    }
    lines.join("\r\n") + "\r\n"
}

fn multipart(boundary: &str, parts: &[String]) -> String {
    let mut text: String = parts
        .iter()
        .map(|p| format!("--{boundary}\r\n{p}"))
        .collect();
    text.push_str(&format!("--{boundary}--\r\n"));
    text
}

fn change_set(name: &str, parts: &[String]) -> String {
    format!(
        "Content-Type: multipart/mixed; boundary={name}\r\n\r\n{}",
        multipart(name, parts)
    )
}

fn batch_case(label: &str, parts: &[String], expect: Expect) -> Case {
    case(
        label,
        Req::Send(
            Method::POST,
            "$batch".into(),
            "multipart/mixed; boundary=batch_h".into(),
            multipart("batch_h", parts),
        ),
        expect,
    )
}

fn batch() -> Vec<Case> {
    let api = API;
    let mut nested = part(
        "POST",
        &format!("{api}/accounts"),
        Some("{\"name\":\"x\"}"),
        Some("1"),
    );
    for i in 0..1_000 {
        nested = change_set(&format!("cs{i}"), &[nested]);
    }
    let deep_get = |label: &str, query: String| {
        batch_case(
            label,
            &[part("GET", &format!("{api}/accounts?{query}"), None, None)],
            BatchPartRejected,
        )
    };
    vec![
        batch_case(
            "$batch with change sets nested 1,000 deep",
            &[nested],
            Rejected,
        ),
        batch_case(
            "$batch change set with a POST body [[[[… 100,000 deep",
            &[change_set(
                "cs",
                &[part(
                    "POST",
                    &format!("{api}/accounts"),
                    Some(&"[".repeat(100_000)),
                    Some("1"),
                )],
            )],
            BatchPartRejected,
        ),
        deep_get(
            "$batch GET part with 20,000 nested parentheses (URL up to 65,536 in a batch)",
            format!("$filter={}", nest("(", "name eq 'x'", ")", 20_000)),
        ),
        // Long but flat, through a batch for its 65,536-character URL cap: 1,000 conditions
        // make SQLite's expression tree too deep unless the query is built flat.
        batch_case(
            "$batch GET part: FetchXML with 1,000 flat conditions",
            &[part(
                "GET",
                &format!(
                    "{api}/accounts?fetchXml=<fetch><entity name='account'><filter type='or'>{}</filter></entity></fetch>",
                    "<condition attribute='name' operator='null'/>".repeat(1_000)
                ),
                None,
                None,
            )],
            BatchAnswered,
        ),
        deep_get(
            "$batch GET part with $filter=@p1&@p1=not @p1",
            "$filter=@p1&@p1=not @p1".into(),
        ),
        deep_get(
            "$batch GET part with $expand 5,000 deep",
            format!("$expand={}", nest("a($expand=", "a", ")", 5_000)),
        ),
        batch_case(
            "$batch of 50 GET parts, each a self-referencing alias",
            &vec![
                part(
                    "GET",
                    &format!("{api}/accounts?$filter=@p1&@p1=name eq 'x' or @p1"),
                    None,
                    None
                );
                50
            ],
            BatchPartRejected,
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Generated inputs (proptest).

/// An alias graph: alias `i`'s value combines references to the listed aliases.
fn alias_query(refs: &[Vec<usize>], ops: &[bool], root: usize) -> (String, bool) {
    let n = refs.len();
    let value = |i: usize| {
        let mut parts: Vec<String> = refs[i].iter().map(|j| format!("@a{j}")).collect();
        parts.push("name eq 'x'".into());
        parts.join(if ops[i] { " or " } else { " and " })
    };
    let query = format!(
        "accounts?$filter=@a{root}&{}",
        (0..n)
            .map(|i| format!("@a{i}={}", value(i)))
            .collect::<Vec<_>>()
            .join("&")
    );
    // Is a cycle reachable from the root?
    fn cyclic(refs: &[Vec<usize>], at: usize, path: &mut Vec<usize>) -> bool {
        if path.contains(&at) {
            return true;
        }
        path.push(at);
        let found = refs[at].iter().any(|&j| cyclic(refs, j, path));
        path.pop();
        found
    }
    (query, cyclic(refs, root, &mut Vec::new()))
}

/// A URL reader's input nested `depth` levels (1,000 to 3,000: above any sensible cap, as
/// OData's own parser stops at 800).
fn deep_input(kind: usize, depth: usize) -> (String, String) {
    let cond = "<condition attribute='name' operator='eq' value='x'/>";
    let (label, query) = match kind {
        0 => (
            "$filter parens",
            format!("accounts?$filter={}", nest("(", "name eq 'x'", ")", depth)),
        ),
        1 => (
            "$filter not (",
            format!(
                "accounts?$filter={}",
                nest("not (", "name eq 'x'", ")", depth)
            ),
        ),
        2 => (
            "$orderby tolower(",
            format!("accounts?$orderby={}", nest("tolower(", "name", ")", depth)),
        ),
        3 => (
            "$expand a($expand=",
            format!(
                "accounts?$expand={}",
                nest("a($expand=", "a", ")", depth.min(2_800))
            ),
        ),
        4 => (
            "$apply filter parens",
            format!(
                "accounts?$apply=filter({})",
                nest("(", "name eq 'x'", ")", depth)
            ),
        ),
        5 => (
            "?sql= parens",
            format!(
                "accounts?sql=SELECT name FROM account WHERE {}",
                nest("(", "name='x'", ")", depth)
            ),
        ),
        _ => (
            "FetchXML <filter>",
            format!(
                "accounts?fetchXml=<fetch><entity name='account'>{}</entity></fetch>",
                nest("<filter>", cond, "</filter>", 1_000 + depth % 100)
            ),
        ),
    };
    (format!("{label} x{depth}"), query)
}

/// Generated alias graphs (a reachable cycle must be refused; an acyclic one answered) and
/// generated deep inputs for every URL reader (refused). The values are drawn with proptest
/// and each is named in full in a failure.
fn generated() -> Vec<Case> {
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..Config::default()
    });
    let aliases = (1usize..6).prop_flat_map(|n| {
        (
            proptest::collection::vec(proptest::collection::vec(0..n, 0..3), n),
            proptest::collection::vec(any::<bool>(), n),
            0..n,
        )
    });
    let deep = (0usize..7, 1_000usize..3_000);
    let mut cases = Vec::new();
    for _ in 0..16 {
        let (refs, ops, root) = aliases.new_tree(&mut runner).expect("a value").current();
        let (query, cyclic) = alias_query(&refs, &ops, root);
        let expect = if cyclic { Rejected } else { Answered };
        cases.push(get(
            format!("generated aliases (cyclic: {cyclic}) {query}"),
            query,
            expect,
        ));
    }
    for _ in 0..16 {
        let (kind, depth) = deep.new_tree(&mut runner).expect("a value").current();
        let (label, query) = deep_input(kind, depth);
        cases.push(get(format!("generated {label}"), query, Rejected));
    }
    cases
}

/// The first `n` bytes of `s` or fewer, cut at a character boundary.
fn cut(s: &str, n: usize) -> &str {
    let mut n = n.min(s.len());
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}
