//! The v2 `scope` parameter: which resource it names, and what Entra answers back in the
//! token response's `scope` (PROTOCOL.md A6.1).
//!
//! The answer lists the resource's permissions the token carries, spelled with the resource as
//! the client wrote it, and `.default` itself when it was asked for:
//! `{env}/.default offline_access openid profile` answers
//! `{env}/user_impersonation {env}/.default`. MSAL caches the token under the answered scopes
//! and looks it up by the asked ones, so leaving `.default` out makes every silent call miss.
//! The reserved OpenID Connect scopes are permissions of Microsoft Graph, not of the resource:
//! they are not answered for Dataverse (Azure CLI's cache, which asks for
//! `offline_access openid profile` beside ARM's `.default`, holds
//! `…//user_impersonation …//.default`). Client credentials answer no `scope` at all
//! (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow>,
//! "Successful response").

use crate::error::EntraError;

/// Scopes every app may ask for beside one resource's.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Dataverse's one delegated permission (Dynamics CRM, `user_impersonation`).
const DELEGATED: &str = "user_impersonation";

/// A v2 `scope` value, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requested {
    /// The resource as the client spelled it before the permission: `https://org` of
    /// `https://org/.default`, `https://org/` of the classic `https://org//.default`.
    pub prefix: String,
    /// `{resource}/.default` was asked for.
    pub default: bool,
    /// `offline_access`: a refresh token is wanted.
    pub offline: bool,
    /// `openid`: an ID token is wanted.
    pub openid: bool,
}

impl Requested {
    /// Reads `scope`: the permissions of one resource (`.default` or `user_impersonation`;
    /// only `.default` for an app's own token) plus any reserved OpenID Connect scopes.
    pub(crate) fn parse(scope: &str, app_only: bool) -> Result<Self, EntraError> {
        let mut requested = Requested {
            prefix: String::new(),
            default: false,
            offline: false,
            openid: false,
        };
        let mut resource: Option<&str> = None;
        for s in scope.split_whitespace() {
            match s {
                "offline_access" => requested.offline = true,
                "openid" => requested.openid = true,
                _ if OIDC_SCOPES.contains(&s) => {}
                _ => {
                    let (prefix, permission) = s
                        .rsplit_once('/')
                        .ok_or_else(|| EntraError::invalid_scope(scope))?;
                    // `https://org//.default` names the same resource as `https://org/.default`.
                    let same = |r: &str| {
                        r.trim_end_matches('/')
                            .eq_ignore_ascii_case(prefix.trim_end_matches('/'))
                    };
                    match resource {
                        Some(r) if !same(r) => return Err(EntraError::scopes_span_resources()),
                        Some(_) => {}
                        None => {
                            resource = Some(prefix);
                            requested.prefix = prefix.to_owned();
                        }
                    }
                    match permission {
                        ".default" => requested.default = true,
                        _ if app_only => return Err(EntraError::client_credentials_scope(scope)),
                        DELEGATED => {}
                        _ => return Err(EntraError::invalid_scope(scope)),
                    }
                }
            }
        }
        if resource.is_none() {
            return Err(EntraError::invalid_scope(scope));
        }
        Ok(requested)
    }

    /// The resource itself, without the trailing slash a client may have doubled.
    pub(crate) fn resource(&self) -> &str {
        self.prefix.trim_end_matches('/')
    }

    /// The `scope` of the answer to a user's sign-in: the delegated permission, then
    /// `.default` when it was asked for.
    pub(crate) fn granted_to_user(&self) -> String {
        let delegated = format!("{}/{DELEGATED}", self.prefix);
        if self.default {
            format!("{delegated} {}/.default", self.prefix)
        } else {
            delegated
        }
    }
}

/// The `scope` of a user's token for `resource` when the request named no scope (a v2 refresh
/// without `scope`): the delegated permission.
pub(crate) fn delegated_to_user(resource: &str) -> String {
    format!("{resource}/{DELEGATED}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV: &str = "https://contoso.crm.dynamics.com";

    fn granted(scope: &str) -> String {
        Requested::parse(scope, false).unwrap().granted_to_user()
    }

    #[test]
    fn default_is_answered_beside_the_delegated_permission_and_oidc_scopes_are_not() {
        let both = format!("{ENV}/user_impersonation {ENV}/.default");
        assert_eq!(granted(&format!("{ENV}/.default")), both);
        assert_eq!(
            granted(&format!("{ENV}/.default offline_access openid profile")),
            both
        );
        assert_eq!(
            granted(&format!("openid {ENV}/user_impersonation {ENV}/.default")),
            both
        );
        assert_eq!(
            granted(&format!("{ENV}/user_impersonation offline_access")),
            format!("{ENV}/user_impersonation")
        );
    }

    #[test]
    fn the_resource_keeps_the_clients_spelling() {
        assert_eq!(
            granted(&format!("{ENV}//.default")),
            format!("{ENV}//user_impersonation {ENV}//.default")
        );
        let r =
            Requested::parse(&format!("{ENV}//.default {ENV}/user_impersonation"), false).unwrap();
        assert_eq!(r.resource(), ENV);
    }

    #[test]
    fn flags_and_refusals() {
        let r = Requested::parse(&format!("{ENV}/.default offline_access openid"), false).unwrap();
        assert!(r.default && r.offline && r.openid);
        let r = Requested::parse(&format!("{ENV}/user_impersonation email"), false).unwrap();
        assert!(!r.default && !r.offline && !r.openid);
        let code = |s: &str, app: bool| Requested::parse(s, app).unwrap_err().code;
        assert_eq!(code("openid profile", false), 70_011, "no resource");
        assert_eq!(code("nonsense", false), 70_011);
        assert_eq!(code(&format!("{ENV}/Account.Read"), false), 70_011);
        assert_eq!(
            code(
                &format!("{ENV}/.default https://other.example/.default"),
                false
            ),
            700_022
        );
        assert_eq!(code(&format!("{ENV}/user_impersonation"), true), 1_002_012);
        assert!(Requested::parse(&format!("{ENV}/.default"), true).is_ok());
        assert_eq!(delegated_to_user(ENV), format!("{ENV}/user_impersonation"));
    }
}
