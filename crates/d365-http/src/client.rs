//! The HTTP client wrapper: timeouts, user agent, and the HTTPS-or-loopback guard.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;

use crate::error::{HttpError, redact_url};

/// Checks that credentials may be sent to `url`: `https`, or `http` to a loopback host
/// (`localhost`, `127.0.0.0/8`, `::1`). Everything else is refused, so a mistyped
/// `http://org.crm.dynamics.com` never leaks a bearer token or client secret.
pub fn ensure_secure_url(url: &Url) -> Result<(), HttpError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        _ => Err(HttpError::InsecureUrl {
            url: redact_url(url),
        }),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Installs aws-lc-rs as the process-wide rustls provider. Idempotent; call it first in every
/// binary and test helper (two providers compiled in makes rustls panic on first use).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A cheap-to-clone HTTP client shared by the auth and Web API layers.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
}

impl HttpClient {
    /// A client with the defaults: 30 s connect timeout, 120 s request timeout.
    pub fn new() -> Result<Self, HttpError> {
        Self::builder().build()
    }

    /// A builder for custom timeouts and user agent.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder::default()
    }

    /// The underlying `reqwest` client.
    pub fn inner(&self) -> &reqwest::Client {
        &self.inner
    }

    /// Starts a request that will carry credentials, after checking [`ensure_secure_url`].
    pub fn secure_request(
        &self,
        method: reqwest::Method,
        url: Url,
    ) -> Result<reqwest::RequestBuilder, HttpError> {
        ensure_secure_url(&url)?;
        Ok(self.inner.request(method, url))
    }
}

/// Builder for [`HttpClient`].
#[derive(Debug, Clone)]
pub struct HttpClientBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    user_agent: String,
    extra_roots_pem: Vec<Vec<u8>>,
}

impl Default for HttpClientBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(30),
            timeout: Duration::from_secs(120),
            user_agent: concat!("d365/", env!("CARGO_PKG_VERSION")).to_owned(),
            extra_roots_pem: Vec::new(),
        }
    }
}

impl HttpClientBuilder {
    /// Timeout for establishing a connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Timeout for a whole request, response body included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `User-Agent` header value.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Trusts an extra root certificate (PEM), e.g. the emulator's CA.
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_roots_pem.push(pem.into());
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<HttpClient, HttpError> {
        install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .user_agent(self.user_agent)
            // Dataverse's ARRAffinity cookie pins a client to one web server; throughput work
            // wants requests spread, so no cookie store.
            .redirect(reqwest::redirect::Policy::none());
        for pem in &self.extra_roots_pem {
            let cert = reqwest::Certificate::from_pem(pem).map_err(HttpError::Build)?;
            builder = builder.tls_certs_merge([cert]);
        }
        Ok(HttpClient {
            inner: builder.build().map_err(HttpError::Build)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_rules() {
        for ok in [
            "https://x.crm.dynamics.com/",
            "http://localhost:1/",
            "http://LOCALHOST/",
            "http://127.0.0.1:9/",
            "http://127.1.2.3/",
            "http://[::1]:80/",
        ] {
            assert!(ensure_secure_url(&Url::parse(ok).unwrap()).is_ok(), "{ok}");
        }
        for bad in [
            "http://x.crm.dynamics.com/",
            "http://10.0.0.1/",
            "http://localhost.evil.com/",
            "ftp://127.0.0.1/",
        ] {
            let err = ensure_secure_url(&Url::parse(bad).unwrap()).unwrap_err();
            assert!(err.to_string().contains("use https"), "{bad}: {err}");
        }
    }

    /// Dataverse answers with an `ARRAffinity` cookie; sending it back would pin every request
    /// to one web server, so the client keeps no cookies.
    #[tokio::test]
    async fn the_affinity_cookie_is_never_sent_back() {
        use axum::{Router, http::HeaderMap, routing::get};
        use std::sync::atomic::{AtomicU32, Ordering};
        let with_cookie = std::sync::Arc::new(AtomicU32::new(0));
        let seen = with_cookie.clone();
        let app = Router::new().route(
            "/",
            get(move |headers: HeaderMap| {
                let seen = seen.clone();
                async move {
                    if headers.contains_key("cookie") {
                        seen.fetch_add(1, Ordering::SeqCst);
                    }
                    (
                        [("set-cookie", "ARRAffinity=abc123; Path=/; HttpOnly")],
                        "ok",
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = HttpClient::new().unwrap();
        for _ in 0..3 {
            let r = client
                .secure_request(reqwest::Method::GET, Url::parse(&url).unwrap())
                .unwrap()
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        assert_eq!(with_cookie.load(Ordering::SeqCst), 0);
    }
}
