//! Regressions of issue 13 (items 4 to 8), over real HTTP: bounded state, impersonation
//! checks, the `Host` check and the defaults off loopback, owner-only files, and the small
//! ones. Each test sends the hostile input, then checks that the emulator still answers.

mod common;

use d365_testkit::{Emulator, EmulatorConfig, EmulatorInfo, start, test_config};
use serde_json::Value;

#[path = "hardening/exposure.rs"]
mod exposure;
#[path = "hardening/impersonation.rs"]
mod impersonation;
#[path = "hardening/sign_in.rs"]
mod sign_in;

/// The emulator still answers an ordinary request (a token, then WhoAmI).
async fn still_answers(info: &EmulatorInfo) {
    let mut http = reqwest::Client::builder();
    if let Some(ca) = &info.ca_file {
        let pem = std::fs::read(ca).unwrap();
        http = http.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
    }
    let http = http.build().unwrap();
    let token = common::app_token(&http, info).await;
    let r = common::api_get(&http, info, &token, "WhoAmI").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn control(info: &EmulatorInfo, path: &str) -> String {
    format!("{}/_emulator/{path}", info.authority_host)
}

async fn devicelogin(http: &reqwest::Client, info: &EmulatorInfo, form: &[(&str, &str)]) -> String {
    http.post(format!("{}/devicelogin", info.authority_host))
        .form(form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A user of `tenant` besides the demo ones (the n-th).
fn extra_user(upn: &str, n: u8, tenant: &str) -> d365_emulator::config::UserConfig {
    d365_emulator::config::UserConfig {
        upn: upn.into(),
        password: "Other!Passw0rd".into(),
        object_id: format!("aaaaaaaa-bbbb-4ccc-8ddd-0000000000{n:02}"),
        tenant: tenant.into(),
        display_name: upn.into(),
        given_name: String::new(),
        family_name: String::new(),
        mfa_required: false,
        disabled: false,
        systemuser_id: format!("aaaaaaaa-bbbb-4ccc-8ddd-1111111111{n:02}"),
        act_on_behalf: true,
    }
}

// Item 4: bounded state (items 5 to 8 are in `hardening/`).

#[tokio::test]
async fn r13_the_request_log_keeps_at_most_a_kilobyte_of_a_path() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let long = format!(
        "{}/api/data/v9.2/accounts?$filter=name eq '{}'",
        info.environment_url,
        "x".repeat(60_000)
    );
    let r = http.get(long).send().await.unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let (_, log) = json(
        http.get(control(&info, "requests?limit=1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let path = log["requests"][0]["path"].as_str().unwrap();
    assert!(path.starts_with("/api/data/v9.2/accounts?"), "{path}");
    assert!(
        path.len() <= 1024 + 3 && path.ends_with('…'),
        "{}",
        path.len()
    );
    still_answers(&info).await;
}

async fn start_device_code(http: &reqwest::Client, info: &EmulatorInfo, client: &str) -> u16 {
    let r = http
        .post(format!(
            "{}/{}/oauth2/v2.0/devicecode",
            info.authority_host, info.tenant_id
        ))
        .form(&[
            ("client_id", client),
            ("scope", &format!("{}/.default", info.environment_url)),
        ])
        .send()
        .await
        .unwrap();
    let (status, body) = json(r).await;
    if status != 200 {
        assert_eq!(
            (
                status,
                body["error"].as_str(),
                body["error_codes"][0].as_u64()
            ),
            (429, Some("temporarily_unavailable"), Some(90055)),
            "{body}"
        );
    }
    status
}

#[tokio::test]
async fn r13_pending_device_codes_are_capped_per_client_and_expire() {
    use d365_emulator::entra::sessions::MAX_PENDING_PER_CLIENT;
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    for _ in 0..MAX_PENDING_PER_CLIENT {
        assert_eq!(
            start_device_code(&http, &info, &info.public_client_id).await,
            200
        );
    }
    assert_eq!(
        start_device_code(&http, &info, &info.public_client_id).await,
        429
    );
    // Another client is not held up by the first one's sign-ins.
    assert_eq!(start_device_code(&http, &info, &info.client_id).await, 200);
    // Expired sign-ins are forgotten, which makes room again.
    emulator.state().clock.advance(900 + 61);
    assert_eq!(
        start_device_code(&http, &info, &info.public_client_id).await,
        200
    );
    assert_eq!(emulator.state().sessions.devices.lock().unwrap().len(), 1);
    still_answers(&info).await;
}

#[tokio::test]
async fn r13_the_device_page_finds_a_code_whatever_its_case() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let (_, started) = json(
        http.post(format!(
            "{}/{}/oauth2/v2.0/devicecode",
            info.authority_host, info.tenant_id
        ))
        .form(&[
            ("client_id", info.public_client_id.as_str()),
            ("scope", &format!("{}/.default", info.environment_url)),
        ])
        .send()
        .await
        .unwrap(),
    )
    .await;
    let code = started["user_code"].as_str().unwrap().to_ascii_lowercase();
    let page = devicelogin(&http, &info, &[("code", &format!(" {code} "))]).await;
    assert!(page.contains("id=\"username\""), "{page}");
    still_answers(&info).await;
}

/// A certificate whose key signs client assertions: (key PEM, certificate PEM).
fn certificate() -> (String, String) {
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .unwrap();
    let cert = rcgen::CertificateParams::new(vec!["d365-test-app".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (key.serialize_pem(), cert.pem())
}

fn assertion(key_pem: &str, cert_pem: &str, info: &EmulatorInfo, url: &str, exp: f64) -> String {
    let der = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        cert_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>(),
    )
    .unwrap();
    let sha256 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t_s256 = Some(base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        sha256.as_ref(),
    ));
    let claims = serde_json::json!({
        "aud": url, "iss": info.client_id, "sub": info.client_id,
        "jti": uuid::Uuid::new_v4().to_string(), "exp": exp,
    });
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn r13_assertion_ids_are_forgotten_after_expiry_and_an_absurd_exp_is_harmless() {
    let (key_pem, cert_pem) = certificate();
    let mut config = test_config(1);
    config.apps[0].certificates.push(cert_pem.clone());
    let emulator = start(config).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        info.authority_host, info.tenant_id
    );
    let post = |jwt: String| {
        let (http, url, info) = (http.clone(), url.clone(), info.clone());
        async move {
            let scope = format!("{}/.default", info.environment_url);
            json(
                http.post(&url)
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", &info.client_id),
                        ("scope", &scope),
                        (
                            "client_assertion_type",
                            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                        ),
                        ("client_assertion", &jwt),
                    ])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let now = emulator.state().clock.now() as f64;
    // `exp` far past i64: must neither crash the check nor wrap into the past.
    let absurd = assertion(&key_pem, &cert_pem, &info, &url, 1e300);
    assert_eq!(post(absurd.clone()).await.0, 200);
    let (status, body) = post(absurd).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(700027))
    );
    for _ in 0..3 {
        let jwt = assertion(&key_pem, &cert_pem, &info, &url, now + 600.0);
        assert_eq!(post(jwt).await.0, 200);
    }
    assert_eq!(emulator.state().sessions.jtis.lock().unwrap().len(), 4);
    // Past their expiry (and the skew), the three ordinary ids go; the absurd one stays.
    emulator.state().clock.advance(600 + 301 + 1);
    let now = emulator.state().clock.now() as f64;
    let jwt = assertion(&key_pem, &cert_pem, &info, &url, now + 600.0);
    assert_eq!(post(jwt).await.0, 200);
    assert_eq!(emulator.state().sessions.jtis.lock().unwrap().len(), 2);
    still_answers(&info).await;
}

async fn table_count(emulator: &Emulator, table: &'static str) -> i64 {
    emulator
        .state()
        .store
        .run(move |c| c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)))
        .await
        .unwrap()
}

#[tokio::test]
async fn r13_tombstones_are_pruned_after_the_change_token_lifetime() {
    let config = EmulatorConfig {
        change_token_lifetime_secs: 3600,
        ..test_config(3)
    };
    let emulator = start(config).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let api = format!("{}/api/data/v9.2", info.environment_url);
    let track = || {
        http.get(format!("{api}/accounts?$select=name"))
            .bearer_auth(&token)
            .header("prefer", "odata.track-changes")
            .send()
    };
    let (_, first) = json(track().await.unwrap()).await;
    let delta = first["@odata.deltaLink"].as_str().unwrap().to_owned();
    let id = first["value"][0]["accountid"].as_str().unwrap().to_owned();
    let r = http
        .delete(format!("{api}/accounts({id})"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let tombstones = table_count(&emulator, "_emulator_changes").await;
    assert!(tombstones >= 1);
    // Within the lifetime the delta still reports the delete.
    let (status, changes) = json(http.get(&delta).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(status, 200, "{changes}");
    assert!(changes.to_string().contains(&id), "{changes}");
    assert_eq!(
        table_count(&emulator, "_emulator_changes").await,
        tombstones
    );
    // Past it, no token can ask for the tombstone: the next change-tracking request prunes it.
    emulator.state().clock.advance(3601);
    let (status, _) = json(track().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(table_count(&emulator, "_emulator_changes").await, 0);
    still_answers(&info).await;
}

#[tokio::test]
async fn r13_expired_refresh_tokens_are_pruned() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let sign_in = || async {
        let (status, body) = json(
            http.post(format!(
                "{}/{}/oauth2/token",
                info.authority_host, info.tenant_id
            ))
            .form(&[
                ("grant_type", "password"),
                ("client_id", info.public_client_id.as_str()),
                ("username", info.username.as_str()),
                ("password", info.password.as_str()),
                ("resource", info.environment_url.as_str()),
            ])
            .send()
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["refresh_token"].is_string());
    };
    sign_in().await;
    sign_in().await;
    assert_eq!(
        emulator.state().store.refresh_token_count().await.unwrap(),
        2
    );
    emulator.state().clock.advance(90 * 24 * 3600 + 1);
    sign_in().await;
    assert_eq!(
        emulator.state().store.refresh_token_count().await.unwrap(),
        1
    );
    still_answers(&info).await;
}
