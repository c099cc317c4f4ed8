//! Where the suite runs: the embedded emulator (always), or a real org named by `D365_LIVE_*`
//! variables. Both give a signed-in [`Client`] and a way to build more clients with the same
//! credential (for annotations); only the emulator knows a user to impersonate.

use std::fmt;
use std::sync::Arc;

use d365_auth::{Authority, ClientSecret, OAuthCredential, PUBLIC_CLOUD_HOST, token_client};
use d365_testkit::{Emulator, EmulatorConfig, start, test_config};
use d365_webapi::{Client, ClientBuilder};

/// The live variables; all four or none.
pub(crate) const LIVE_URL: &str = "D365_LIVE_URL";
pub(crate) const LIVE_TENANT: &str = "D365_LIVE_TENANT_ID";
pub(crate) const LIVE_CLIENT_ID: &str = "D365_LIVE_CLIENT_ID";
pub(crate) const LIVE_SECRET: &str = "D365_LIVE_CLIENT_SECRET";
/// Optional: the Entra host for sovereign clouds (default `https://login.microsoftonline.com`).
pub(crate) const LIVE_AUTHORITY: &str = "D365_LIVE_AUTHORITY_HOST";
pub(crate) const LIVE_REQUIRED: [&str; 4] = [LIVE_URL, LIVE_TENANT, LIVE_CLIENT_ID, LIVE_SECRET];

/// A user the emulator knows, for the emulator-only impersonation check.
#[derive(Debug, Clone)]
pub(crate) struct KnownUser {
    /// The Entra object id (`CallerObjectId`).
    pub(crate) object_id: uuid::Uuid,
    /// The matching `systemuserid`.
    pub(crate) systemuser_id: uuid::Uuid,
}

/// What kind of service the suite talks to.
#[derive(Debug, Clone)]
pub(crate) enum TargetKind {
    /// The embedded emulator.
    Emulator {
        /// Its seeded user.
        user: KnownUser,
    },
    /// A real Dataverse environment.
    Live,
}

/// A client factory: a fresh builder with the target's environment and credential.
pub(crate) type BuilderFn = Arc<dyn Fn() -> ClientBuilder + Send + Sync>;

/// A signed-in target.
pub(crate) struct Target {
    pub(crate) kind: TargetKind,
    /// The environment URL (printed in the report; contains no secret).
    pub(crate) environment: String,
    pub(crate) builder: BuilderFn,
    /// Keeps the emulator running for as long as the target lives.
    _emulator: Option<Emulator>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("kind", &self.kind)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// The embedded emulator on `127.0.0.1:0`, seeded with a few accounts that the suite's
    /// prefix filters must leave out.
    pub(crate) async fn emulator() -> Target {
        let emulator = start(test_config(5)).await;
        let info = emulator.info();
        let user = &EmulatorConfig::default().users[0];
        let user = KnownUser {
            object_id: user.object_id.parse().expect("seeded user object id"),
            systemuser_id: user.systemuser_id.parse().expect("seeded systemuser id"),
        };
        let credential = Arc::new(OAuthCredential::client_secret(
            token_client(Authority::new(&info.authority_host, &info.tenant_id).unwrap()).unwrap(),
            &info.client_id,
            ClientSecret::new(&info.client_secret),
        ));
        let environment = info.environment_url.clone();
        let env = environment.clone();
        Target {
            kind: TargetKind::Emulator { user },
            environment,
            builder: Arc::new(move || {
                Client::builder()
                    .environment(&env)
                    .credential(credential.clone())
            }),
            _emulator: Some(emulator),
        }
    }

    /// A real org, signed in with client credentials.
    pub(crate) fn live(config: LiveConfig) -> Result<Target, String> {
        let authority = Authority::new(&config.authority_host, &config.tenant_id)
            .map_err(|e| format!("{LIVE_TENANT} / {LIVE_AUTHORITY}: {e}"))?;
        let credential = Arc::new(OAuthCredential::client_secret(
            token_client(authority).map_err(|e| e.to_string())?,
            &config.client_id,
            config.client_secret,
        ));
        let env = config.url.clone();
        Ok(Target {
            kind: TargetKind::Live,
            environment: config.url,
            builder: Arc::new(move || {
                Client::builder()
                    .environment(&env)
                    .credential(credential.clone())
            }),
            _emulator: None,
        })
    }

    /// Whether this is a real org.
    pub(crate) fn is_live(&self) -> bool {
        matches!(self.kind, TargetKind::Live)
    }

    /// A client with the target's defaults.
    pub(crate) fn client(&self) -> Result<Client, String> {
        (self.builder)()
            .build()
            .map_err(|e| format!("building the client: {e}"))
    }
}

/// The live org's settings, from `D365_LIVE_*` variables.
pub(crate) struct LiveConfig {
    pub(crate) url: String,
    pub(crate) tenant_id: String,
    pub(crate) client_id: String,
    /// Redacting `Debug`; never printed.
    pub(crate) client_secret: ClientSecret,
    pub(crate) authority_host: String,
}

impl fmt::Debug for LiveConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveConfig")
            .field("url", &self.url)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("authority_host", &self.authority_host)
            .finish()
    }
}

impl LiveConfig {
    /// Reads the variables through `var` (the process environment in the suite; a map in the
    /// tests below). `Ok(None)` when none of the four is set; an error naming the missing ones
    /// when only some are. Empty values count as unset.
    pub(crate) fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<LiveConfig>, String> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let missing: Vec<&str> = LIVE_REQUIRED
            .iter()
            .copied()
            .filter(|n| get(n).is_none())
            .collect();
        if missing.len() == LIVE_REQUIRED.len() {
            return Ok(None);
        }
        if !missing.is_empty() {
            return Err(format!(
                "the live conformance run needs all of {}; missing: {}",
                LIVE_REQUIRED.join(", "),
                missing.join(", ")
            ));
        }
        let value = |n: &str| get(n).unwrap_or_default().trim().to_owned();
        Ok(Some(LiveConfig {
            url: value(LIVE_URL).trim_end_matches('/').to_owned(),
            tenant_id: value(LIVE_TENANT),
            client_id: value(LIVE_CLIENT_ID),
            client_secret: ClientSecret::new(get(LIVE_SECRET).unwrap_or_default()),
            authority_host: get(LIVE_AUTHORITY)
                .map(|h| h.trim().trim_end_matches('/').to_owned())
                .unwrap_or_else(|| PUBLIC_CLOUD_HOST.to_owned()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn live_variables_all_or_none() {
        assert!(LiveConfig::from_lookup(lookup(&[])).unwrap().is_none());
        assert!(
            LiveConfig::from_lookup(lookup(&[(LIVE_URL, " ")]))
                .unwrap()
                .is_none(),
            "blank is unset"
        );
        let err = LiveConfig::from_lookup(lookup(&[
            (LIVE_URL, "https://contoso.crm.dynamics.com"),
            (LIVE_SECRET, "s3cr3t-value"),
        ]))
        .unwrap_err();
        assert!(
            err.contains("missing: D365_LIVE_TENANT_ID, D365_LIVE_CLIENT_ID"),
            "{err}"
        );
        assert!(!err.contains("s3cr3t-value"));
        let config = LiveConfig::from_lookup(lookup(&[
            (LIVE_URL, "https://contoso.crm.dynamics.com/"),
            (LIVE_TENANT, "contoso.onmicrosoft.com"),
            (LIVE_CLIENT_ID, "app"),
            (LIVE_SECRET, "s3cr3t-value"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(config.url, "https://contoso.crm.dynamics.com");
        assert_eq!(config.authority_host, PUBLIC_CLOUD_HOST);
        assert!(!format!("{config:?}").contains("s3cr3t-value"));
    }
}
