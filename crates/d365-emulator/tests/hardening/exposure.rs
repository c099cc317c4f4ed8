//! Items 6 and 7: the `Host` check on loopback (DNS rebinding), the defaults replaced off
//! loopback, and owner-only files.

use super::*;

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
