//! `Debug` of every secret-bearing type, across the crates, shows no secret.

use std::sync::Arc;

use d365_auth::grant::{ClientCredentialsGrant, Grant, PasswordGrant, RefreshTokenGrant};
use d365_auth::{
    AccessToken, Authority, ClientSecret, EndpointVersion, OAuthCredential, Password, RefreshToken,
    StaticTokenCredential, Target, token_client,
};

const SECRET: &str = "S3CR3T-value+/=";

fn assert_redacted(what: &str, debug: String) {
    assert!(!debug.contains(SECRET), "{what} leaks the secret: {debug}");
}

#[tokio::test]
async fn no_debug_output_shows_a_secret() {
    let authority = Authority::new(
        "https://login.microsoftonline.com",
        "contoso.onmicrosoft.com",
    )
    .unwrap();
    let password = PasswordGrant {
        client_id: "c".into(),
        client_secret: Some(ClientSecret::new(SECRET)),
        username: "u".into(),
        password: Password::new(SECRET),
    };
    let app = ClientCredentialsGrant {
        client_id: "c".into(),
        client_secret: ClientSecret::new(SECRET),
    };
    let refresh = RefreshTokenGrant {
        client_id: "c".into(),
        client_secret: None,
        refresh_token: RefreshToken::new(SECRET),
    };
    let form = password.form(EndpointVersion::V1, &Target::Resource("https://org".into()));
    assert_eq!(
        form.get("password"),
        Some(SECRET),
        "the form itself holds the value"
    );
    let credential = OAuthCredential::password(
        token_client(authority.clone()).unwrap(),
        "c",
        Some(ClientSecret::new(SECRET)),
        "u",
        Password::new(SECRET),
    );
    let refresh_credential = OAuthCredential::refresh_token(
        token_client(authority).unwrap(),
        "c",
        None,
        RefreshToken::new(SECRET),
    );
    let response: d365_auth::TokenResponse = serde_json::from_value(serde_json::json!({
        "token_type": "Bearer", "expires_in": 1, "access_token": SECRET, "refresh_token": SECRET, "id_token": "x"
    }))
    .unwrap();
    let client = d365_webapi::Client::builder()
        .environment("https://org.crm.dynamics.com")
        .credential(Arc::new(StaticTokenCredential::new(AccessToken::new(
            SECRET,
        ))))
        .build()
        .unwrap();
    let mut config = d365_testkit::EmulatorConfig::default();
    config.apps[0].secrets[0].value = SECRET.into();
    config.users[0].password = SECRET.into();
    config.signing_key_pem = Some(d365_emulator::config::PrivateKeyPem(
        d365_testkit::shared_signing_key(),
    ));
    config.seed_accounts = 0;
    let emulator = d365_testkit::start(config.clone()).await;
    let info = emulator.info();
    assert_eq!(info.client_secret, SECRET);

    let key_pem = d365_testkit::shared_signing_key();
    let key_body = key_pem.lines().nth(1).unwrap().to_owned();
    assert!(
        !format!("{config:?}{emulator:?}").contains(&key_body),
        "the signing key leaks"
    );
    for (what, debug) in [
        ("ClientSecret", format!("{:?}", ClientSecret::new(SECRET))),
        ("Password", format!("{:?}", Password::new(SECRET))),
        ("AccessToken", format!("{:?}", AccessToken::new(SECRET))),
        ("RefreshToken", format!("{:?}", RefreshToken::new(SECRET))),
        ("PasswordGrant", format!("{password:?}")),
        ("ClientCredentialsGrant", format!("{app:?}")),
        ("RefreshTokenGrant", format!("{refresh:?}")),
        ("Form", format!("{form:?}")),
        ("OAuthCredential", format!("{credential:#?}")),
        (
            "OAuthCredential (refresh)",
            format!("{refresh_credential:?}"),
        ),
        ("TokenResponse", format!("{response:?}")),
        ("Client", format!("{client:?}")),
        ("EmulatorConfig", format!("{config:?}")),
        (
            "PrivateKeyPem",
            format!("{:?}", d365_emulator::config::PrivateKeyPem(SECRET.into())),
        ),
        ("EmulatorInfo", format!("{info:?}")),
        ("Emulator", format!("{emulator:?}")),
    ] {
        assert_redacted(what, debug);
    }
}
