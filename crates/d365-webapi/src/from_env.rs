//! A client from the environment: the azure-identity variables (`AZURE_TENANT_ID`,
//! `AZURE_CLIENT_ID`, then `AZURE_CLIENT_SECRET`, `AZURE_CLIENT_CERTIFICATE_PATH`, or
//! `AZURE_USERNAME` + `AZURE_PASSWORD`; `AZURE_AUTHORITY_HOST`) plus `D365_URL`, read the way
//! `EnvironmentCredential` reads them, and turned into a credential by [`SignIn`], the CLI's
//! rule too (a user named in `AZURE_USERNAME` first, then the secret, then the certificate). Profiles are the CLI's (`d365 auth profile`).

use std::path::PathBuf;
use std::sync::Arc;

use d365_auth::{Authority, PUBLIC_CLOUD_HOST, SignIn, TokenClient};

use crate::client::ClientBuilder;
use crate::error::Error;

impl ClientBuilder {
    /// A builder with the environment URL and a credential from the process environment.
    /// Other settings (retry, concurrency, annotations) can still be changed before `build`.
    pub fn from_env() -> Result<ClientBuilder, Error> {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// [`ClientBuilder::from_env`] over any source of variables (tests, a config map).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<ClientBuilder, Error> {
        let need = |name: &str, why: &str| {
            var(name).ok_or_else(|| Error::Config(format!("{name} is not set ({why})")))
        };
        let environment = need(
            "D365_URL",
            "the environment, https://<org>.crm.dynamics.com",
        )?;
        let tenant = need("AZURE_TENANT_ID", "the tenant id or domain")?;
        let client_id = need("AZURE_CLIENT_ID", "the app registration's id")?;
        let host = var("AZURE_AUTHORITY_HOST").unwrap_or_else(|| PUBLIC_CLOUD_HOST.to_owned());
        let authority = Authority::new(&host, &tenant)?;
        let http = d365_http::HttpClient::new()?;
        let tokens = TokenClient::new(http.clone(), authority);
        let username = var("AZURE_USERNAME");
        if username.is_some() {
            need("AZURE_PASSWORD", "the password of AZURE_USERNAME")?;
        }
        // The environment's precedence (as before the rule moved to d365-auth): a user named
        // in AZURE_USERNAME signs in, else the app with its secret, else with its certificate.
        // The CLI's flags put the certificate first; the variables are offered to the one
        // rule accordingly.
        let secret = var("AZURE_CLIENT_SECRET");
        let certificate = var("AZURE_CLIENT_CERTIFICATE_PATH")
            .filter(|_| username.is_none() && secret.is_none())
            .map(PathBuf::from);
        let sign_in = SignIn::choose(
            secret,
            certificate,
            username.as_deref(),
            var("AZURE_PASSWORD"),
        );
        let Some(sign_in) = sign_in else {
            return Err(Error::Config(
                "no credential: set AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, or AZURE_USERNAME and AZURE_PASSWORD".into(),
            ));
        };
        let credential =
            sign_in.credential(tokens, &client_id, |s, _| Ok::<_, Error>(s.clone()))?;
        let mut builder = ClientBuilder::default()
            .environment(environment)
            .credential(Arc::new(credential))
            .http_client(http);
        if let Some(version) = var("D365_API_VERSION") {
            builder = builder.api_version(version);
        }
        Ok(builder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn names_what_is_missing() {
        let err = ClientBuilder::from_vars(vars(&[])).unwrap_err();
        assert!(err.to_string().contains("D365_URL"), "{err}");
        let err = ClientBuilder::from_vars(vars(&[
            ("D365_URL", "https://contoso.crm.dynamics.com"),
            ("AZURE_TENANT_ID", "contoso.onmicrosoft.com"),
            ("AZURE_CLIENT_ID", "app"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("AZURE_CLIENT_SECRET"), "{err}");
        let err = ClientBuilder::from_vars(vars(&[
            ("D365_URL", "https://contoso.crm.dynamics.com"),
            ("AZURE_TENANT_ID", "contoso.onmicrosoft.com"),
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_USERNAME", "someone@contoso.com"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("AZURE_PASSWORD"), "{err}");
        let client = ClientBuilder::from_vars(vars(&[
            ("D365_URL", "https://contoso.crm.dynamics.com/"),
            ("AZURE_TENANT_ID", "contoso.onmicrosoft.com"),
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_CLIENT_SECRET", "s3cret-value"),
            ("D365_API_VERSION", "v9.1"),
        ]))
        .unwrap()
        .build()
        .unwrap();
        assert_eq!(
            client.api_root(),
            "https://contoso.crm.dynamics.com/api/data/v9.1"
        );
        assert!(!format!("{client:?}").contains("s3cret-value"));
    }
}
