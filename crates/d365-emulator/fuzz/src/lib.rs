//! The harness shared by the emulator's HTTP fuzz targets: one in-memory emulator per fuzzing
//! process (a few seeded rows, service protection off), its router called in-process with
//! `tower::ServiceExt::oneshot` (no socket), and one app token minted once through the
//! router's own token endpoint (client credentials with the default config's demo app).
//!
//! Requests run on a one-worker tokio runtime whose worker has a 2 MiB stack, tokio's
//! default and so the stack the real server's handlers get: a reader that recurses without
//! bound overflows it and the process aborts, which libFuzzer reports as a crash. A panic
//! anywhere aborts too (libfuzzer-sys installs an aborting panic hook, before the router's
//! `CatchPanicLayer` could turn it into a 500).
//!
//! Without a sanitizer nothing would report a stack overflow: the process would just die of
//! SIGSEGV (libFuzzer's own handler has no alternate stack to run on) and no crash input would
//! be saved. [`catch_stack_overflow`] gives every thread of the harness an alternate signal
//! stack and a SIGSEGV/SIGBUS handler that prints what happened and aborts, which libFuzzer
//! catches and reports with the input.
//!
//! Besides "never crash", every answer must be well formed: no 5xx (the readers answer a bad
//! query with a 4xx; a 5xx means an error escaped them; `FUZZ_ALLOW_5XX=1` lets the fuzzer
//! go on past one), and a JSON 4xx from the Web API has Dataverse's shape
//! `{"error":{"code":"0x…","message":"…"}}`.

use std::sync::OnceLock;

use axum::http::{Method, Uri};
use d365_emulator::testing::{self, Answer};
use percent_encoding::{AsciiSet, percent_encode};
use serde_json::Value;

/// The emulator's base URL: authority host and environment URL (token audience).
pub const BASE: &str = "http://127.0.0.1:9";
/// The Web API root path.
pub const API: &str = "/api/data/v9.2";
/// The boundary [`batch`] declares in its `Content-Type`.
pub const BATCH_BOUNDARY: &str = "batch_fz";
/// The worker stack: tokio's default, as the server's workers have (`FUZZ_STACK_KIB` changes
/// it, e.g. to find recursion that is bounded but too deep for a debug build).
const STACK: usize = 2 * 1024 * 1024;

struct Emulator {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    token: String,
}

fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        catch_stack_overflow();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_stack_size(stack_size())
            .on_thread_start(alternate_signal_stack)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let config = d365_emulator::EmulatorConfig {
            seed_accounts: 20,
            token_lifetime_secs: 7 * 24 * 3600,
            ..d365_emulator::EmulatorConfig::default()
        };
        let state = runtime
            .block_on(testing::in_memory_state(config.clone(), BASE))
            .expect("emulator state");
        let router = d365_emulator::router(state);
        let token = runtime.block_on(testing::app_token(&router, &config, BASE));
        Emulator {
            runtime,
            router,
            token,
        }
    })
}

impl Emulator {
    /// Sends one request through the router on the harness's runtime (in a task, so it runs
    /// on the worker with the server's stack).
    fn call(
        &self,
        method: Method,
        uri: Uri,
        content_type: Option<&str>,
        body: Vec<u8>,
        bearer: bool,
    ) -> Answer {
        let request = testing::request(
            method,
            &uri.to_string(),
            bearer.then_some(self.token.as_str()),
            content_type.map(|c| (c, body)),
        );
        let router = self.router.clone();
        self.runtime.block_on(async move {
            tokio::spawn(async move { testing::send(&router, request).await })
                .await
                .expect("the request task")
        })
    }
}

/// Encodes a whole query value: the fuzz input is exactly what the reader gets after
/// percent-decoding. Parentheses, quotes, commas, `/`, `;`, `=` … stay as they are (as clients
/// send them: a value ends at `&`, not `=`), so a deeply nested input still fits the
/// 32,768-character URL cap (`$expand=a($expand=a(…))` 2,800 deep is 30,800 characters).
const VALUE: &AsciiSet = &QUERY.add(b'%').add(b'&').add(b'+');

/// Encodes only what cannot stand in a URI, so `&`, `=`, `$`, `@`, `%` keep their meaning (and
/// `#`, which would end the URI).
const QUERY: &AsciiSet = &testing::URI_UNSAFE.add(b'#');

/// `bytes` as a query value (every reserved character escaped).
pub fn value(bytes: &[u8]) -> String {
    percent_encode(bytes, VALUE).to_string()
}

/// `GET {API}/{path_and_query}`, checked. `path_and_query` is used as is; a string that is
/// not a URI is skipped.
pub fn get(path_and_query: &str) {
    let Ok(uri) = format!("{API}/{path_and_query}").parse::<Uri>() else {
        return;
    };
    let answer = emulator().call(Method::GET, uri, None, Vec::new(), true);
    check(&answer, path_and_query.as_bytes());
}

/// `GET {API}/{set}?{query}` where `query` is a raw query string whose structure (`&`, `=`)
/// is kept; only what cannot stand in a URI is escaped.
pub fn get_query(set: &str, query: &[u8]) {
    get(&format!("{set}?{}", percent_encode(query, QUERY)));
}

/// `POST {API}/{path}` with a body, checked.
pub fn post(path: &str, content_type: &str, body: Vec<u8>) {
    let Ok(uri) = format!("{API}/{path}").parse::<Uri>() else {
        return;
    };
    let answer = emulator().call(Method::POST, uri, Some(content_type), body.clone(), true);
    check(&answer, &body);
}

/// `POST {API}/$batch` with `body` as the multipart body.
pub fn batch(body: &[u8]) {
    post(
        "$batch",
        &format!("multipart/mixed; boundary={BATCH_BOUNDARY}"),
        body.to_vec(),
    );
}

/// The answer is well formed: no 5xx, and a JSON error has Dataverse's shape.
fn check(answer: &Answer, input: &[u8]) {
    let (status, content_type, body) = (answer.status, &answer.content_type, &answer.body);
    let text = String::from_utf8_lossy(body);
    let shown = String::from_utf8_lossy(&input[..input.len().min(300)]).into_owned();
    if std::env::var_os("FUZZ_SHOW").is_some() {
        eprintln!("HTTP {status} {content_type}: {}", cut(&text, 500));
    }
    if status >= 500 && std::env::var_os("FUZZ_ALLOW_5XX").is_none() {
        panic!("HTTP {status} for input {shown:?}: {}", cut(&text, 2000));
    }
    if status >= 400 && content_type.starts_with("application/json") {
        let json: Value = serde_json::from_slice(body)
            .unwrap_or_else(|e| panic!("HTTP {status} with a body that is not JSON ({e}): {text}"));
        let error = &json["error"];
        assert!(
            error["code"].is_string() && error["message"].is_string(),
            "HTTP {status} without {{\"error\":{{\"code\",\"message\"}}}} for input {shown:?}: {text}"
        );
    }
}

/// Runs `reader(data)` on a thread with the server's 2 MiB stack (one long-lived thread, so
/// the `parse_*` targets keep their speed): the pure readers get the stack they have in the
/// server, not the main thread's 8 MiB, so a recursion too deep for the server is caught.
pub fn on_server_stack(reader: fn(&[u8]), data: &[u8]) {
    type Job = (fn(&[u8]), Vec<u8>, std::sync::mpsc::SyncSender<()>);
    static WORKER: OnceLock<std::sync::Mutex<std::sync::mpsc::SyncSender<Job>>> = OnceLock::new();
    let worker = WORKER.get_or_init(|| {
        catch_stack_overflow();
        let (send, receive) = std::sync::mpsc::sync_channel::<Job>(0);
        std::thread::Builder::new()
            .name("reader".into())
            .stack_size(stack_size())
            .spawn(move || {
                alternate_signal_stack();
                for (reader, data, done) in receive {
                    reader(&data);
                    let _ = done.send(());
                }
            })
            .expect("the reader thread");
        std::sync::Mutex::new(send)
    });
    let (done, wait) = std::sync::mpsc::sync_channel(1);
    worker
        .lock()
        .expect("the reader thread")
        .send((reader, data.to_vec(), done))
        .expect("the reader thread");
    wait.recv().expect("the reader thread");
}

fn stack_size() -> usize {
    std::env::var("FUZZ_STACK_KIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(STACK, |kib| kib * 1024)
}

/// Reports a stack overflow (any SIGSEGV or SIGBUS) in this process as an abort, which
/// libFuzzer catches and saves the input of. Idempotent; gives the calling thread an alternate
/// signal stack (the harness's runtime threads get theirs when they start).
pub fn catch_stack_overflow() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        alternate_signal_stack();
        // SAFETY: installs a handler that only calls async-signal-safe functions
        // (write, abort) for two signals, with a zeroed, then filled, sigaction.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_fatal_signal as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGSEGV, &action, std::ptr::null_mut());
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
        }
    });
}

/// Gives the calling thread a 256 KiB alternate signal stack (leaked: threads of the harness
/// live as long as the process).
fn alternate_signal_stack() {
    const SIZE: usize = 256 * 1024;
    let stack: &'static mut [u8] = Box::leak(vec![0u8; SIZE].into_boxed_slice());
    let st = libc::stack_t {
        ss_sp: stack.as_mut_ptr().cast(),
        ss_flags: 0,
        ss_size: SIZE,
    };
    // SAFETY: the stack is valid for the life of the process.
    unsafe {
        libc::sigaltstack(&st, std::ptr::null_mut());
    }
}

extern "C" fn on_fatal_signal(signal: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let message: &[u8] = if signal == libc::SIGSEGV {
        b"\n==d365-fuzz== SIGSEGV: stack overflow (or a bad access); aborting so libFuzzer saves the input\n"
    } else {
        b"\n==d365-fuzz== SIGBUS: aborting so libFuzzer saves the input\n"
    };
    // SAFETY: write and abort are async-signal-safe.
    unsafe {
        libc::write(2, message.as_ptr().cast(), message.len());
        libc::abort();
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
