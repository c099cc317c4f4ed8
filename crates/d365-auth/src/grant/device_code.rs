//! Device authorization grant (RFC 8628;
//! <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code>). The v1
//! endpoint answers with `verification_url` and string numbers, v2 with `verification_uri`
//! and integers; both parse. Polling takes `sleep` as a parameter so it is testable without
//! waiting (oauth2-rs's design).

use std::future::Future;
use std::time::Duration;

use serde::Deserialize;

use super::{Form, Grant, client_fields, target_fields};
use crate::authority::{EndpointVersion, Target};
use crate::error::AuthError;
use crate::response::{TokenResponse, number_or_string, opt_number_or_string};
use crate::secret::{ClientSecret, DeviceCode};
use crate::token_client::TokenClient;

/// The device authorization answer.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct DeviceAuthorization {
    /// The code the client polls with.
    pub device_code: DeviceCode,
    /// The short code the user types.
    pub user_code: String,
    /// Where the user goes (`verification_url` on v1).
    #[serde(alias = "verification_url")]
    pub verification_uri: String,
    /// Seconds until the codes expire.
    #[serde(deserialize_with = "number_or_string")]
    pub expires_in: u64,
    /// Seconds between polls (default 5).
    #[serde(default, deserialize_with = "opt_number_or_string")]
    pub interval: Option<u64>,
    /// A message to show the user.
    #[serde(default)]
    pub message: Option<String>,
}

/// `grant_type=urn:ietf:params:oauth:grant-type:device_code`.
#[derive(Debug, Clone)]
pub struct DeviceCodeGrant {
    /// The client id.
    pub client_id: String,
    /// The app's secret, for a confidential client.
    pub client_secret: Option<ClientSecret>,
    /// The device code to redeem.
    pub device_code: DeviceCode,
}

impl Grant for DeviceCodeGrant {
    fn grant_type(&self) -> &'static str {
        "device_code"
    }

    fn form(&self, version: EndpointVersion, target: &Target) -> Form {
        let mut form = Form::default();
        form.push("grant_type", "urn:ietf:params:oauth:grant-type:device_code");
        client_fields(&mut form, &self.client_id, self.client_secret.as_ref());
        form.push("device_code", self.device_code.secret());
        if version == EndpointVersion::V1 {
            target_fields(&mut form, version, target);
        }
        form
    }
}

impl TokenClient {
    /// Starts a device-code sign-in: `POST {authority}/oauth2[/v2.0]/devicecode`.
    pub async fn device_authorization(
        &self,
        version: EndpointVersion,
        target: &Target,
        client_id: &str,
    ) -> Result<DeviceAuthorization, AuthError> {
        let mut form = Form::default();
        form.push("client_id", client_id);
        target_fields(&mut form, version, target);
        let (status, body) = self
            .post_form(self.authority().device_code_url(version), &form)
            .await?;
        if !(200..300).contains(&status) {
            return Err(
                crate::token_client::parse_token_response("device_code", status, &body)
                    .unwrap_err(),
            );
        }
        serde_json::from_slice(&body).map_err(|source| AuthError::Parse {
            grant: "device_code",
            status,
            body: "[redacted success body]".into(),
            source,
        })
    }

    /// Polls until the user has signed in (or declined, or the code expired). `sleep` waits
    /// between polls: `tokio::time::sleep` in real use.
    pub async fn poll_device_code<S, F>(
        &self,
        version: EndpointVersion,
        target: &Target,
        grant: &DeviceCodeGrant,
        authorization: &DeviceAuthorization,
        sleep: S,
    ) -> Result<TokenResponse, AuthError>
    where
        S: Fn(Duration) -> F,
        F: Future<Output = ()>,
    {
        let mut interval = Duration::from_secs(authorization.interval.unwrap_or(5).max(1));
        let mut waited = Duration::ZERO;
        loop {
            sleep(interval).await;
            waited += interval;
            match self.request(version, target, grant).await {
                Ok(response) => return Ok(response),
                Err(AuthError::Server { ref response, .. })
                    if response.error == "authorization_pending" => {}
                // RFC 8628 §3.5: add five seconds and keep polling.
                Err(AuthError::Server { ref response, .. }) if response.error == "slow_down" => {
                    interval += Duration::from_secs(5)
                }
                Err(err) => return Err(err),
            }
            if waited > Duration::from_secs(authorization.expires_in) + interval {
                return Err(AuthError::InvalidConfig(
                    "the device code expired before sign-in finished".into(),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_answer_shapes_parse() {
        let v1: DeviceAuthorization = serde_json::from_str(r#"{"user_code":"C45FGVYJR","device_code":"CAQ","verification_url":"https://microsoft.com/devicelogin","expires_in":"900","interval":"5","message":"m"}"#).unwrap();
        assert_eq!(
            (v1.expires_in, v1.interval, v1.verification_uri.as_str()),
            (900, Some(5), "https://microsoft.com/devicelogin")
        );
        let v2: DeviceAuthorization = serde_json::from_str(r#"{"user_code":"X","device_code":"D","verification_uri":"https://u","expires_in":900,"interval":5}"#).unwrap();
        assert_eq!(v2.expires_in, 900);
        assert!(!format!("{v2:?}").contains("\"D\""));
    }
}
