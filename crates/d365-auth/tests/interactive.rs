//! Device code, authorization code + PKCE and certificate assertions, client and emulator
//! together over real HTTP.

use std::collections::HashMap;

use d365_auth::grant::{
    AuthorizationCodeGrant, DeviceCodeGrant, Pkce, authorize_url, random_token,
};
use d365_auth::{
    AssertionAlgorithm, AuthError, Authority, AuthorizationCode, ClientCertificate,
    EndpointVersion, OAuthCredential, Target, TokenClient, TokenCredential, decode_claims,
    token_client,
};
use d365_testkit::{EmulatorConfig, EmulatorInfo, start, test_config};
use serde_json::Value;

fn client(info: &EmulatorInfo) -> TokenClient {
    token_client(Authority::new(&info.authority_host, &info.tenant_id).unwrap()).unwrap()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn server_error(err: &AuthError) -> (&str, Option<u64>) {
    let r = err.server_response().unwrap_or_else(|| panic!("{err:?}"));
    (r.error.as_str(), r.aadsts())
}

async fn raw_poll(info: &EmulatorInfo, grant_type: &str, device_code: &str) -> Value {
    reqwest::Client::new()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            info.authority_host, info.tenant_id
        ))
        .form(&[
            ("grant_type", grant_type),
            ("client_id", &info.public_client_id),
            ("device_code", device_code),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn device_code_flow_end_to_end() {
    let emulator = start(EmulatorConfig {
        device_code_interval_secs: 1,
        ..test_config(0)
    })
    .await;
    let info = emulator.info();
    let tc = client(&info);
    let target = Target::Scopes(vec![
        format!("{}/.default", info.environment_url),
        "offline_access".into(),
        "openid".into(),
        "profile".into(),
    ]);
    // Both answer shapes parse; v1 uses verification_url and strings (checked raw below).
    let v1 = tc
        .device_authorization(
            EndpointVersion::V1,
            &Target::Resource(info.environment_url.clone()),
            &info.public_client_id,
        )
        .await
        .unwrap();
    assert!(v1.verification_uri.ends_with("/devicelogin"));
    let raw: Value = reqwest::Client::new()
        .post(format!(
            "{}/{}/oauth2/devicecode",
            info.authority_host, info.tenant_id
        ))
        .form(&[
            ("client_id", info.public_client_id.as_str()),
            ("resource", &info.environment_url),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        raw["verification_url"].is_string()
            && raw["expires_in"].is_string()
            && raw["interval"].is_string(),
        "{raw}"
    );

    let auth = tc
        .device_authorization(EndpointVersion::V2, &target, &info.public_client_id)
        .await
        .unwrap();
    assert_eq!(auth.interval, Some(1));
    assert!(auth.message.as_deref().unwrap().contains(&auth.user_code));
    // Pending, then too fast.
    let code = auth.device_code.secret().to_owned();
    assert_eq!(
        raw_poll(&info, "urn:ietf:params:oauth:grant-type:device_code", &code).await["error"],
        "authorization_pending"
    );
    assert_eq!(
        raw_poll(&info, "device_code", &code).await["error"],
        "slow_down",
        "msal-node's short grant name works too"
    );
    // The user signs in on the device page.
    let http = reqwest::Client::new();
    let page = http
        .get(&auth.verification_uri)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Enter code"));
    let wrong = http
        .post(&auth.verification_uri)
        .form(&[("code", "NOPE")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        wrong.contains("didn&#39;t work") || wrong.contains("didn't work"),
        "{wrong}"
    );
    let form = http
        .post(&auth.verification_uri)
        .form(&[("code", auth.user_code.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains("name=\"password\""));
    let bad = http
        .post(&auth.verification_uri)
        .form(&[
            ("code", auth.user_code.as_str()),
            ("username", &info.username),
            ("password", "wrong"),
            ("action", "signin"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(bad.contains("incorrect"));
    let done = http
        .post(&auth.verification_uri)
        .form(&[
            ("code", auth.user_code.as_str()),
            ("username", &info.username),
            ("password", &info.password),
            ("action", "signin"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(done.contains("signed in"), "{done}");
    let grant = DeviceCodeGrant {
        client_id: info.public_client_id.clone(),
        client_secret: None,
        device_code: auth.device_code.clone(),
    };
    let tokens = tc
        .poll_device_code(
            EndpointVersion::V2,
            &target,
            &grant,
            &auth,
            tokio::time::sleep,
        )
        .await
        .unwrap();
    assert!(tokens.refresh_token.is_some());
    let id = decode_claims(tokens.id_token.as_ref().unwrap().secret()).unwrap();
    assert_eq!(id["aud"], info.public_client_id.as_str());
    assert_eq!(id["preferred_username"], info.username.as_str());
    // Single use.
    assert_eq!(
        raw_poll(&info, "device_code", &code).await["error"],
        "bad_verification_code"
    );

    // Declined.
    let auth = tc
        .device_authorization(EndpointVersion::V2, &target, &info.public_client_id)
        .await
        .unwrap();
    let r = http
        .post(format!(
            "{}/_emulator/devicecode/{}/decline",
            info.authority_host, auth.user_code
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let grant = DeviceCodeGrant {
        client_id: info.public_client_id.clone(),
        client_secret: None,
        device_code: auth.device_code.clone(),
    };
    let err = tc
        .poll_device_code(EndpointVersion::V2, &target, &grant, &auth, |_| async {})
        .await
        .unwrap_err();
    assert_eq!(server_error(&err).0, "authorization_declined");

    // Expired.
    let auth = tc
        .device_authorization(EndpointVersion::V2, &target, &info.public_client_id)
        .await
        .unwrap();
    emulator.state().clock.advance(901);
    let grant = DeviceCodeGrant {
        client_id: info.public_client_id.clone(),
        client_secret: None,
        device_code: auth.device_code.clone(),
    };
    let err = tc
        .poll_device_code(EndpointVersion::V2, &target, &grant, &auth, |_| async {})
        .await
        .unwrap_err();
    assert_eq!(server_error(&err), ("expired_token", Some(70019)));
}

/// Walks the sign-in page like a browser: GET the authorize URL, POST the form with the
/// credentials, return the redirect's query.
async fn browser_sign_in(
    info: &EmulatorInfo,
    url: &url::Url,
    password: &str,
) -> Result<HashMap<String, String>, String> {
    let http = no_redirects();
    let page = http
        .get(url.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    if !page.contains("name=\"password\"") {
        return Err(page);
    }
    let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    form.push(("username".into(), info.username.clone()));
    form.push(("password".into(), password.into()));
    let mut post_url = url.clone();
    post_url.set_query(None);
    let r = http.post(post_url).form(&form).send().await.unwrap();
    match r.headers().get("location") {
        Some(loc) => Ok(url::Url::parse(loc.to_str().unwrap())
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()),
        None => Err(r.text().await.unwrap()),
    }
}

#[tokio::test]
async fn authorization_code_with_pkce() {
    let emulator = start(test_config(0)).await;
    let info = emulator.info();
    let authority = Authority::new(&info.authority_host, &info.tenant_id).unwrap();
    let tc = client(&info);
    let target = Target::Resource(info.environment_url.clone());
    let redirect = "http://localhost:53123/".to_owned();
    let sign_in = |pkce: &Pkce, state: &str| {
        let url = authorize_url(
            &authority,
            EndpointVersion::V2,
            &info.public_client_id,
            &redirect,
            &target,
            state,
            &pkce.challenge,
        );
        let info = info.clone();
        async move { browser_sign_in(&info, &url, &info.password).await }
    };
    // A wrong password stays on the page with an error.
    let pkce = Pkce::new();
    let url = authorize_url(
        &authority,
        EndpointVersion::V2,
        &info.public_client_id,
        &redirect,
        &target,
        "s0",
        &pkce.challenge,
    );
    let page = browser_sign_in(&info, &url, "wrong").await.unwrap_err();
    assert!(
        page.contains("Your account or password is incorrect"),
        "{page}"
    );

    let state = random_token();
    let query = sign_in(&pkce, &state).await.unwrap();
    assert_eq!(query["state"], state);
    let code = query["code"].clone();
    let exchange =
        |code: &str, verifier: d365_auth::PkceVerifier, redirect: &str| AuthorizationCodeGrant {
            client_id: info.public_client_id.clone(),
            client_secret: None,
            code: AuthorizationCode::new(code),
            redirect_uri: redirect.to_owned(),
            code_verifier: verifier,
        };
    // Wrong redirect URI, then the wrong verifier: refused, and the code is not consumed by them.
    let err = tc
        .request(
            EndpointVersion::V2,
            &target,
            &exchange(&code, Pkce::new().verifier, "http://localhost:1/"),
        )
        .await
        .unwrap_err();
    assert_eq!(server_error(&err), ("invalid_grant", Some(50011)));
    let err = tc
        .request(
            EndpointVersion::V2,
            &target,
            &exchange(&code, Pkce::new().verifier, &redirect),
        )
        .await
        .unwrap_err();
    assert_eq!(server_error(&err), ("invalid_grant", Some(501481)));
    let tokens = tc
        .request(
            EndpointVersion::V2,
            &target,
            &exchange(
                &code,
                d365_auth::PkceVerifier::new(pkce.verifier.secret()),
                &redirect,
            ),
        )
        .await
        .unwrap();
    assert!(tokens.refresh_token.is_some() && tokens.id_token.is_some());
    assert_eq!(
        decode_claims(tokens.access_token.secret()).unwrap()["upn"],
        info.username.as_str()
    );
    // Reuse.
    let err = tc
        .request(
            EndpointVersion::V2,
            &target,
            &exchange(
                &code,
                d365_auth::PkceVerifier::new(pkce.verifier.secret()),
                &redirect,
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(server_error(&err), ("invalid_grant", Some(54005)));
    // Credentials in a URL do not sign anyone in: only a form post does.
    let mut leaky = authorize_url(
        &authority,
        EndpointVersion::V2,
        &info.public_client_id,
        &redirect,
        &target,
        "s1",
        &pkce.challenge,
    );
    leaky
        .query_pairs_mut()
        .append_pair("username", &info.username)
        .append_pair("password", &info.password);
    let r = no_redirects().get(leaky).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("name=\"password\""));
    // An unregistered redirect URI is an error page, never a redirect.
    let url = authorize_url(
        &authority,
        EndpointVersion::V2,
        &info.public_client_id,
        "https://evil.example/cb",
        &target,
        "s",
        &pkce.challenge,
    );
    let r = no_redirects().get(url).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS50011"));
}

fn certificate() -> (String, String) {
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .unwrap();
    let cert = rcgen::CertificateParams::new(vec!["d365-test-app".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (key.serialize_pem(), cert.pem())
}

#[tokio::test]
async fn certificate_assertions() {
    let (key_pem, cert_pem) = certificate();
    let mut config = test_config(0);
    // Registered as azure-identity keeps it: the private key first, then the certificate.
    config.apps[0]
        .certificates
        .push(format!("{key_pem}{cert_pem}"));
    let emulator = start(config).await;
    let info = emulator.info();
    for (version, alg) in [
        (EndpointVersion::V1, AssertionAlgorithm::Rs256),
        (EndpointVersion::V2, AssertionAlgorithm::Ps256),
    ] {
        let cert = ClientCertificate::from_pem(&key_pem, &cert_pem)
            .unwrap()
            .with_algorithm(alg);
        let credential = OAuthCredential::certificate(client(&info), &info.client_id, cert)
            .with_endpoint(version);
        let token = credential.get_token(&info.environment_url).await.unwrap();
        let claims = decode_claims(token.secret()).unwrap();
        assert_eq!(
            (claims["appid"].as_str(), claims["appidacr"].as_str()),
            (Some(info.client_id.as_str()), Some("1"))
        );
    }
    // Replay, wrong audience, unregistered certificate.
    let cert = ClientCertificate::from_pem(&key_pem, &cert_pem).unwrap();
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        info.authority_host, info.tenant_id
    );
    let post = |assertion: String| {
        let (url, info) = (url.clone(), info.clone());
        async move {
            let scope = format!("{}/.default", info.environment_url);
            let r = reqwest::Client::new()
                .post(&url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", &info.client_id),
                    ("scope", &scope),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let assertion = cert.assertion(&info.client_id, &url).unwrap().into_secret();
    assert_eq!(post(assertion.clone()).await.0, 200);
    let (status, body) = post(assertion).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(700027)),
        "{body}"
    );
    let (status, body) = post(
        cert.assertion(
            &info.client_id,
            "https://login.microsoftonline.com/x/oauth2/v2.0/token",
        )
        .unwrap()
        .into_secret(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    // MSAL Python's spelling: padded standard base64 in x5t and a fractional exp.
    let der = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        cert_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>(),
    )
    .unwrap();
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t = Some(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        sha1.as_ref(),
    ));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let claims = serde_json::json!({"aud": url, "iss": info.client_id, "sub": info.client_id, "jti": "python-style", "exp": now + 600.5, "iat": now});
    let msal_style = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let (status, body) = post(msal_style).await;
    assert_eq!(status, 200, "{body}");
    let (other_key, other_cert) = certificate();
    let stranger = ClientCertificate::from_pem(&other_key, &other_cert).unwrap();
    let (status, body) = post(
        stranger
            .assertion(&info.client_id, &url)
            .unwrap()
            .into_secret(),
    )
    .await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(700027)),
        "{body}"
    );
}
