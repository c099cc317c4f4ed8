//! `GET {set}?sql=SELECT …`: the Web API's read-only SQL subset, answered by the FetchXML
//! engine: the Python SDK's query, filters that agree with `$filter`, and refusals.

mod common;

use d365_testkit::{start, test_config};
use reqwest::StatusCode;
use serde_json::Value;

async fn get(
    http: &reqwest::Client,
    info: &d365_testkit::EmulatorInfo,
    token: &str,
    path: &str,
) -> (StatusCode, Value) {
    let r = common::api_get(http, info, token, path).await;
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn sql(text: &str) -> String {
    format!(
        "accounts?sql={}",
        url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
    )
}

#[tokio::test]
async fn sql_selects_filter_and_order_like_the_odata_queries_they_mirror() {
    let emulator = start(test_config(60)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;

    // What Microsoft's Python SDK sends for client.query.sql(...).
    let (status, body) = get(
        &http,
        &info,
        &token,
        &sql("SELECT TOP 5 accountid, name, accountnumber FROM account ORDER BY accountnumber"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = body["value"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let numbers: Vec<&str> = rows
        .iter()
        .map(|r| r["accountnumber"].as_str().unwrap())
        .collect();
    let mut sorted = numbers.clone();
    sorted.sort();
    assert_eq!(numbers, sorted);
    assert!(
        rows.iter()
            .all(|r| r["accountid"].is_string() && r.get("telephone1").is_none())
    );

    // The same rows as the OData query with the same meaning.
    let (_, odata) = get(
        &http,
        &info,
        &token,
        "accounts?$select=accountid&$filter=statecode%20eq%200%20and%20(numberofemployees%20gt%2010000%20or%20startswith(name,'A'))&$orderby=name%20desc",
    )
    .await;
    let (status, body) = get(
        &http,
        &info,
        &token,
        &sql("SELECT a.accountid FROM account a WHERE a.statecode = 0 AND (10000 < numberofemployees OR name LIKE 'A%') ORDER BY name DESC"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids = |v: &Value| -> Vec<String> {
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["accountid"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(!ids(&odata).is_empty());
    assert_eq!(ids(&body), ids(&odata));

    for (text, needle) in [
        ("SELECT name FROM contact", "not the table of accounts"),
        ("SELECT name FROM account JOIN contact ON a = b", "JOIN"),
        ("SELECT nosuchcolumn FROM account", "nosuchcolumn"),
        ("SELECT name FROM account WHERE name = other", "a constant"),
    ] {
        let (status, body) = get(&http, &info, &token, &sql(text)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{text}: {message}");
    }
}
