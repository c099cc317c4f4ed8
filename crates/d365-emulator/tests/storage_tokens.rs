//! Tokens for Azure Storage (`https://storage.azure.com`), as Entra issues them to any app of
//! the tenant: the lake sink's ADLS/Blob storage accepts them, and Azurite's OAuth mode checks
//! their lifetime, `sts.windows.net` issuer and audience. The Web API refuses them.

use base64::Engine;
use d365_testkit::{EmulatorInfo, start, test_config};
use serde_json::Value;

const STORAGE: &str = "https://storage.azure.com";

async fn token(
    http: &reqwest::Client,
    info: &EmulatorInfo,
    v2: bool,
    form: &[(&str, &str)],
) -> Value {
    let path = if v2 {
        "oauth2/v2.0/token"
    } else {
        "oauth2/token"
    };
    let url = format!("{}/{}/{path}", info.authority_host, info.tenant_id);
    let answer = http.post(url).form(form).send().await.unwrap();
    let status = answer.status();
    let body: Value = answer.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// The claims of an access token (its payload, not verified here: the Web API does that).
fn claims(body: &Value) -> Value {
    let jwt = body["access_token"].as_str().unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

#[tokio::test]
async fn storage_tokens_are_issued_as_entra_issues_them_and_the_web_api_refuses_them() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let issuer = format!("https://sts.windows.net/{}/", info.tenant_id);
    let app = [
        ("grant_type", "client_credentials"),
        ("client_id", info.client_id.as_str()),
        ("client_secret", info.client_secret.as_str()),
    ];

    // App-only, v2: `.default` of the storage resource; no `scope` answered, as for Dataverse.
    let scope = format!("{STORAGE}/.default");
    let v2 = token(
        &http,
        &info,
        true,
        &[&app[..], &[("scope", &scope)]].concat(),
    )
    .await;
    assert!(
        v2.get("scope").is_none() && v2.get("refresh_token").is_none(),
        "{v2}"
    );
    let c = claims(&v2);
    assert_eq!(c["aud"], STORAGE);
    assert_eq!(c["iss"], issuer.as_str());
    assert_eq!(c["ver"], "1.0");
    assert_eq!(c["appid"], info.client_id.as_str());
    assert_eq!(c["tid"], info.tenant_id.as_str());
    let lifetime = c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap();
    assert!((3000..=5400).contains(&lifetime), "{lifetime}");

    // v1 names the resource itself; the audience is as it was asked for.
    let v1 = token(
        &http,
        &info,
        false,
        &[&app[..], &[("resource", "https://storage.azure.com/")]].concat(),
    )
    .await;
    assert_eq!(v1["resource"], "https://storage.azure.com/");
    assert_eq!(claims(&v1)["aud"], "https://storage.azure.com/");

    // A user's token for storage, and its refresh token, which keeps to storage.
    let user_scope = format!("{STORAGE}/user_impersonation offline_access");
    let password = [
        ("grant_type", "password"),
        ("client_id", info.client_id.as_str()),
        ("client_secret", info.client_secret.as_str()),
        ("username", info.username.as_str()),
        ("password", info.password.as_str()),
        ("scope", user_scope.as_str()),
    ];
    let user = token(&http, &info, true, &password).await;
    assert_eq!(user["scope"], format!("{STORAGE}/user_impersonation"));
    assert_eq!(claims(&user)["aud"], STORAGE);
    let refresh = [
        ("grant_type", "refresh_token"),
        ("client_id", info.client_id.as_str()),
        ("client_secret", info.client_secret.as_str()),
        ("refresh_token", user["refresh_token"].as_str().unwrap()),
    ];
    let again = token(&http, &info, false, &refresh).await;
    assert_eq!(claims(&again)["aud"], STORAGE);

    // The Web API takes the environment's tokens only.
    let who_am_i = format!("{}/api/data/v9.2/WhoAmI", info.environment_url);
    for body in [&v2, &user] {
        let answer = http
            .get(&who_am_i)
            .bearer_auth(body["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401);
    }

    // One account's service names storage too, spelled as asked.
    let account = [
        &app[..],
        &[("scope", "https://lakeacct01.dfs.core.windows.net/.default")],
    ]
    .concat();
    let by_account = token(&http, &info, true, &account).await;
    assert_eq!(
        claims(&by_account)["aud"],
        "https://lakeacct01.dfs.core.windows.net"
    );

    // A refresh token from a Dataverse sign-in is redeemed for storage, as Entra allows.
    let env_scope = format!("{}/.default offline_access", info.environment_url);
    let mut dataverse_signin = password.to_vec();
    dataverse_signin.retain(|(k, _)| *k != "scope");
    dataverse_signin.push(("scope", env_scope.as_str()));
    let signed_in = token(&http, &info, true, &dataverse_signin).await;
    assert_eq!(claims(&signed_in)["aud"], info.environment_url.as_str());
    let across = [
        ("grant_type", "refresh_token"),
        ("client_id", info.client_id.as_str()),
        ("client_secret", info.client_secret.as_str()),
        (
            "refresh_token",
            signed_in["refresh_token"].as_str().unwrap(),
        ),
        ("scope", scope.as_str()),
    ];
    assert_eq!(
        claims(&token(&http, &info, true, &across).await)["aud"],
        STORAGE
    );

    // Any other resource is still unknown to the tenant (AADSTS500011).
    let other = [&app[..], &[("scope", "https://unknown.example/.default")]].concat();
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        info.authority_host, info.tenant_id
    );
    let answer = http.post(url).form(&other).send().await.unwrap();
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "invalid_resource", "{body}");
    assert!(body["error_codes"][0] == 500011, "{body}");
}
