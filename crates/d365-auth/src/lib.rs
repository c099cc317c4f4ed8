//! Microsoft Entra ID (Azure AD) OAuth 2.0 client for Dataverse.
//!
//! * [`Authority`], [`EndpointVersion`], [`Target`]: where to ask and for what (v1 `resource=`,
//!   v2 `scope=`).
//! * [`grant`]: one pure request builder per grant: password, client credentials, refresh token.
//! * [`TokenClient`]: sends a grant and parses the v1 or v2 answer ([`TokenResponse`]) or the
//!   error ([`ErrorResponse`], with AADSTS codes).
//! * [`TokenCredential`], [`OAuthCredential`]: tokens on demand from a cache that refreshes ahead
//!   of expiry, one refresh at a time.
//! * [`SignIn`]: which credential sign-in settings name (certificate, password, client secret),
//!   the one rule for `d365-webapi`'s `from_env` and the CLI.
//! * Secrets are types ([`ClientSecret`], [`Password`], [`AccessToken`], [`RefreshToken`]) whose
//!   `Debug` is redacted.
//!
//! ```
//! use d365_auth::{Authority, EndpointVersion, Target, grant::{Grant, ClientCredentialsGrant}, ClientSecret};
//!
//! let authority = Authority::public_cloud("contoso.onmicrosoft.com").unwrap();
//! let grant = ClientCredentialsGrant { client_id: "app-id".into(), client_secret: ClientSecret::new("s3cret") };
//! let form = grant.form(EndpointVersion::V2, &Target::Resource("https://contoso.crm.dynamics.com".into()));
//! assert_eq!(form.get("scope"), Some("https://contoso.crm.dynamics.com/.default"));
//! assert_eq!(
//!     authority.token_url(EndpointVersion::V2).as_str(),
//!     "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
//! );
//! assert_eq!(format!("{:?}", grant.client_secret), "ClientSecret([redacted])");
//! ```

mod authority;
pub mod cache;
mod certificate;
mod claims;
mod credential;
mod error;
pub mod grant;
mod response;
mod secret;
mod sign_in;
mod token_client;

pub use authority::{Authority, EndpointVersion, PUBLIC_CLOUD_HOST, Target};
pub use certificate::{AssertionAlgorithm, ClientCertificate};
pub use claims::{account_of, decode_claims};
pub use credential::{
    OAuthCredential, StaticTokenCredential, TokenCredential, TokenSource, token_client,
};
pub use error::AuthError;
pub use response::{ErrorResponse, TokenResponse, number_or_string, opt_number_or_string};
pub use secret::{
    AccessToken, AuthorizationCode, ClientAssertion, ClientSecret, DeviceCode, IdToken, Password,
    PkceVerifier, RefreshToken,
};
pub use sign_in::SignIn;
pub use token_client::{TokenClient, parse_token_response};
