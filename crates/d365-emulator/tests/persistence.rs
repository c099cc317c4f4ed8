//! `--data-dir`: data, the signing key and refresh tokens survive a restart.

mod common;

use d365_emulator::config::AlternateKeyConfig;
use d365_testkit::{EmulatorConfig, start, test_config};
use serde_json::Value;

#[tokio::test]
async fn data_key_and_sessions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmulatorConfig {
        seed_accounts: 4,
        data_dir: Some(dir.path().to_owned()),
        ..EmulatorConfig::default()
    };
    let http = reqwest::Client::new();

    let first = start(config.clone()).await;
    let info = first.info();
    let token_url = format!("{}/{}/oauth2/token", info.authority_host, info.tenant_id);
    let body: Value = http
        .post(&token_url)
        .form(&[
            ("grant_type", "password"),
            ("client_id", &info.client_id),
            ("client_secret", &info.client_secret),
            ("username", &info.username),
            ("password", &info.password),
            ("resource", &info.environment_url),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh_token = body["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let kid = first.state().key.kid().to_owned();
    let names = |info: d365_testkit::EmulatorInfo, token: String| {
        let http = http.clone();
        async move {
            let v: Value = http
                .get(format!(
                    "{}/api/data/v9.2/accounts?$select=name&$orderby=name",
                    info.environment_url
                ))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let before = names(
        info.clone(),
        body["access_token"].as_str().unwrap().to_owned(),
    )
    .await;
    assert_eq!(before.len(), 4);
    first.stop().await;

    // A different seed must not reseed an existing database.
    let second = start(EmulatorConfig {
        seed: 999,
        ..config
    })
    .await;
    assert_eq!(second.state().key.kid(), kid, "the signing key is reused");
    let info = second.info();
    let token_url = format!("{}/{}/oauth2/token", info.authority_host, info.tenant_id);
    let refresh = |resource: Option<String>| {
        let (http, url, info, rt) = (
            http.clone(),
            token_url.clone(),
            info.clone(),
            refresh_token.clone(),
        );
        async move {
            let mut form = vec![
                ("grant_type", "refresh_token".to_owned()),
                ("client_id", info.client_id.clone()),
                ("client_secret", info.client_secret.clone()),
                ("refresh_token", rt),
            ];
            if let Some(r) = resource {
                form.push(("resource", r));
            }
            http.post(&url).form(&form).send().await.unwrap()
        }
    };
    // The port, and so the environment URL, changed: the original resource is gone.
    assert_eq!(refresh(None).await.status(), 400);
    let r = refresh(Some(info.environment_url.clone())).await;
    assert_eq!(r.status(), 200, "the refresh token survives the restart");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        names(info, body["access_token"].as_str().unwrap().to_owned()).await,
        before
    );
}

#[tokio::test]
async fn reset_on_a_file_database_keeps_its_indexes_and_readers() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(4);
    config.data_dir = Some(dir.path().to_owned());
    config.alternate_keys = vec![AlternateKeyConfig::new("account", &["accountnumber"])];
    let emulator = start(config).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let count = || async {
        common::api_get(&http, &info, &token, "accounts/$count")
            .await
            .text()
            .await
            .unwrap()
    };
    assert_eq!(count().await, "4", "the read-only pool is open");
    http.post(format!("{}/api/data/v9.2/accounts", info.environment_url))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Extra"}))
        .send()
        .await
        .unwrap();
    assert_eq!(count().await, "5");
    let r = http
        .post(format!("{}/_emulator/reset", info.authority_host))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(count().await, "4");
    // The configured alternate key's unique index survived (keys are the org's definition,
    // not data).
    let r = http
        .post(format!("{}/api/data/v9.2/accounts", info.environment_url))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Clash", "accountnumber": "ACC-000001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
}
