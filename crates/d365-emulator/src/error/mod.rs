//! Every error the emulator answers with, in one place, in the real services' shapes:
//! Entra's OAuth JSON with AADSTS codes, and Dataverse's `{"error":{"code","message"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A bad configuration.
    #[error("invalid emulator configuration: {0}")]
    Config(String),
    /// File system trouble.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Key or certificate generation or loading failed.
    #[error("signing key: {0}")]
    Key(String),
    /// The SQLite store failed.
    #[error("store: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// An Entra ID token-endpoint error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraError {
    /// HTTP status (400, or 401 for client authentication).
    pub status: StatusCode,
    /// OAuth `error`.
    pub error: &'static str,
    /// The AADSTS number.
    pub code: u32,
    /// The description after `AADSTSnnnn: `.
    pub message: String,
}

impl EntraError {
    fn new(status: u16, error: &'static str, code: u32, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            error,
            code,
            message: message.into(),
        }
    }

    /// AADSTS900144: a required body parameter is missing.
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            900_144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }
    /// AADSTS90002 `invalid_tenant`: no tenant of that GUID or domain. Entra answers so at
    /// every endpoint under the tenant (discovery documents and keys, device code, token), 400.
    pub fn tenant_not_found(tenant: &str) -> Self {
        Self::new(
            400,
            "invalid_tenant",
            90_002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        )
    }
    /// AADSTS9001023: grant not allowed on `/common` or `/consumers`.
    pub fn grant_not_on_alias(grant: &str, alias: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            9_001_023,
            format!(
                "The grant type '{grant}' is not supported over the /{alias} endpoint. Please use the /organizations or tenant-specific endpoint."
            ),
        )
    }
    /// AADSTS900023: client credentials need a concrete tenant.
    pub fn tenant_required(alias: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            900_023,
            format!(
                "Specified tenant identifier '{alias}' is neither a valid DNS name, nor a valid external domain."
            ),
        )
    }
    /// AADSTS700016: unknown application.
    pub fn unknown_client(client_id: &str, tenant: &str) -> Self {
        Self::new(
            400,
            "unauthorized_client",
            700_016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    }
    /// AADSTS7000215: wrong client secret.
    pub fn invalid_secret(client_id: &str) -> Self {
        Self::new(
            401,
            "invalid_client",
            7_000_215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        )
    }
    /// AADSTS7000222: expired client secret.
    pub fn expired_secret(client_id: &str) -> Self {
        Self::new(
            401,
            "invalid_client",
            7_000_222,
            format!(
                "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app."
            ),
        )
    }
    /// AADSTS7000218: a confidential client sent no credential.
    pub fn missing_client_credential() -> Self {
        Self::new(
            401,
            "invalid_client",
            7_000_218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    }
    /// AADSTS700025: a public client sent a credential.
    pub fn public_client_with_secret() -> Self {
        Self::new(
            401,
            "invalid_client",
            700_025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        )
    }
    /// AADSTS50034: unknown user.
    pub fn unknown_user(tenant: &str) -> Self {
        Self::new(
            400,
            "invalid_grant",
            50_034,
            format!(
                "The user account {{EUII Hidden}} does not exist in the {tenant} directory. To sign into this application, the account must be added to the directory."
            ),
        )
    }
    /// AADSTS50126: wrong password.
    pub fn invalid_credentials() -> Self {
        Self::new(
            400,
            "invalid_grant",
            50_126,
            "Error validating credentials due to invalid username or password.",
        )
    }
    /// AADSTS50057: disabled user.
    pub fn user_disabled() -> Self {
        Self::new(
            400,
            "invalid_grant",
            50_057,
            "The user account is disabled.",
        )
    }
    /// AADSTS90055 (throttled), 429: too many sign-ins of the app are pending; the emulator
    /// keeps a bounded number (see `entra::sessions::MAX_PENDING_PER_CLIENT`).
    pub fn too_many_sign_ins(pending: usize) -> Self {
        Self::new(
            429,
            "temporarily_unavailable",
            90_055,
            format!(
                "There are too many incoming requests: {pending} sign-ins are pending. Let some finish or expire, then try again."
            ),
        )
    }
    /// AADSTS50076: MFA needed, which ROPC cannot satisfy.
    pub fn mfa_required(resource: &str) -> Self {
        Self::new(
            400,
            "interaction_required",
            50_076,
            format!(
                "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{resource}'."
            ),
        )
    }
    /// AADSTS500011: unknown resource.
    pub fn unknown_resource(resource: &str, tenant: &str) -> Self {
        Self::new(
            400,
            "invalid_resource",
            500_011,
            format!(
                "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
        )
    }
    /// AADSTS70011: bad scope value.
    pub fn invalid_scope(scope: &str) -> Self {
        Self::new(
            400,
            "invalid_scope",
            70_011,
            format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid: '{scope}'."
            ),
        )
    }
    /// AADSTS700022: scopes of more than one resource.
    pub fn scopes_span_resources() -> Self {
        Self::new(
            400,
            "invalid_scope",
            700_022,
            "The provided value for the input parameter scope is not valid because it contains more than one resource. Scope must be for one resource only.",
        )
    }
    /// AADSTS1002012: client credentials need `/.default`.
    pub fn client_credentials_scope(scope: &str) -> Self {
        Self::new(
            400,
            "invalid_scope",
            1_002_012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        )
    }
    /// AADSTS9002313: a malformed or unknown refresh token.
    pub fn malformed_refresh_token() -> Self {
        Self::new(
            400,
            "invalid_grant",
            9_002_313,
            "Invalid request. Request is malformed or invalid.",
        )
    }
    /// AADSTS70008: an expired or revoked refresh token.
    pub fn refresh_token_expired() -> Self {
        Self::new(
            400,
            "invalid_grant",
            70_008,
            "The provided authorization code or refresh token has expired due to inactivity or has been revoked. Send a new interactive authorization request for this user and resource.",
        )
    }
    /// AADSTS70000: a refresh token presented by another client.
    pub fn refresh_token_wrong_client() -> Self {
        Self::new(
            400,
            "invalid_grant",
            70_000,
            "The provided value for the 'refresh_token' is not valid. The refresh token was issued to a different client.",
        )
    }
    /// AADSTS70003: unknown grant type.
    pub fn unsupported_grant_type(grant: &str) -> Self {
        Self::new(
            400,
            "unsupported_grant_type",
            70_003,
            format!("The app requested an unsupported grant type '{grant}'."),
        )
    }
    /// AADSTS700027 family: a client assertion that does not verify (reason in the message).
    pub fn invalid_assertion(code: u32, message: impl Into<String>) -> Self {
        Self::new(401, "invalid_client", code, message)
    }
    /// AADSTS50027: the assertion type is not the JWT bearer type.
    pub fn invalid_assertion_type() -> Self {
        Self::new(
            400,
            "invalid_request",
            50_027,
            "Invalid client_assertion_type: only 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' is supported.",
        )
    }
    /// Device code unknown (or for another client).
    pub fn bad_verification_code() -> Self {
        Self::new(
            400,
            "bad_verification_code",
            70_000,
            "The provided device code is not valid.",
        )
    }
    /// AADSTS70016: the user has not finished signing in.
    pub fn authorization_pending() -> Self {
        Self::new(
            400,
            "authorization_pending",
            70_016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )
    }
    /// Polled faster than the interval (RFC 8628 `slow_down`).
    pub fn slow_down() -> Self {
        Self::new(
            400,
            "slow_down",
            70_016,
            "OAuth 2.0 device flow error. Polling too fast: wait the interval plus 5 seconds.",
        )
    }
    /// AADSTS70019: the device code expired.
    pub fn expired_token() -> Self {
        Self::new(400, "expired_token", 70_019, "Verification code expired.")
    }
    /// The user declined the device sign-in.
    pub fn authorization_declined() -> Self {
        Self::new(
            400,
            "authorization_declined",
            70_000,
            "The user declined the sign-in.",
        )
    }
    /// AADSTS54005: an authorization code used twice.
    pub fn code_redeemed() -> Self {
        Self::new(
            400,
            "invalid_grant",
            54_005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        )
    }
    /// An unknown or malformed authorization code.
    pub fn bad_code() -> Self {
        Self::new(
            400,
            "invalid_grant",
            9_002_313,
            "Invalid request. Request is malformed or invalid: the authorization code is not valid.",
        )
    }
    /// AADSTS70008: an expired authorization code.
    pub fn code_expired() -> Self {
        Self::new(
            400,
            "invalid_grant",
            70_008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        )
    }
    /// AADSTS501481: the PKCE verifier does not match.
    pub fn pkce_mismatch() -> Self {
        Self::new(
            400,
            "invalid_grant",
            501_481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        )
    }
    /// AADSTS50011: the redirect URI differs from the one the code was issued for.
    pub fn redirect_mismatch(uri: &str) -> Self {
        Self::new(
            400,
            "invalid_grant",
            50_011,
            format!(
                "The redirect URI '{uri}' specified in the request does not match the redirect URI used to obtain the authorization code."
            ),
        )
    }
    /// AADSTS900561: wrong HTTP method on the token endpoint.
    pub fn post_required() -> Self {
        Self::new(
            400,
            "invalid_request",
            900_561,
            "The endpoint only accepts POST requests. Received a GET request.",
        )
    }
}

impl IntoResponse for EntraError {
    fn into_response(self) -> Response {
        let trace_id = uuid::Uuid::new_v4();
        let correlation_id = uuid::Uuid::new_v4();
        let timestamp = time::OffsetDateTime::now_utc()
            .format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]Z"
            ))
            .unwrap_or_default();
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.code, self.message
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        no_store(response.headers_mut());
        response
    }
}

/// `Cache-Control: no-store, no-cache` and `Pragma: no-cache`, as on every Entra token answer.
pub(crate) fn no_store(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

mod dataverse;
mod keys;
mod metadata;
mod operations;
mod service;

pub use dataverse::DataverseError;
