//! Item 8: the small ones (device and sign-in pages, the clock).

use super::*;

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
