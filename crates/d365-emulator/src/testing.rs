//! Support for tests, fuzz targets and benches outside this crate that call the router
//! in-process, without a socket. Not part of the public API.
//!
//! [`in_memory_state`] builds what [`crate::router`] serves; [`send`] sends it one request as
//! a client on loopback would (axum's `oneshot`, the `ConnectInfo` a socket would give) and
//! reads the whole answer; [`app_token`] mints the demo app's token through the router's own
//! token endpoint.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request};
use tower::ServiceExt;

use crate::config::EmulatorConfig;
use crate::error::StartError;
use crate::state::AppState;

/// Builds the state [`crate::router`] serves, as [`crate::Emulator::start`] does but without
/// binding a port: `base_url` is both the authority host and the environment URL (the token
/// audience), e.g. `http://127.0.0.1:9`. In memory unless `config.data_dir` is set.
pub async fn in_memory_state(
    config: EmulatorConfig,
    base_url: &str,
) -> Result<AppState, StartError> {
    crate::entra::keys::install_crypto_providers();
    crate::server::build_state(config, base_url.to_owned(), base_url.to_owned(), true).await
}

/// The peer address [`send`] gives a request that names none: a loopback client.
pub const LOOPBACK_CLIENT: ([u8; 4], u16) = ([127, 0, 0, 1], 50000);

/// Characters a client escapes in a URI it is given as text (spaces, quotes, angle brackets,
/// braces, …); `&`, `=`, `$`, `@`, `%` keep their meaning.
pub const URI_UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^');

/// `uri` as a client would send it: only what cannot stand in a URI is percent-encoded, so
/// its structure (`?`, `&`, `=`, existing `%XX`) is kept.
pub fn encode_uri(uri: &str) -> String {
    percent_encoding::utf8_percent_encode(uri, URI_UNSAFE).to_string()
}

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`, empty when there is none.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, `null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A request for [`send`]: `method` on `uri` (used as is: see [`encode_uri`]), with a bearer
/// token and a body with its content type when given.
pub fn request(
    method: Method,
    uri: &str,
    bearer: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = match body {
        Some((content_type, bytes)) => request
            .header("content-type", content_type)
            .body(Body::from(bytes)),
        None => request.body(Body::empty()),
    };
    request.expect("a request built from a valid method and URI")
}

/// Sends `request` through `router` without a socket and reads the whole answer. A request
/// without `ConnectInfo` comes from [`LOOPBACK_CLIENT`], as the control API requires.
pub async fn send(router: &Router, mut request: Request<Body>) -> Answer {
    if request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_none()
    {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(LOOPBACK_CLIENT)));
    }
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    Answer {
        status,
        content_type,
        body,
    }
}

/// The first confidential app of `config` (one with a secret): the demo app in the default
/// configuration.
pub fn demo_app(config: &EmulatorConfig) -> &crate::config::AppConfig {
    config
        .apps
        .iter()
        .find(|a| !a.public_client && !a.secrets.is_empty())
        .expect("a confidential app with a secret")
}

/// An access token for `resource` (the environment URL) from `router`'s v1 token endpoint:
/// the client-credentials grant of [`demo_app`] in the first tenant. Panics on any other
/// answer than 200.
pub async fn app_token(router: &Router, config: &EmulatorConfig, resource: &str) -> String {
    let app = demo_app(config);
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", &app.client_id)
        .append_pair("client_secret", &app.secrets[0].value)
        .append_pair("resource", resource)
        .finish();
    let uri = format!("/{}/oauth2/token", config.tenants[0].id);
    let answer = send(
        router,
        request(
            Method::POST,
            &uri,
            None,
            Some(("application/x-www-form-urlencoded", form.into_bytes())),
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "token: {}", answer.text());
    answer.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}
