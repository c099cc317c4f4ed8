//! How the emulator guards itself depending on where it listens.
//!
//! On loopback, every route checks `Host`: a web page in the developer's browser can point a
//! name it controls at 127.0.0.1 (DNS rebinding) and then read the emulator's answers as
//! same-origin; such a request still names the attacker's host, so it is refused. The names
//! accepted are `localhost`, loopback addresses, and the host names of the emulator's own base
//! URL and environment URL (which may be a custom name mapped to 127.0.0.1).
//!
//! Off loopback, anyone on the network can reach the token endpoint, so the documented demo
//! secret and password must not open it: left at their defaults, they are replaced by random
//! ones at start-up ([`randomize_default_credentials`]), which [`crate::Emulator::info`] and
//! the info file carry.

use crate::config::EmulatorConfig;

/// The host names a loopback-bound emulator answers to (besides `localhost` and loopback
/// addresses).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostAllowList {
    names: Vec<String>,
}

impl HostAllowList {
    /// The hosts of the emulator's own URLs (base URL, environment URL).
    pub fn for_urls(urls: &[&str]) -> Self {
        let names = urls
            .iter()
            .filter_map(|u| url::Url::parse(u).ok())
            .filter_map(|u| u.host_str().map(normalize))
            .collect();
        Self { names }
    }

    /// Whether a `Host` value (`name`, `name:port`, `[v6]:port`) names this emulator.
    pub fn allows(&self, host: &str) -> bool {
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or_default(),
            None => host.split(':').next().unwrap_or_default(),
        };
        let name = normalize(name);
        name == "localhost"
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
            || self.names.contains(&name)
    }
}

/// Lower case, no brackets, no trailing dot (`LOCALHOST.` is `localhost`).
fn normalize(name: &str) -> String {
    name.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Replaces the documented demo client secrets and user passwords (the built-in defaults)
/// with random ones; returns whether any was replaced. For binds off loopback.
pub fn randomize_default_credentials(
    config: &mut EmulatorConfig,
) -> Result<bool, crate::StartError> {
    let defaults = EmulatorConfig::default();
    let default_secrets: Vec<&str> = defaults
        .apps
        .iter()
        .flat_map(|a| a.secrets.iter().map(|s| s.value.as_str()))
        .collect();
    let default_passwords: Vec<&str> = defaults.users.iter().map(|u| u.password.as_str()).collect();
    let mut replaced = false;
    for secret in config.apps.iter_mut().flat_map(|a| a.secrets.iter_mut()) {
        if default_secrets.contains(&secret.value.as_str()) {
            secret.value = random_credential()?;
            replaced = true;
        }
    }
    for user in &mut config.users {
        if default_passwords.contains(&user.password.as_str()) {
            user.password = random_credential()?;
            replaced = true;
        }
    }
    Ok(replaced)
}

/// 24 random bytes, base64url (32 characters).
fn random_credential() -> Result<String, crate::StartError> {
    let mut bytes = [0u8; 24];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| crate::StartError::Key("no system randomness".into()))?;
    Ok(base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        bytes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_the_emulators_own_hosts_are_allowed() {
        let list = HostAllowList::for_urls(&[
            "http://127.0.0.1:8443",
            "https://Contoso.crm.dynamics.com/",
        ]);
        for ok in [
            "localhost",
            "LOCALHOST:8443",
            "localhost.",
            "127.0.0.1",
            "127.0.0.1:8443",
            "127.1.2.3:1",
            "[::1]",
            "[::1]:8443",
            "contoso.crm.dynamics.com",
            "contoso.CRM.dynamics.com:443",
        ] {
            assert!(list.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8443",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "10.0.0.1",
            "[::2]",
            "",
            "crm.dynamics.com",
        ] {
            assert!(!list.allows(bad), "{bad}");
        }
    }

    #[test]
    fn only_the_documented_defaults_are_randomized() {
        let mut config = EmulatorConfig::default();
        config.users[0].password = "Mine!1".into();
        assert!(randomize_default_credentials(&mut config).unwrap());
        let secret = &config.apps[0].secrets[0].value;
        assert_ne!(secret, &EmulatorConfig::default().apps[0].secrets[0].value);
        assert_eq!(secret.len(), 32);
        assert_eq!(config.users[0].password, "Mine!1");
        assert!(!randomize_default_credentials(&mut config).unwrap());
    }
}
