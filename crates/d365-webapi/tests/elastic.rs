//! Bulk messages on an elastic table (the emulator's `--elastic-table`): partial success with
//! each target's outcome in the error details, DeleteMultiple, the table type in metadata,
//! and standard tables unchanged.

mod common;

use common::{api, builder};
use d365_testkit::{elastic_config, start, test_config};
use serde_json::{Value, json};

fn reading(device: &str, value: i32) -> Value {
    json!({"contoso_deviceid": device, "contoso_value": value, "partitionid": "p1"})
}

#[tokio::test]
async fn bulk_messages_on_an_elastic_table_succeed_partly_and_say_which_target_failed() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start(elastic_config(2, dir.path())).await;
    let c = builder(&emulator.info()).build().unwrap();
    let (set, table) = ("contoso_sensordatas", "contoso_sensordata");

    let tables = c.tables().await.unwrap();
    let sensor = tables.iter().find(|t| t.logical_name == table).unwrap();
    assert!(sensor.is_elastic());
    let account = tables.iter().find(|t| t.logical_name == "account").unwrap();
    assert_eq!(account.table_type.as_deref(), Some("Standard"));

    // Five readings, the third with a device id over its 10 characters.
    let rows = vec![
        reading("d-1", 1),
        reading("d-2", 2),
        reading("device-much-too-long", 3),
        reading("d-4", 4),
        reading("d-5", 5),
    ];
    let e = api(c
        .create_multiple(set, table, rows)
        .send()
        .await
        .unwrap_err());
    assert_eq!(e.status, 400, "{e:?}");
    assert!(e.message.contains("1 of 5 targets failed"), "{e:?}");
    let statuses: Vec<(usize, u16)> = e
        .bulk_outcomes
        .iter()
        .map(|o| (o.request_index, o.status))
        .collect();
    assert_eq!(statuses, [(0, 200), (1, 200), (2, 400), (3, 200), (4, 200)]);
    assert!(
        e.bulk_outcomes
            .iter()
            .filter(|o| o.succeeded())
            .all(|o| o.id.is_some())
    );
    assert_eq!(
        c.count(set).send().await.unwrap(),
        4,
        "the others were written"
    );

    // UpdateMultiple: one target names a record that does not exist.
    let written: Vec<uuid::Uuid> = e
        .bulk_outcomes
        .iter()
        .filter_map(|o| o.id.filter(|_| o.succeeded()))
        .collect();
    let missing = uuid::Uuid::new_v4();
    let updates = vec![
        json!({"contoso_sensordataid": written[0], "contoso_value": 10}),
        json!({"contoso_sensordataid": missing, "contoso_value": 11}),
    ];
    let e = api(c
        .update_multiple(set, table, updates)
        .send()
        .await
        .unwrap_err());
    assert_eq!(e.status, 404, "{e:?}");
    assert_eq!(e.bulk_outcomes[1].id, Some(missing));
    let first = c
        .retrieve(set, written[0])
        .select(["contoso_value"])
        .send()
        .await
        .unwrap();
    assert_eq!(first["contoso_value"], 10, "the good target was updated");

    // DeleteMultiple works here: one present, one missing, then the rest.
    let deletes = vec![
        json!({"contoso_sensordataid": written[0]}),
        json!({"contoso_sensordataid": missing}),
    ];
    let e = api(c
        .delete_multiple(set, table, deletes)
        .send()
        .await
        .unwrap_err());
    assert_eq!(
        e.bulk_outcomes.iter().map(|o| o.status).collect::<Vec<_>>(),
        [200, 404]
    );
    let rest: Vec<Value> = written[1..]
        .iter()
        .map(|id| json!({"contoso_sensordataid": id}))
        .collect();
    c.delete_multiple(set, table, rest).send().await.unwrap();
    assert_eq!(c.count(set).send().await.unwrap(), 0);

    // All good: CreateMultiple answers the ids, as on standard tables.
    let ids = c
        .create_multiple(set, table, vec![reading("a", 1), reading("b", 2)])
        .send()
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);

    // Standard tables keep all or nothing, and DeleteMultiple is refused there.
    let e = api(c
        .create_multiple(
            "accounts",
            "account",
            vec![json!({"name": "ok"}), json!({"nosuchcolumn": 1})],
        )
        .send()
        .await
        .unwrap_err());
    assert!(e.bulk_outcomes.is_empty());
    assert_eq!(c.count("accounts").send().await.unwrap(), 2);
    let e = api(c
        .delete_multiple(
            "accounts",
            "account",
            vec![json!({"accountid": uuid::Uuid::new_v4()})],
        )
        .send()
        .await
        .unwrap_err());
    assert!(
        e.message
            .contains("DeleteMultiple has not yet been implemented"),
        "{e:?}"
    );
}

#[tokio::test]
async fn the_details_come_only_when_the_request_asks_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start(elastic_config(0, dir.path())).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = d365_testkit::app_token(&reqwest::Client::new(), &info).await;
    let url = format!(
        "{}/api/data/v9.2/contoso_sensordatas/Microsoft.Dynamics.CRM.CreateMultiple",
        info.environment_url
    );
    let body = json!({"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.contoso_sensordata", "contoso_deviceid": "x"},
        {"@odata.type": "Microsoft.Dynamics.CRM.contoso_sensordata", "contoso_deviceid": "much-too-long-id"},
    ]});
    let key = "@Microsoft.PowerApps.CDS.ErrorDetails.Plugin.BulkApiErrorDetails";
    for (prefer, expect) in [
        (None, false),
        (Some("odata.include-annotations=\"*\""), true),
        (
            Some("odata.include-annotations=\"Microsoft.PowerApps.CDS.ErrorDetails.*\""),
            true,
        ),
        (
            Some("odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\""),
            false,
        ),
    ] {
        let mut request = http.post(&url).bearer_auth(&token).json(&body);
        if let Some(p) = prefer {
            request = request.header("Prefer", p);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"].get(key).is_some(), expect, "{prefer:?}: {v}");
        if expect {
            let details: Value = serde_json::from_str(v["error"][key].as_str().unwrap()).unwrap();
            assert_eq!(details[0]["StatusCode"], 200, "{details}");
            assert_eq!(details[1]["StatusCode"], 400, "{details}");
            assert_eq!(details[1]["RequestIndex"], 1, "{details}");
        }
    }
}

#[tokio::test]
async fn only_custom_tables_can_be_elastic() {
    let mut config = test_config(0);
    config.elastic_tables = vec!["account".into()];
    let Err(e) = d365_emulator::Emulator::start(config, "127.0.0.1:0".parse().unwrap()).await
    else {
        panic!("a standard table cannot be elastic");
    };
    assert!(e.to_string().contains("only custom tables"), "{e}");
    let mut config = test_config(0);
    config.elastic_tables = vec!["nosuchtable".into()];
    let Err(e) = d365_emulator::Emulator::start(config, "127.0.0.1:0".parse().unwrap()).await
    else {
        panic!("an unknown table cannot be elastic");
    };
    assert!(e.to_string().contains("add it with --metadata"), "{e}");
}

#[tokio::test]
async fn inside_a_change_set_an_elastic_bulk_failure_rolls_everything_back() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start(elastic_config(0, dir.path())).await;
    let c = builder(&emulator.info()).build().unwrap();
    let typed = |device: &str| json!({"@odata.type": "Microsoft.Dynamics.CRM.contoso_sensordata", "contoso_deviceid": device});
    let results = c
        .batch()
        .change_set(|cs| {
            cs.create("contoso_sensordatas", json!({"contoso_deviceid": "before"}));
            cs.request(
                d365_http::reqwest::Method::POST,
                "contoso_sensordatas/Microsoft.Dynamics.CRM.CreateMultiple",
                Some(json!({"Targets": [typed("ok"), typed("far-too-long-device")]})),
            );
        })
        .send()
        .await
        .unwrap();
    let failed: Vec<_> = results.iter().filter(|r| !r.is_success()).collect();
    assert_eq!(failed.len(), 1, "{results:?}");
    let error = failed[0].error.as_ref().unwrap();
    assert!(
        !error.message.contains("written") && error.bulk_outcomes.is_empty(),
        "no claim that anything stayed: {error:?}"
    );
    assert_eq!(
        c.count("contoso_sensordatas").send().await.unwrap(),
        0,
        "all rolled back"
    );
}
