//! Grants: each one a pure request builder. The form they build goes to
//! [`TokenClient`](crate::TokenClient), which sends it and parses the answer.

mod auth_code;
mod client_credentials;
mod device_code;
mod password;
mod refresh;

pub use auth_code::{AuthorizationCodeGrant, Pkce, authorize_url, random_token};
pub use client_credentials::{ClientAssertionGrant, ClientCredentialsGrant};
pub use device_code::{DeviceAuthorization, DeviceCodeGrant};
pub use password::PasswordGrant;
pub use refresh::RefreshTokenGrant;

use crate::authority::{EndpointVersion, Target};
use crate::secret::ClientSecret;

/// A form-encoded token request body. `Debug` shows field names only: values hold secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Form(Vec<(&'static str, String)>);

impl Form {
    /// Adds a field.
    pub fn push(&mut self, name: &'static str, value: impl Into<String>) {
        self.0.push((name, value.into()));
    }

    /// The fields, in order.
    pub fn fields(&self) -> &[(&'static str, String)] {
        &self.0
    }

    /// The value of a field.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(n, _)| format!("{n}=…")))
            .finish()
    }
}

/// An OAuth grant that can be turned into a token request.
pub trait Grant: Send + Sync + std::fmt::Debug {
    /// The `grant_type` value, also used to name the grant in errors and logs.
    fn grant_type(&self) -> &'static str;

    /// The request body for the given endpoint version and target.
    fn form(&self, version: EndpointVersion, target: &Target) -> Form;
}

/// Client identity fields shared by every grant: `client_id` and, for confidential clients,
/// `client_secret` in the body (what MSAL sends; Basic auth also works on Entra).
fn client_fields(form: &mut Form, client_id: &str, secret: Option<&ClientSecret>) {
    form.push("client_id", client_id);
    if let Some(secret) = secret {
        form.push("client_secret", secret.secret());
    }
}

fn target_fields(form: &mut Form, version: EndpointVersion, target: &Target) {
    for (name, value) in target.form_fields(version) {
        form.push(name, value);
    }
}
