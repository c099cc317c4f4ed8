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

/// Azure Storage's resource (ADLS Gen2, Blob, Queue): Entra issues tokens for it to any app of
/// the tenant (`https://storage.azure.com/.default`; access is the storage account's role
/// assignments' business), version 1.0 tokens from `sts.windows.net`, which Azurite's OAuth
/// mode checks.
pub const STORAGE_RESOURCE: &str = "https://storage.azure.com";

/// Azure Storage's application id, which names the same resource.
const STORAGE_APP_ID: &str = "e406a681-f3d4-42a8-90b6-c2b029497af1";

/// Whether `url` names Azure Storage: [`STORAGE_RESOURCE`], its application id, or one
/// account's service (`https://{account}.{blob|dfs|queue|file|table}.core.windows.net`, as
/// Learn's "Azure Storage resource ID" table and the SDKs' account audiences spell it).
fn is_storage_resource(url: &str) -> bool {
    let url = url.trim_end_matches('/');
    if url.eq_ignore_ascii_case(STORAGE_RESOURCE) || url.eq_ignore_ascii_case(STORAGE_APP_ID) {
        return true;
    }
    let Some(host) = url.strip_prefix("https://") else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    let Some((account, service)) = host.split_once('.') else {
        return false;
    };
    let account_name = (3..=24).contains(&account.len())
        && account
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let service = ["blob", "dfs", "queue", "file", "table"]
        .iter()
        .any(|s| service == format!("{s}.core.windows.net"));
    account_name && service
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
    /// Azure Storage ([`STORAGE_RESOURCE`], which every tenant has). Only the environment's
    /// tokens are accepted by the Web API ([`AppState::is_environment`]).
    pub fn issues_tokens_for(&self, url: &str) -> bool {
        self.is_environment(url) || is_storage_resource(url)
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

#[cfg(test)]
mod tests {
    use super::is_storage_resource;

    #[test]
    fn storage_is_the_service_its_app_id_or_one_accounts_endpoint() {
        for yes in [
            "https://storage.azure.com",
            "https://storage.azure.com/",
            "HTTPS://Storage.Azure.com",
            "e406a681-f3d4-42a8-90b6-c2b029497af1",
            "https://lakeacct01.blob.core.windows.net",
            "https://abc.dfs.core.windows.net/",
            "https://Abc.Queue.Core.Windows.Net",
            "https://abc.file.core.windows.net",
            "https://abc.table.core.windows.net",
        ] {
            assert!(is_storage_resource(yes), "{yes}");
        }
        for no in [
            "http://storage.azure.com",
            "https://storage.azure.com.evil.example",
            "https://abc.blob.core.windows.net.evil.example",
            "https://ab.blob.core.windows.net",
            "https://a-b-c.blob.core.windows.net",
            "https://abcdefghijklmnopqrstuvwxy.blob.core.windows.net",
            "https://abc.web.core.windows.net",
            "https://abc.blob.core.chinacloudapi.cn",
            "https://unknown.example",
            "",
        ] {
            assert!(!is_storage_resource(no), "{no}");
        }
    }
}
