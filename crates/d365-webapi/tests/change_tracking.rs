//! Change tracking through the client against the emulator: an initial load with a delta
//! link, changes applied to a local copy that then equals a full read, typed records, the
//! options Dataverse refuses, and an expired token.

mod common;

use std::collections::BTreeMap;

use d365_testkit::{EmulatorConfig, start, test_config};
use d365_webapi::{Client, Error};
use futures_util::TryStreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

fn client(info: &d365_testkit::EmulatorInfo) -> Client {
    common::builder(info).build().unwrap()
}

/// Id → (name, employees) of records as the client got them.
type Local = BTreeMap<uuid::Uuid, (Option<String>, Option<i64>)>;

fn entry(r: &Value) -> (uuid::Uuid, (Option<String>, Option<i64>)) {
    let id = r["accountid"].as_str().unwrap().parse().unwrap();
    (
        id,
        (
            r["name"].as_str().map(str::to_owned),
            r["numberofemployees"].as_i64(),
        ),
    )
}

async fn full_read(c: &Client) -> Local {
    c.query("accounts")
        .select(["name", "numberofemployees"])
        .into_stream()
        .map_ok(|r| entry(&r))
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test]
async fn changes_applied_to_the_initial_load_equal_a_full_read() {
    let emulator = start(test_config(7)).await;
    let c = client(&emulator.info());
    let query = || {
        c.query("accounts")
            .select(["name", "numberofemployees"])
            .track_changes()
            .max_page_size(3)
    };

    // Page by page, only the last page has the delta link.
    let pages: Vec<_> = query().pages().try_collect().await.unwrap();
    assert_eq!(pages.len(), 3);
    assert!(pages[..2].iter().all(|p| p.delta_link.is_none()));
    assert!(pages[..2].iter().all(|p| p.next_link.is_some()));
    assert!(pages[2].delta_link.is_some() && pages[2].next_link.is_none());

    let load = query().send().await.unwrap();
    assert_eq!(load.records.len(), 7);
    assert!(
        load.delta_link
            .contains("$select=name,numberofemployees&$deltatoken="),
        "{}",
        load.delta_link
    );
    let mut local: Local = load.records.iter().map(entry).collect();
    assert_eq!(local, full_read(&c).await);

    // Creates, updates, deletes, and a record created and deleted in between.
    let ids: Vec<uuid::Uuid> = local.keys().copied().collect();
    let created = c
        .create("accounts", json!({"name": "Fresh", "numberofemployees": 3}))
        .send()
        .await
        .unwrap();
    c.update("accounts", ids[0], json!({"numberofemployees": 99}))
        .send()
        .await
        .unwrap();
    c.delete("accounts", ids[1]).send().await.unwrap();
    let ephemeral = c
        .create("accounts", json!({"name": "Gone soon"}))
        .send()
        .await
        .unwrap();
    c.delete("accounts", ephemeral).send().await.unwrap();

    // Two to a page: the client follows the delta's next links.
    let changes = c
        .changes(&load.delta_link)
        .max_page_size(2)
        .send()
        .await
        .unwrap();
    assert_eq!(changes.upserted.len(), 2, "{:?}", changes.upserted);
    let mut deleted = changes.deleted.clone();
    deleted.sort();
    let mut expected = vec![ids[1], ephemeral];
    expected.sort();
    assert_eq!(deleted, expected);
    for r in &changes.upserted {
        let (id, values) = entry(r);
        local.insert(id, values);
    }
    for id in &changes.deleted {
        local.remove(id);
    }
    assert!(local.contains_key(&created));
    assert_eq!(local[&ids[0]].1, Some(99));
    assert_eq!(local, full_read(&c).await);

    // Nothing since: empty, with a new link that still works.
    let none = c.changes(&changes.delta_link).send().await.unwrap();
    assert!(none.is_empty());
    assert!(none.delta_link.contains("$deltatoken="));
    c.update("accounts", created, json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();

    // Typed records.
    #[derive(Debug, Deserialize)]
    struct Account {
        accountid: uuid::Uuid,
        name: Option<String>,
    }
    let typed = c
        .changes(&none.delta_link)
        .send_typed::<Account>()
        .await
        .unwrap();
    assert_eq!(typed.upserted.len(), 1);
    assert_eq!(typed.upserted[0].accountid, created);
    assert_eq!(typed.upserted[0].name.as_deref(), Some("Renamed"));
    assert!(typed.deleted.is_empty());
    let load = c
        .query("accounts")
        .select(["name"])
        .track_changes()
        .send_typed::<Account>()
        .await
        .unwrap();
    assert_eq!(load.records.len(), 7);
}

#[tokio::test]
async fn options_dataverse_refuses_fail_before_sending() {
    let emulator = start(test_config(1)).await;
    let c = client(&emulator.info());
    let before = emulator.state().faults.log(usize::MAX).len();
    let err = c
        .query("accounts")
        .top(5)
        .track_changes()
        .send()
        .await
        .unwrap_err();
    match err {
        Error::InvalidQuery(m) => assert_eq!(
            m,
            "The \"$top\" query parameter isn't supported when Change Tracking is enabled."
        ),
        e => panic!("{e}"),
    }
    let err = c
        .query("accounts")
        .order_by_text("name")
        .unwrap()
        .track_changes()
        .pages()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"$orderby\""), "{err}");
    assert_eq!(emulator.state().faults.log(usize::MAX).len(), before);

    // A table without change tracking: the service's error, recognisable.
    let err = c
        .query("organizations")
        .track_changes()
        .send()
        .await
        .unwrap_err();
    let api = common::api(err);
    assert!(api.is_change_tracking_disabled(), "{api}");
    assert!(!api.is_expired_delta_token());
}

#[tokio::test]
async fn an_expired_delta_token_is_recognisable() {
    // Access tokens outlive the jump in time, so only the delta token expires.
    let emulator = start(EmulatorConfig {
        token_lifetime_secs: 30 * 24 * 3600,
        ..test_config(2)
    })
    .await;
    let c = client(&emulator.info());
    let load = c.query("accounts").track_changes().send().await.unwrap();
    emulator.state().clock.advance(7 * 24 * 3600 + 1);
    let api = common::api(c.changes(&load.delta_link).send().await.unwrap_err());
    assert!(api.is_expired_delta_token(), "{api}");
    assert_eq!(api.status, 400);
    // Load everything again: a new link that works.
    let again = c.query("accounts").track_changes().send().await.unwrap();
    assert!(
        c.changes(&again.delta_link)
            .send()
            .await
            .unwrap()
            .is_empty()
    );
}
