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
