//! Credentials: something that hands out access tokens for a resource. [`OAuthCredential`]
//! covers the client-credentials, password and refresh-token grants over one cache;
//! [`StaticTokenCredential`] wraps a token obtained elsewhere.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::authority::{Authority, EndpointVersion, Target};
use crate::cache::{CacheEntry, CachedToken, FileTokenCache, TokenCache, cache_key};
use crate::certificate::ClientCertificate;
use crate::error::AuthError;
use crate::grant::{
    ClientAssertionGrant, ClientCredentialsGrant, Grant, PasswordGrant, RefreshTokenGrant,
};
use crate::response::TokenResponse;
use crate::secret::{AccessToken, ClientSecret, Password, RefreshToken};
use crate::token_client::TokenClient;

/// Where a token handed out came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// A cache (memory or the shared file): the resource may refuse it although it has not
    /// expired (a signing-key rollover, a revocation, a restarted emulator).
    Cache,
    /// Acquired for this call, or not known: a refusal is final.
    Acquired,
}

/// Hands out access tokens for a resource (a Dataverse environment URL).
pub trait TokenCredential: Send + Sync + std::fmt::Debug {
    /// A valid access token for `resource`, from cache when possible.
    fn get_token<'a>(&'a self, resource: &'a str) -> BoxFuture<'a, Result<AccessToken, AuthError>>;

    /// [`TokenCredential::get_token`], saying whether the token came from a cache. The
    /// default says [`TokenSource::Acquired`], so a credential that cannot tell is never asked
    /// for another token after a refusal.
    fn get_token_with_source<'a>(
        &'a self,
        resource: &'a str,
    ) -> BoxFuture<'a, Result<(AccessToken, TokenSource), AuthError>> {
        Box::pin(async move {
            let token = self.get_token(resource).await?;
            Ok((token, TokenSource::Acquired))
        })
    }

    /// Drops `token` from every cache that holds it for `resource`, because the resource
    /// refused it (401); the next [`TokenCredential::get_token`] acquires a new one. Returns
    /// whether another token can be had (the default: no, nothing is cached).
    fn invalidate<'a>(&'a self, resource: &'a str, token: &'a AccessToken) -> BoxFuture<'a, bool> {
        let _ = (resource, token);
        Box::pin(async { false })
    }
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
    Certificate(std::sync::Arc<ClientCertificate>),
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
    /// Sessions shared with other processes.
    file_cache: Option<FileTokenCache>,
    /// The signed-in account (UPN) for user flows, part of the cache key.
    account: Mutex<Option<String>>,
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
            file_cache: None,
            account: Mutex::new(None),
        }
    }

    /// App-only access with a client secret (client-credentials grant).
    pub fn client_secret(client: TokenClient, client_id: &str, secret: ClientSecret) -> Self {
        Self::new(client, client_id, None, Flow::ClientCredentials(secret))
    }

    /// App-only access with a certificate (client credentials with a signed assertion).
    pub fn certificate(
        client: TokenClient,
        client_id: &str,
        certificate: ClientCertificate,
    ) -> Self {
        Self::new(
            client,
            client_id,
            None,
            Flow::Certificate(std::sync::Arc::new(certificate)),
        )
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

    /// A user session continued from a refresh token held in the file cache (after
    /// `d365 auth login` with a device code or a browser), for `account`.
    pub fn cached_session(
        client: TokenClient,
        client_id: &str,
        secret: Option<ClientSecret>,
        account: &str,
    ) -> Self {
        let cred = Self::new(client, client_id, secret, Flow::RefreshOnly);
        *cred.account.lock().unwrap_or_else(|e| e.into_inner()) = Some(account.to_owned());
        cred
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

    /// Persists sessions in `cache`, shared with other processes (see [`FileTokenCache`]).
    pub fn with_file_cache(mut self, cache: FileTokenCache) -> Self {
        self.file_cache = Some(cache);
        self
    }

    /// The account (UPN) this credential signs in, if known.
    pub fn account(&self) -> Option<String> {
        if let Flow::Password { username, .. } = &self.flow {
            return Some(username.clone());
        }
        self.account
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The grant behind this credential, as stored in the cache.
    pub fn grant_name(&self) -> &'static str {
        match self.flow {
            Flow::ClientCredentials(_) | Flow::Certificate(_) => "client_credentials",
            Flow::Password { .. } => "password",
            Flow::RefreshOnly => "refresh_token",
        }
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
            (Flow::ClientCredentials(_) | Flow::Certificate(_), _) | (_, EndpointVersion::V1) => {
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
            Flow::Certificate(certificate) => {
                let audience = self.client.authority().token_url(self.version);
                let grant = ClientAssertionGrant {
                    client_id: self.client_id.clone(),
                    assertion: certificate.assertion(&self.client_id, audience.as_str())?,
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

impl OAuthCredential {
    /// The cache key of a resource for this credential.
    pub fn cache_key(&self, resource: &str) -> String {
        cache_key(
            &self.client.authority().url(),
            &self.client_id,
            resource,
            self.account().as_deref(),
        )
    }

    /// Gets a token from the network and turns it into a cache entry.
    async fn fetch_entry(&self, resource: &str, grant: &str) -> Result<CacheEntry, AuthError> {
        let response = self.fetch_token(resource).await?;
        Ok(self.entry_from(resource, grant, &response))
    }

    /// A cache entry for a token response received now (the account is taken from the token
    /// when this credential does not know it yet, e.g. after a device-code sign-in).
    pub fn entry_from(&self, resource: &str, grant: &str, response: &TokenResponse) -> CacheEntry {
        let now = unix_now();
        let (lifetime, refresh_in) = (
            response.expires_in as i64,
            response.refresh_in.map(|r| r as i64),
        );
        let refresh_after = CachedToken::refresh_after(
            Duration::from_secs(lifetime.max(0) as u64),
            refresh_in.map(|r| Duration::from_secs(r.max(0) as u64)),
        );
        if matches!(self.flow, Flow::RefreshOnly)
            && self.account().is_none()
            && let Some(upn) = crate::claims::account_of(response.access_token.secret())
        {
            *self.account.lock().unwrap_or_else(|e| e.into_inner()) = Some(upn);
        }
        CacheEntry {
            authority: self.client.authority().url(),
            client_id: self.client_id.clone(),
            resource: resource.trim_end_matches('/').to_owned(),
            account: self.account(),
            grant: grant.to_owned(),
            access_token: response.access_token.clone(),
            expires_at: now + lifetime,
            refresh_at: now + refresh_after.as_secs() as i64,
            refresh_token: response
                .refresh_token
                .clone()
                .or_else(|| self.current_refresh_token()),
        }
    }

    /// Stores a token obtained outside this credential (device code, browser sign-in) in the
    /// file cache, and adopts its refresh token.
    pub async fn store(
        &self,
        resource: &str,
        grant: &str,
        response: &TokenResponse,
    ) -> Result<CacheEntry, AuthError> {
        if let Some(rt) = &response.refresh_token {
            *self.refresh_token.lock().unwrap_or_else(|e| e.into_inner()) = Some(rt.clone());
        }
        let entry = self.entry_from(resource, grant, response);
        if let Some(file) = &self.file_cache {
            let lock = file.lock_async().await?;
            let mut contents = lock.read()?;
            contents.entries.insert(entry.key(), entry.clone());
            lock.write(&contents)?;
        }
        Ok(entry)
    }

    /// With a file cache: use the stored token while fresh (no lock needed to read), else take
    /// the cross-process lock, refresh with the newest stored refresh token of this account,
    /// and write the result back. If the refresh fails while the stored token is still valid,
    /// keep using it (and retry later), as the in-memory cache does.
    async fn through_file_cache(
        &self,
        file: &FileTokenCache,
        resource: &str,
    ) -> Result<CacheEntry, AuthError> {
        let key = self.cache_key(resource);
        if let Some(entry) = file.read_unlocked()?.entries.get(&key)
            && entry.refresh_at > unix_now()
        {
            return Ok(entry.clone());
        }
        let lock = file.lock_async().await?;
        let mut contents = lock.read()?;
        let existing = contents.entries.get(&key).cloned();
        let now = unix_now();
        if let Some(entry) = &existing
            && entry.refresh_at > now
        {
            // Another process refreshed while we waited for the lock.
            return Ok(entry.clone());
        }
        // Refresh tokens are not bound to a resource: this entry's, else the account's newest.
        let account = self.account().map(|a| a.to_ascii_lowercase());
        let authority = self.client.authority().url().to_ascii_lowercase();
        let refresh_token = existing
            .as_ref()
            .and_then(|e| e.refresh_token.clone())
            .or_else(|| {
                contents
                    .entries
                    .values()
                    .filter(|e| {
                        account.is_some()
                            && e.account.as_deref().map(str::to_ascii_lowercase) == account
                    })
                    .filter(|e| {
                        e.authority.to_ascii_lowercase() == authority
                            && e.client_id.eq_ignore_ascii_case(&self.client_id)
                    })
                    .max_by_key(|e| e.expires_at)
                    .and_then(|e| e.refresh_token.clone())
            });
        if let Some(rt) = refresh_token {
            *self.refresh_token.lock().unwrap_or_else(|e| e.into_inner()) = Some(rt);
        }
        let grant = existing
            .as_ref()
            .map(|e| e.grant.clone())
            .unwrap_or_else(|| self.grant_name().to_owned());
        match self.fetch_entry(resource, &grant).await {
            Ok(entry) => {
                contents.entries.insert(entry.key(), entry.clone());
                if let Err(e) = lock.write(&contents) {
                    // The token is good; only sharing it failed.
                    tracing::warn!(error = %e, "could not save the refreshed token to the cache file");
                }
                Ok(entry)
            }
            Err(err) => {
                let refused = err
                    .server_response()
                    .is_some_and(|r| r.error == "invalid_grant");
                match existing {
                    Some(_) if refused => {
                        // The session is over: the stored refresh token was refused.
                        contents.entries.remove(&key);
                        lock.write(&contents)?;
                        Err(err)
                    }
                    Some(mut old) if old.expires_at > now => {
                        tracing::warn!(error = %err, "token refresh failed; using the cached token until it expires");
                        old.refresh_at =
                            now + RETRY_AFTER_FAILURE_SECS.min((old.expires_at - now) / 2);
                        contents.entries.insert(key, old.clone());
                        let _ = lock.write(&contents);
                        Ok(old)
                    }
                    _ => Err(err),
                }
            }
        }
    }

    /// The in-memory cache's key for `resource`. One credential is one identity: the key needs
    /// no account (a refresh-token session only learns it from its first token); the shared
    /// file's key has it.
    fn memory_key(&self, resource: &str) -> String {
        cache_key(
            &self.client.authority().url(),
            &self.client_id,
            resource,
            None,
        )
    }

    /// Marks the shared file's entry holding `token` as expired, keeping its refresh token:
    /// the next call for it signs in again quietly instead of reading the refused token back.
    async fn expire_in_file(
        &self,
        file: &FileTokenCache,
        token: &AccessToken,
    ) -> Result<(), AuthError> {
        let lock = file.lock_async().await?;
        let mut contents = lock.read()?;
        let mut changed = false;
        for entry in contents.entries.values_mut() {
            if entry.access_token.secret() == token.secret() {
                entry.expires_at = 0;
                entry.refresh_at = 0;
                changed = true;
            }
        }
        if changed {
            lock.write(&contents)?;
        }
        Ok(())
    }

    /// Removes this credential's sessions (every resource) from the file cache and forgets its
    /// refresh token. Access tokens already in memory stay usable until they expire.
    pub async fn sign_out(&self) -> Result<usize, AuthError> {
        *self.refresh_token.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let Some(file) = &self.file_cache else {
            return Ok(0);
        };
        let lock = file.lock_async().await?;
        let mut contents = lock.read()?;
        let (authority, account) = (
            self.client.authority().url().to_ascii_lowercase(),
            self.account(),
        );
        let before = contents.entries.len();
        contents.entries.retain(|_, e| {
            !(e.authority.to_ascii_lowercase() == authority
                && e.client_id.eq_ignore_ascii_case(&self.client_id)
                && e.account.as_deref().map(str::to_ascii_lowercase)
                    == account.as_deref().map(str::to_ascii_lowercase))
        });
        let removed = before - contents.entries.len();
        lock.write(&contents)?;
        Ok(removed)
    }
}

/// After a failed refresh, how long before the next attempt (at most).
const RETRY_AFTER_FAILURE_SECS: i64 = 30;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn cached_from_entry(entry: &CacheEntry) -> CachedToken {
    let now = unix_now();
    let at = |t: i64| tokio::time::Instant::now() + Duration::from_secs((t - now).max(0) as u64);
    CachedToken {
        token: entry.access_token.clone(),
        expires_at: at(entry.expires_at),
        refresh_at: at(entry.refresh_at),
    }
}

impl TokenCredential for OAuthCredential {
    fn get_token<'a>(&'a self, resource: &'a str) -> BoxFuture<'a, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let key = self.memory_key(resource);
            self.cache
                .get_or_refresh(&key, || async {
                    let entry = match &self.file_cache {
                        Some(file) => self.through_file_cache(file, resource).await?,
                        None => self.fetch_entry(resource, self.grant_name()).await?,
                    };
                    Ok(cached_from_entry(&entry))
                })
                .await
        })
    }

    fn get_token_with_source<'a>(
        &'a self,
        resource: &'a str,
    ) -> BoxFuture<'a, Result<(AccessToken, TokenSource), AuthError>> {
        Box::pin(async move {
            // A token request made meanwhile (by this call or one it waited for) means the
            // token is new; otherwise it came from the memory or file cache.
            let before = self.token_requests();
            let token = self.get_token(resource).await?;
            let source = if self.token_requests() == before {
                TokenSource::Cache
            } else {
                TokenSource::Acquired
            };
            Ok((token, source))
        })
    }

    fn invalidate<'a>(&'a self, resource: &'a str, token: &'a AccessToken) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            self.cache
                .remove_if(&self.memory_key(resource), token)
                .await;
            if let Some(file) = &self.file_cache
                && let Err(e) = self.expire_in_file(file, token).await
            {
                tracing::warn!(error = %e, "could not drop the refused token from the cache file");
            }
            true
        })
    }
}

/// Builds an [`OAuthCredential`]'s token client on the default HTTP client.
pub fn token_client(authority: Authority) -> Result<TokenClient, AuthError> {
    Ok(TokenClient::new(d365_http::HttpClient::new()?, authority))
}
