//! Reads as a user of the client meets them against the emulator (issue 14): `$count` with
//! its cap, conditional retrieves, and expanded collections read in full.

mod common;

use d365_testkit::{start, test_config};
use d365_webapi::{Client, Retrieved};
use serde_json::{Value, json};

fn id_of(record: &Value, key: &str) -> uuid::Uuid {
    uuid::Uuid::parse_str(record[key].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn count_says_when_it_reached_dataverses_cap() {
    let emulator = start(test_config(5001)).await;
    let info = emulator.info();
    // The client's own default annotations still arrive next to the count's.
    let client = common::builder(&info)
        .include_annotations("OData.Community.Display.V1.FormattedValue")
        .build()
        .unwrap();
    let page = client
        .query("accounts")
        .select(["name", "statecode"])
        .top(2)
        .count()
        .send()
        .await
        .unwrap();
    assert_eq!(page.count, Some(5000));
    assert_eq!(page.count_limit_exceeded, Some(true));
    assert!(
        page.items[0]["statecode@OData.Community.Display.V1.FormattedValue"].is_string(),
        "{}",
        page.items[0]
    );
    let name = page.items[0]["name"].as_str().unwrap().to_owned();
    let few = client
        .query("accounts")
        .filter(d365_odata::col("name").eq(name.as_str()))
        .count()
        .send()
        .await
        .unwrap();
    assert_eq!(few.count, Some(few.items.len() as u64));
    assert_eq!(few.count_limit_exceeded, Some(false));
    // Without $count nothing is claimed.
    let plain = client.query("accounts").top(1).send().await.unwrap();
    assert_eq!((plain.count, plain.count_limit_exceeded), (None, None));
}

#[tokio::test]
async fn a_retrieve_with_the_current_etag_is_not_modified() {
    let emulator = start(test_config(2)).await;
    let info = emulator.info();
    // Default annotations would make Dataverse answer 200 every time; the conditional
    // retrieve leaves them out.
    let client = common::builder(&info)
        .include_annotations("*")
        .build()
        .unwrap();
    let first = client
        .query("accounts")
        .select(["name"])
        .top(1)
        .send()
        .await
        .unwrap();
    let id = id_of(&first.items[0], "accountid");
    let record = client
        .retrieve("accounts", id)
        .select(["name", "revenue"])
        .send()
        .await
        .unwrap();
    let etag = record["@odata.etag"].as_str().unwrap().to_owned();

    let again = client
        .retrieve("accounts", id)
        .select(["name", "revenue"])
        .if_none_match(&etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again, Retrieved::NotModified);

    client
        .update("accounts", id, json!({"name": "renamed"}))
        .send()
        .await
        .unwrap();
    let changed = client
        .retrieve("accounts", id)
        .select(["name"])
        .if_none_match(&etag)
        .send()
        .await
        .unwrap();
    let Retrieved::Changed(now) = changed else {
        panic!("the record changed");
    };
    assert_eq!(now["name"], "renamed");
    assert_ne!(now["@odata.etag"], etag.as_str());
    // A missing record is still a 404.
    let missing = client
        .retrieve("accounts", uuid::Uuid::from_u128(7))
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::api(missing).status, 404);
}

async fn all_contacts(client: &Client, account: uuid::Uuid) -> Vec<Value> {
    let mut rows: Vec<Value> = client
        .query(&format!("accounts({account})/contact_customer_accounts"))
        .select(["fullname"])
        .send()
        .await
        .unwrap()
        .items;
    rows.sort_by_key(|r| r["contactid"].to_string());
    rows
}

fn ids(mut rows: Vec<Value>) -> Vec<String> {
    rows.sort_by_key(|r| r["contactid"].to_string());
    rows.iter().map(|r| r["contactid"].to_string()).collect()
}

#[tokio::test]
async fn expanded_collections_are_read_in_full_through_their_next_links() {
    let emulator = start(test_config(3)).await;
    let info = emulator.info();
    let client = common::builder(&info).build().unwrap();

    // Nested $expand: each collection is paged; the link continues after the inline rows.
    let page = client
        .query("accounts")
        .select(["name"])
        .expand_text(
            "contact_customer_accounts($select=fullname;$expand=createdby($select=fullname))",
        )
        .unwrap()
        .max_page_size(1)
        .send()
        .await
        .unwrap();
    let account = &page.items[0];
    assert_eq!(
        account["contact_customer_accounts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let rows = client
        .expanded(account, "contact_customer_accounts", Some(1))
        .await
        .unwrap();
    let expected = all_contacts(&client, id_of(account, "accountid")).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(ids(rows.clone()), ids(expected.clone()));
    assert!(rows.iter().all(|r| r["createdby"]["fullname"].is_string()));

    // Single-level $expand: the link names the whole collection, which replaces the inline rows.
    let record = client
        .retrieve("accounts", id_of(account, "accountid"))
        .select(["name"])
        .expand_text("contact_customer_accounts($select=fullname;$top=1)")
        .unwrap()
        .send()
        .await
        .unwrap();
    assert_eq!(
        record["contact_customer_accounts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let rows = client
        .expanded(&record, "contact_customer_accounts", None)
        .await
        .unwrap();
    assert_eq!(
        rows,
        record["contact_customer_accounts"]
            .as_array()
            .unwrap()
            .clone()
    );
    let record = client
        .retrieve("accounts", id_of(account, "accountid"))
        .expand_text("contact_customer_accounts($select=fullname)")
        .unwrap()
        .send()
        .await
        .unwrap();
    let rows = client
        .expanded(&record, "contact_customer_accounts", Some(1))
        .await
        .unwrap();
    assert_eq!(ids(rows), ids(expected));
    // Not a collection: refused, not guessed.
    let lookup = client
        .retrieve("accounts", id_of(account, "accountid"))
        .expand_text("primarycontactid($select=fullname)")
        .unwrap()
        .send()
        .await
        .unwrap();
    assert!(
        client
            .expanded(&lookup, "primarycontactid", None)
            .await
            .is_err()
    );
}
