//! Errors of the auth client. The server's error body stays typed ([`ErrorResponse`]), and a
//! body that will not parse is kept raw (oauth2-rs's `Parse(.., Vec<u8>)`).

use crate::response::ErrorResponse;

/// An error while getting a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The configuration cannot work (bad tenant, missing field).
    #[error("invalid auth configuration: {0}")]
    InvalidConfig(String),
    /// The token cache file could not be used.
    #[error("token cache: {0}")]
    Cache(String),
    /// Transport failure or a refused insecure URL.
    #[error(transparent)]
    Http(#[from] d365_http::HttpError),
    /// The token endpoint said no.
    #[error("{grant} grant failed ({status} {}): {}", .response.error, .response.summary())]
    Server {
        /// The grant that was attempted (`password`, `client_credentials`, …).
        grant: &'static str,
        /// HTTP status.
        status: u16,
        /// The parsed error body.
        response: Box<ErrorResponse>,
    },
    /// The response could not be parsed; the raw body is kept for diagnosis.
    #[error("{grant} grant: unparseable response (status {status}): {source}")]
    Parse {
        /// The grant that was attempted.
        grant: &'static str,
        /// HTTP status.
        status: u16,
        /// The raw body of an error answer (at most 2 KiB); a success body, which would hold
        /// tokens, is never kept.
        body: String,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
}

impl AuthError {
    /// The server's error response, if this came from the token endpoint.
    pub fn server_response(&self) -> Option<&ErrorResponse> {
        match self {
            AuthError::Server { response, .. } => Some(response),
            _ => None,
        }
    }

    /// A one-line suggestion for a person at a terminal, keyed on the AADSTS code.
    pub fn hint(&self) -> Option<&'static str> {
        let code = self.server_response()?.aadsts()?;
        Some(match code {
            7_000_215 | 70_002 => {
                "check the client secret: use the secret's value, not its ID (AZURE_CLIENT_SECRET / --client-secret)"
            }
            7_000_222 => "the client secret has expired: create a new one for the app registration",
            50_126 => "check the username and password (AZURE_USERNAME / AZURE_PASSWORD)",
            50_034 => "the user does not exist in this tenant: check the username and tenant",
            700_016 => {
                "no app with this client id exists in the tenant: check the client id and tenant"
            }
            90_002 => "the tenant was not found: check the tenant id or domain",
            50_076 | 50_079 => {
                "this user needs multi-factor sign-in, which the password grant cannot do: use --device-code or --browser"
            }
            70_008 | 9_002_313 | 700_082 => {
                "the refresh token is expired, revoked or invalid: sign in again"
            }
            500_011 => "the resource is not known to the tenant: check the environment URL",
            7_000_218 => "the app is confidential: give a client secret or certificate",
            _ => return None,
        })
    }
}
