//! Writes and FetchXML through the client against the emulator: create, update, upsert (by id and by
//! alternate key, each mode), delete, count, retries under injected throttling, and FetchXML
//! paging by cookie.

mod common;

use d365_odata::col;
use d365_testkit::{EmulatorInfo, keyed_config, start, test_config};
use d365_webapi::{Client, RecordKey, UpsertMode};
use serde_json::json;

fn client(info: &EmulatorInfo) -> Client {
    common::builder(info).build().unwrap()
}

fn status(e: d365_webapi::Error) -> (u16, String) {
    let api = e
        .api()
        .cloned()
        .unwrap_or_else(|| panic!("not an API error: {e}"));
    (api.status, api.code)
}

#[tokio::test]
async fn create_update_upsert_delete_and_count() {
    // The org has a key on accountnumber, for the upserts by key.
    let emulator = start(keyed_config(5)).await;
    let c = client(&emulator.info());

    let id = c
        .create(
            "accounts",
            json!({"name": "Client Co", "numberofemployees": 12}),
        )
        .send()
        .await
        .unwrap();
    let made = c
        .retrieve("accounts", id)
        .select(["name", "numberofemployees"])
        .send()
        .await
        .unwrap();
    assert_eq!(made["name"], "Client Co");
    let represented = c
        .create("accounts", json!({"name": "Shown Co"}))
        .send_representation(["name"])
        .await
        .unwrap();
    assert_eq!(represented["name"], "Shown Co");
    assert!(represented["accountid"].is_string());

    // Update: existing only, optionally only at a given etag.
    c.update("accounts", id, json!({"telephone1": "555-0100"}))
        .send()
        .await
        .unwrap();
    let missing = uuid::Uuid::from_u128(99);
    let e = c
        .update("accounts", missing, json!({"name": "x"}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(e).0, 404);
    assert!(
        c.retrieve("accounts", missing).send().await.is_err(),
        "update never creates"
    );
    let stale = made["@odata.etag"].as_str().unwrap().to_owned();
    let e = c
        .update("accounts", id, json!({"name": "late"}))
        .if_match(&stale)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(e).0, 412);
    let fresh = c
        .retrieve("accounts", id)
        .select(["name"])
        .send()
        .await
        .unwrap();
    c.update("accounts", id, json!({"name": "Current Co"}))
        .if_match(fresh["@odata.etag"].as_str().unwrap())
        .send()
        .await
        .unwrap();

    // Upsert by id in each mode.
    let new_id = uuid::Uuid::from_u128(0x5e1f_0001);
    let e = c
        .upsert("accounts", new_id, json!({"name": "u"}))
        .mode(UpsertMode::UpdateOnly)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(e).0, 404);
    c.upsert("accounts", new_id, json!({"name": "Upserted"}))
        .send()
        .await
        .unwrap();
    let e = c
        .upsert("accounts", new_id, json!({"name": "again"}))
        .mode(UpsertMode::CreateOnly)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(e).0, 412);
    c.upsert("accounts", new_id, json!({"name": "Upserted twice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.retrieve("accounts", new_id)
            .select(["name"])
            .send()
            .await
            .unwrap()["name"],
        "Upserted twice"
    );

    // Upsert by alternate key: creates with the key's value, then updates the same record.
    let key = RecordKey::alternate("accountnumber", "CLI-1 A/B");
    c.upsert("accounts", key.clone(), json!({"name": "By key"}))
        .send()
        .await
        .unwrap();
    c.upsert("accounts", key.clone(), json!({"telephone1": "555-0199"}))
        .send()
        .await
        .unwrap();
    let by_key = c
        .query("accounts")
        .select(["name", "telephone1"])
        .filter(col("accountnumber").eq("CLI-1 A/B"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_key.items.len(), 1);
    assert_eq!(by_key.items[0]["name"], "By key");
    assert_eq!(by_key.items[0]["telephone1"], "555-0199");

    // Count, with and without a filter.
    assert_eq!(c.count("accounts").send().await.unwrap(), 5 + 4);
    assert_eq!(
        c.count("accounts")
            .filter(&col("name").startswith("Upserted"))
            .send()
            .await
            .unwrap(),
        1
    );

    // Delete: by key, then a second time is a 404; a stale etag is a 412.
    c.delete("accounts", key).send().await.unwrap();
    let e = c
        .delete(
            "accounts",
            RecordKey::alternate("accountnumber", "CLI-1 A/B"),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(e), (404, "0x80060891".to_owned()));
    let e = c
        .delete("accounts", id)
        .if_match(&stale)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(e).0, 412);
    c.delete("accounts", id).send().await.unwrap();
    let e = c.delete("accounts", id).send().await.unwrap_err();
    assert_eq!(status(e), (404, "0x80040217".to_owned()));
    let e = c
        .create("accounts", json!(["not", "an", "object"]))
        .send()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("JSON object"), "{e}");
}

#[tokio::test]
async fn throttled_and_failed_writes_are_retried_without_duplicates() {
    let emulator = start(test_config(2)).await;
    let info = emulator.info();
    let c = client(&info);
    let http = reqwest::Client::new();
    let fault = |rule: serde_json::Value| {
        let http = http.clone();
        let url = format!("{}/_emulator/faults", info.authority_host);
        async move {
            assert_eq!(
                http.post(url).json(&rule).send().await.unwrap().status(),
                201
            );
        }
    };
    // A throttled create is resent after Retry-After and makes one record.
    fault(json!({"kind": "throttle", "count": 1, "method": "POST", "retry_after": 1})).await;
    c.create("accounts", json!({"name": "Once"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.count("accounts")
            .filter(&col("name").eq("Once"))
            .send()
            .await
            .unwrap(),
        1
    );
    // A 502 on an idempotent PATCH is retried; on a POST it is not (it may have been applied).
    fault(json!({"kind": "error", "status": 502, "count": 1, "method": "PATCH"})).await;
    c.upsert(
        "accounts",
        uuid::Uuid::from_u128(0x77),
        json!({"name": "Patched"}),
    )
    .send()
    .await
    .unwrap();
    fault(json!({"kind": "error", "status": 502, "count": 1, "method": "POST"})).await;
    let e = c
        .create("accounts", json!({"name": "Maybe"}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(e).0, 502);
}

#[tokio::test]
async fn fetch_xml_pages_by_cookie_every_row_once() {
    let emulator = start(test_config(23)).await;
    let c = client(&emulator.info());
    let xml = "<fetch><entity name='account'><attribute name='name'/><order attribute='name'/></entity></fetch>";
    let rows: Vec<serde_json::Value> =
        futures_util::TryStreamExt::try_collect(c.fetch_xml("accounts", xml).into_stream(Some(5)))
            .await
            .unwrap();
    assert_eq!(rows.len(), 23);
    let mut ids: Vec<&str> = rows
        .iter()
        .map(|r| r["accountid"].as_str().unwrap())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted, "in the document's order, across pages");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 23, "every row once");
    let first = c
        .fetch_xml("accounts", xml)
        .page(1, Some(5), None)
        .await
        .unwrap();
    assert!(first.more);
    let (next, cookie) = first.next.unwrap();
    assert_eq!(next, 2);
    assert!(cookie.unwrap().starts_with("<cookie page=\"1\">"));
    let e = c
        .fetch_xml("accounts", "<nofetch/>")
        .page(1, None, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("<fetch>"), "{e}");
}
