//! Item 5: impersonation (`CallerObjectId`, `MSCRMCallerID`): the user and the caller's
//! privilege are checked.

use super::*;

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
