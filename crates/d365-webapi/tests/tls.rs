//! The client against the emulator over HTTPS, trusting only the emulator's CA.

use std::sync::Arc;

use d365_auth::{Authority, ClientSecret, OAuthCredential, TokenClient};
use d365_http::HttpClient;
use d365_testkit::{EmulatorConfig, start, test_config};

#[tokio::test]
async fn https_with_the_emulators_ca() {
    let emulator = start(EmulatorConfig {
        tls: true,
        ..test_config(3)
    })
    .await;
    let info = emulator.info();
    assert!(info.authority_host.starts_with("https://127.0.0.1:"));
    let ca = std::fs::read(info.ca_file.as_ref().expect("ca_file is set with TLS")).unwrap();
    // Without the CA the connection is refused…
    let plain = HttpClient::new().unwrap();
    let authority = Authority::new(&info.authority_host, &info.tenant_id).unwrap();
    let untrusted = OAuthCredential::client_secret(
        TokenClient::new(plain, authority.clone()),
        &info.client_id,
        ClientSecret::new(&info.client_secret),
    );
    assert!(
        d365_auth::TokenCredential::get_token(&untrusted, &info.environment_url)
            .await
            .is_err()
    );
    // …with it, everything works.
    let http = HttpClient::builder()
        .add_root_certificate_pem(ca)
        .build()
        .unwrap();
    let credential = OAuthCredential::client_secret(
        TokenClient::new(http.clone(), authority),
        &info.client_id,
        ClientSecret::new(&info.client_secret),
    );
    let client = d365_webapi::Client::builder()
        .environment(&info.environment_url)
        .credential(Arc::new(credential))
        .http_client(http)
        .build()
        .unwrap();
    let me = client.who_am_i().send().await.unwrap();
    assert_eq!(
        me.user_id.to_string(),
        EmulatorConfig::default().apps[0].application_user_id
    );
    let page = client
        .query("accounts")
        .select(["name"])
        .max_page_size(2)
        .send()
        .await
        .unwrap();
    assert!(
        page.next_link
            .unwrap()
            .starts_with(&format!("{}/api/data/v9.2/accounts?", info.environment_url))
    );
}
