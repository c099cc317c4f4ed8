//! Shared by the client's integration tests: a client builder signed in as the emulator's app.

#![allow(dead_code)]

use std::sync::Arc;

use d365_auth::{Authority, ClientSecret, OAuthCredential, token_client};
use d365_testkit::EmulatorInfo;
use d365_webapi::{ApiError, Client, ClientBuilder, Error};

/// A builder for a client of the emulator's environment, with the app's client secret.
pub(crate) fn builder(info: &EmulatorInfo) -> ClientBuilder {
    let authority = Authority::new(&info.authority_host, &info.tenant_id).unwrap();
    let credential = OAuthCredential::client_secret(
        token_client(authority).unwrap(),
        &info.client_id,
        ClientSecret::new(&info.client_secret),
    );
    Client::builder()
        .environment(&info.environment_url)
        .credential(Arc::new(credential))
}

/// The service's error, or a panic naming what came instead.
pub(crate) fn api(e: Error) -> ApiError {
    e.api()
        .cloned()
        .unwrap_or_else(|| panic!("not an API error: {e}"))
}
