//! Client credentials with a secret
//! (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow>).
//! On v2 the scope must be `{resource}/.default`; never returns a refresh token.

use super::{Form, Grant, client_fields, target_fields};
use crate::authority::{EndpointVersion, Target};
use crate::secret::{ClientAssertion, ClientSecret};

/// `grant_type=client_credentials`.
#[derive(Debug, Clone)]
pub struct ClientCredentialsGrant {
    /// The app's client id.
    pub client_id: String,
    /// The app's secret.
    pub client_secret: ClientSecret,
}

impl Grant for ClientCredentialsGrant {
    fn grant_type(&self) -> &'static str {
        "client_credentials"
    }

    fn form(&self, version: EndpointVersion, target: &Target) -> Form {
        let mut form = Form::default();
        form.push("grant_type", "client_credentials");
        client_fields(&mut form, &self.client_id, Some(&self.client_secret));
        // App-only tokens take exactly `{resource}/.default` on v2, whatever scopes were given.
        let target = match (version, target.resource()) {
            (EndpointVersion::V2, Some(resource)) => Target::Resource(resource),
            _ => target.clone(),
        };
        target_fields(&mut form, version, &target);
        form
    }
}

/// `grant_type=client_credentials` with a certificate: `client_assertion` instead of a secret.
#[derive(Debug, Clone)]
pub struct ClientAssertionGrant {
    /// The app's client id.
    pub client_id: String,
    /// The signed assertion (its `aud` must be the token endpoint used).
    pub assertion: ClientAssertion,
}

impl Grant for ClientAssertionGrant {
    fn grant_type(&self) -> &'static str {
        "client_credentials"
    }

    fn form(&self, version: EndpointVersion, target: &Target) -> Form {
        let mut form = Form::default();
        form.push("grant_type", "client_credentials");
        form.push("client_id", &self.client_id);
        form.push(
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        );
        form.push("client_assertion", self.assertion.secret());
        let target = match (version, target.resource()) {
            (EndpointVersion::V2, Some(resource)) => Target::Resource(resource),
            _ => target.clone(),
        };
        target_fields(&mut form, version, &target);
        form
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_uses_dot_default() {
        let grant = ClientCredentialsGrant {
            client_id: "app".into(),
            client_secret: ClientSecret::new("s"),
        };
        let form = grant.form(
            EndpointVersion::V2,
            &Target::Scopes(vec!["https://org/.default".into(), "offline_access".into()]),
        );
        assert_eq!(form.get("scope"), Some("https://org/.default"));
        assert_eq!(form.get("resource"), None);
    }
}
