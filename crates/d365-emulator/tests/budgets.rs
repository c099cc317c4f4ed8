//! What one request may spend, over real HTTP: a query's deadline (Dataverse's SQL timeout),
//! the length of a LIKE pattern, the size of a `$batch` answer and the execution time its parts
//! use. Each hostile request is followed by one that must still be served.

mod common;

use d365_emulator::limits::ServiceLimits;
use d365_testkit::{EmulatorConfig, EmulatorInfo, start, test_config};
use serde_json::Value;

/// A `$batch` of `n` GETs of `path`, as one multipart body.
fn batch_of_gets(path: &str, n: usize) -> String {
    let mut body = String::new();
    for i in 0..n {
        body.push_str(&format!(
            "--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {i}\r\n\r\nGET {path} HTTP/1.1\r\nAccept: application/json\r\n\r\n"
        ));
    }
    body.push_str("--b--\r\n");
    body
}

/// The status line and the error code of each part of a batch answer, in order.
fn parts(text: &str) -> Vec<(u16, Option<String>)> {
    text.split("HTTP/1.1 ")
        .skip(1)
        .map(|part| {
            let status = part[..3].parse().unwrap();
            let code = part
                .find("{\"error\"")
                .and_then(|at| {
                    serde_json::Deserializer::from_str(&part[at..])
                        .into_iter::<Value>()
                        .next()
                })
                .and_then(Result::ok)
                .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
            (status, code)
        })
        .collect()
}

async fn post_batch(
    http: &reqwest::Client,
    info: &EmulatorInfo,
    token: &str,
    body: String,
) -> (u16, String) {
    let response = http
        .post(format!("{}/api/data/v9.2/$batch", info.environment_url))
        .bearer_auth(token)
        .header("content-type", "multipart/mixed; boundary=b")
        .header("prefer", "odata.continue-on-error")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn error_of(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, code, message)
}

#[tokio::test]
async fn a_query_past_its_deadline_gets_dataverses_sql_timeout() {
    // No time at all: any query longer than SQLite's first progress check is stopped, so the
    // outcome does not depend on the machine's speed.
    let emulator = start(EmulatorConfig {
        query_timeout_ms: 0,
        ..test_config(300)
    })
    .await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let slow = common::api_get(
        &http,
        &info,
        &token,
        "contacts?$filter=contains(fullname,'zz')&$count=true",
    )
    .await;
    let (status, code, message) = error_of(slow).await;
    assert_eq!((status, code.as_str()), (500, "0x80044151"), "{message}");
    assert!(message.contains("SQL timeout expired"), "{message}");
    // The emulator still answers (the token endpoint runs no query).
    assert!(!common::app_token(&http, &info).await.is_empty());
}

#[tokio::test]
async fn like_patterns_have_a_length_limit() {
    let emulator = start(test_config(3)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let long = "x".repeat(4_001);
    for path in [
        format!("accounts?$filter=contains(name,'{long}')"),
        format!("accounts?$filter=startswith(name,'{long}')"),
        format!(
            "accounts?fetchXml=<fetch><entity name='account'><filter><condition attribute='name' operator='like' value='%{long}' /></filter></entity></fetch>"
        ),
        format!(
            "accounts?fetchXml=<fetch><entity name='account'><filter><condition attribute='name' operator='begins-with' value='{long}' /></filter></entity></fetch>"
        ),
    ] {
        let (status, code, message) =
            error_of(common::api_get(&http, &info, &token, &path).await).await;
        assert_eq!(status, 400, "{path}: {message}");
        assert!(code.starts_with("0x8"), "{code}");
        assert!(message.contains("at most 4000"), "{message}");
    }
    // At the limit it runs.
    let fine = format!("accounts?$filter=contains(name,'{}')", "x".repeat(4_000));
    assert_eq!(
        common::api_get(&http, &info, &token, &fine).await.status(),
        200
    );
}

#[tokio::test]
async fn a_batch_answer_stops_at_its_cap_and_builds_nothing_past_it() {
    let emulator = start(EmulatorConfig {
        batch_answer_limit_bytes: 4_000,
        ..test_config(20)
    })
    .await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    // Each answer is about 1.5 KB: the third crosses the cap, and the rest are not run.
    let (status, text) = post_batch(
        &http,
        &info,
        &token,
        batch_of_gets("accounts?$select=name,accountnumber,description&$top=5", 10),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let got = parts(&text);
    assert_eq!(got.len(), 10, "{text}");
    let ok = got.iter().take_while(|(s, _)| *s == 200).count();
    assert!((1..10).contains(&ok), "{got:?}");
    for (status, code) in &got[ok..] {
        assert_eq!((*status, code.as_deref()), (400, Some("0x0")), "{got:?}");
    }
    assert!(text.contains("limit of 4000 bytes"), "{text}");
    assert!(text.len() < 4_000 + 10 * 1_000, "{} bytes", text.len());
    // The next request is served.
    assert_eq!(
        common::api_get(&http, &info, &token, "accounts?$top=1")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_batchs_parts_spend_the_callers_execution_time() {
    // One millisecond of execution time per window: the batch is admitted, its parts use it
    // up, the parts after that get the 429 a new request would, and so does the next request.
    let emulator = start(EmulatorConfig {
        limits: Some(ServiceLimits {
            execution_ms: 1,
            ..ServiceLimits::real()
        }),
        ..test_config(20)
    })
    .await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let (status, text) = post_batch(
        &http,
        &info,
        &token,
        batch_of_gets("accounts?$select=name&$top=20", 50),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let got = parts(&text);
    assert_eq!(got.len(), 50);
    let (last_status, last_code) = got.last().unwrap();
    assert_eq!(
        (*last_status, last_code.as_deref()),
        (429, Some("0x80072321")),
        "{got:?}"
    );
    let next = common::api_get(&http, &info, &token, "accounts?$top=1").await;
    let (status, code, _) = error_of(next).await;
    assert_eq!((status, code.as_str()), (429, "0x80072321"));
}

/// An answer sent before the request's body was read (a 401 here, as for an injected fault or
/// a 429) closes the connection and says so, so a keep-alive client opens a new one instead of
/// losing its next request on the closing one; answers that read the body keep it open.
#[tokio::test]
async fn an_answer_that_leaves_the_body_unread_says_connection_close() {
    let emulator = start(test_config(3)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let create = |bearer: &str| {
        http.post(format!("{}/api/data/v9.2/accounts", info.environment_url))
            .bearer_auth(bearer)
            .header("content-type", "application/json")
            .body(r#"{"name":"Keep-alive"}"#)
            .send()
    };
    let connection = |r: &reqwest::Response| {
        r.headers()
            .get("connection")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let refused = create("not-a-token").await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(connection(&refused).as_deref(), Some("close"));
    let created = create(&token).await.unwrap();
    assert_eq!(created.status(), 204);
    assert_eq!(connection(&created), None);
    // Many early answers in a row on one keep-alive client: none is lost in transit.
    for _ in 0..50 {
        assert_eq!(create("not-a-token").await.unwrap().status(), 401);
        assert_eq!(create(&token).await.unwrap().status(), 204);
    }
}
