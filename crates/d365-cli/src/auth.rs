//! Builds a credential from [`AuthArgs`]: the password grant when a user name and password are
//! given (with the client secret, if any, as the classic recipe does), else client credentials.

use std::sync::Arc;

use anyhow::{Context, bail};
use d365_auth::{
    Authority, ClientSecret, EndpointVersion, OAuthCredential, Password, token_client,
};

use crate::flags::{AuthArgs, Endpoint};

/// The environment URL, required.
pub(crate) fn environment(auth: &AuthArgs) -> anyhow::Result<String> {
    match &auth.url {
        Some(url) => Ok(url.trim_end_matches('/').to_owned()),
        None => {
            bail!("no environment URL: set D365_URL or pass --url https://<org>.crm.dynamics.com")
        }
    }
}

/// The credential the arguments describe.
pub(crate) fn credential(auth: &AuthArgs) -> anyhow::Result<Arc<OAuthCredential>> {
    let tenant = auth
        .tenant
        .as_deref()
        .context("no tenant: set AZURE_TENANT_ID or pass --tenant")?;
    let client_id = auth
        .client_id
        .as_deref()
        .context("no client id: set AZURE_CLIENT_ID or pass --client-id")?;
    let authority = Authority::new(&auth.authority_host, tenant).context("invalid authority")?;
    let client = token_client(authority)?;
    let secret = auth.client_secret.as_deref().map(ClientSecret::new);
    let credential = match (&auth.username, &auth.password, secret) {
        (Some(user), Some(password), secret) => {
            OAuthCredential::password(client, client_id, secret, user, Password::new(password))
        }
        (Some(_), None, _) => {
            bail!("a user name without a password: set AZURE_PASSWORD or pass --password")
        }
        (None, _, Some(secret)) => OAuthCredential::client_secret(client, client_id, secret),
        (None, _, None) => {
            bail!(
                "no credentials: set AZURE_CLIENT_SECRET (app) or AZURE_USERNAME and AZURE_PASSWORD (user)"
            )
        }
    };
    let version = match auth.endpoint {
        Endpoint::V1 => EndpointVersion::V1,
        Endpoint::V2 => EndpointVersion::V2,
    };
    Ok(Arc::new(credential.with_endpoint(version)))
}
