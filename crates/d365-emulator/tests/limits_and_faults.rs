//! Service protection limits and fault injection over real HTTP, with the limits set small,
//! and the control API's request log, snapshots and reset.

mod common;

use d365_emulator::faults::{FaultKind, FaultRule};
use d365_emulator::limits::ServiceLimits;
use d365_testkit::{EmulatorInfo, start, test_config};
use serde_json::{Value, json};

fn api(info: &EmulatorInfo, path: &str) -> String {
    format!("{}/api/data/v9.2/{path}", info.environment_url)
}

fn control(info: &EmulatorInfo, path: &str) -> String {
    format!("{}/_emulator/{path}", info.authority_host)
}

#[tokio::test]
async fn request_count_limit_answers_429_until_the_window_slides() {
    let mut config = test_config(3);
    config.limits = Some(ServiceLimits {
        requests: 5,
        window_secs: 300,
        ..ServiceLimits::real()
    });
    let emulator = start(config).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    for remaining in (0..5).rev() {
        let r = common::api_get(&http, &info, &token, "WhoAmI").await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["x-ms-ratelimit-burst-remaining-xrm-requests"],
            remaining.to_string().as_str()
        );
        assert!(
            r.headers()
                .contains_key("x-ms-ratelimit-time-remaining-xrm-requests")
        );
        assert_eq!(r.headers()["x-ms-dop-hint"], "4");
    }
    let r = common::api_get(&http, &info, &token, "accounts").await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "0x80072322");
    assert_eq!(
        body["error"]["message"],
        "Number of requests exceeded the limit of 5 over time window of 300 seconds."
    );

    // The limits are per user: the signed-in user is not throttled by the app's traffic.
    let user = common::user_token(&http, &info).await;
    let r = common::api_get(&http, &info, &user, "WhoAmI").await;
    assert_eq!(r.status(), 200);

    // Five minutes later the window has slid.
    http.post(control(&info, "clock/advance?seconds=301"))
        .send()
        .await
        .unwrap();
    let token = common::app_token(&http, &info).await;
    let r = common::api_get(&http, &info, &token, "WhoAmI").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn concurrency_and_execution_time_limits() {
    let emulator = start(test_config(3)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    // Limits switched on at run time; slow answers through an injected delay.
    let r = http
        .put(control(&info, "limits"))
        .json(&json!({"limits": {"concurrent": 2, "execution_ms": 3500, "window_secs": 60, "dop_hint": 2}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(control(&info, "faults"))
        .json(&json!({"kind": "delay", "delay_ms": 1000, "method": "GET", "path": "*/accounts*"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let send = || {
        let (http, token, url) = (http.clone(), token.clone(), api(&info, "accounts?$top=1"));
        tokio::spawn(async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            let status = r.status().as_u16();
            let dop = r.headers()["x-ms-dop-hint"].to_str().unwrap().to_owned();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (
                status,
                body["error"]["code"].as_str().unwrap_or("").to_owned(),
                dop,
            )
        })
    };
    let mut outcomes = Vec::new();
    for task in (0..5).map(|_| send()).collect::<Vec<_>>() {
        outcomes.push(task.await.unwrap());
    }
    let ok = outcomes.iter().filter(|(s, _, _)| *s == 200).count();
    let concurrency = outcomes
        .iter()
        .filter(|(s, c, _)| *s == 429 && c == "0x80072326")
        .count();
    assert!(
        outcomes.iter().all(|(_, _, dop)| dop == "2"),
        "the configured hint"
    );
    assert_eq!(ok, 2, "{outcomes:?}");
    assert_eq!(concurrency, 3, "{outcomes:?}");

    // 2 × 1 s done; two more bring the total past 3.5 s, then the time limit answers.
    for _ in 0..2 {
        assert_eq!(send().await.unwrap().0, 200);
    }
    let (status, code, _) = send().await.unwrap();
    assert_eq!((status, code.as_str()), (429, "0x80072321"));

    // Off again.
    http.put(control(&info, "limits"))
        .json(&json!({"limits": null}))
        .send()
        .await
        .unwrap();
    http.delete(control(&info, "faults")).send().await.unwrap();
    assert_eq!(send().await.unwrap().0, 200);
}

#[tokio::test]
async fn injected_faults_and_the_request_log() {
    let mut config = test_config(12);
    // One from the start, as `--fault` sets it.
    config.faults.push(FaultRule {
        kind: FaultKind::Error,
        method: Some("GET".into()),
        path: "/api/data/v9.2/contacts*".into(),
        count: Some(2),
        share: None,
        status: Some(503),
        delay_ms: None,
        retry_after: Some(3),
    });
    let emulator = start(config).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let get = |path: &str| http.get(api(&info, path)).bearer_auth(&token).send();

    for _ in 0..2 {
        let r = get("contacts?$top=1").await.unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "3");
    }
    assert_eq!(
        get("contacts?$top=1").await.unwrap().status(),
        200,
        "only the next two"
    );

    let add = |rule: Value| http.post(control(&info, "faults")).json(&rule).send();
    assert_eq!(
        add(json!({"kind": "throttle", "count": 1, "retry_after": 7}))
            .await
            .unwrap()
            .status(),
        201
    );
    let r = get("accounts").await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");

    // A dropped connection: the client sees a transport error, not an answer.
    add(json!({"kind": "drop", "count": 1})).await.unwrap();
    let dropped = match get("accounts?$select=name").await {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(dropped);

    // An expired paging cookie hits only requests that carry one.
    add(json!({"kind": "expired-cookie", "count": 1}))
        .await
        .unwrap();
    let first = http
        .get(api(&info, "accounts?$select=name"))
        .header("Prefer", "odata.maxpagesize=5")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let next: Value = first.json().await.unwrap();
    let next_link = next["@odata.nextLink"].as_str().unwrap().to_owned();
    let r = http
        .get(&next_link)
        .header("Prefer", "odata.maxpagesize=5")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "0x8004112A");

    // Bad rules are refused.
    let r = add(json!({"kind": "error", "share": 1.5})).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = add(json!({"kind": "explode"})).await.unwrap();
    assert_eq!(r.status(), 400);

    // The log has every request, faults marked, no token or body.
    let log: Value = http
        .get(control(&info, "requests?limit=50"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = log["requests"].as_array().unwrap();
    let faults: Vec<&str> = entries.iter().filter_map(|e| e["fault"].as_str()).collect();
    assert_eq!(
        faults,
        ["error", "error", "throttle", "drop", "expired-cookie"]
    );
    assert!(
        entries
            .iter()
            .any(|e| e["path"].as_str().unwrap().ends_with("/oauth2/token"))
    );
    assert!(!log.to_string().contains(&token));
    assert!(!log.to_string().contains(&info.client_secret));
}

#[tokio::test]
async fn snapshots_restore_data_and_reset_reseeds() {
    let emulator = start(test_config(4)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let count = || async {
        common::api_get(&http, &info, &token, "accounts/$count")
            .await
            .text()
            .await
            .unwrap()
    };
    let first_ids = || async {
        let v: Value = common::api_get(
            &http,
            &info,
            &token,
            "accounts?$select=name&$orderby=accountnumber",
        )
        .await
        .json()
        .await
        .unwrap();
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["accountid"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let seeded = first_ids().await;
    let r = http
        .post(control(&info, "snapshots/clean"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    for id in &seeded[..2] {
        let r = http
            .delete(api(&info, &format!("accounts({id})")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    assert_eq!(count().await, "2");
    let r = http
        .post(control(&info, "snapshots/clean/restore"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(first_ids().await, seeded);
    let r = http
        .post(control(&info, "snapshots/nosuch/restore"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .post(control(&info, "snapshots/bad%20name"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Reset: back to the seeded rows, same ids, whatever happened since.
    http.post(api(&info, "accounts"))
        .bearer_auth(&token)
        .json(&json!({"name": "Extra"}))
        .send()
        .await
        .unwrap();
    assert_eq!(count().await, "5");
    let r = http.post(control(&info, "reset")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(first_ids().await, seeded);
}
