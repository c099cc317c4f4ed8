//! Named profiles in `config.toml` (`$D365_CONFIG`, else the user's config directory):
//! tenant, client id, environment, authority host, grant, and *where* the secret comes from —
//! an environment variable, a file, or a prompt — never the secret itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// How a profile signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum GrantKind {
    /// App-only, with a client secret.
    ClientSecret,
    /// A user with a password (ROPC; no MFA).
    Password,
    /// A user through the device-code flow (`d365 auth login`), then the cached session.
    DeviceCode,
    /// A user through the browser (authorization code + PKCE), then the cached session.
    Browser,
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum SecretSource {
    /// An environment variable.
    Env(String),
    /// A file (its contents, trimmed).
    File(PathBuf),
    /// Asked for on the terminal.
    Prompt,
}

impl SecretSource {
    /// Reads the secret.
    pub(crate) fn read(&self, what: &str) -> anyhow::Result<String> {
        match self {
            SecretSource::Env(var) => std::env::var(var)
                .with_context(|| format!("the {what} should be in ${var}, which is not set")),
            SecretSource::File(path) => Ok(std::fs::read_to_string(path)
                .with_context(|| format!("reading the {what} from {}", path.display()))?
                .trim()
                .to_owned()),
            SecretSource::Prompt => prompt(what),
        }
    }
}

/// Reads a line from the terminal without echoing it (stty on Unix).
fn prompt(what: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("the {what} is to be prompted for, but standard input is not a terminal");
    }
    eprint!("{what}: ");
    std::io::stderr().flush()?;
    let echo_off = std::process::Command::new("stty")
        .arg("-echo")
        .stdin(std::process::Stdio::inherit())
        .status()
        .is_ok_and(|s| s.success());
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if echo_off {
        let _ = std::process::Command::new("stty")
            .arg("echo")
            .stdin(std::process::Stdio::inherit())
            .status();
        eprintln!();
    }
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// One profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Profile {
    /// Environment URL.
    pub(crate) url: String,
    /// Tenant id or domain.
    pub(crate) tenant: String,
    /// Client id.
    pub(crate) client_id: String,
    /// Login host.
    #[serde(default = "default_authority_host")]
    pub(crate) authority_host: String,
    /// How to sign in.
    pub(crate) grant: GrantKind,
    /// The user (password grant; remembered after an interactive sign-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) username: Option<String>,
    /// Where the client secret comes from (confidential apps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) secret: Option<SecretSource>,
    /// Where the password comes from (password grant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) password: Option<SecretSource>,
    /// `v1` or `v2`.
    #[serde(default = "default_endpoint")]
    pub(crate) endpoint: String,
}

fn default_authority_host() -> String {
    d365_auth::PUBLIC_CLOUD_HOST.to_owned()
}

fn default_endpoint() -> String {
    "v2".to_owned()
}

/// The config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// The profile used when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) current: Option<String>,
    /// Profiles by name.
    #[serde(default)]
    pub(crate) profiles: BTreeMap<String, Profile>,
}

impl Config {
    /// `$D365_CONFIG`, else `config.toml` in the user's config directory.
    pub(crate) fn path() -> anyhow::Result<PathBuf> {
        if let Some(p) = std::env::var_os("D365_CONFIG") {
            return Ok(PathBuf::from(p));
        }
        directories::ProjectDirs::from("", "", "d365")
            .map(|d| d.config_dir().join("config.toml"))
            .context("no home directory to keep the config in; set D365_CONFIG")
    }

    /// Reads the config (missing file: empty).
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text)
                .with_context(|| format!("reading profiles from {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes the config atomically.
    pub(crate) fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let text = toml::to_string_pretty(self).context("serialising profiles")?;
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .with_context(|| format!("writing {}", path.display()))
    }

    /// The profile to use: the named one (which must exist), else the current one, if any.
    pub(crate) fn select(&self, name: Option<&str>) -> anyhow::Result<Option<(String, Profile)>> {
        // `--profile none`: no profile, even if one is current (the environment variables apply).
        if name == Some("none") {
            return Ok(None);
        }
        match name.or(self.current.as_deref()) {
            None => Ok(None),
            Some(n) => match self.profiles.get(n) {
                Some(p) => Ok(Some((n.to_owned(), p.clone()))),
                None if name.is_some() => {
                    bail!("no profile named '{n}' (see `d365 auth profile list`)")
                }
                None => bail!(
                    "the current profile '{n}' no longer exists: `d365 auth profile use <name>`"
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_no_secret_field() {
        let mut config = Config::default();
        config.profiles.insert(
            "dev".into(),
            Profile {
                url: "https://org.crm.dynamics.com".into(),
                tenant: "t".into(),
                client_id: "c".into(),
                authority_host: default_authority_host(),
                grant: GrantKind::ClientSecret,
                username: None,
                secret: Some(SecretSource::Env("DEV_SECRET".into())),
                password: None,
                endpoint: "v2".into(),
            },
        );
        config.current = Some("dev".into());
        let text = toml::to_string_pretty(&config).unwrap();
        assert!(
            text.contains("[profiles.dev]") && text.contains("DEV_SECRET"),
            "{text}"
        );
        assert_eq!(toml::from_str::<Config>(&text).unwrap(), config);
        assert!(toml::from_str::<Config>("[profiles.x]\nurl='u'\ntenant='t'\nclient_id='c'\ngrant='client-secret'\nclient_secret='oops'\n").is_err(), "a literal secret is refused");
        assert!(config.select(Some("nope")).is_err());
        assert_eq!(config.select(None).unwrap().unwrap().0, "dev");
    }
}
