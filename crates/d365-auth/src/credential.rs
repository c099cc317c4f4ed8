//! Credentials: something that hands out access tokens for a resource. [`OAuthCredential`]
//! covers the client-credentials, password and refresh-token grants over one cache;
//! [`StaticTokenCredential`] wraps a token obtained elsewhere.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::authority::{Authority, EndpointVersion, Target};
use crate::cache::{CachedToken, TokenCache};
use crate::error::AuthError;
use crate::grant::{ClientCredentialsGrant, Grant, PasswordGrant, RefreshTokenGrant};
use crate::response::TokenResponse;
use crate::secret::{AccessToken, ClientSecret, Password, RefreshToken};
use crate::token_client::TokenClient;

/// Hands out access tokens for a resource (a Dataverse environment URL).
pub trait TokenCredential: Send + Sync + std::fmt::Debug {
    /// A valid access token for `resource`, from cache when possible.
    fn get_token<'a>(&'a self, resource: &'a str) -> BoxFuture<'a, Result<AccessToken, AuthError>>;
}

/// A fixed access token, e.g. piped from `d365 token`.
#[derive(Debug, Clone)]
pub struct StaticTokenCredential(AccessToken);

impl StaticTokenCredential {
    /// Wraps a token.
    pub fn new(token: AccessToken) -> Self {
        Self(token)
    }
}

impl TokenCredential for StaticTokenCredential {
    fn get_token<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<AccessToken, AuthError>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
}

#[derive(Debug)]
enum Flow {
    ClientCredentials(ClientSecret),
    Password {
        username: String,
        password: Password,
    },
    RefreshOnly,
}

/// A credential for one app registration and one grant, with a token cache that refreshes
/// ahead of expiry. User flows keep the newest refresh token and redeem it instead of
/// re-sending the password; the password is used again only if the refresh token is refused.
#[derive(Debug)]
pub struct OAuthCredential {
    client: TokenClient,
    version: EndpointVersion,
    client_id: String,
    client_secret: Option<ClientSecret>,
    flow: Flow,
    refresh_token: Mutex<Option<RefreshToken>>,
    cache: TokenCache,
    token_requests: AtomicU64,
    /// One token request at a time per credential: refresh tokens are shared by every cache
    /// key, and two concurrent redemptions would lose one rotation.
    fetching: tokio::sync::Mutex<()>,
}

impl OAuthCredential {
    fn new(client: TokenClient, client_id: &str, secret: Option<ClientSecret>, flow: Flow) -> Self {
        Self {
            client,
            version: EndpointVersion::V2,
            client_id: client_id.to_owned(),
            client_secret: secret,
            flow,
            refresh_token: Mutex::new(None),
            cache: TokenCache::new(),
            token_requests: AtomicU64::new(0),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// App-only access with a client secret (client-credentials grant).
    pub fn client_secret(client: TokenClient, client_id: &str, secret: ClientSecret) -> Self {
        Self::new(client, client_id, None, Flow::ClientCredentials(secret))
    }

    /// A user signing in with a password (ROPC); `secret` for a confidential client.
    pub fn password(
        client: TokenClient,
        client_id: &str,
        secret: Option<ClientSecret>,
        username: &str,
        password: Password,
    ) -> Self {
        let flow = Flow::Password {
            username: username.to_owned(),
            password,
        };
        Self::new(client, client_id, secret, flow)
    }

    /// A user session continued from a refresh token.
    pub fn refresh_token(
        client: TokenClient,
        client_id: &str,
        secret: Option<ClientSecret>,
        refresh_token: RefreshToken,
    ) -> Self {
        let cred = Self::new(client, client_id, secret, Flow::RefreshOnly);
        *cred.refresh_token.lock().unwrap_or_else(|e| e.into_inner()) = Some(refresh_token);
        cred
    }

    /// Which token endpoint to use (v2 by default).
    pub fn with_endpoint(mut self, version: EndpointVersion) -> Self {
        self.version = version;
        self
    }

    /// How many token requests this credential has sent.
    pub fn token_requests(&self) -> u64 {
        self.token_requests.load(Ordering::Relaxed)
    }

    /// The newest refresh token, if the flow has one.
    pub fn current_refresh_token(&self) -> Option<RefreshToken> {
        self.refresh_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Requests a new token now, bypassing the cache (used by the cache on refresh).
    pub async fn fetch_token(&self, resource: &str) -> Result<TokenResponse, AuthError> {
        let _one_at_a_time = self.fetching.lock().await;
        let target = match (&self.flow, self.version) {
            (Flow::ClientCredentials(_), _) | (_, EndpointVersion::V1) => {
                Target::Resource(resource.to_owned())
            }
            _ => Target::Scopes(vec![
                format!("{}/.default", resource.trim_end_matches('/')),
                "offline_access".to_owned(),
            ]),
        };
        if let Some(rt) = self.current_refresh_token() {
            let grant = RefreshTokenGrant {
                client_id: self.client_id.clone(),
                client_secret: self.client_secret.clone(),
                refresh_token: rt,
            };
            match self.send(&target, &grant).await {
                Ok(response) => return Ok(response),
                Err(err)
                    if err
                        .server_response()
                        .is_some_and(|r| r.error == "invalid_grant") =>
                {
                    // A refused refresh token stays refused: forget it, then sign in again if
                    // there is a password to do it with.
                    *self.refresh_token.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    if !matches!(self.flow, Flow::Password { .. }) {
                        return Err(err);
                    }
                    tracing::info!("refresh token refused; signing in with the password again");
                }
                Err(err) => return Err(err),
            }
        }
        match &self.flow {
            Flow::ClientCredentials(secret) => {
                let grant = ClientCredentialsGrant {
                    client_id: self.client_id.clone(),
                    client_secret: secret.clone(),
                };
                self.send(&target, &grant).await
            }
            Flow::Password { username, password } => {
                let grant = PasswordGrant {
                    client_id: self.client_id.clone(),
                    client_secret: self.client_secret.clone(),
                    username: username.clone(),
                    password: password.clone(),
                };
                self.send(&target, &grant).await
            }
            Flow::RefreshOnly => Err(AuthError::InvalidConfig(
                "no refresh token to redeem: sign in again".into(),
            )),
        }
    }

    async fn send(&self, target: &Target, grant: &dyn Grant) -> Result<TokenResponse, AuthError> {
        self.token_requests.fetch_add(1, Ordering::Relaxed);
        let response = self.client.request(self.version, target, grant).await?;
        if let Some(rt) = &response.refresh_token {
            // Rotation: the newest refresh token replaces the old one.
            *self.refresh_token.lock().unwrap_or_else(|e| e.into_inner()) = Some(rt.clone());
        }
        Ok(response)
    }
}

impl TokenCredential for OAuthCredential {
    fn get_token<'a>(&'a self, resource: &'a str) -> BoxFuture<'a, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let key = format!(
                "{}|{}|{}",
                self.client.authority().url(),
                self.client_id,
                resource.trim_end_matches('/')
            );
            self.cache
                .get_or_refresh(&key, || async {
                    let response = self.fetch_token(resource).await?;
                    Ok(CachedToken::new(
                        response.access_token,
                        Duration::from_secs(response.expires_in),
                        response.refresh_in.map(Duration::from_secs),
                    ))
                })
                .await
        })
    }
}

/// Builds an [`OAuthCredential`]'s token client on the default HTTP client.
pub fn token_client(authority: Authority) -> Result<TokenClient, AuthError> {
    Ok(TokenClient::new(d365_http::HttpClient::new()?, authority))
}
