//! The load: N concurrent keep-alive HTTPS/1.1 connections ([`Conn`], each a connection of its
//! own), or N concurrent tasks each with a read-only SQLite connection on the blocking pool,
//! sending for a warm-up and then a measured window. Every request's latency is kept.
//!
//! The window: requests *started* in it give the latencies (a slow one that ends after the
//! window still counts, so the tail is not cut off); requests *finished* in it give the rate.
//! There is no pause between the warm-up and the window, so the load is steady across it.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::StatusCode;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{ACCEPT, AUTHORIZATION, HOST};
use hyper_util::rt::TokioIo;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OpenFlags, params_from_iter};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;

/// Warm-up and window lengths.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// Load before the window, not measured.
    pub(crate) warm: Duration,
    /// The measured window.
    pub(crate) window: Duration,
}

/// What one load run measured.
#[derive(Debug, Default)]
pub(crate) struct Run {
    /// Requests finished inside the window, whenever they started (errors included).
    pub(crate) done: usize,
    /// The window's length.
    pub(crate) window: Duration,
    /// Latencies of the requests started inside the window, sorted.
    pub(crate) latencies: Vec<Duration>,
    /// Requests that failed (transport error, status other than 200, unexpected body), in
    /// the warm-up too.
    pub(crate) errors: usize,
    /// The first failure, for the report.
    pub(crate) first_error: Option<String>,
}

impl Run {
    /// Requests (or queries) per second over the window.
    pub(crate) fn rate(&self) -> f64 {
        self.done as f64 / self.window.as_secs_f64()
    }

    /// The `p` quantile (0..=1) of the latencies.
    pub(crate) fn quantile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies[((self.latencies.len() as f64 - 1.0) * p).round() as usize]
    }

    fn merge(parts: Vec<Part>, window: Duration) -> Self {
        let mut run = Run {
            window,
            ..Run::default()
        };
        for part in parts {
            run.done += part.done;
            run.errors += part.errors;
            run.latencies.extend(part.latencies);
            if run.first_error.is_none() {
                run.first_error = part.first_error;
            }
        }
        run.latencies.sort_unstable();
        run
    }
}

/// One connection's or task's share of a run.
#[derive(Default)]
struct Part {
    done: usize,
    errors: usize,
    latencies: Vec<Duration>,
    first_error: Option<String>,
}

impl Part {
    /// Records a request started at `start` that took `took`, failed with `error` if any
    /// (counted even in the warm-up: every failure is reported).
    fn record(&mut self, clock: &Clock, start: Instant, took: Duration, error: Option<String>) {
        if let Some(e) = error {
            self.errors += 1;
            self.first_error.get_or_insert(e);
        }
        let end = start + took;
        if clock.from <= end && end <= clock.to {
            self.done += 1;
        }
        if start >= clock.from {
            self.latencies.push(took);
        }
    }
}

/// When the window starts and ends.
#[derive(Clone, Copy)]
struct Clock {
    from: Instant,
    to: Instant,
}

impl Clock {
    fn new(timing: Timing) -> Self {
        let from = Instant::now() + timing.warm;
        Self {
            from,
            to: from + timing.window,
        }
    }
}

/// An HTTPS/1.1 client with its own single keep-alive connection, trusting `ca` (PEM).
pub(crate) fn client(ca: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .add_root_certificate(reqwest::Certificate::from_pem(ca).expect("the CA certificate"))
        .timeout(Duration::from_secs(600))
        .build()
        .expect("an HTTPS client")
}

/// A GET as Microsoft's clients send it: bearer token, JSON, OData 4.0.
pub(crate) fn get(client: &reqwest::Client, url: &str, token: &str) -> reqwest::RequestBuilder {
    client
        .get(url)
        .bearer_auth(token)
        .header("Accept", "application/json")
        .header("OData-MaxVersion", "4.0")
        .header("OData-Version", "4.0")
}

/// Why an answer is not a 200 with a `value` array, if it is not.
fn failure(answer: Result<(StatusCode, Bytes), String>) -> Option<String> {
    match answer {
        Err(e) => Some(e),
        Ok((status, body)) if status != StatusCode::OK => Some(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(400)])
        )),
        Ok((_, body)) if !body.windows(9).any(|w| w == b"\"value\":[") => Some(format!(
            "200 without a value array: {}",
            String::from_utf8_lossy(&body[..body.len().min(400)])
        )),
        Ok(_) => None,
    }
}

/// The request target (path and query) of `url`, escaped as a URL parser escapes it (as
/// `reqwest` sends it).
pub(crate) fn target(url: &str) -> String {
    let url = url::Url::parse(url).expect("a URL");
    url[url::Position::BeforePath..].to_owned()
}

/// One HTTPS/1.1 keep-alive connection, every request on it, one at a time: what a client
/// with a connection per worker sends. (A `reqwest::Client` hands a connection back to its pool
/// on another task after the answer; a request sent meanwhile opens a new connection and one
/// of the two is closed later: TLS handshakes in the middle of the load, which users' clients
/// do not make.)
pub(crate) struct Conn {
    send: SendRequest<Empty<Bytes>>,
    /// `host:port`, for the `Host` header.
    authority: String,
    /// What it was opened with, to open it again when the server has closed it (an idle
    /// connection between two shapes).
    origin: String,
    ca: Arc<[u8]>,
}

impl Conn {
    /// Opens a connection to `origin` (`https://host:port`), trusting `ca` (PEM).
    pub(crate) async fn open(origin: &str, ca: &[u8]) -> Self {
        let url = url::Url::parse(origin).expect("an origin");
        let host = url.host_str().expect("a host").to_owned();
        let port = url.port_or_known_default().expect("a port");
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .expect("a TCP connection");
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca) {
            roots
                .add(cert.expect("a PEM certificate"))
                .expect("a CA certificate");
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name =
            ServerName::try_from(host.trim_matches(['[', ']']).to_owned()).expect("a server name");
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .expect("a TLS handshake");
        let (send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("an HTTP/1.1 connection");
        tokio::spawn(connection);
        Self {
            send,
            authority: format!("{host}:{port}"),
            origin: origin.to_owned(),
            ca: ca.into(),
        }
    }

    /// A GET of `target` (path and query) as Microsoft's clients send it: bearer token, JSON,
    /// OData 4.0. The status and the whole body. A connection the server closed is opened
    /// again first.
    pub(crate) async fn get(
        &mut self,
        target: &str,
        token: &str,
    ) -> Result<(StatusCode, Bytes), String> {
        if self.send.is_closed() {
            *self = Self::open(&self.origin, &self.ca.clone()).await;
        }
        let request = hyper::Request::get(target)
            .header(HOST, &self.authority)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(ACCEPT, "application/json")
            .header("OData-MaxVersion", "4.0")
            .header("OData-Version", "4.0")
            .body(Empty::new())
            .map_err(|e| format!("request: {e}"))?;
        self.send
            .ready()
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let response = self
            .send
            .send_request(request)
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{status}, body: {e}"))?
            .to_bytes();
        Ok((status, body))
    }
}

/// Drives `conns` (one task each) through `targets` (paths and queries) in turn (shared, so
/// consecutive requests carry different parameters) for `timing`. The connections come back.
pub(crate) async fn http(
    conns: Vec<Conn>,
    token: &Arc<String>,
    targets: Arc<Vec<String>>,
    timing: Timing,
) -> (Run, Vec<Conn>) {
    let clock = Clock::new(timing);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for mut conn in conns {
        let (token, targets, next) = (token.clone(), targets.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut part = Part::default();
            while Instant::now() < clock.to {
                let target = &targets[next.fetch_add(1, Ordering::Relaxed) % targets.len()];
                let start = Instant::now();
                let error = failure(conn.get(target, &token).await);
                part.record(&clock, start, start.elapsed(), error);
            }
            (part, conn)
        }));
    }
    let (mut parts, mut conns) = (Vec::new(), Vec::new());
    for task in tasks {
        let (part, conn) = task.await.expect("a load task");
        parts.push(part);
        conns.push(conn);
    }
    (Run::merge(parts, timing.window), conns)
}

/// Opens `n` read-only connections on the database file, as the emulator's readers are
/// opened (the same memory map; defaults otherwise: the same page cache size).
pub(crate) fn open_readers(db: &Path, n: usize) -> Vec<Connection> {
    (0..n)
        .map(|_| {
            let conn = Connection::open_with_flags(
                db,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .expect("a read-only connection");
            conn.pragma_update(None, "mmap_size", d365_emulator::store::READER_MMAP_BYTES)
                .expect("the reader's memory map");
            conn
        })
        .collect()
}

/// Runs `sql` with `params` on `conn` (a cached statement) and reads every column of every
/// row: the least work an answer needs. The rows read.
pub(crate) fn query(conn: &Connection, sql: &str, params: &[Sql]) -> rusqlite::Result<usize> {
    let mut statement = conn.prepare_cached(sql)?;
    let columns = statement.column_count();
    let mut rows = statement.query(params_from_iter(params.iter()))?;
    let (mut n, mut bytes) = (0, 0usize);
    while let Some(row) = rows.next()? {
        n += 1;
        for i in 0..columns {
            bytes += match row.get_ref(i)? {
                rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => t.len(),
                _ => 8,
            };
        }
    }
    std::hint::black_box(bytes);
    Ok(n)
}

/// The ceiling: `tasks` tasks sharing the connections of `readers` (a task waits for a free
/// one, as a request waits for the emulator's pooled readers), each running `sql` with the
/// parameter sets in turn on the blocking pool, for `timing`. The connections come back.
pub(crate) async fn ceiling(
    readers: Vec<Connection>,
    tasks: usize,
    sql: &'static str,
    params: Arc<Vec<Vec<Sql>>>,
    timing: Timing,
) -> (Run, Vec<Connection>) {
    let clock = Clock::new(timing);
    let next = Arc::new(AtomicUsize::new(0));
    let free = Arc::new(tokio::sync::Semaphore::new(readers.len()));
    let pool = Arc::new(Mutex::new(readers));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (params, next, free, pool) = (params.clone(), next.clone(), free.clone(), pool.clone());
        handles.push(tokio::spawn(async move {
            let mut part = Part::default();
            while Instant::now() < clock.to {
                let i = next.fetch_add(1, Ordering::Relaxed) % params.len();
                let (params, pool) = (params.clone(), pool.clone());
                let start = Instant::now();
                let permit = free
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the pool is open");
                let result = tokio::task::spawn_blocking(move || {
                    let take = || pool.lock().unwrap_or_else(|e| e.into_inner());
                    let conn = take().pop().expect("a permit means a free connection");
                    let result = query(&conn, sql, &params[i]);
                    take().push(conn);
                    drop(permit);
                    result
                })
                .await
                .expect("a query task");
                let error = result.err().map(|e| format!("SQLite: {e}"));
                part.record(&clock, start, start.elapsed(), error);
            }
            part
        }));
    }
    let mut parts = Vec::new();
    for handle in handles {
        parts.push(handle.await.expect("a query task"));
    }
    let readers = std::mem::take(&mut *pool.lock().unwrap_or_else(|e| e.into_inner()));
    (Run::merge(parts, timing.window), readers)
}
