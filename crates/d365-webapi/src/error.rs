//! Web API errors. [`ApiError`] carries what Dataverse said and what support needs (the
//! request id), never the token.

use std::time::Duration;

/// A non-success answer from the Web API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}{}", request_id.as_deref().map(|id| format!(" (request id {id})")).unwrap_or_default())]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Dataverse's hex code (`0x80040217`); may be empty.
    pub code: String,
    /// The message.
    pub message: String,
    /// `x-ms-service-request-id` (or `REQ_ID`).
    pub request_id: Option<String>,
    /// `Retry-After` on 429/503.
    pub retry_after: Option<Duration>,
    /// Each target's outcome when a bulk message on an elastic table partly failed
    /// (`Plugin.BulkApiErrorDetails`). Only targets listed with a 2xx status are known to be
    /// written; treat any other target as failed.
    pub bulk_outcomes: Vec<BulkOutcome>,
}

/// One target of a bulk message on an elastic table, from the error details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkOutcome {
    /// The target's position in `Targets`.
    pub request_index: usize,
    /// The record's id, when known.
    pub id: Option<uuid::Uuid>,
    /// Its HTTP status: 2xx written, else failed.
    pub status: u16,
}

impl BulkOutcome {
    /// Whether this target was written.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl ApiError {
    /// `true` for 404s.
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }

    /// `true` when a delta link's token is older than the environment keeps changes
    /// (`0x80044352`, ExpiredVersionStamp, after 7 days by default): load everything again
    /// with [`QueryRequest::track_changes`](crate::QueryRequest::track_changes).
    pub fn is_expired_delta_token(&self) -> bool {
        self.code.eq_ignore_ascii_case("0x80044352")
    }

    /// `true` when a create found a record with the same id or alternate key (`0x80040237`,
    /// DuplicateRecord).
    pub fn is_duplicate_record(&self) -> bool {
        self.code.eq_ignore_ascii_case("0x80040237")
    }

    /// `true` when the table does not have change tracking enabled (`0x80072491`,
    /// ChangeTrackingNotEnabledForEntity).
    pub fn is_change_tracking_disabled(&self) -> bool {
        self.code.eq_ignore_ascii_case("0x80072491")
    }
}

/// Everything that can go wrong in a Web API call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service answered with an error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Getting a token failed.
    #[error("authentication failed: {0}")]
    Auth(#[from] d365_auth::AuthError),
    /// Transport failure.
    #[error(transparent)]
    Http(#[from] d365_http::HttpError),
    /// A query that cannot be sent (bad filter text, …).
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A client that cannot work (bad environment URL, no credential).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// The response was not what the Web API sends.
    #[error("unexpected response from {url}: {message}")]
    Decode {
        /// The URL (without query).
        url: String,
        /// What was wrong.
        message: String,
    },
    /// A next link pointed somewhere else than the environment: not followed, so the token
    /// cannot leak to another host.
    #[error("refusing to follow a next link to another host: {0}")]
    ForeignLink(String),
    /// Waiting for something (a system job) took longer than allowed.
    #[error("gave up waiting after {0:?}")]
    Timeout(std::time::Duration),
}

impl Error {
    /// The API error, if the service answered.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }
}
