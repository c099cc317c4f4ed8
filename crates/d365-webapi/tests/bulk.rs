//! CreateMultiple, UpdateMultiple and UpsertMultiple through the client against the emulator:
//! all or nothing, ids in order, alternate keys in upserts, and the errors for bad targets.

mod common;

use common::{api, builder};
use d365_testkit::{keyed_config, start, test_config};
use d365_webapi::{BulkRequest, RecordKey};
use serde_json::json;

#[tokio::test]
async fn create_update_upsert_multiple() {
    // The org has a key on accountnumber, for the upserts by key.
    let emulator = start(keyed_config(0)).await;
    let c = builder(&emulator.info()).build().unwrap();
    let records: Vec<_> = (0..250)
        .map(|i| json!({"name": format!("bulk-{i:03}"), "accountnumber": format!("B-{i}")}))
        .collect();
    let ids = c
        .create_multiple("accounts", "account", records)
        .send()
        .await
        .unwrap();
    assert_eq!(ids.len(), 250);
    assert_eq!(c.count("accounts").send().await.unwrap(), 250);
    let third = c
        .retrieve("accounts", ids[3])
        .select(["name"])
        .send()
        .await
        .unwrap();
    assert_eq!(
        third["name"], "bulk-003",
        "ids come back in the targets' order"
    );

    let changes: Vec<_> = ids[..10]
        .iter()
        .map(|id| json!({"accountid": id, "telephone1": "555"}))
        .collect();
    let none = c
        .update_multiple("accounts", "account", changes)
        .send()
        .await
        .unwrap();
    assert!(none.is_empty());
    let phoned = c
        .count("accounts")
        .filter(&d365_odata::col("telephone1").eq("555"))
        .send()
        .await
        .unwrap();
    assert_eq!(phoned, 10);

    // Upsert by alternate key: B-0 exists (updated), B-999 does not (created).
    let upserts = vec![
        BulkRequest::upsert_target(
            "accounts",
            &RecordKey::alternate("accountnumber", "B-0"),
            json!({"name": "renamed"}),
        ),
        BulkRequest::upsert_target(
            "accounts",
            &RecordKey::alternate("accountnumber", "B-999"),
            json!({"name": "brand new"}),
        ),
    ];
    c.upsert_multiple("accounts", "account", upserts)
        .send()
        .await
        .unwrap();
    assert_eq!(c.count("accounts").send().await.unwrap(), 251);
    let renamed = c
        .retrieve("accounts", ids[0])
        .select(["name"])
        .send()
        .await
        .unwrap();
    assert_eq!(renamed["name"], "renamed");
    let new = c
        .retrieve("accounts", RecordKey::alternate("accountnumber", "B-999"))
        .select(["name"])
        .send()
        .await
        .unwrap();
    assert_eq!(new["name"], "brand new");
}

#[tokio::test]
async fn one_bad_target_writes_nothing() {
    let emulator = start(test_config(0)).await;
    let c = builder(&emulator.info()).build().unwrap();
    // The third target names a column the table does not have.
    let records = vec![
        json!({"name": "ok 1"}),
        json!({"name": "ok 2"}),
        json!({"name": "bad", "nosuchcolumn": 1}),
    ];
    let err = api(c
        .create_multiple("accounts", "account", records)
        .send()
        .await
        .unwrap_err());
    assert_eq!(err.status, 400, "{err:?}");
    assert!(err.request_id.is_some());
    assert_eq!(
        c.count("accounts").send().await.unwrap(),
        0,
        "nothing written"
    );

    // A duplicate id in the batch fails at insert time: rolled back too.
    let id = uuid::Uuid::new_v4();
    let err = api(c
        .create_multiple(
            "accounts",
            "account",
            vec![
                json!({"accountid": id, "name": "a"}),
                json!({"accountid": id, "name": "b"}),
            ],
        )
        .send()
        .await
        .unwrap_err());
    assert_eq!(err.status, 412, "{err:?}");
    assert_eq!(c.count("accounts").send().await.unwrap(), 0);

    // UpdateMultiple with a missing record: 404, and the other target keeps its value.
    let kept = c
        .create("accounts", json!({"name": "kept"}))
        .send()
        .await
        .unwrap();
    let err = api(c
        .update_multiple(
            "accounts",
            "account",
            vec![
                json!({"accountid": kept, "name": "changed"}),
                json!({"accountid": uuid::Uuid::new_v4(), "name": "ghost"}),
            ],
        )
        .send()
        .await
        .unwrap_err());
    assert_eq!(err.status, 404);
    let read = c
        .retrieve("accounts", kept)
        .select(["name"])
        .send()
        .await
        .unwrap();
    assert_eq!(read["name"], "kept");

    // The wrong table's type, a target without a key, and DeleteMultiple on a standard table.
    let wrong = api(c
        .create_multiple("accounts", "contact", vec![json!({"lastname": "x"})])
        .send()
        .await
        .unwrap_err());
    assert_eq!(wrong.status, 400);
    assert!(
        wrong.message.contains("Microsoft.Dynamics.CRM.account"),
        "{}",
        wrong.message
    );
    let keyless = api(c
        .update_multiple("accounts", "account", vec![json!({"name": "x"})])
        .send()
        .await
        .unwrap_err());
    assert!(keyless.message.contains("accountid"), "{}", keyless.message);
    let delete = api(c
        .action("DeleteMultiple")
        .bound_to_collection("accounts")
        .param(
            "Targets",
            json!([{"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": kept}]),
        )
        .send()
        .await
        .unwrap_err());
    assert_eq!(
        delete.message,
        "DeleteMultiple has not yet been implemented."
    );
}
