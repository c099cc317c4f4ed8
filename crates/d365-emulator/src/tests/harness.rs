//! The harness of the in-crate router tests: an in-memory emulator with three seeded
//! accounts, the demo app's token, and requests through [`crate::testing::send`].

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::Method;

use crate::config::EmulatorConfig;
use crate::testing::{self, Answer};

const BASE: &str = "http://127.0.0.1:9";

/// (method, URI, body with its content type, with the bearer token, status, error code or "").
pub(super) type Case<'a> = (
    Method,
    String,
    Option<(&'a str, String)>,
    bool,
    u16,
    &'a str,
);

pub(super) struct Harness {
    pub(super) router: axum::Router,
    pub(super) tenant: String,
    token: String,
}

impl Harness {
    pub(super) async fn new() -> Self {
        let config = EmulatorConfig {
            seed_accounts: 3,
            ..EmulatorConfig::default()
        };
        let tenant = config.tenants[0].id.clone();
        let state = testing::in_memory_state(config.clone(), BASE)
            .await
            .unwrap();
        let router = crate::app::router(state);
        let token = testing::app_token(&router, &config, BASE).await;
        Self {
            router,
            tenant,
            token,
        }
    }

    /// `method` on `uri` (encoded as a client would) from a loopback client.
    pub(super) async fn send(
        &self,
        method: Method,
        uri: &str,
        body: Option<(&str, String)>,
        bearer: bool,
    ) -> Answer {
        self.send_from(method, uri, body, bearer, "127.0.0.1:50000")
            .await
    }

    /// [`Harness::send`] from the client address `from`.
    pub(super) async fn send_from(
        &self,
        method: Method,
        uri: &str,
        body: Option<(&str, String)>,
        bearer: bool,
        from: &str,
    ) -> Answer {
        let mut request = testing::request(
            method,
            &testing::encode_uri(uri),
            bearer.then_some(self.token.as_str()),
            body.map(|(content_type, text)| (content_type, text.into_bytes())),
        );
        request
            .extensions_mut()
            .insert(ConnectInfo(from.parse::<SocketAddr>().unwrap()));
        testing::send(&self.router, request).await
    }
}
