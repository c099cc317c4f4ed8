//! Transport errors. URLs in errors are redacted to scheme, host and path: query strings can
//! carry secrets (a `$filter` on an email, a device code).

use std::time::Duration;

/// An error from the transport layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// Refused to send a bearer token or secret over plain HTTP to a host that is not loopback.
    #[error(
        "refusing to send credentials to {url}: use https (plain http is allowed only for loopback hosts)"
    )]
    InsecureUrl {
        /// The offending URL (redacted).
        url: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
    /// The request failed before a response arrived (connection, TLS, timeout).
    #[error("{method} {url} failed")]
    Request {
        /// HTTP method.
        method: String,
        /// Redacted URL.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The request's deadline passed while it waited for a concurrency slot.
    #[error("{method} {url} gave up after {elapsed:?} waiting for a free request slot")]
    Deadline {
        /// HTTP method.
        method: String,
        /// Redacted URL.
        url: String,
        /// Time spent.
        elapsed: Duration,
    },
    /// The response body was longer than the client reads (`RetryConfig::max_body_bytes`).
    #[error("{method} {url}: the response is longer than {limit} bytes; refusing to read it")]
    BodyTooLarge {
        /// HTTP method.
        method: String,
        /// Redacted URL.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// Retries were exhausted.
    #[error(transparent)]
    Retry(Box<RetryError>),
}

/// Retries stopped: the last failure with what was tried. Boxed inside [`HttpError`] to keep
/// `Result` small (object_store does the same).
#[derive(Debug, thiserror::Error)]
#[error("{method} {url} failed after {retries} retries in {elapsed:?}: {reason}")]
pub struct RetryError {
    /// HTTP method.
    pub method: String,
    /// Redacted URL.
    pub url: String,
    /// Number of retries made.
    pub retries: u32,
    /// Time spent in total.
    pub elapsed: Duration,
    /// Why the last attempt failed.
    pub reason: String,
    /// The last transport error, if the last attempt had no response.
    #[source]
    pub source: Option<reqwest::Error>,
}

/// Scheme, host, port and path of a URL: no query, no fragment, no user info.
pub(crate) fn redact_url(url: &reqwest::Url) -> String {
    let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    out.push_str(url.path());
    if url.query().is_some() {
        out.push_str("?…");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_query_and_userinfo() {
        let url = reqwest::Url::parse("https://user:pw@host:8443/a/b?code=secret#frag").unwrap();
        assert_eq!(redact_url(&url), "https://host:8443/a/b?…");
    }
}
