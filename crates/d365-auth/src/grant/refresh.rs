//! Refresh-token grant (<https://learn.microsoft.com/entra/identity-platform/refresh-tokens>).
//! Each success returns a new refresh token that replaces the old one.

use super::{Form, Grant, client_fields, target_fields};
use crate::authority::{EndpointVersion, Target};
use crate::secret::{ClientSecret, RefreshToken};

/// `grant_type=refresh_token`.
#[derive(Debug, Clone)]
pub struct RefreshTokenGrant {
    /// The client the refresh token was issued to.
    pub client_id: String,
    /// The app's secret, for a confidential client.
    pub client_secret: Option<ClientSecret>,
    /// The refresh token to redeem.
    pub refresh_token: RefreshToken,
}

impl Grant for RefreshTokenGrant {
    fn grant_type(&self) -> &'static str {
        "refresh_token"
    }

    fn form(&self, version: EndpointVersion, target: &Target) -> Form {
        let mut form = Form::default();
        form.push("grant_type", "refresh_token");
        client_fields(&mut form, &self.client_id, self.client_secret.as_ref());
        form.push("refresh_token", self.refresh_token.secret());
        target_fields(&mut form, version, target);
        form
    }
}
