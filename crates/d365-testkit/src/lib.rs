//! Test support for d365: an emulator on `127.0.0.1:0` that stops when dropped, sharing one
//! signing key per test process (RSA key generation is slow in debug builds).

use std::sync::OnceLock;

pub use d365_emulator::{Emulator, EmulatorConfig, EmulatorInfo};

/// One RSA key per test process.
pub fn shared_signing_key() -> String {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        d365_emulator::entra::keys::install_crypto_providers();
        d365_emulator::entra::keys::generate_private_key_pem().expect("RSA key generation")
    })
    .clone()
}

/// A configuration for tests: the shared key and a small seed (`accounts` accounts).
pub fn test_config(accounts: usize) -> EmulatorConfig {
    EmulatorConfig {
        seed_accounts: accounts,
        signing_key_pem: Some(d365_emulator::config::PrivateKeyPem(shared_signing_key())),
        ..EmulatorConfig::default()
    }
}

/// [`test_config`] for an org with an alternate key on `account.accountnumber` (no org has
/// one out of the box; tests of addressing by key need one).
pub fn keyed_config(accounts: usize) -> EmulatorConfig {
    EmulatorConfig {
        alternate_keys: vec![d365_emulator::config::AlternateKeyConfig::new(
            "account",
            &["accountnumber"],
        )],
        ..test_config(accounts)
    }
}

/// Starts an emulator on an ephemeral loopback port.
pub async fn start(config: EmulatorConfig) -> Emulator {
    Emulator::start(config, "127.0.0.1:0".parse().expect("loopback address"))
        .await
        .expect("emulator start")
}

/// The access token the emulator's v1 token endpoint answers `form` with, asked for over HTTP
/// as any client would. Panics on an answer without one.
pub async fn v1_token(
    http: &reqwest::Client,
    info: &EmulatorInfo,
    form: &[(&str, &str)],
) -> String {
    let body: serde_json::Value = http
        .post(format!(
            "{}/{}/oauth2/token",
            info.authority_host, info.tenant_id
        ))
        .form(form)
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token JSON");
    body["access_token"]
        .as_str()
        .expect("the token response has an access_token")
        .to_owned()
}

/// The demo app's token for the environment: client credentials with its secret, `resource=`
/// the environment URL.
pub async fn app_token(http: &reqwest::Client, info: &EmulatorInfo) -> String {
    v1_token(
        http,
        info,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &info.client_id),
            ("client_secret", &info.client_secret),
            ("resource", &info.environment_url),
        ],
    )
    .await
}

/// The demo user's token for the environment: the password grant through the public client.
pub async fn user_token(http: &reqwest::Client, info: &EmulatorInfo) -> String {
    v1_token(
        http,
        info,
        &[
            ("grant_type", "password"),
            ("client_id", &info.public_client_id),
            ("username", &info.username),
            ("password", &info.password),
            ("resource", &info.environment_url),
        ],
    )
    .await
}

/// A custom table's `$metadata`, as a real org's CSDL shows it, for tests of elastic tables:
/// `contoso_sensordata` (entity set `contoso_sensordatas`) with a device id (at most 10
/// characters, so a longer one is a bad row), a value, a `partitionid` and the system columns.
pub const SENSOR_CSDL: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="crmbaseentity" Abstract="true" />
      <EntityType Name="contoso_sensordata" BaseType="mscrm.crmbaseentity">
        <Key><PropertyRef Name="contoso_sensordataid" /></Key>
        <Property Name="contoso_sensordataid" Type="Edm.Guid" />
        <Property Name="contoso_deviceid" Type="Edm.String" MaxLength="10" />
        <Property Name="contoso_value" Type="Edm.Int32" />
        <Property Name="partitionid" Type="Edm.String" MaxLength="100" />
        <Property Name="createdon" Type="Edm.DateTimeOffset"><Annotation Term="Org.OData.Core.V1.Computed" Bool="true" /></Property>
        <Property Name="modifiedon" Type="Edm.DateTimeOffset"><Annotation Term="Org.OData.Core.V1.Computed" Bool="true" /></Property>
        <Property Name="versionnumber" Type="Edm.Int64" />
      </EntityType>
      <EntityContainer Name="System">
        <EntitySet Name="contoso_sensordatas" EntityType="Microsoft.Dynamics.CRM.contoso_sensordata" />
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>
"#;

/// [`test_config`] with `contoso_sensordata` ([`SENSOR_CSDL`], written into `dir`) emulated
/// as an elastic table.
pub fn elastic_config(accounts: usize, dir: &std::path::Path) -> EmulatorConfig {
    let path = dir.join("sensor-metadata.xml");
    std::fs::write(&path, SENSOR_CSDL).expect("writing the test metadata");
    EmulatorConfig {
        metadata: Some(path),
        elastic_tables: vec!["contoso_sensordata".into()],
        ..test_config(accounts)
    }
}
