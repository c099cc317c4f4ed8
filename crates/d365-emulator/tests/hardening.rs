//! Regressions of issue 13 (items 4 to 8), over real HTTP: bounded state, impersonation
//! checks, the `Host` check and the defaults off loopback, owner-only files, and the small
//! ones. Each test sends the hostile input, then checks that the emulator still answers.

mod common;

use d365_testkit::{Emulator, EmulatorConfig, EmulatorInfo, start, test_config};
use serde_json::Value;

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

// Item 4: bounded state.

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

// Item 5: impersonation.

async fn who_am_i_as(info: &EmulatorInfo, token: &str, header: (&str, &str)) -> (u16, Value) {
    json(
        reqwest::Client::new()
            .get(format!("{}/api/data/v9.2/WhoAmI", info.environment_url))
            .bearer_auth(token)
            .header(header.0, header.1)
            .send()
            .await
            .unwrap(),
    )
    .await
}

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

#[tokio::test]
async fn r13_impersonation_checks_the_user_and_the_callers_privilege() {
    let mut config = test_config(1);
    let other = "11111111-2222-4333-8444-555555555555";
    config.tenants.push(d365_emulator::config::TenantConfig {
        id: other.into(),
        domains: vec!["fabrikam.onmicrosoft.com".into()],
    });
    let mut disabled = extra_user("gone@contoso.onmicrosoft.com", 1, &config.tenants[0].id);
    disabled.disabled = true;
    let foreign = extra_user("guest@fabrikam.onmicrosoft.com", 2, other);
    config.users.push(disabled.clone());
    config.users.push(foreign.clone());
    let admin = config.users[0].clone();
    let emulator = start(config).await;
    let info = emulator.info();
    let token = common::app_token(&reqwest::Client::new(), &info).await;

    // The default application user holds the privilege.
    let (status, body) = who_am_i_as(&info, &token, ("CallerObjectId", &admin.object_id)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["UserId"], admin.systemuser_id);
    let (status, body) = who_am_i_as(&info, &token, ("MSCRMCallerID", &admin.systemuser_id)).await;
    assert_eq!(
        (status, &body["UserId"]),
        (200, &Value::from(admin.systemuser_id.clone()))
    );

    // A disabled user: refused as Dataverse refuses disabled users.
    for header in [
        ("CallerObjectId", disabled.object_id.as_str()),
        ("MSCRMCallerID", disabled.systemuser_id.as_str()),
    ] {
        let (status, body) = who_am_i_as(&info, &token, header).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("0x80040225")),
            "{body}"
        );
    }
    // A user of another tenant is no user of this environment.
    for header in [
        ("CallerObjectId", foreign.object_id.as_str()),
        ("MSCRMCallerID", foreign.systemuser_id.as_str()),
    ] {
        let (status, body) = who_am_i_as(&info, &token, header).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("0x80040217")),
            "{body}"
        );
    }
    still_answers(&info).await;
}

#[tokio::test]
async fn r13_impersonation_needs_the_act_on_behalf_privilege() {
    let mut config = test_config(1);
    config.apps[0].act_on_behalf = false;
    let admin = config.users[0].clone();
    let app_user = config.apps[0].application_user_id.clone();
    let emulator = start(config).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let (status, body) = who_am_i_as(&info, &token, ("CallerObjectId", &admin.object_id)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("0x80040220")),
        "{body}"
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&app_user) && message.contains("prvActOnBehalfOfAnotherUser"),
        "{message}"
    );
    // Without impersonation the same app works as itself.
    let r = common::api_get(&http, &info, &token, "WhoAmI").await;
    assert_eq!(r.status(), 200);
}

// Item 6: DNS rebinding and exposure.

async fn with_host(url: &str, host: &str) -> u16 {
    reqwest::Client::new()
        .get(url)
        .header("host", host)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn r13_every_route_refuses_a_foreign_host_on_loopback() {
    let mut config = test_config(1);
    // A custom environment host name, mapped to 127.0.0.1 by the developer.
    config.environment.url = Some("https://contoso.crm.dynamics.com".into());
    let emulator = start(config).await;
    let info = emulator.info();
    let port = emulator.addr().port();
    let discovery = format!(
        "{}/{}/v2.0/.well-known/openid-configuration",
        info.authority_host, info.tenant_id
    );
    let api = format!("{}/api/data/v9.2/WhoAmI", info.authority_host);
    let stats = control(&info, "stats");
    let devicelogin = format!("{}/devicelogin", info.authority_host);
    for url in [&discovery, &api, &stats, &devicelogin] {
        assert_eq!(with_host(url, "evil.example").await, 403, "{url}");
        assert_eq!(
            with_host(url, &format!("evil.example:{port}")).await,
            403,
            "{url}"
        );
        assert_eq!(with_host(url, "127.0.0.1.evil.example").await, 403, "{url}");
    }
    let body = reqwest::Client::new()
        .get(&discovery)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("DNS rebinding"), "{body}");
    // The names clients use: the compat scenarios' 127.0.0.1 (with a port, and without on
    // 443), localhost, [::1], and the environment's own host name.
    for host in [
        format!("127.0.0.1:{port}"),
        "127.0.0.1".to_owned(),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "contoso.crm.dynamics.com".to_owned(),
        "Contoso.CRM.dynamics.com:443".to_owned(),
    ] {
        assert_eq!(with_host(&discovery, &host).await, 200, "{host}");
    }
    // The API answers 401 (no token), not 403: the host passed.
    assert_eq!(with_host(&api, "contoso.crm.dynamics.com").await, 401);
    let http = reqwest::Client::new();
    let token = common::app_token(
        &http,
        &EmulatorInfo {
            environment_url: "https://contoso.crm.dynamics.com".into(),
            ..info.clone()
        },
    )
    .await;
    let r = http
        .get(&api)
        .bearer_auth(token)
        .header("host", "contoso.crm.dynamics.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn r13_off_loopback_the_default_secret_and_password_are_replaced() {
    let defaults = EmulatorConfig::default();
    let emulator = Emulator::start(test_config(1), "0.0.0.0:0".parse().unwrap())
        .await
        .unwrap();
    let info = emulator.info();
    assert_ne!(info.client_secret, defaults.apps[0].secrets[0].value);
    assert_ne!(info.password, defaults.users[0].password);
    assert_eq!((info.client_secret.len(), info.password.len()), (32, 32));
    // The info file carries the random ones.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("emulator.json");
    emulator.write_info_file(&file).unwrap();
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written["client_secret"], info.client_secret);
    assert_eq!(written["password"], info.password);
    let http = reqwest::Client::new();
    let token_url = format!("{}/{}/oauth2/token", info.authority_host, info.tenant_id);
    let (status, body) = json(
        http.post(&token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", info.client_id.as_str()),
                ("client_secret", defaults.apps[0].secrets[0].value.as_str()),
                ("resource", info.environment_url.as_str()),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(7000215)),
        "{body}"
    );
    let (status, body) = json(
        http.post(&token_url)
            .form(&[
                ("grant_type", "password"),
                ("client_id", info.public_client_id.as_str()),
                ("username", info.username.as_str()),
                ("password", defaults.users[0].password.as_str()),
                ("resource", info.environment_url.as_str()),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(50126)),
        "{body}"
    );
    still_answers(&info).await;
    // A configuration that names its own secret keeps it.
    let mut config = test_config(1);
    config.apps[0].secrets[0].value = "my-own~secret".into();
    let own = Emulator::start(config, "0.0.0.0:0".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(own.info().client_secret, "my-own~secret");
}

// Item 7: files it writes.

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn r13_the_data_directory_and_every_file_written_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let mut config = test_config(1);
    config.signing_key_pem = None; // the key is created in the data directory
    config.data_dir = Some(data.clone());
    config.tls = true;
    let emulator = start(config.clone()).await;
    let info = emulator.info();
    assert_eq!(mode(&data), 0o700);
    for file in [
        "dataverse.sqlite3",
        "dataverse.sqlite3-wal",
        "dataverse.sqlite3-shm",
        "signing-key.pem",
        "signing-cert.pem",
        "tls/ca.pem",
        "tls/server.pem",
        "tls/server-key.pem",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    assert_eq!(mode(&data.join("tls")), 0o700);
    // The info file: owner-only, and never written through a symlink, whether planted at
    // its name or at the temporary name an older version used.
    let victim = root.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    let info_file = root.path().join("emulator.json");
    std::os::unix::fs::symlink(&victim, root.path().join("emulator.tmp")).unwrap();
    std::os::unix::fs::symlink(&victim, &info_file).unwrap();
    emulator.write_info_file(&info_file).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    assert!(!std::fs::symlink_metadata(&info_file).unwrap().is_symlink());
    assert_eq!(mode(&info_file), 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name().to_string_lossy().ends_with(".tmp") && e.file_name() != "emulator.tmp"
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    still_answers(&info).await;
    emulator.stop().await;

    // A database left readable by an older version is narrowed at the next start.
    for file in ["dataverse.sqlite3", "dataverse.sqlite3-wal"] {
        let path = data.join(file);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let again = start(config).await;
    assert_eq!(mode(&data.join("dataverse.sqlite3")), 0o600);
    still_answers(&again.info()).await;
}

// Item 8: the small ones.

#[tokio::test]
async fn r13_the_device_page_refuses_the_mfa_user_and_near_miss_passwords() {
    let mut config = test_config(1);
    let mut mfa = extra_user("mfa@contoso.onmicrosoft.com", 3, &config.tenants[0].id);
    mfa.mfa_required = true;
    config.users.push(mfa);
    let emulator = start(config).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let (_, started) = json(
        http.post(format!(
            "{}/{}/oauth2/devicecode",
            info.authority_host, info.tenant_id
        ))
        .form(&[
            ("client_id", info.public_client_id.as_str()),
            ("resource", info.environment_url.as_str()),
        ])
        .send()
        .await
        .unwrap(),
    )
    .await;
    let code = started["user_code"].as_str().unwrap().to_owned();
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    let page = devicelogin(
        &http,
        &info,
        &[
            ("code", &code),
            ("username", "mfa@contoso.onmicrosoft.com"),
            ("password", "Other!Passw0rd"),
            ("action", "signin"),
        ],
    )
    .await;
    assert!(page.contains("AADSTS50076"), "{page}");
    // A prefix of the password, and the password with more after it.
    let short = &info.password[..info.password.len() - 1];
    let long = format!("{}x", info.password);
    for wrong in [short, long.as_str()] {
        let page = devicelogin(
            &http,
            &info,
            &[
                ("code", &code),
                ("username", &info.username),
                ("password", wrong),
                ("action", "signin"),
            ],
        )
        .await;
        assert!(page.contains("incorrect"), "{page}");
    }
    // Still pending: nothing above signed anyone in.
    let (status, body) = json(
        http.post(format!(
            "{}/{}/oauth2/token",
            info.authority_host, info.tenant_id
        ))
        .form(&[
            ("grant_type", "device_code"),
            ("client_id", info.public_client_id.as_str()),
            ("code", device_code.as_str()),
        ])
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending")),
        "{body}"
    );
    let page = devicelogin(
        &http,
        &info,
        &[
            ("code", &code),
            ("username", &info.username),
            ("password", &info.password),
            ("action", "signin"),
        ],
    )
    .await;
    assert!(page.contains("You're signed in"), "{page}");
    still_answers(&info).await;
}

#[tokio::test]
async fn r13_the_sign_in_page_refuses_near_miss_passwords() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!(
        "{}/{}/oauth2/v2.0/authorize",
        info.authority_host, info.tenant_id
    );
    let scope = format!("{}/.default", info.environment_url);
    let post = |password: String| {
        let (http, url, info, scope) = (http.clone(), url.clone(), info.clone(), scope.clone());
        async move {
            http.post(&url)
                .form(&[
                    ("client_id", info.public_client_id.as_str()),
                    ("response_type", "code"),
                    ("redirect_uri", "http://localhost:1234"),
                    ("scope", scope.as_str()),
                    ("username", info.username.as_str()),
                    ("password", password.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let short = info.password[..info.password.len() - 1].to_owned();
    for wrong in [short, format!("{}x", info.password)] {
        let r = post(wrong).await;
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("incorrect"));
    }
    let r = post(info.password.clone()).await;
    assert_eq!(r.status(), 302);
    still_answers(&info).await;
}

#[tokio::test]
async fn r13_an_absurd_clock_shift_saturates() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let advance = |seconds: i64| {
        let (http, url) = (http.clone(), control(&info, "clock/advance"));
        async move {
            json(
                http.post(format!("{url}?seconds={seconds}"))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    advance(i64::MAX).await;
    let (status, body) = advance(i64::MAX).await;
    assert_eq!(
        (status, body["now"].as_i64()),
        (200, Some(d365_emulator::clock::END_OF_TIME))
    );
    still_answers(&info).await;
    let (_, body) = advance(i64::MIN).await;
    assert_eq!(body["now"].as_i64(), Some(0));
    let (_, body) = advance(i64::MIN).await;
    assert_eq!(body["now"].as_i64(), Some(0));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    advance(now).await;
    still_answers(&info).await;
}
