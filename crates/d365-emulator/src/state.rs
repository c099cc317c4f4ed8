//! Shared state of one running emulator.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::Clock;
use crate::dataverse::model::DataverseModel;
use crate::entra::keys::SigningKey;
use crate::entra::registry::Registry;
use crate::store::Store;

/// Everything a handler may need; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(pub(crate) Arc<Inner>);

/// The state behind [`AppState`].
#[derive(Debug)]
pub struct Inner {
    /// Tenants, apps, users.
    pub registry: Registry,
    /// The token-signing key.
    pub key: SigningKey,
    /// The database.
    pub store: Store,
    /// The (shiftable) clock.
    pub clock: Clock,
    /// The emulator's own base URL, which is also the authority host.
    pub base_url: String,
    /// The Dataverse environment URL (the token audience), without a trailing slash.
    pub env_url: String,
    /// The Dataverse tables.
    pub model: DataverseModel,
    /// The tables' alternate keys and their index status.
    pub keys: crate::dataverse::keys::registry::Keys,
    /// Token endpoint requests served (any outcome).
    pub token_requests: AtomicU64,
    /// Service protection limits.
    pub limiter: std::sync::Arc<crate::limits::Limiter>,
    /// Faults to inject and the request log.
    pub faults: crate::faults::Faults,
    /// Bearer tokens whose signature was verified, so that each is verified once (the other
    /// checks run on every request).
    pub verified_tokens: crate::entra::verified::VerifiedTokens,
    /// Sign-ins in progress (device codes, authorization codes, assertion ids).
    pub sessions: crate::entra::sessions::Sessions,
    /// The host names answered to, when bound to loopback (see [`crate::exposure`]); `None`
    /// answers any `Host`.
    pub allowed_hosts: Option<crate::exposure::HostAllowList>,
    /// Set when the emulator stops: background jobs leave off (a persisted one resumes at
    /// the next start) instead of writing to a store that is going away.
    pub stopping: std::sync::atomic::AtomicBool,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Token endpoint requests served so far.
    pub fn token_requests(&self) -> u64 {
        self.token_requests.load(Ordering::SeqCst)
    }

    /// Whether `url` names this environment (case-insensitive, trailing slash optional).
    pub fn is_environment(&self, url: &str) -> bool {
        url.trim_end_matches('/')
            .eq_ignore_ascii_case(&self.env_url)
    }

    /// Whether the token endpoint issues tokens for the resource `url`: this environment, or
    /// Azure Storage ([`crate::entra::storage`], which every tenant has). Only the environment's
    /// tokens are accepted by the Web API ([`AppState::is_environment`]).
    pub fn issues_tokens_for(&self, url: &str) -> bool {
        self.is_environment(url) || crate::entra::storage::is_storage_resource(url)
    }

    /// The environment's tenant id.
    pub fn env_tenant(&self) -> &str {
        &self.registry.config().environment.tenant
    }

    /// The v1 issuer of access tokens for a tenant, as Dataverse receives them.
    pub fn v1_issuer(tenant_id: &str) -> String {
        format!("https://sts.windows.net/{tenant_id}/")
    }

    /// The web API root, `{env}/api/data/v9.2`: the version is the one the request being
    /// served named (`v9.0`, `v9.1`, `v9.2`), so every URL the emulator writes for it (context
    /// URLs, next links, `OData-EntityId`) keeps that version, as Dataverse's do.
    pub fn api_root(&self) -> String {
        let version = crate::dataverse::version::API_VERSION
            .try_with(|v| *v)
            .unwrap_or(crate::dataverse::version::LATEST_VERSION);
        format!("{}/api/data/{version}", self.env_url)
    }
}
