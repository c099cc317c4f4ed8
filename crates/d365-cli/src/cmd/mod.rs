//! One file per subcommand, each with `run(args) -> Result<ExitCode>`.

pub(crate) mod auth;
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
pub(crate) mod table;
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
