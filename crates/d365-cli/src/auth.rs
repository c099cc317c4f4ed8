//! Resolves sign-in settings — flags and the azure-identity environment variables over the
//! selected profile — and builds the credential, always through the shared token cache so a
//! second command (or a second process) reuses the session instead of signing in again.
//! Which credential the flags name, and how it is built, is `d365_auth::SignIn`'s rule (the
//! one `ClientBuilder::from_env` uses); profiles, secret sources and cached sessions are ours.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use d365_auth::cache::{FileTokenCache, cache_key};
use d365_auth::{Authority, EndpointVersion, OAuthCredential, SignIn, TokenClient};
use d365_http::HttpClient;

use crate::flags::{AuthArgs, Endpoint};
use crate::profile::{Config, GrantKind, Profile, SecretSource};

/// Which sign-in settings came from environment variables rather than flags (set once in
/// `main` from clap's value sources).
static ENV_SOURCED: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();

/// Records which settings of the command being run came from the environment.
pub(crate) fn record_env_sources(matches: &clap::ArgMatches) {
    let mut leaf = matches;
    while let Some((_, sub)) = leaf.subcommand() {
        leaf = sub;
    }
    let ids = [
        "url",
        "tenant",
        "client_id",
        "client_secret",
        "certificate",
        "username",
        "password",
        "authority_host",
    ];
    let env = ids
        .into_iter()
        .filter(|id| {
            leaf.try_contains_id(id).unwrap_or(false)
                && leaf.value_source(id) == Some(clap::parser::ValueSource::EnvVariable)
        })
        .collect();
    let _ = ENV_SOURCED.set(env);
}

fn from_env(id: &str) -> bool {
    ENV_SOURCED.get().is_some_and(|ids| ids.contains(&id))
}

/// A secret, or where to get it (read only when a credential is built). `Debug` is redacted.
#[derive(Clone)]
pub(crate) enum Secret {
    Given(String),
    From(SecretSource),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Given(_) => f.write_str("Secret::Given([redacted])"),
            Secret::From(source) => write!(f, "Secret::From({source:?})"),
        }
    }
}

impl Secret {
    fn read(&self, what: &str) -> anyhow::Result<String> {
        match self {
            Secret::Given(s) => Ok(s.clone()),
            Secret::From(source) => source.read(what),
        }
    }
}

/// How to sign in, resolved: an app or password sign-in (chosen by the library's rule), or a
/// session cached by an earlier interactive sign-in (device code, browser).
#[derive(Debug, Clone)]
pub(crate) enum Grant {
    App(SignIn<Secret>),
    Session {
        username: Option<String>,
        kind: GrantKind,
    },
}

/// Everything needed to sign in and call the environment.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) url: Option<String>,
    pub(crate) tenant: String,
    pub(crate) client_id: String,
    pub(crate) authority_host: String,
    pub(crate) endpoint: EndpointVersion,
    pub(crate) grant: Grant,
    pub(crate) profile: Option<(String, Profile)>,
    pub(crate) ca_file: Option<PathBuf>,
    /// The HTTP client, built once: the token client and the Web API share it (its roots are
    /// read from the system once, and the two share its connections).
    http: std::sync::OnceLock<HttpClient>,
}

impl Settings {
    /// Resolves the settings for a command.
    pub(crate) fn resolve(args: &AuthArgs, profile_name: Option<&str>) -> anyhow::Result<Self> {
        let config = Config::load(&Config::path()?)?;
        let profile = config.select(profile_name)?;
        // With a profile, the azure-identity variables do not leak into it field by field (an
        // exported AZURE_CLIENT_SECRET must not turn a device-code profile into an app sign-in);
        // flags still override single fields.
        let filtered;
        let args = if profile.is_some() {
            let keep = |id: &str, v: &Option<String>| if from_env(id) { None } else { v.clone() };
            filtered = AuthArgs {
                url: keep("url", &args.url),
                tenant: keep("tenant", &args.tenant),
                client_id: keep("client_id", &args.client_id),
                client_secret: keep("client_secret", &args.client_secret),
                certificate: if from_env("certificate") {
                    None
                } else {
                    args.certificate.clone()
                },
                username: keep("username", &args.username),
                password: keep("password", &args.password),
                authority_host: keep("authority_host", &args.authority_host),
                endpoint: args.endpoint,
                ca_file: args.ca_file.clone(),
            };
            &filtered
        } else {
            args
        };
        let p = profile.as_ref().map(|(_, p)| p);
        let tenant = args.tenant.clone().or_else(|| p.map(|p| p.tenant.clone())).context("no tenant: set AZURE_TENANT_ID, pass --tenant, or use a profile (`d365 auth profile add`)")?;
        let client_id = args
            .client_id
            .clone()
            .or_else(|| p.map(|p| p.client_id.clone()))
            .context("no client id: set AZURE_CLIENT_ID or pass --client-id")?;
        let endpoint = match args.endpoint.or_else(|| {
            p.map(|p| {
                if p.endpoint == "v1" {
                    Endpoint::V1
                } else {
                    Endpoint::V2
                }
            })
        }) {
            Some(Endpoint::V1) => EndpointVersion::V1,
            _ => EndpointVersion::V2,
        };
        let username = args
            .username
            .clone()
            .or_else(|| p.and_then(|p| p.username.clone()));
        let profile_secret = || p.and_then(|p| p.secret.clone()).map(Secret::From);
        // Flags (and their variables) first, by the library's rule; a password sign-in from
        // flags still takes the profile's client secret for a confidential client.
        let chosen = SignIn::choose(
            args.client_secret.clone().map(Secret::Given),
            args.certificate.clone(),
            args.username.as_deref(),
            args.password.clone().map(Secret::Given),
        );
        let grant = match chosen {
            Some(SignIn::Password {
                username,
                password,
                client_secret,
            }) => Grant::App(SignIn::Password {
                username,
                password,
                client_secret: client_secret.or_else(profile_secret),
            }),
            Some(chosen) => Grant::App(chosen),
            None => match p.map(|p| p.grant) {
                Some(GrantKind::ClientSecret) => Grant::App(SignIn::ClientSecret(profile_secret().context("the profile has no secret source (--secret-env, --secret-file or --secret-prompt)")?)),
                Some(GrantKind::Password) => Grant::App(SignIn::Password {
                    username: username.clone().context("the profile has no username")?,
                    password: p.and_then(|p| p.password.clone()).map(Secret::From).context("the profile has no password source")?,
                    client_secret: profile_secret(),
                }),
                Some(kind) => Grant::Session { username, kind },
                None => Grant::Session { username, kind: GrantKind::DeviceCode },
            },
        };
        Ok(Self {
            url: args
                .url
                .clone()
                .or_else(|| p.map(|p| p.url.clone()))
                .map(|u| u.trim_end_matches('/').to_owned()),
            tenant,
            client_id,
            authority_host: args
                .authority_host
                .clone()
                .or_else(|| p.map(|p| p.authority_host.clone()))
                .unwrap_or_else(|| d365_auth::PUBLIC_CLOUD_HOST.to_owned()),
            endpoint,
            grant,
            profile,
            ca_file: args.ca_file.clone(),
            http: std::sync::OnceLock::new(),
        })
    }

    /// The environment URL, required.
    pub(crate) fn environment(&self) -> anyhow::Result<String> {
        self.url.clone().context("no environment URL: set D365_URL, pass --url https://<org>.crm.dynamics.com, or use a profile")
    }

    /// The HTTP client: trusts `--ca-file` when given (the emulator's CA). Built on the first
    /// call; later calls share it.
    pub(crate) fn http(&self) -> anyhow::Result<HttpClient> {
        if let Some(http) = self.http.get() {
            return Ok(http.clone());
        }
        let mut builder = HttpClient::builder();
        if let Some(ca) = &self.ca_file {
            builder = builder.add_root_certificate_pem(
                std::fs::read(ca).with_context(|| format!("reading CA file {}", ca.display()))?,
            );
        }
        let http = builder.build()?;
        Ok(self.http.get_or_init(|| http).clone())
    }

    pub(crate) fn authority(&self) -> anyhow::Result<Authority> {
        Authority::new(&self.authority_host, &self.tenant).context("invalid authority")
    }

    pub(crate) fn token_client(&self) -> anyhow::Result<TokenClient> {
        Ok(TokenClient::new(self.http()?, self.authority()?))
    }

    /// The shared token cache.
    pub(crate) fn cache() -> anyhow::Result<FileTokenCache> {
        FileTokenCache::default_path()
            .map(FileTokenCache::new)
            .context("no cache directory: set D365_CACHE_DIR")
    }

    /// Signed-in accounts for this authority, client and resource in the cache.
    pub(crate) async fn cached_accounts(&self, resource: &str) -> anyhow::Result<Vec<String>> {
        let lock = Self::cache()?.lock_async().await?;
        let prefix = cache_key(
            &self.authority()?.url(),
            &self.client_id,
            resource,
            Some(""),
        );
        Ok(lock
            .read()?
            .entries
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(_, e)| e.account.clone())
            .collect())
    }

    /// The credential, over the shared cache.
    pub(crate) async fn credential(&self, resource: &str) -> anyhow::Result<Arc<OAuthCredential>> {
        let client = self.token_client()?;
        let credential = match &self.grant {
            Grant::App(sign_in) => {
                sign_in.credential(client, &self.client_id, |secret, what| secret.read(what))?
            }
            Grant::Session { username, kind } => {
                let account = match username {
                    Some(u) => u.clone(),
                    None => {
                        let accounts = self.cached_accounts(resource).await?;
                        match accounts.as_slice() {
                            [one] => one.clone(),
                            [] => {
                                let how = if *kind == GrantKind::Browser {
                                    "--browser"
                                } else {
                                    "--device-code"
                                };
                                bail!(
                                    "not signed in: run `d365 auth login {how}` (or set AZURE_CLIENT_SECRET, or AZURE_USERNAME and AZURE_PASSWORD)"
                                )
                            }
                            _ => bail!(
                                "several accounts are signed in ({}): choose one with --username",
                                accounts.join(", ")
                            ),
                        }
                    }
                };
                OAuthCredential::cached_session(client, &self.client_id, None, &account)
            }
        };
        let version = self.endpoint;
        Ok(Arc::new(
            credential
                .with_endpoint(version)
                .with_file_cache(Self::cache()?),
        ))
    }
}
