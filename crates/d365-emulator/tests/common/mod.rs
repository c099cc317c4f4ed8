//! Helpers shared by the emulator's HTTP tests.

pub(crate) mod api;

use d365_testkit::{Emulator, EmulatorInfo};
use serde_json::Value;

/// A started emulator, an HTTP client and the app's token: what most HTTP tests begin with.
#[allow(dead_code)] // not every test binary uses it
pub(crate) struct Session {
    /// Kept alive for the test.
    pub(crate) emulator: Emulator,
    pub(crate) info: EmulatorInfo,
    pub(crate) http: reqwest::Client,
    pub(crate) token: String,
}

/// Starts an emulator with `config` and signs its app in.
#[allow(dead_code)] // not every test binary uses it
pub(crate) async fn session(config: d365_testkit::EmulatorConfig) -> Session {
    let emulator = d365_testkit::start(config).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = app_token(&http, &info).await;
    Session {
        emulator,
        info,
        http,
        token,
    }
}

/// The demo app's and the demo user's tokens, asked for over HTTP as any client would.
#[allow(unused_imports)] // not every test binary signs a user in
pub(crate) use d365_testkit::{app_token, user_token};

/// A bearer GET of a Web API path (`accounts?$top=1`).
#[allow(dead_code)] // not every test binary uses it
pub(crate) async fn api_get(
    http: &reqwest::Client,
    info: &EmulatorInfo,
    token: &str,
    path: &str,
) -> reqwest::Response {
    api_call(http, info, token, reqwest::Method::GET, path, None).await
}

/// A bearer request to a Web API path, with a JSON body if given.
#[allow(dead_code)] // not every test binary uses it
pub(crate) async fn api_call(
    http: &reqwest::Client,
    info: &EmulatorInfo,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = http
        .request(
            method,
            format!("{}/api/data/v9.2/{path}", info.environment_url),
        )
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

/// The claims of a JWT the emulator issued (read, not verified).
#[allow(dead_code)] // not every test binary reads tokens
pub(crate) fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url claims");
    serde_json::from_slice(&json).expect("JSON claims")
}
