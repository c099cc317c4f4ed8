//! Resilience, in one module: the retry loop every request goes through, the retry budget and
//! the concurrency controller it consults. The decision table, in one place:
//!
//! | outcome | retried? | wait | spends budget? |
//! |---|---|---|---|
//! | 429, 503 with `Retry-After` | yes | exactly `Retry-After` (Dataverse service protection) | no |
//! | 429, 503 without it; 502, 504 | yes (502/504 only when idempotent) | backoff | yes |
//! | connection error (request never sent) | yes | backoff | yes |
//! | timeout or error after sending | only when idempotent | backoff | yes |
//! | anything else | no | — | — |
//!
//! Retries stop after `max_retries`, when the next wait would pass the request's deadline
//! (`retry_timeout`, counted from the first attempt), or when the shared [`RetryBudget`] is
//! spent. A `Retry-After` is the service's own schedule, so honouring it costs no budget;
//! blind retries of failures do. Every wait is logged with the attempt number and the reason.

mod budget;
mod concurrency;

pub use budget::{RetryBudget, RetryBudgetConfig};
pub use concurrency::{ConcurrencyConfig, ConcurrencyController, ConcurrencyStats, Permit};

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use reqwest::StatusCode;

use crate::backoff::{Backoff, BackoffConfig};
use crate::error::{HttpError, RetryError, redact_url};

/// Retry limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Backoff between attempts without `Retry-After`.
    pub backoff: BackoffConfig,
    /// Most retries per request.
    pub max_retries: u32,
    /// Overall deadline for one request: every attempt, wait and queueing for a slot.
    pub retry_timeout: Duration,
    /// The largest response body read; a longer one fails the request
    /// ([`HttpError::BodyTooLarge`]) instead of filling memory.
    pub max_body_bytes: usize,
}

/// Room for a Dataverse page of 5,000 wide rows or a `$batch` answer of 1,000 parts, far below
/// what a misbehaving server could otherwise make the client hold.
pub(crate) const MAX_BODY_BYTES: usize = 512 * 1024 * 1024;

/// The most room a body's announced `Content-Length` gets before its bytes arrive.
const PRESIZE_LIMIT: usize = 64 * 1024 * 1024;

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            backoff: BackoffConfig::default(),
            max_retries: 10,
            retry_timeout: Duration::from_secs(5 * 60),
            max_body_bytes: MAX_BODY_BYTES,
        }
    }
}

impl RetryConfig {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }
}

/// State shared across requests that the loop consults: both optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct Governors<'a> {
    /// Blind retries spend from it.
    pub budget: Option<&'a RetryBudget>,
    /// Every attempt holds one of its permits until its answer is read.
    pub concurrency: Option<&'a ConcurrencyController>,
}

/// Parses `Retry-After` as seconds (Dataverse; possibly fractional) or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        // `try_`: an absurd value (`1e20`) must not panic the client.
        return Duration::try_from_secs_f64(secs).ok();
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or_default())
}

enum Verdict {
    Done,
    RetryAfter(Option<Duration>),
}

fn classify_status(status: StatusCode, idempotent: bool, retry_after: Option<Duration>) -> Verdict {
    match status.as_u16() {
        429 | 503 => Verdict::RetryAfter(retry_after),
        502 | 504 if idempotent => Verdict::RetryAfter(None),
        _ => Verdict::Done,
    }
}

fn classify_error(err: &reqwest::Error, idempotent: bool) -> bool {
    // A connect error means the request never left: safe to resend even a POST.
    err.is_connect() || (idempotent && (err.is_timeout() || err.is_request() || err.is_body()))
}

/// A response read to the end: status, headers and body.
#[derive(Debug, Clone)]
pub struct Buffered {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The whole body.
    pub body: bytes::Bytes,
    /// Retries made before this answer.
    pub retries: u32,
}

impl Buffered {
    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends the request built by `make` until it succeeds or the retry rules say stop, and reads
/// the answer. A response with a non-retryable status (including 4xx errors) is returned as
/// `Ok` for the caller to map.
///
/// `make` is called once per attempt, so bodies are rebuilt rather than cloned.
pub async fn send_with_retry<F, Fut, E>(
    config: &RetryConfig,
    idempotent: bool,
    make: F,
) -> Result<Buffered, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<reqwest::RequestBuilder, E>>,
    E: From<HttpError>,
{
    send_governed(config, idempotent, Governors::default(), make).await
}

/// [`send_with_retry`] under [`Governors`]. The body is read while the concurrency permit is
/// held (the server counts a request as running until its answer is out), and a body that
/// breaks off counts as a failed attempt: retried when idempotent, like any transport error.
pub async fn send_governed<F, Fut, E>(
    config: &RetryConfig,
    idempotent: bool,
    governors: Governors<'_>,
    mut make: F,
) -> Result<Buffered, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<reqwest::RequestBuilder, E>>,
    E: From<HttpError>,
{
    let started = Instant::now();
    let mut backoff = Backoff::new(config.backoff);
    let mut retries = 0u32;
    loop {
        let (client, request) = make().await?.build_split();
        let request = request.map_err(|e| E::from(HttpError::Build(e)))?;
        let method = request.method().to_string();
        let url = redact_url(request.url());
        let permit = match governors.concurrency {
            None => None,
            Some(c) => {
                let left = config.retry_timeout.saturating_sub(started.elapsed());
                match tokio::time::timeout(left, c.acquire()).await {
                    Ok(p) => Some(p),
                    Err(_) => {
                        return Err(E::from(HttpError::Deadline {
                            method,
                            url,
                            elapsed: started.elapsed(),
                        }));
                    }
                }
            }
        };
        let out_of_time = |wait: Duration| started.elapsed() + wait > config.retry_timeout;
        let blind_retry_allowed = || governors.budget.is_none_or(RetryBudget::try_spend);
        let attempt = match client.execute(request).await {
            Ok(response) => {
                let (status, headers) = (response.status(), response.headers().clone());
                match read_body(response, config.max_body_bytes).await {
                    Ok(Some(body)) => Ok(Buffered {
                        status,
                        headers,
                        body,
                        retries,
                    }),
                    Ok(None) => {
                        return Err(E::from(HttpError::BodyTooLarge {
                            method,
                            url,
                            limit: config.max_body_bytes,
                        }));
                    }
                    Err(e) => Err(e),
                }
            }
            Err(err) => Err(err),
        };
        let (wait, reason) = match attempt {
            Ok(answer) => {
                let retry_after = answer.header("retry-after").and_then(parse_retry_after);
                if let Some(p) = &permit {
                    let hint = p
                        .hint_header()
                        .and_then(|h| answer.header(h))
                        .and_then(|v| v.trim().parse().ok());
                    p.observe(answer.status == StatusCode::TOO_MANY_REQUESTS, hint);
                }
                let (wait, allowed) = match classify_status(answer.status, idempotent, retry_after)
                {
                    Verdict::Done => {
                        if answer.status.is_success()
                            && let Some(b) = governors.budget
                        {
                            b.earn();
                        }
                        return Ok(answer);
                    }
                    Verdict::RetryAfter(Some(after)) => (after, true),
                    Verdict::RetryAfter(None) => {
                        let wait = backoff.next_wait();
                        let allowed = retries < config.max_retries
                            && !out_of_time(wait)
                            && blind_retry_allowed();
                        (wait, allowed)
                    }
                };
                if !allowed || retries >= config.max_retries || out_of_time(wait) {
                    // Out of budget: hand the last answer to the caller, whose error mapping
                    // knows the service's error shape (and its Retry-After).
                    return Ok(answer);
                }
                (wait, format!("status {}", answer.status))
            }
            Err(err) => {
                // reqwest's message repeats the full URL, query included: drop it.
                let err = err.without_url();
                let wait = backoff.next_wait();
                let retry = classify_error(&err, idempotent)
                    && retries < config.max_retries
                    && !out_of_time(wait)
                    && blind_retry_allowed();
                if !retry {
                    if retries == 0 {
                        return Err(E::from(HttpError::Request {
                            method,
                            url,
                            source: err,
                        }));
                    }
                    return Err(E::from(HttpError::Retry(Box::new(RetryError {
                        method,
                        url,
                        retries,
                        elapsed: started.elapsed(),
                        reason: err.to_string(),
                        source: Some(err),
                    }))));
                }
                (wait, err.to_string())
            }
        };
        // The slot is free while we wait.
        drop(permit);
        retries += 1;
        tracing::warn!(
            attempt = retries,
            %method,
            %url,
            wait_ms = wait.as_millis() as u64,
            %reason,
            "retrying"
        );
        tokio::time::sleep(wait).await;
    }
}

/// The whole body, or `None` as soon as it is known to be longer than `limit` (by its
/// `Content-Length`, or while reading).
async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Option<bytes::Bytes>, reqwest::Error> {
    let length = response.content_length();
    if length.is_some_and(|n| n > limit as u64) {
        return Ok(None);
    }
    // Room for the whole body at once when its length is known (a page of records is a
    // megabyte or more): grown by doubling, it was copied again at each step. A length is
    // only a server's word: no more than `PRESIZE_LIMIT` is set aside before bytes arrive.
    let room = length.map_or(0, |n| n.min(PRESIZE_LIMIT as u64) as usize);
    let mut body = bytes::BytesMut::with_capacity(room);
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("30"), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after(" 1.5 "),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("1e20"), None);
        assert_eq!(parse_retry_after("NaN"), None);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    /// A server that answers 429 with `Retry-After: 0` twice, then 200.
    async fn flaky_server(hits: Arc<AtomicU32>) -> String {
        use axum::{Router, http::StatusCode, routing::get};
        let app = Router::new().route(
            "/",
            get(move || {
                let hits = hits.clone();
                async move {
                    if hits.fetch_add(1, Ordering::SeqCst) < 2 {
                        (
                            StatusCode::TOO_MANY_REQUESTS,
                            [("retry-after", "0")],
                            "busy",
                        )
                    } else {
                        (StatusCode::OK, [("retry-after", "0")], "ok")
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/")
    }

    #[tokio::test]
    async fn honours_retry_after_then_succeeds() {
        let hits = Arc::new(AtomicU32::new(0));
        let url = flaky_server(hits.clone()).await;
        let client = reqwest::Client::new();
        let response = send_with_retry(&RetryConfig::default(), false, || {
            let request = client.get(&url);
            async move { Ok::<_, HttpError>(request) }
        })
        .await
        .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(hits.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn returns_last_response_when_budget_is_spent() {
        let hits = Arc::new(AtomicU32::new(0));
        let url = flaky_server(hits.clone()).await;
        let client = reqwest::Client::new();
        let config = RetryConfig {
            max_retries: 1,
            ..RetryConfig::default()
        };
        let response = send_with_retry(&config, true, || {
            let request = client.get(&url);
            async move { Ok::<_, HttpError>(request) }
        })
        .await
        .unwrap();
        assert_eq!(response.status, 429);
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn connection_refused_is_retried_then_reported() {
        // Bind and drop to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/");
        let client = reqwest::Client::new();
        let config = RetryConfig {
            max_retries: 2,
            backoff: BackoffConfig {
                base: Duration::from_millis(1),
                cap: Duration::from_millis(5),
            },
            ..RetryConfig::default()
        };
        let err = send_with_retry(&config, false, || {
            let request = client.post(&url);
            async move { Ok::<_, HttpError>(request) }
        })
        .await
        .unwrap_err();
        match err {
            HttpError::Retry(e) => assert_eq!(e.retries, 2),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// A body streamed without a length (chunked) past the limit stops the read, and so does
    /// a `Content-Length` past it, without retries.
    #[tokio::test]
    async fn a_body_past_the_limit_is_refused() {
        use axum::{Router, body::Body, routing::get};
        use futures_util::StreamExt;
        let app = Router::new()
            .route(
                "/endless",
                get(|| async {
                    let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
                    let chunks = futures_util::stream::repeat(chunk).map(Ok::<_, std::io::Error>);
                    Body::from_stream(chunks)
                }),
            )
            .route("/long", get(|| async { vec![b'x'; 300_000] }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = reqwest::Client::new();
        let config = RetryConfig {
            max_body_bytes: 256 * 1024,
            ..RetryConfig::default()
        };
        for path in ["endless", "long"] {
            let url = format!("http://{addr}/{path}");
            let err = send_with_retry(&config, true, || {
                let request = client.get(&url);
                async move { Ok::<_, HttpError>(request) }
            })
            .await
            .unwrap_err();
            assert!(
                matches!(err, HttpError::BodyTooLarge { limit: 262_144, .. }),
                "{path}: {err:?}"
            );
        }
    }
}
