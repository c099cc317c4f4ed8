//! One retry loop for every request. The decision table, in one place:
//!
//! | outcome | retried? | wait |
//! |---|---|---|
//! | 429, 503 with `Retry-After` | yes | exactly `Retry-After` (Dataverse service protection) |
//! | 429, 503 without it; 502, 504 | yes (502/504 only when idempotent) | backoff |
//! | connection error (request never sent) | yes | backoff |
//! | timeout or error after sending | only when idempotent | backoff |
//! | anything else | no | — |
//!
//! Retries stop after `max_retries` or when the next wait would pass `retry_timeout`.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use reqwest::{Response, StatusCode};

use crate::backoff::{Backoff, BackoffConfig};
use crate::error::{HttpError, RetryError, redact_url};

/// Retry limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Backoff between attempts without `Retry-After`.
    pub backoff: BackoffConfig,
    /// Most retries per request.
    pub max_retries: u32,
    /// Overall deadline for the retries of one request.
    pub retry_timeout: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            backoff: BackoffConfig::default(),
            max_retries: 10,
            retry_timeout: Duration::from_secs(5 * 60),
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

/// Sends the request built by `make` until it succeeds or the retry rules say stop. A response
/// with a non-retryable status (including 4xx errors) is returned as `Ok` for the caller to map.
///
/// `make` is called once per attempt, so bodies are rebuilt rather than cloned.
pub async fn send_with_retry<F, Fut, E>(
    config: &RetryConfig,
    idempotent: bool,
    mut make: F,
) -> Result<Response, E>
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
        let out_of_budget = |retries: u32, wait: Duration| {
            retries >= config.max_retries || started.elapsed() + wait > config.retry_timeout
        };
        let (wait, reason) = match client.execute(request).await {
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                match classify_status(response.status(), idempotent, retry_after) {
                    Verdict::Done => return Ok(response),
                    Verdict::RetryAfter(after) => {
                        let wait = after.unwrap_or_else(|| backoff.next_wait());
                        if out_of_budget(retries, wait) {
                            // Out of budget: hand the last response to the caller, whose error
                            // mapping knows the service's error shape (and its Retry-After).
                            return Ok(response);
                        }
                        (wait, format!("status {}", response.status()))
                    }
                }
            }
            Err(err) => {
                // reqwest's message repeats the full URL, query included: drop it.
                let err = err.without_url();
                let wait = backoff.next_wait();
                if !classify_error(&err, idempotent) || out_of_budget(retries, wait) {
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
        retries += 1;
        tracing::info!(attempt = retries, %method, %url, ?wait, %reason, "retrying after backoff");
        tokio::time::sleep(wait).await;
    }
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
        assert_eq!(response.status(), 200);
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
        assert_eq!(response.status(), 429);
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
}
