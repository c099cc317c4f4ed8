//! The auth client against the emulator over real HTTP: both response shapes, credentials,
//! rotation and fallback.

use d365_auth::grant::{ClientCredentialsGrant, PasswordGrant};
use d365_auth::{
    AuthError, Authority, ClientSecret, EndpointVersion, OAuthCredential, Password, RefreshToken,
    Target, TokenClient, TokenCredential, token_client,
};
use d365_testkit::{EmulatorInfo, start, test_config};

fn client(info: &EmulatorInfo) -> TokenClient {
    token_client(Authority::new(&info.authority_host, &info.tenant_id).unwrap()).unwrap()
}

#[tokio::test]
async fn token_client_reads_v1_and_v2_answers() {
    let emulator = start(test_config(0)).await;
    let info = emulator.info();
    let tc = client(&info);
    let grant = PasswordGrant {
        client_id: info.client_id.clone(),
        client_secret: Some(ClientSecret::new(&info.client_secret)),
        username: info.username.clone(),
        password: Password::new(&info.password),
    };
    let v1 = tc
        .request(
            EndpointVersion::V1,
            &Target::Resource(info.environment_url.clone()),
            &grant,
        )
        .await
        .unwrap();
    assert!(v1.expires_in > 0 && v1.expires_on.is_some() && v1.not_before.is_some());
    assert_eq!(v1.resource.as_deref(), Some(info.environment_url.as_str()));
    let v2 = tc
        .request(
            EndpointVersion::V2,
            &Target::Scopes(vec![
                format!("{}/.default", info.environment_url),
                "offline_access".into(),
            ]),
            &grant,
        )
        .await
        .unwrap();
    assert!(v2.expires_in > 0 && v2.expires_on.is_none() && v2.refresh_token.is_some());
    let app = ClientCredentialsGrant {
        client_id: info.client_id.clone(),
        client_secret: ClientSecret::new("wrong"),
    };
    let err = tc
        .request(
            EndpointVersion::V2,
            &Target::Resource(info.environment_url.clone()),
            &app,
        )
        .await
        .unwrap_err();
    let AuthError::Server {
        status,
        response,
        grant,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (*status, response.error.as_str(), response.aadsts(), *grant),
        (401, "invalid_client", Some(7000215), "client_credentials")
    );
}

#[tokio::test]
async fn refresh_token_credential_rotates() {
    let emulator = start(test_config(0)).await;
    let info = emulator.info();
    let tc = client(&info);
    let grant = PasswordGrant {
        client_id: info.public_client_id.clone(),
        client_secret: None,
        username: info.username.clone(),
        password: Password::new(&info.password),
    };
    let first = tc
        .request(
            EndpointVersion::V1,
            &Target::Resource(info.environment_url.clone()),
            &grant,
        )
        .await
        .unwrap();
    let rt = first.refresh_token.unwrap();
    let credential =
        OAuthCredential::refresh_token(client(&info), &info.public_client_id, None, rt.clone());
    let token = credential.get_token(&info.environment_url).await.unwrap();
    assert_eq!(
        d365_auth::decode_claims(token.secret()).unwrap()["upn"],
        info.username.as_str()
    );
    assert_ne!(credential.current_refresh_token().unwrap(), rt);
    // Cached: no second request.
    credential.get_token(&info.environment_url).await.unwrap();
    assert_eq!(credential.token_requests(), 1);
    // A dead refresh token with no password to fall back on is an error naming the code.
    let dead = OAuthCredential::refresh_token(
        client(&info),
        &info.public_client_id,
        None,
        RefreshToken::new("1.nope"),
    );
    let err = dead.get_token(&info.environment_url).await.unwrap_err();
    assert_eq!(err.server_response().unwrap().aadsts(), Some(9002313));
    assert!(err.hint().unwrap().contains("sign in again"));
}

#[tokio::test]
async fn password_credential_signs_in_again_when_its_refresh_token_is_revoked() {
    let emulator = start(test_config(0)).await;
    let info = emulator.info();
    let credential = OAuthCredential::password(
        client(&info),
        &info.public_client_id,
        None,
        &info.username,
        Password::new(&info.password),
    )
    .with_endpoint(EndpointVersion::V1);
    credential.fetch_token(&info.environment_url).await.unwrap();
    assert!(credential.current_refresh_token().is_some());
    let revoked = reqwest::Client::new()
        .post(format!(
            "{}/_emulator/users/{}/revoke",
            info.authority_host, info.username
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    // The refresh grant is refused (70008); the credential falls back to the password.
    let response = credential.fetch_token(&info.environment_url).await.unwrap();
    assert!(response.refresh_token.is_some());
    assert_eq!(credential.token_requests(), 3);
    assert_eq!(emulator.token_requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_holders_of_one_cache_file_refresh_once_and_share_rotations() {
    let emulator = start(d365_testkit::EmulatorConfig {
        token_lifetime_secs: 4,
        ..test_config(0)
    })
    .await;
    let info = emulator.info();
    let dir = tempfile::tempdir().unwrap();
    let file = d365_auth::cache::FileTokenCache::new(dir.path().join("token-cache.json"));
    let make = || {
        OAuthCredential::password(
            client(&info),
            &info.public_client_id,
            None,
            &info.username,
            Password::new(&info.password),
        )
        .with_file_cache(file.clone())
    };
    let (a, b) = (std::sync::Arc::new(make()), std::sync::Arc::new(make()));
    let both = || {
        let (a, b, env) = (a.clone(), b.clone(), info.environment_url.clone());
        async move {
            let (ta, tb) = tokio::join!(a.get_token(&env), b.get_token(&env));
            (ta.unwrap(), tb.unwrap())
        }
    };
    let (ta, tb) = both().await;
    assert_eq!(
        ta, tb,
        "the second holder read the first one's token from the file"
    );
    assert_eq!(emulator.token_requests(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
    let (ta2, tb2) = both().await;
    assert_eq!(ta2, tb2);
    assert_ne!(ta2, ta);
    assert_eq!(emulator.token_requests(), 2, "one refresh for both holders");
    // The rotated refresh token is in the file.
    let lock = file.lock().unwrap();
    let entries = lock.read().unwrap().entries;
    let entry = entries.values().next().unwrap();
    assert_eq!(entry.account.as_deref(), Some(info.username.as_str()));
    // Whichever holder refreshed holds the rotated token; the file has the same one.
    assert!(entry.refresh_token.is_some());
    assert!([a.current_refresh_token(), b.current_refresh_token()].contains(&entry.refresh_token));
    drop(lock);
    // Signing out removes the session.
    assert_eq!(a.sign_out().await.unwrap(), 1);
    assert!(file.lock().unwrap().read().unwrap().entries.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_process_keeps_a_valid_cached_token_when_the_refresh_fails() {
    let emulator = start(d365_testkit::EmulatorConfig {
        token_lifetime_secs: 8,
        ..test_config(0)
    })
    .await;
    let info = emulator.info();
    let dir = tempfile::tempdir().unwrap();
    let file = d365_auth::cache::FileTokenCache::new(dir.path().join("token-cache.json"));
    let make = || {
        OAuthCredential::password(
            client(&info),
            &info.public_client_id,
            None,
            &info.username,
            Password::new(&info.password),
        )
        .with_file_cache(file.clone())
    };
    let first = make().get_token(&info.environment_url).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(4300)).await; // past the refresh point
    emulator.stop().await; // the token endpoint is gone
    // A fresh credential (as a new process would have) still gets the valid cached token.
    let second = make().get_token(&info.environment_url).await.unwrap();
    assert_eq!(first, second);
    let lock = file.lock().unwrap();
    assert_eq!(
        lock.read().unwrap().entries.len(),
        1,
        "the session survives a failed refresh"
    );
}

/// One app credential serves Dataverse and Azure Storage (the lake's ADLS/Blob): each resource
/// has its own cached token, `aud` of its own, and a second ask is served from the cache.
#[tokio::test]
async fn one_credential_serves_dataverse_and_azure_storage() {
    let emulator = start(test_config(0)).await;
    let info = emulator.info();
    let credential = OAuthCredential::client_secret(
        client(&info),
        &info.client_id,
        ClientSecret::new(&info.client_secret),
    );
    let storage = "https://storage.azure.com";
    let for_storage = credential.get_token(storage).await.unwrap();
    let for_dataverse = credential.get_token(&info.environment_url).await.unwrap();
    assert_ne!(for_storage.secret(), for_dataverse.secret());
    let audience = |jwt: &str| {
        let payload = jwt.split('.').nth(1).unwrap();
        let json =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap();
        serde_json::from_slice::<serde_json::Value>(&json).unwrap()["aud"].clone()
    };
    assert_eq!(audience(for_storage.secret()), storage);
    assert_eq!(
        audience(for_dataverse.secret()),
        info.environment_url.as_str()
    );
    let again = credential.get_token(storage).await.unwrap();
    assert_eq!(again.secret(), for_storage.secret());
    assert_eq!(emulator.token_requests(), 2);
}
