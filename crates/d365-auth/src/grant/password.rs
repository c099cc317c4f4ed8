//! Resource owner password credentials (ROPC)
//! (<https://learn.microsoft.com/entra/identity-platform/v2-oauth-ropc>). Works only for
//! accounts without MFA; the emulator and Entra answer AADSTS50076 otherwise.

use super::{Form, Grant, client_fields, target_fields};
use crate::authority::{EndpointVersion, Target};
use crate::secret::{ClientSecret, Password};

/// `grant_type=password`.
#[derive(Debug, Clone)]
pub struct PasswordGrant {
    /// The app's client id.
    pub client_id: String,
    /// The app's secret, for a confidential client (the classic Postman recipe sends one).
    pub client_secret: Option<ClientSecret>,
    /// The user principal name.
    pub username: String,
    /// The user's password.
    pub password: Password,
}

impl Grant for PasswordGrant {
    fn grant_type(&self) -> &'static str {
        "password"
    }

    fn form(&self, version: EndpointVersion, target: &Target) -> Form {
        let mut form = Form::default();
        form.push("grant_type", "password");
        client_fields(&mut form, &self.client_id, self.client_secret.as_ref());
        target_fields(&mut form, version, target);
        form.push("username", &self.username);
        form.push("password", self.password.secret());
        form
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_v1_form_with_awkward_values() {
        let grant = PasswordGrant {
            client_id: "aaa/;&".into(),
            client_secret: Some(ClientSecret::new("s+/=~'&")),
            username: "o'brian@contoso.com".into(),
            password: Password::new("p a+s&s;"),
        };
        let form = grant.form(
            EndpointVersion::V1,
            &Target::Resource("https://org.crm.dynamics.com".into()),
        );
        assert_eq!(
            form.fields(),
            &[
                ("grant_type", "password".to_owned()),
                ("client_id", "aaa/;&".to_owned()),
                ("client_secret", "s+/=~'&".to_owned()),
                ("resource", "https://org.crm.dynamics.com".to_owned()),
                ("username", "o'brian@contoso.com".to_owned()),
                ("password", "p a+s&s;".to_owned()),
            ]
        );
        let debug = format!("{form:?} {grant:?}");
        assert!(
            !debug.contains("s+/=") && !debug.contains("p a+s"),
            "{debug}"
        );
    }
}
