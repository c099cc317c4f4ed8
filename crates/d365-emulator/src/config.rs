//! Emulator configuration: the directory (tenants, app registrations, users), the Dataverse
//! environment, token lifetimes and seed size. Built-in defaults run the demo; a TOML file
//! (`d365 emulator --config FILE`) changes any part. Sections given in the file replace the
//! defaults of that section.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::StartError;

/// The largest `$batch` answer built, unless `batch_answer_limit_bytes` says otherwise: parts
/// past it fail instead of growing the answer in memory.
pub const MAX_BATCH_ANSWER: usize = 64 * 1024 * 1024;

/// The well-known appId of Dataverse ("Dynamics CRM") as a resource application.
pub const DYNAMICS_CRM_APP_ID: &str = "00000007-0000-0000-c000-000000000000";

/// Everything the emulator needs to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmulatorConfig {
    /// Access token lifetime in seconds (`expires_in`); small values make refresh testable.
    pub token_lifetime_secs: u64,
    /// Refresh tokens expire after this much inactivity (Entra: 90 days).
    pub refresh_token_lifetime_secs: u64,
    /// Seconds a device code stays valid (Entra: 900).
    pub device_code_lifetime_secs: u64,
    /// Seconds clients must wait between device-code polls (Entra: 5).
    pub device_code_interval_secs: u64,
    /// Seconds a change-tracking delta token stays valid (Dataverse: 7 days); older tokens
    /// get `ExpiredVersionStamp` and the client must load everything again.
    pub change_token_lifetime_secs: u64,
    /// Milliseconds one query may run before it is stopped with Dataverse's SQL timeout error
    /// (`DataverseError::sql_timeout`); Dataverse's synchronous timeout is about two minutes.
    pub query_timeout_ms: u64,
    /// Bytes of answer one `$batch` may build; parts past it fail (400) without running.
    pub batch_answer_limit_bytes: usize,
    /// Accounts to seed (contacts are twice as many).
    pub seed_accounts: usize,
    /// Seed for the deterministic data generator.
    pub seed: u64,
    /// Tenants.
    pub tenants: Vec<TenantConfig>,
    /// App registrations.
    pub apps: Vec<AppConfig>,
    /// Users.
    pub users: Vec<UserConfig>,
    /// The Dataverse environment.
    pub environment: EnvironmentConfig,
    /// Service protection limits: the real ones unless the file says otherwise (`[limits]`
    /// changes some numbers, `limits = "off"` turns them off); `None` is off.
    #[serde(with = "crate::limits::setting")]
    pub limits: Option<crate::limits::ServiceLimits>,
    /// A real org's `$metadata` (CSDL): its tables are emulated too (`--metadata`).
    pub metadata: Option<PathBuf>,
    /// Custom tables (logical names) to emulate as elastic tables (`--elastic-table`).
    pub elastic_tables: Vec<String>,
    /// The org's alternate keys (`[[alternate_keys]]`), Active from the start. None by
    /// default: no table of a new org has one. More come from `--metadata` and the Web API.
    pub alternate_keys: Vec<AlternateKeyConfig>,
    /// Columns the org adds to its tables' Quick Find views (`[[quick_find]]`), indexed as
    /// Dataverse indexes find columns; the default views' columns are indexed without it.
    pub quick_find: Vec<QuickFindConfig>,
    /// Faults to inject from the start (`[[faults]]`; more through the control API).
    pub faults: Vec<crate::faults::FaultRule>,
    /// Where to persist data and the signing key; `None` keeps everything in memory.
    #[serde(skip)]
    pub data_dir: Option<PathBuf>,
    /// Serve HTTPS with a generated CA.
    #[serde(skip)]
    pub tls: bool,
    /// More ports to serve on (e.g. 443 for MSAL Python's user realm call).
    #[serde(skip)]
    pub also_ports: Vec<u16>,
    /// A pre-made signing key (PKCS#8 PEM), e.g. shared by all emulators of a test process.
    #[serde(skip)]
    pub signing_key_pem: Option<PrivateKeyPem>,
}

/// An alternate key of the org (`[[alternate_keys]]`):
///
/// ```toml
/// [[alternate_keys]]
/// table = "account"
/// columns = ["accountnumber"]          # column logical names; a lookup by its name (parentaccountid)
/// schema_name = "contoso_AccountNumber"  # optional; default account_accountnumber_key
/// display_name = "Account number"        # optional; default the schema name
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlternateKeyConfig {
    /// The table's logical name.
    pub table: String,
    /// The key's columns.
    pub columns: Vec<String>,
    /// `SchemaName`.
    #[serde(default)]
    pub schema_name: Option<String>,
    /// The display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

impl AlternateKeyConfig {
    /// A key on `columns` of `table`, with the default names.
    pub fn new(table: &str, columns: &[&str]) -> Self {
        Self {
            table: table.into(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            schema_name: None,
            display_name: None,
        }
    }
}

/// Find columns an org adds to a table's Quick Find view (`[[quick_find]]`): each gets a plain
/// (non-unique) index, so `startswith` on it reads a range of the index.
///
/// ```toml
/// [[quick_find]]
/// table = "account"
/// columns = ["websiteurl", "address1_city"]   # column logical names of the table
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuickFindConfig {
    /// The table's logical name.
    pub table: String,
    /// The find columns.
    pub columns: Vec<String>,
}

/// A private key in PEM form; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKeyPem(pub String);

impl std::fmt::Debug for PrivateKeyPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKeyPem([redacted])")
    }
}

/// A directory (tenant).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Tenant GUID.
    pub id: String,
    /// Verified domains, e.g. `contoso.onmicrosoft.com`.
    #[serde(default)]
    pub domains: Vec<String>,
}

/// An app registration. `Debug` shows certificates without any private key they hold.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The application (client) id.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Home tenant id.
    pub tenant: String,
    /// Client secrets; empty for a public client.
    #[serde(default)]
    pub secrets: Vec<SecretConfig>,
    /// A public client (no secret; device code, ROPC, auth code with PKCE).
    #[serde(default)]
    pub public_client: bool,
    /// App roles granted to the app (the `roles` claim of app-only tokens).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Redirect URIs for the authorization code flow. A loopback URI (`http://localhost`,
    /// `http://127.0.0.1`) matches any port, as Entra allows for native apps.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Certificates (PEM) whose private keys may sign client assertions.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Object id of the app's service principal (the `oid` of app-only tokens).
    pub service_principal_id: String,
    /// The Dataverse application user (`systemuserid`) mapped to this app.
    pub application_user_id: String,
    /// The application user holds `prvActOnBehalfOfAnotherUser` (may impersonate with
    /// `CallerObjectId`/`MSCRMCallerID`). On unless set to false: application users for
    /// server-to-server work are usually given System Administrator, which holds it.
    #[serde(default = "yes")]
    pub act_on_behalf: bool,
}

fn yes() -> bool {
    true
}

/// A client secret. `Debug` is redacted.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretConfig {
    /// The secret value.
    pub value: String,
    /// Expiry as Unix seconds; expired secrets fail with AADSTS7000222.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// A user. `Debug` redacts the password.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// User principal name.
    pub upn: String,
    /// Password.
    pub password: String,
    /// Entra object id.
    pub object_id: String,
    /// Home tenant id.
    pub tenant: String,
    /// Display name.
    pub display_name: String,
    /// Given name.
    #[serde(default)]
    pub given_name: String,
    /// Family name.
    #[serde(default)]
    pub family_name: String,
    /// Needs MFA: the password grant fails with AADSTS50076.
    #[serde(default)]
    pub mfa_required: bool,
    /// Disabled: sign-in fails with AADSTS50057.
    #[serde(default)]
    pub disabled: bool,
    /// The Dataverse `systemuserid` mapped to this user.
    pub systemuser_id: String,
    /// The user holds `prvActOnBehalfOfAnotherUser` (as System Administrators do); on
    /// unless set to false.
    #[serde(default = "yes")]
    pub act_on_behalf: bool,
}

/// The Dataverse environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// The environment URL (token audience). `None`: the emulator's own base URL.
    pub url: Option<String>,
    /// The tenant the environment belongs to.
    pub tenant: String,
    /// `organizationid`.
    pub organization_id: String,
    /// The root business unit id.
    pub business_unit_id: String,
    /// Organization display name.
    pub name: String,
}

/// A certificate PEM for `Debug`: its certificate blocks, any private key replaced.
struct RedactedPem<'a>(&'a str);

impl std::fmt::Debug for RedactedPem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A registered PEM may hold the private key too (`--client-certificate` takes one
        // file); only the block names are shown.
        let blocks: Vec<&str> = self
            .0
            .lines()
            .filter_map(|l| l.trim().strip_prefix("-----BEGIN "))
            .map(|l| l.trim_end_matches('-'))
            .collect();
        write!(f, "Pem({})", blocks.join(", "))
    }
}

impl std::fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let certificates: Vec<RedactedPem<'_>> =
            self.certificates.iter().map(|c| RedactedPem(c)).collect();
        f.debug_struct("AppConfig")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("tenant", &self.tenant)
            .field("secrets", &self.secrets)
            .field("public_client", &self.public_client)
            .field("roles", &self.roles)
            .field("redirect_uris", &self.redirect_uris)
            .field("certificates", &certificates)
            .field("service_principal_id", &self.service_principal_id)
            .field("application_user_id", &self.application_user_id)
            .field("act_on_behalf", &self.act_on_behalf)
            .finish()
    }
}

impl std::fmt::Debug for SecretConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretConfig")
            .field("value", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl std::fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserConfig")
            .field("upn", &self.upn)
            .field("password", &"[redacted]")
            .field("object_id", &self.object_id)
            .field("tenant", &self.tenant)
            .field("mfa_required", &self.mfa_required)
            .field("disabled", &self.disabled)
            .field("act_on_behalf", &self.act_on_behalf)
            .finish_non_exhaustive()
    }
}

const TENANT_ID: &str = "8a3d7f1e-5c2b-4e9a-9f0d-1b2c3d4e5f60";

impl Default for EnvironmentConfig {
    fn default() -> Self {
        Self {
            url: None,
            tenant: TENANT_ID.into(),
            organization_id: "4faf1f34-f06d-4511-80d0-00155db07cb1".into(),
            business_unit_id: "ded5a64f-f06d-4511-80d0-00155db07cb1".into(),
            name: "Contoso (emulated)".into(),
        }
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            token_lifetime_secs: 3599,
            refresh_token_lifetime_secs: 90 * 24 * 3600,
            device_code_lifetime_secs: 900,
            device_code_interval_secs: 5,
            change_token_lifetime_secs: 7 * 24 * 3600,
            query_timeout_ms: crate::store::QUERY_TIMEOUT.as_millis() as u64,
            batch_answer_limit_bytes: MAX_BATCH_ANSWER,
            seed_accounts: 1000,
            seed: 365,
            tenants: vec![TenantConfig {
                id: TENANT_ID.into(),
                domains: vec!["contoso.onmicrosoft.com".into()],
            }],
            apps: vec![
                AppConfig {
                    client_id: "5d0e6c8a-1f2b-4c3d-8e9f-0a1b2c3d4e5f".into(),
                    name: "d365 demo integration".into(),
                    tenant: TENANT_ID.into(),
                    // Holds `+ / = ~` on purpose: secrets like these break naive form encoding.
                    secrets: vec![SecretConfig {
                        value: "dmo8Q~d365+Emul/ator=Secret".into(),
                        expires_at: None,
                    }],
                    public_client: false,
                    roles: Vec::new(),
                    redirect_uris: vec!["http://localhost".into(), "http://127.0.0.1".into()],
                    certificates: Vec::new(),
                    service_principal_id: "2b5d1a66-3c7e-4f80-9a1b-6c7d8e9f0a1b".into(),
                    application_user_id: "c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e4f5".into(),
                    act_on_behalf: true,
                },
                AppConfig {
                    // Microsoft's sample public client id for Dataverse, as in the docs.
                    client_id: "51f81489-12ee-4a9e-aaae-a2591f45987d".into(),
                    name: "d365 public client".into(),
                    tenant: TENANT_ID.into(),
                    secrets: Vec::new(),
                    public_client: true,
                    roles: Vec::new(),
                    redirect_uris: vec![
                        "http://localhost".into(),
                        "http://127.0.0.1".into(),
                        "https://login.microsoftonline.com/common/oauth2/nativeclient".into(),
                    ],
                    certificates: Vec::new(),
                    service_principal_id: "7e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b".into(),
                    application_user_id: "d9e8f7a6-b5c4-4d3e-8f2a-1b0c9d8e7f6a".into(),
                    act_on_behalf: true,
                },
            ],
            users: vec![UserConfig {
                upn: "admin@contoso.onmicrosoft.com".into(),
                password: "Demo!Passw0rd".into(),
                object_id: "6e4f7a2b-9c1d-4e3f-a5b6-c7d8e9f0a1b2".into(),
                tenant: TENANT_ID.into(),
                display_name: "Avery Admin".into(),
                given_name: "Avery".into(),
                family_name: "Admin".into(),
                mfa_required: false,
                disabled: false,
                systemuser_id: "d96e9f55-f06d-4511-80d0-00155db07cb1".into(),
                act_on_behalf: true,
            }],
            environment: EnvironmentConfig::default(),
            data_dir: None,
            tls: false,
            also_ports: Vec::new(),
            signing_key_pem: None,
            limits: Some(crate::limits::ServiceLimits::real()),
            faults: Vec::new(),
            metadata: None,
            elastic_tables: Vec::new(),
            alternate_keys: Vec::new(),
            quick_find: Vec::new(),
        }
    }
}

impl EmulatorConfig {
    /// The directory rows to seed (organization, business unit, users, application users).
    pub(crate) fn directory(&self) -> crate::store::seed::Directory {
        let guid = |s: &str| uuid::Uuid::parse_str(s).unwrap_or_default();
        let env = &self.environment;
        crate::store::seed::Directory {
            organization: (guid(&env.organization_id), env.name.clone()),
            business_unit: guid(&env.business_unit_id),
            users: self
                .users
                .iter()
                .map(|u| {
                    (
                        guid(&u.systemuser_id),
                        guid(&u.object_id),
                        u.upn.clone(),
                        u.given_name.clone(),
                        u.family_name.clone(),
                    )
                })
                .collect(),
            app_users: self
                .apps
                .iter()
                .filter(|a| !a.public_client)
                .map(|a| {
                    (
                        guid(&a.application_user_id),
                        guid(&a.client_id),
                        a.name.clone(),
                    )
                })
                .collect(),
        }
    }

    /// Reads a TOML configuration file; absent sections keep their defaults.
    pub fn from_toml_file(path: &Path) -> Result<Self, StartError> {
        let text = std::fs::read_to_string(path).map_err(|source| StartError::Io {
            what: format!("reading config {}", path.display()),
            source,
        })?;
        let config: Self = toml::from_str(&text)
            .map_err(|e| StartError::Config(format!("{}: {}", path.display(), e.message())))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks cross-references: every app and user names a configured tenant, ids are GUIDs.
    pub fn validate(&self) -> Result<(), StartError> {
        let is_guid = |s: &str| uuid::Uuid::parse_str(s).is_ok();
        let tenant_known = |t: &str| self.tenants.iter().any(|x| x.id.eq_ignore_ascii_case(t));
        for t in &self.tenants {
            if !is_guid(&t.id) {
                return Err(StartError::Config(format!(
                    "tenant id '{}' is not a GUID",
                    t.id
                )));
            }
        }
        for a in &self.apps {
            if !is_guid(&a.client_id)
                || !is_guid(&a.service_principal_id)
                || !is_guid(&a.application_user_id)
            {
                return Err(StartError::Config(format!(
                    "app '{}': ids must be GUIDs",
                    a.name
                )));
            }
            if !tenant_known(&a.tenant) {
                return Err(StartError::Config(format!(
                    "app '{}': unknown tenant '{}'",
                    a.name, a.tenant
                )));
            }
        }
        for u in &self.users {
            if !is_guid(&u.object_id) || !is_guid(&u.systemuser_id) {
                return Err(StartError::Config(format!(
                    "user '{}': ids must be GUIDs",
                    u.upn
                )));
            }
            if !tenant_known(&u.tenant) {
                return Err(StartError::Config(format!(
                    "user '{}': unknown tenant '{}'",
                    u.upn, u.tenant
                )));
            }
        }
        if !tenant_known(&self.environment.tenant) {
            return Err(StartError::Config(format!(
                "environment: unknown tenant '{}'",
                self.environment.tenant
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_toml_overrides_sections() {
        EmulatorConfig::default().validate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "token_lifetime_secs = 60\n").unwrap();
        let c = EmulatorConfig::from_toml_file(&path).unwrap();
        assert_eq!(c.token_lifetime_secs, 60);
        assert_eq!(c.users.len(), 1);
        // Files written before `act_on_behalf` existed keep working, with the privilege on.
        std::fs::write(
            &path,
            "[[tenants]]\nid = \"8a3d7f1e-5c2b-4e9a-9f0d-1b2c3d4e5f60\"\n\
             [[apps]]\nclient_id = \"5d0e6c8a-1f2b-4c3d-8e9f-0a1b2c3d4e5f\"\nname = \"a\"\n\
             tenant = \"8a3d7f1e-5c2b-4e9a-9f0d-1b2c3d4e5f60\"\n\
             service_principal_id = \"2b5d1a66-3c7e-4f80-9a1b-6c7d8e9f0a1b\"\n\
             application_user_id = \"c1d2e3f4-a5b6-4c7d-8e9f-a0b1c2d3e4f5\"\n",
        )
        .unwrap();
        let c = EmulatorConfig::from_toml_file(&path).unwrap();
        assert!(c.apps[0].act_on_behalf);
        std::fs::write(&path, "token_lifetime = 60\n").unwrap();
        let err = EmulatorConfig::from_toml_file(&path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("token_lifetime"), "{err}");
    }

    #[test]
    fn debug_shows_no_secret_password_or_private_key() {
        let mut config = EmulatorConfig::default();
        let key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";
        let cert =
            "-----BEGIN CERTIFICATE-----\nMIIC+zCCAeOgAwIBAgIUQ\n-----END CERTIFICATE-----\n";
        config.apps[0].certificates.push(format!("{key}{cert}"));
        config.signing_key_pem = Some(PrivateKeyPem(key.into()));
        let shown = format!("{config:?}");
        for secret in [
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
            "MIIC+zCCAeOgAwIBAgIUQ",
            config.apps[0].secrets[0].value.as_str(),
            config.users[0].password.as_str(),
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("Pem(PRIVATE KEY, CERTIFICATE)"), "{shown}");
    }
}
