//! One file per subcommand, each with `run(args) -> Result<ExitCode>`.

pub(crate) mod auth;
pub(crate) mod bulk_delete;
pub(crate) mod call;
pub(crate) mod codegen;
pub(crate) mod completions;
pub(crate) mod demo;
pub(crate) mod emulator;
pub(crate) mod export;
pub(crate) mod get;
pub(crate) mod import;
pub(crate) mod metadata;
pub(crate) mod odata;
pub(crate) mod query;
pub(crate) mod sync;
pub(crate) mod token;
pub(crate) mod whoami;
pub(crate) mod write;

/// The Web API client of the resolved settings (profile, environment variables, flags).
pub(crate) async fn web_client(
    auth: &crate::flags::AuthArgs,
    profile: Option<&str>,
) -> anyhow::Result<d365_webapi::Client> {
    Ok(web_client_builder(auth, profile).await?.build()?)
}

/// The builder behind [`web_client`], for commands that set more (annotations).
pub(crate) async fn web_client_builder(
    auth: &crate::flags::AuthArgs,
    profile: Option<&str>,
) -> anyhow::Result<d365_webapi::ClientBuilder> {
    let settings = crate::auth::Settings::resolve(auth, profile)?;
    let environment = settings.environment()?;
    let credential = settings.credential(&environment).await?;
    Ok(d365_webapi::Client::builder()
        .environment(&environment)
        .credential(credential)
        .http_client(settings.http()?))
}

/// `30s`, `5m`, `1h` or plain seconds, for the flag named `flag`.
pub(crate) fn interval(flag: &str, text: &str) -> anyhow::Result<std::time::Duration> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let wrong = || anyhow::anyhow!("{flag} '{text}' is not an interval like 30s, 5m or 1h");
    let n: u64 = number.parse().map_err(|_| wrong())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(wrong()),
    };
    anyhow::ensure!(secs > 0, "{flag} must be at least 1 second");
    Ok(std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::interval;

    #[test]
    fn intervals() {
        assert_eq!(interval("--watch", "30s").unwrap(), Duration::from_secs(30));
        assert_eq!(interval("--watch", "5m").unwrap(), Duration::from_secs(300));
        assert_eq!(
            interval("--watch", "2h").unwrap(),
            Duration::from_secs(7200)
        );
        assert_eq!(interval("--watch", "45").unwrap(), Duration::from_secs(45));
        assert!(interval("--watch", "0").is_err());
        let e = interval("--timeout", "soon").unwrap_err().to_string();
        assert!(e.contains("--timeout 'soon'"), "{e}");
        assert!(interval("--watch", "5d").is_err());
    }
}
