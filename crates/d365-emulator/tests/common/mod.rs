//! Helpers shared by the emulator's HTTP tests.

use d365_testkit::EmulatorInfo;
use serde_json::Value;

/// An app token from the emulator's v1 token endpoint (client credentials with the seeded
/// secret), asked for over HTTP as any client would.
pub(crate) async fn app_token(http: &reqwest::Client, info: &EmulatorInfo) -> String {
    let body: Value = http
        .post(format!(
            "{}/{}/oauth2/token",
            info.authority_host, info.tenant_id
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &info.client_id),
            ("client_secret", &info.client_secret),
            ("resource", &info.environment_url),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"]
        .as_str()
        .expect("the token response has an access_token")
        .to_owned()
}
