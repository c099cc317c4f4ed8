//! Starting and stopping an emulator: bind, load or create the key and the database, seed,
//! serve until stopped (or dropped).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde::Serialize;
use tokio::task::JoinHandle;

use crate::config::EmulatorConfig;
use crate::dataverse::model::DataverseModel;
use crate::entra::keys::{SigningKey, generate_private_key_pem, install_crypto_providers};
use crate::entra::registry::Registry;
use crate::error::StartError;
use crate::state::{AppState, Inner};
use crate::store::Store;

/// Connection details of a running emulator (`--info-file` writes this as JSON; keep the
/// field names stable, test harnesses read them). `Debug` redacts the secret and password.
#[derive(Clone, Serialize, PartialEq, Eq)]
pub struct EmulatorInfo {
    /// Authority host, e.g. `http://127.0.0.1:8443`.
    pub authority_host: String,
    /// The tenant id.
    pub tenant_id: String,
    /// The Dataverse environment URL.
    pub environment_url: String,
    /// The confidential demo app's client id.
    pub client_id: String,
    /// The confidential demo app's secret.
    pub client_secret: String,
    /// A public client for user sign-in.
    pub public_client_id: String,
    /// The demo user.
    pub username: String,
    /// The demo user's password.
    pub password: String,
    /// The CA certificate to trust (null until HTTPS is on).
    pub ca_file: Option<String>,
}

impl std::fmt::Debug for EmulatorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorInfo")
            .field("authority_host", &self.authority_host)
            .field("tenant_id", &self.tenant_id)
            .field("environment_url", &self.environment_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("public_client_id", &self.public_client_id)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// The origin of every URL the emulator writes (authority, issuers, discovery documents,
/// challenges, the environment and its context URLs and links, the info file):
/// `scheme://host[:port]`, without a default port (443 for https, 80 for http). Entra and
/// Dataverse never write one, and clients compare host strings after URL parsing has dropped
/// it (msal-node compares the issuer's host with the authority's), so an emulator on 443 must
/// say `https://127.0.0.1`, not `https://127.0.0.1:443` (PROTOCOL.md A1, "Canonical URLs").
pub(crate) fn origin(scheme: &str, host: &std::net::IpAddr, port: u16) -> String {
    canonical_url(&format!("{scheme}://{}", SocketAddr::new(*host, port)))
}

/// A URL as the emulator writes it: without a default port and without trailing slashes,
/// otherwise as given (the host keeps its case; the token audience follows the spelling).
pub(crate) fn canonical_url(url: &str) -> String {
    let url = url.trim_end_matches('/');
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return url.to_owned(),
    };
    let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    match authority.strip_suffix(default_port) {
        // `host:443` and `[::1]:443`, never `[::443]` (no port) or `host:8443`.
        Some(host) if !host.is_empty() && !host.ends_with(':') => {
            format!("{scheme}://{host}{path}")
        }
        _ => url.to_owned(),
    }
}

/// Loads or creates the key, opens and seeds the database, and assembles the state that
/// the router serves (also used by tests that call the router without a socket).
pub(crate) async fn build_state(
    config: EmulatorConfig,
    base_url: String,
    env_url: String,
    bound_to_loopback: bool,
) -> Result<AppState, StartError> {
    let key = load_key(&config)?;
    let mut model = match &config.metadata {
        Some(path) => DataverseModel::from_metadata_file(path)?,
        None => DataverseModel::default(),
    }
    .with_elastic(&config.elastic_tables)?
    .with_quick_find(&config.quick_find)?;
    let declared = crate::dataverse::keys::declared(&mut model, &config);
    let store = Store::open(config.data_dir.as_deref())?
        .with_query_timeout(std::time::Duration::from_millis(config.query_timeout_ms));
    let keys = store
        .prepare(
            model.model.clone(),
            model.find_columns.clone(),
            config.directory(),
            config.seed_accounts,
            config.seed,
            move |table, model| crate::dataverse::keys::load(table, model, &declared),
        )
        .await?;
    store.open_readers()?;
    let limiter = Arc::new(crate::limits::Limiter::new(config.limits));
    let faults = crate::faults::Faults::default();
    for rule in &config.faults {
        faults
            .add(rule.clone())
            .map_err(|e| StartError::Config(format!("fault {rule:?}: {e}")))?;
    }
    let allowed_hosts =
        bound_to_loopback.then(|| crate::exposure::HostAllowList::for_urls(&[&base_url, &env_url]));
    let state = AppState(Arc::new(Inner {
        allowed_hosts,
        registry: Registry::new(config),
        key,
        store,
        clock: Default::default(),
        base_url,
        env_url,
        model,
        keys,
        token_requests: AtomicU64::new(0),
        sessions: Default::default(),
        verified_tokens: Default::default(),
        stopping: Default::default(),
        limiter,
        faults,
    }));
    Ok(state)
}

/// A running emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct Emulator {
    state: AppState,
    addr: SocketAddr,
    handle: axum_server::Handle<SocketAddr>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
    ca_file: Option<PathBuf>,
    /// A temporary directory for TLS files when there is no data directory; removed on drop.
    temp_tls_dir: Option<PathBuf>,
}

fn load_key(config: &EmulatorConfig) -> Result<SigningKey, StartError> {
    if let Some(pem) = &config.signing_key_pem {
        return SigningKey::from_pems(&pem.0, None);
    }
    let Some(dir) = &config.data_dir else {
        return SigningKey::from_pems(&generate_private_key_pem()?, None);
    };
    let key_path = dir.join("signing-key.pem");
    let cert_path = dir.join("signing-cert.pem");
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| StartError::Io {
            what: format!("reading {}", p.display()),
            source,
        })
    };
    if key_path.exists() {
        let cert = if cert_path.exists() {
            Some(read(&cert_path)?)
        } else {
            None
        };
        return SigningKey::from_pems(&read(&key_path)?, cert.as_deref());
    }
    crate::private_files::create_private_dir(dir)?;
    let key = SigningKey::from_pems(&generate_private_key_pem()?, None)?;
    crate::private_files::write_private(&key_path, key.private_pem())?;
    crate::private_files::write_private(&cert_path, key.cert_pem())?;
    Ok(key)
}

impl Emulator {
    /// Binds `addr` (use port 0 for an ephemeral port), prepares state and starts serving.
    ///
    /// Bound to loopback, it answers only requests whose `Host` is one of its own names (DNS
    /// rebinding). Bound elsewhere, the documented demo client secret and user password, if
    /// the configuration left them, are replaced by random ones: read them from
    /// [`Emulator::info`] (or the info file). See [`crate::exposure`].
    pub async fn start(mut config: EmulatorConfig, addr: SocketAddr) -> Result<Self, StartError> {
        install_crypto_providers();
        config.validate()?;
        let bind = |addr: SocketAddr| {
            let listener = std::net::TcpListener::bind(addr).map_err(|source| StartError::Io {
                what: format!("binding {addr}"),
                source,
            })?;
            listener
                .set_nonblocking(true)
                .map_err(|source| StartError::Io {
                    what: format!("configuring {addr}"),
                    source,
                })?;
            Ok::<_, StartError>(listener)
        };
        let listener = bind(addr)?;
        let local = listener.local_addr().map_err(|source| StartError::Io {
            what: "reading the bound address".into(),
            source,
        })?;
        let mut extra = Vec::new();
        for port in &config.also_ports {
            extra.push(bind(SocketAddr::new(local.ip(), *port))?);
        }
        let loopback = local.ip().is_loopback();
        if !loopback && crate::exposure::randomize_default_credentials(&mut config)? {
            tracing::warn!(
                address = %local.ip(),
                "not bound to loopback: the demo client secret and password were replaced by random ones (see the info file)"
            );
        }
        let host = if local.ip().is_unspecified() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            local.ip()
        };
        let scheme = if config.tls { "https" } else { "http" };
        let base_url = origin(scheme, &host, local.port());
        let env_url = match &config.environment.url {
            Some(url) => canonical_url(url),
            None => base_url.clone(),
        };

        let (tls, temp_tls_dir) = if config.tls {
            let (dir, temp) = match &config.data_dir {
                Some(d) => (d.join("tls"), None),
                None => {
                    let d = crate::private_files::private_temp_dir()?;
                    (d.clone(), Some(d))
                }
            };
            (Some(crate::tls::load_or_create(&dir)?), temp)
        } else {
            (None, None)
        };

        let state = build_state(config, base_url, env_url, loopback).await?;
        crate::dataverse::resume_jobs(&state).await;
        let app = crate::app::router(state.clone());
        let handle = axum_server::Handle::new();
        let rustls = match &tls {
            Some(files) => Some(
                axum_server::tls_rustls::RustlsConfig::from_pem(
                    files.cert_pem.clone().into_bytes(),
                    files.key_pem.clone().into_bytes(),
                )
                .await
                .map_err(|source| StartError::Io {
                    what: "loading the TLS certificate".into(),
                    source,
                })?,
            ),
            None => None,
        };
        let mut tasks = Vec::new();
        for listener in std::iter::once(listener).chain(extra) {
            let service = app
                .clone()
                .into_make_service_with_connect_info::<SocketAddr>();
            let handle = handle.clone();
            let server = axum_server::from_tcp(listener).map_err(|source| StartError::Io {
                what: "serving".into(),
                source,
            })?;
            let task = match &rustls {
                Some(config) => {
                    let server = server
                        .acceptor(axum_server::tls_rustls::RustlsAcceptor::new(config.clone()));
                    tokio::spawn(async move { server.handle(handle).serve(service).await })
                }
                None => tokio::spawn(async move { server.handle(handle).serve(service).await }),
            };
            tasks.push(task);
        }
        tracing::info!(url = %state.base_url, "emulator listening");
        Ok(Self {
            state,
            addr: local,
            handle,
            tasks,
            ca_file: tls.map(|t| t.ca_path),
            temp_tls_dir,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (for tests and the CLI).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Token endpoint requests served so far.
    pub fn token_requests(&self) -> u64 {
        self.state.token_requests()
    }

    /// Connection details.
    pub fn info(&self) -> EmulatorInfo {
        let config = self.state.registry.config();
        let confidential = config
            .apps
            .iter()
            .find(|a| !a.public_client && !a.secrets.is_empty());
        let public = config.apps.iter().find(|a| a.public_client);
        let user = config.users.first();
        EmulatorInfo {
            authority_host: self.state.base_url.clone(),
            tenant_id: config.environment.tenant.clone(),
            environment_url: self.state.env_url.clone(),
            client_id: confidential
                .map(|a| a.client_id.clone())
                .unwrap_or_default(),
            client_secret: confidential
                .and_then(|a| a.secrets.first())
                .map(|s| s.value.clone())
                .unwrap_or_default(),
            public_client_id: public.map(|a| a.client_id.clone()).unwrap_or_default(),
            username: user.map(|u| u.upn.clone()).unwrap_or_default(),
            password: user.map(|u| u.password.clone()).unwrap_or_default(),
            ca_file: self.ca_file.as_ref().map(|p| p.display().to_string()),
        }
    }

    /// Writes [`Emulator::info`] as one JSON object, atomically and owner-only (it holds secrets).
    pub fn write_info_file(&self, path: &Path) -> Result<(), StartError> {
        let json = serde_json::to_string_pretty(&self.info()).unwrap_or_default();
        crate::private_files::write_private(path, &json)
    }

    /// Stops accepting requests and waits (up to five seconds) for in-flight ones.
    pub async fn stop(mut self) {
        self.state
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.handle
            .graceful_shutdown(Some(std::time::Duration::from_secs(5)));
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.state
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.handle.shutdown();
        if let Some(dir) = &self.temp_tls_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_urls_carry_no_default_port() {
        let v4 = std::net::IpAddr::from([127, 0, 0, 1]);
        let v6 = std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST);
        assert_eq!(origin("https", &v4, 443), "https://127.0.0.1");
        assert_eq!(origin("http", &v4, 80), "http://127.0.0.1");
        assert_eq!(origin("https", &v4, 80), "https://127.0.0.1:80");
        assert_eq!(origin("http", &v4, 443), "http://127.0.0.1:443");
        assert_eq!(origin("https", &v4, 8443), "https://127.0.0.1:8443");
        assert_eq!(origin("https", &v6, 443), "https://[::1]");
        assert_eq!(origin("https", &v6, 4443), "https://[::1]:4443");
        for (given, written) in [
            (
                "https://Contoso.crm.dynamics.com:443/",
                "https://Contoso.crm.dynamics.com",
            ),
            ("HTTPS://org.example:443", "HTTPS://org.example"),
            ("http://org.example:80/path/", "http://org.example/path"),
            ("https://org.example:8443", "https://org.example:8443"),
            ("https://org.example:4443", "https://org.example:4443"),
            ("https://[::443]", "https://[::443]"),
            ("https://[::1]:443", "https://[::1]"),
            (
                "https://user:443@org.example",
                "https://user:443@org.example",
            ),
            ("https://org.example//", "https://org.example"),
            ("not a url:443", "not a url:443"),
        ] {
            assert_eq!(canonical_url(given), written, "{given}");
        }
    }
}
