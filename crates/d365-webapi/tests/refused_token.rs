//! A cached token the resource refuses (a restarted emulator, a signing-key rollover, a
//! revocation) is dropped and replaced once; a token just acquired is not.

mod common;

use std::sync::Arc;

use d365_auth::{AccessToken, StaticTokenCredential};
use d365_testkit::{Emulator, EmulatorConfig, start, test_config};
use d365_webapi::Client;

/// An emulator on `addr` signing with a key of its own (not the test process's shared one).
async fn restart_on(addr: std::net::SocketAddr) -> Emulator {
    let key = d365_emulator::entra::keys::generate_private_key_pem().unwrap();
    let config = EmulatorConfig {
        signing_key_pem: Some(d365_emulator::config::PrivateKeyPem(key)),
        ..test_config(3)
    };
    Emulator::start(config, addr).await.unwrap()
}

#[tokio::test]
async fn a_cached_token_signed_by_a_retired_key_is_replaced_once() {
    let first = start(test_config(3)).await;
    let (addr, info) = (first.addr(), first.info());
    let client = common::builder(&info).build().unwrap();
    client.who_am_i().send().await.unwrap();
    first.stop().await;

    // The same URL, another key: the cached token is refused with 401, dropped, and the
    // request goes again with a new token, transparently.
    let second = restart_on(addr).await;
    let me = client.who_am_i().send().await.unwrap();
    assert!(!me.user_id.is_nil());
    assert_eq!(second.token_requests(), 1);
    // The new token is cached: no more token requests.
    client.who_am_i().send().await.unwrap();
    assert_eq!(second.token_requests(), 1);
}

#[tokio::test]
async fn a_refused_token_that_cannot_be_replaced_is_the_callers_401() {
    let first = start(test_config(3)).await;
    let (addr, info) = (first.addr(), first.info());
    let token = {
        let client = common::builder(&info).build().unwrap();
        client.who_am_i().send().await.unwrap();
        d365_testkit::app_token(&reqwest::Client::new(), &info).await
    };
    first.stop().await;
    let second = restart_on(addr).await;
    // A static token is nobody's cache: the 401 is final, and no token is asked for.
    let client = Client::builder()
        .environment(&info.environment_url)
        .credential(Arc::new(StaticTokenCredential::new(AccessToken::new(
            token,
        ))))
        .build()
        .unwrap();
    let e = client.who_am_i().send().await.unwrap_err();
    assert_eq!(common::api(e).status, 401);
    assert_eq!(second.token_requests(), 0);
}

#[tokio::test]
async fn a_refusal_is_answered_once_and_never_for_a_token_just_acquired() {
    use d365_emulator::faults::{FaultKind, FaultRule};
    let emulator = start(test_config(3)).await;
    let info = emulator.info();
    emulator
        .state()
        .faults
        .add(FaultRule {
            kind: FaultKind::Error,
            method: Some("GET".into()),
            path: "/api/data/*WhoAmI*".into(),
            count: None,
            share: None,
            status: Some(401),
            delay_ms: None,
            retry_after: None,
        })
        .unwrap();
    let who_am_i_requests = || {
        emulator
            .state()
            .faults
            .log(1000)
            .iter()
            .filter(|r| r.path.contains("WhoAmI"))
            .count()
    };
    let client = common::builder(&info).build().unwrap();
    // The first token is acquired for this call: its refusal is final.
    let e = client.who_am_i().send().await.unwrap_err();
    assert_eq!(common::api(e).status, 401);
    assert_eq!((emulator.token_requests(), who_am_i_requests()), (1, 1));
    // Now it is cached: refused, dropped, one new token, one more send, and no further.
    let e = client.who_am_i().send().await.unwrap_err();
    assert_eq!(common::api(e).status, 401);
    assert_eq!((emulator.token_requests(), who_am_i_requests()), (2, 3));
}
