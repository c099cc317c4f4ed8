//! `$batch` through the client against the emulator: change sets with `$n` references, results
//! per operation, a failing change set rolled back, continue-on-error, and a GET too long for
//! a URL sent inside a batch without the caller noticing, paging included.

mod common;

use d365_odata::col;
use d365_testkit::{EmulatorInfo, start, test_config};
use d365_webapi::Client;
use futures_util::TryStreamExt;
use serde_json::json;

fn client(info: &EmulatorInfo) -> Client {
    common::builder(info).build().unwrap()
}

#[tokio::test]
async fn a_change_set_with_references_and_a_get_after_it() {
    let emulator = start(test_config(3)).await;
    let c = client(&emulator.info());
    let results = c
        .batch()
        .change_set(|cs| {
            let account = cs.create("accounts", json!({"name": "Batch Co"}));
            cs.create(
                "contacts",
                json!({"lastname": "Batch", "parentcustomerid_account@odata.bind": account.to_string()}),
            );
            cs.update(&account, json!({"telephone1": "555-0142"}));
        })
        .query(
            c.query("accounts")
                .select(["name", "telephone1"])
                .filter(col("name").eq("Batch Co")),
        )
        .send()
        .await
        .unwrap();
    let statuses: Vec<_> = results.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [204, 204, 204, 200]);
    let ids: Vec<_> = results.iter().map(|r| r.content_id.as_deref()).collect();
    assert_eq!(ids, [Some("1"), Some("2"), Some("3"), None]);
    let account = results[0].id().unwrap();
    let contact = results[1].id().unwrap();
    assert!(results[0].header("OData-EntityId").is_some());
    let list = results[3].body.as_ref().unwrap();
    assert_eq!(list["value"][0]["telephone1"], "555-0142");
    let made = c
        .retrieve("contacts", contact)
        .select(["_parentcustomerid_value"])
        .send()
        .await
        .unwrap();
    assert_eq!(made["_parentcustomerid_value"], account.to_string());
}

#[tokio::test]
async fn a_failing_change_set_leaves_nothing_and_continue_on_error_goes_on() {
    let emulator = start(test_config(3)).await;
    let c = client(&emulator.info());
    let missing = uuid::Uuid::from_u128(0xff);
    let failing = |b: d365_webapi::BatchRequest| {
        b.change_set(|cs| {
            cs.create("accounts", json!({"name": "Never A"}));
            cs.update(("accounts", missing), json!({"name": "Never B"}));
        })
        .get("WhoAmI()")
    };

    // Default: stops at the failure, whose error stands for the change set.
    let results = failing(c.batch()).send().await.unwrap();
    assert_eq!(results.len(), 1);
    let error = results[0].error.as_ref().unwrap();
    assert_eq!((error.status, error.code.as_str()), (404, "0x80040217"));
    let left = c
        .query("accounts")
        .filter(col("name").startswith("Never"))
        .send()
        .await
        .unwrap();
    assert!(left.items.is_empty(), "the change set was rolled back");

    // Continue on error: the GET after it still runs.
    let results = failing(c.batch()).continue_on_error().send().await.unwrap();
    let statuses: Vec<_> = results.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [404, 200]);
    assert!(results[1].body.as_ref().unwrap()["UserId"].is_string());
}

#[tokio::test]
async fn a_batch_refused_as_a_whole_is_an_api_error() {
    let emulator = start(test_config(1)).await;
    let c = client(&emulator.info());
    let batch = c.batch().change_set(|cs| {
        cs.request(
            d365_http::reqwest::Method::PATCH,
            "$9",
            Some(json!({"name": "x"})),
        );
    });
    let results = batch.send().await.unwrap();
    assert_eq!(results[0].status, 400);
    assert!(
        results[0]
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("Content-ID Reference: '$9'")
    );

    let mut many = c.batch();
    for _ in 0..1001 {
        many = many.get("WhoAmI()");
    }
    assert!(matches!(
        many.send().await,
        Err(d365_webapi::Error::InvalidQuery(_))
    ));
}

#[tokio::test]
async fn a_get_longer_than_the_limit_goes_inside_a_batch_paging_included() {
    let emulator = start(test_config(5)).await;
    let info = emulator.info();
    let c = client(&info);
    let long = "x".repeat(33_000);
    let query = || {
        c.query("accounts")
            .select(["name"])
            .filter(col("name").ne(long.as_str()))
            .max_page_size(2)
    };
    assert!(query().url().len() > d365_webapi::MAX_URL_LENGTH);

    // Sent directly, the emulator refuses it as Dataverse does.
    let direct = common::builder(&info)
        .max_url_length(usize::MAX)
        .build()
        .unwrap();
    let e = direct
        .query("accounts")
        .filter(col("name").ne(long.as_str()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::api(e).status, 414);

    let first = query().send().await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert!(first.next_link.as_ref().unwrap().len() > d365_webapi::MAX_URL_LENGTH);
    let rows: Vec<_> = query().into_stream().try_collect().await.unwrap();
    assert_eq!(rows.len(), 5);

    // An error inside the batch comes back as the request's own error.
    let e = c
        .query("nosuchset")
        .filter(col("name").ne(long.as_str()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::api(e).status, 404);
}
