//! Authorities and endpoint URLs. An authority is `{host}/{tenant}`; the v1 endpoints take
//! `resource=`, the v2 endpoints `scope=`
//! (<https://learn.microsoft.com/entra/identity-platform/authentication-national-cloud>).

use url::Url;

use crate::error::AuthError;

/// The public cloud's login host.
pub const PUBLIC_CLOUD_HOST: &str = "https://login.microsoftonline.com";

/// Which generation of the token endpoint to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointVersion {
    /// `/{tenant}/oauth2/token`: `resource=`, numbers as strings in responses.
    V1,
    /// `/{tenant}/oauth2/v2.0/token`: `scope=`, numbers as integers.
    V2,
}

impl EndpointVersion {
    /// `v1` or `v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointVersion::V1 => "v1",
            EndpointVersion::V2 => "v2",
        }
    }
}

/// A login host plus a tenant (GUID, verified domain, or `organizations`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Authority {
    host: Url,
    tenant: String,
}

impl Authority {
    /// An authority on `host` (e.g. `https://login.microsoftonline.com`, or the emulator's
    /// `http://127.0.0.1:PORT`). The host must be https or loopback, because secrets go there.
    pub fn new(host: &str, tenant: &str) -> Result<Self, AuthError> {
        let mut host = Url::parse(host.trim_end_matches('/')).map_err(|e| {
            AuthError::InvalidConfig(format!("authority host '{host}' is not a URL: {e}"))
        })?;
        d365_http::ensure_secure_url(&host).map_err(AuthError::Http)?;
        host.set_path("");
        host.set_query(None);
        let tenant = tenant.trim().trim_matches('/');
        if tenant.is_empty()
            || !tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(AuthError::InvalidConfig(format!(
                "tenant '{tenant}' must be a GUID or a domain name"
            )));
        }
        Ok(Self {
            host,
            tenant: tenant.to_owned(),
        })
    }

    /// The public cloud authority for `tenant`.
    pub fn public_cloud(tenant: &str) -> Result<Self, AuthError> {
        Self::new(PUBLIC_CLOUD_HOST, tenant)
    }

    /// The tenant segment.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// `{host}/{tenant}` without a trailing slash.
    pub fn url(&self) -> String {
        format!("{}{}", self.host.as_str(), self.tenant)
    }

    /// The token endpoint of the given version.
    pub fn token_url(&self, version: EndpointVersion) -> Url {
        let path = match version {
            EndpointVersion::V1 => "oauth2/token",
            EndpointVersion::V2 => "oauth2/v2.0/token",
        };
        self.join(path)
    }

    /// The device authorization endpoint of the given version.
    pub fn device_code_url(&self, version: EndpointVersion) -> Url {
        self.join(match version {
            EndpointVersion::V1 => "oauth2/devicecode",
            EndpointVersion::V2 => "oauth2/v2.0/devicecode",
        })
    }

    /// The authorization endpoint of the given version.
    pub fn authorize_url(&self, version: EndpointVersion) -> Url {
        self.join(match version {
            EndpointVersion::V1 => "oauth2/authorize",
            EndpointVersion::V2 => "oauth2/v2.0/authorize",
        })
    }

    fn join(&self, path: &str) -> Url {
        let mut url = self.host.clone();
        url.set_path(&format!("{}/{path}", self.tenant));
        url
    }
}

/// What a token is for: a resource (v1 style, e.g. the environment URL) or explicit scopes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A resource such as `https://contoso.crm.dynamics.com`.
    Resource(String),
    /// Explicit v2 scopes such as `https://contoso.crm.dynamics.com/.default offline_access`.
    Scopes(Vec<String>),
}

const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

impl Target {
    /// The form fields for this target on the given endpoint version: `resource=` on v1,
    /// `scope=` on v2. A resource becomes `{resource}/.default` on v2 (with exactly one slash:
    /// `https://org//.default` is a classic bug); scopes on v1 become their resource.
    pub fn form_fields(&self, version: EndpointVersion) -> Vec<(&'static str, String)> {
        match (self, version) {
            (Target::Resource(r), EndpointVersion::V1) => vec![("resource", r.clone())],
            (Target::Resource(r), EndpointVersion::V2) => {
                vec![("scope", format!("{}/.default", r.trim_end_matches('/')))]
            }
            (Target::Scopes(s), EndpointVersion::V2) => vec![("scope", s.join(" "))],
            (Target::Scopes(s), EndpointVersion::V1) => {
                let mut out = Vec::new();
                if let Some(resource) = self.resource() {
                    out.push(("resource", resource));
                }
                if s.iter().any(|x| x == "openid") {
                    out.push(("scope", "openid".to_owned()));
                }
                out
            }
        }
    }

    /// The resource this target is for: the resource itself, or the first non-OIDC scope
    /// without its last path segment (`https://org/.default` → `https://org`).
    pub fn resource(&self) -> Option<String> {
        match self {
            Target::Resource(r) => Some(r.clone()),
            Target::Scopes(s) => {
                s.iter()
                    .find(|x| !OIDC_SCOPES.contains(&x.as_str()))
                    .map(|scope| match scope.rfind('/') {
                        Some(i) if i > "https://".len() => scope[..i].to_owned(),
                        _ => scope.clone(),
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls() {
        let a = Authority::new(
            "https://login.microsoftonline.com/",
            "contoso.onmicrosoft.com",
        )
        .unwrap();
        assert_eq!(
            a.token_url(EndpointVersion::V1).as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token"
        );
        assert_eq!(
            a.token_url(EndpointVersion::V2).as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(
            a.url(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com"
        );
    }

    #[test]
    fn rejects_insecure_hosts_and_odd_tenants() {
        assert!(Authority::new("http://login.example.com", "t").is_err());
        assert!(Authority::new("http://127.0.0.1:9", "t").is_ok());
        assert!(Authority::new("https://h", "a/b").is_err());
        assert!(Authority::new("https://h", "").is_err());
    }

    #[test]
    fn targets_translate_between_versions() {
        let r = Target::Resource("https://org.crm.dynamics.com/".into());
        assert_eq!(
            r.form_fields(EndpointVersion::V2),
            vec![("scope", "https://org.crm.dynamics.com/.default".to_owned())]
        );
        let s = Target::Scopes(vec![
            "https://org.crm.dynamics.com/.default".into(),
            "offline_access".into(),
        ]);
        assert_eq!(
            s.resource().as_deref(),
            Some("https://org.crm.dynamics.com")
        );
        assert_eq!(
            s.form_fields(EndpointVersion::V1),
            vec![("resource", "https://org.crm.dynamics.com".to_owned())]
        );
    }
}
