//! The client against the emulator over real HTTP on loopback.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use d365_auth::{
    Authority, ClientSecret, EndpointVersion, OAuthCredential, Password, token_client,
};
use d365_odata::col;
use d365_testkit::{EmulatorConfig, EmulatorInfo, start, test_config};
use d365_webapi::{Client, Error};
use futures_util::TryStreamExt;

fn app_credential(info: &EmulatorInfo, secret: &str) -> OAuthCredential {
    let authority = Authority::new(&info.authority_host, &info.tenant_id).unwrap();
    OAuthCredential::client_secret(
        token_client(authority).unwrap(),
        &info.client_id,
        ClientSecret::new(secret),
    )
}

fn client(info: &EmulatorInfo, credential: Arc<OAuthCredential>) -> Client {
    Client::builder()
        .environment(&info.environment_url)
        .credential(credential)
        .build()
        .unwrap()
}

#[tokio::test]
async fn stream_follows_next_links_and_yields_every_row_once() {
    let emulator = start(test_config(53)).await;
    let info = emulator.info();
    let client = client(&info, Arc::new(app_credential(&info, &info.client_secret)));
    let rows: Vec<_> = client
        .query("accounts")
        .select(["name", "accountnumber"])
        .order_by_text("name desc")
        .unwrap()
        .max_page_size(10)
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 53);
    let ids: HashSet<_> = rows
        .iter()
        .map(|r| r["accountid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 53);
    let pages: Vec<_> = client
        .query("contacts")
        .select(["fullname"])
        .max_page_size(25)
        .pages()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        pages.iter().map(|p| p.items.len()).collect::<Vec<_>>(),
        [25, 25, 25, 25, 6]
    );
    // A typed filter from the builder round-trips through the emulator.
    let page = client
        .query("accounts")
        .select(["name", "revenue"])
        .filter(col("revenue").gt(0).and(col("statecode").eq(0)))
        .top(5)
        .count()
        .send()
        .await
        .unwrap();
    assert_eq!(page.items.len(), 5);
    assert!(page.count.unwrap() >= 5);
}

#[tokio::test]
async fn user_flow_who_am_i_and_retrieve() {
    let emulator = start(test_config(3)).await;
    let info = emulator.info();
    let authority = Authority::new(&info.authority_host, &info.tenant_id).unwrap();
    for version in [EndpointVersion::V1, EndpointVersion::V2] {
        let credential = OAuthCredential::password(
            token_client(authority.clone()).unwrap(),
            &info.public_client_id,
            None,
            &info.username,
            Password::new(&info.password),
        )
        .with_endpoint(version);
        let client = client(&info, Arc::new(credential));
        let me = client.who_am_i().send().await.unwrap();
        assert_eq!(
            me.user_id.to_string(),
            EmulatorConfig::default().users[0].systemuser_id
        );
        let first = client
            .query("accounts")
            .select(["name"])
            .top(1)
            .send()
            .await
            .unwrap();
        let id: uuid::Uuid = first.items[0]["accountid"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let one = client
            .retrieve("accounts", id)
            .select(["name"])
            .send()
            .await
            .unwrap();
        assert_eq!(one["name"], first.items[0]["name"]);
    }
}

#[tokio::test]
async fn concurrent_callers_across_an_expiry_make_one_token_request_each_time() {
    let config = EmulatorConfig {
        token_lifetime_secs: 4,
        ..test_config(2)
    };
    let emulator = start(config).await;
    let info = emulator.info();
    let authority = Authority::new(&info.authority_host, &info.tenant_id).unwrap();
    let credential = Arc::new(OAuthCredential::password(
        token_client(authority).unwrap(),
        &info.client_id,
        Some(ClientSecret::new(&info.client_secret)),
        &info.username,
        Password::new(&info.password),
    ));
    let client = client(&info, credential.clone());
    let burst = || {
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { client.who_am_i().send().await.unwrap() })
            })
            .collect();
        futures_util::future::join_all(tasks)
    };
    burst().await;
    assert_eq!(emulator.token_requests(), 1);
    // A 4 s token is refreshed at half its lifetime.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    burst().await;
    assert_eq!(emulator.token_requests(), 2, "one refresh for 40 callers");
    let rt_after_refresh = credential.current_refresh_token().unwrap();
    tokio::time::sleep(Duration::from_millis(2300)).await;
    burst().await;
    assert_eq!(emulator.token_requests(), 3);
    assert_ne!(
        credential.current_refresh_token().unwrap(),
        rt_after_refresh,
        "refresh tokens rotate"
    );
    assert_eq!(credential.token_requests(), 3);
}

#[tokio::test]
async fn errors_carry_codes_and_request_ids_but_no_secrets() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let good = client(&info, Arc::new(app_credential(&info, &info.client_secret)));
    let missing = good
        .retrieve("accounts", uuid::Uuid::nil())
        .send()
        .await
        .unwrap_err();
    let api = missing.api().unwrap();
    assert_eq!((api.status, api.code.as_str()), (404, "0x80040217"));
    assert!(api.request_id.is_some());
    assert!(missing.to_string().contains("request id"), "{missing}");

    let bad = client(&info, Arc::new(app_credential(&info, "wrong-secret")));
    let err = bad.who_am_i().send().await.unwrap_err();
    let Error::Auth(auth) = &err else {
        panic!("expected an auth error, got {err:?}")
    };
    assert_eq!(auth.server_response().unwrap().aadsts(), Some(7000215));
    assert!(auth.hint().unwrap().contains("client secret"));
    let shown = format!("{err} {err:?} {bad:?} {good:?}");
    assert!(
        !shown.contains(&info.client_secret) && !shown.contains("wrong-secret"),
        "{shown}"
    );

    let err = good
        .next_page("https://evil.example.com/api/data/v9.2/accounts", None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ForeignLink(_)), "{err:?}");
    let err = good.query("accounts").filter_text("name eq").unwrap_err();
    assert!(err.to_string().contains('^'), "caret display: {err}");
}

#[tokio::test]
async fn insecure_environment_urls_are_refused() {
    let credential = Arc::new(d365_auth::StaticTokenCredential::new(
        d365_auth::AccessToken::new("t"),
    ));
    let err = Client::builder()
        .environment("http://contoso.crm.dynamics.com")
        .credential(credential)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("https"), "{err}");
}
