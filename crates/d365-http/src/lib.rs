//! HTTP transport shared by `d365-auth` and `d365-webapi`. It knows nothing of Dataverse.
//!
//! * [`HttpClient`]: a `reqwest` client with timeouts, a user agent, and the guard that keeps
//!   bearer tokens and secrets on HTTPS or loopback ([`ensure_secure_url`]).
//! * Resilience ([`RetryConfig`], [`send_with_retry`], [`send_governed`]): one retry loop with
//!   one classification function, honouring `Retry-After` (Dataverse service protection answers
//!   429 with it), a shared [`RetryBudget`] and an AIMD [`ConcurrencyController`].
//! * [`Backoff`]: decorrelated-jitter backoff.
//!
//! ```
//! use d365_http::ensure_secure_url;
//! let ok = url::Url::parse("https://contoso.crm.dynamics.com/api/data/v9.2/").unwrap();
//! assert!(ensure_secure_url(&ok).is_ok());
//! let local = url::Url::parse("http://127.0.0.1:8080/api/data/v9.2/").unwrap();
//! assert!(ensure_secure_url(&local).is_ok());
//! let bad = url::Url::parse("http://contoso.crm.dynamics.com/").unwrap();
//! assert!(ensure_secure_url(&bad).is_err());
//! ```

mod backoff;
mod client;
mod error;
mod resilience;

pub use backoff::{Backoff, BackoffConfig};
pub use client::{HttpClient, HttpClientBuilder, ensure_secure_url, install_crypto_provider};
pub use error::{HttpError, RetryError};
pub use reqwest;
pub use resilience::{
    Buffered, ConcurrencyConfig, ConcurrencyController, ConcurrencyStats, Governors, Permit,
    RetryBudget, RetryBudgetConfig, RetryConfig, parse_retry_after, send_governed, send_with_retry,
};
