//! Alternate keys over real HTTP (issue 14, item 3): none out of the box; keys made through
//! `EntityDefinitions(LogicalName='account')/Keys` go Pending → Active (or Failed over
//! duplicate values), only an Active key addresses records and is enforced; keys from the
//! configuration and a `--metadata` file are Active from the start; keys survive a restart
//! with `--data-dir`.

mod common;

use std::time::{Duration, Instant};

use d365_emulator::config::AlternateKeyConfig;
use d365_testkit::{Emulator, EmulatorConfig, EmulatorInfo, start, test_config};
use reqwest::Method;
use serde_json::{Value, json};

struct Org {
    emulator: Emulator,
    info: EmulatorInfo,
    http: reqwest::Client,
    token: String,
}

impl Org {
    async fn start(config: EmulatorConfig) -> Self {
        let emulator = start(config).await;
        let info = emulator.info();
        let http = reqwest::Client::new();
        let token = common::app_token(&http, &info).await;
        Self {
            emulator,
            info,
            http,
            token,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        common::api_call(&self.http, &self.info, &self.token, method, path, body).await
    }

    /// Status, error code (or "") and the body's text.
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, String, String) {
        let r = self.call(method, path, body).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let code = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
            .unwrap_or_default();
        (status, code, text)
    }

    async fn text(&self, path: &str) -> String {
        let r = self.call(Method::GET, path, None).await;
        r.text().await.unwrap()
    }

    async fn json(&self, path: &str) -> Value {
        let (status, _, body) = self.send(Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    async fn create_account(&self, name: &str, number: &str) -> (u16, String, String) {
        self.send(
            Method::POST,
            "accounts",
            Some(json!({"name": name, "accountnumber": number})),
        )
        .await
    }

    /// Deletes every account with `number` but the first by name (the duplicates a key
    /// failed over); the one kept.
    async fn keep_first(&self, number: &str) -> String {
        let rows = self
            .json(&format!(
                "accounts?$select=name&$filter=accountnumber eq '{number}'&$orderby=name"
            ))
            .await;
        let ids: Vec<&str> = rows["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["accountid"].as_str().unwrap())
            .collect();
        for id in &ids[1..] {
            let (status, _, body) = self
                .send(Method::DELETE, &format!("accounts({id})"), None)
                .await;
            assert_eq!(status, 204, "{body}");
        }
        ids[0].to_owned()
    }

    /// `POST …/Keys`; the new key's MetadataId, from `OData-EntityId`.
    async fn create_key(&self, schema: &str, attributes: &[&str]) -> String {
        let r = self
            .call(
                Method::POST,
                "EntityDefinitions(LogicalName='account')/Keys",
                Some(json!({
                    "SchemaName": schema,
                    "DisplayName": {"LocalizedLabels": [{"Label": "Account number", "LanguageCode": 1033}]},
                    "KeyAttributes": attributes,
                })),
            )
            .await;
        assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
        let location = r.headers()["OData-EntityId"].to_str().unwrap().to_owned();
        let id = location
            .strip_prefix(&format!(
                "{}/api/data/v9.2/EntityDefinitions(LogicalName='account')",
                self.info.environment_url
            ))
            .and_then(|rest| rest.split_once("/Keys("))
            .and_then(|(_, rest)| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{location}"));
        id.to_owned()
    }

    async fn key_status(&self, id: &str) -> String {
        self.json(&format!(
            "EntityDefinitions(LogicalName='account')/Keys({id})?$select=EntityKeyIndexStatus"
        ))
        .await["EntityKeyIndexStatus"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits for the index job to leave the key Active or Failed.
    async fn settled(&self, id: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = self.key_status(id).await;
            if status == "Active" || status == "Failed" || Instant::now() > deadline {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn out_of_the_box_accounts_may_share_an_accountnumber() {
    let org = Org::start(test_config(3)).await;
    for name in ["One", "Two"] {
        let (status, _, body) = org.create_account(name, "SHARED-1").await;
        assert_eq!(status, 204, "{body}");
    }
    let keys = org
        .json("EntityDefinitions(LogicalName='account')/Keys")
        .await;
    assert_eq!(keys["value"], json!([]), "no key out of the box");
    let (status, code, body) = org
        .send(Method::GET, "accounts(accountnumber='SHARED-1')", None)
        .await;
    assert_eq!((status, code.as_str()), (400, "0x80060890"), "{body}");
    let metadata = org.text("$metadata").await;
    assert!(!metadata.contains("AlternateKeys"), "no key in $metadata");
}

#[tokio::test]
async fn a_key_fails_over_duplicates_and_a_new_one_goes_active_and_is_enforced() {
    let org = Org::start(test_config(3)).await;
    // `$metadata` read (and cached) before any key: it declares none.
    assert!(!org.text("$metadata").await.contains("AlternateKeys"));
    for name in ["Dup A", "Dup B"] {
        assert_eq!(org.create_account(name, "DUP-1").await.0, 204);
    }

    // Over duplicate values the index job fails the key, which addresses nothing.
    let failed = org
        .create_key("new_AccountNumberKey", &["accountnumber"])
        .await;
    assert_eq!(
        org.key_status(&failed).await,
        "Pending",
        "right after the POST"
    );
    assert_eq!(org.settled(&failed).await, "Failed");
    let (status, code, body) = org
        .send(Method::GET, "accounts(accountnumber='DUP-1')", None)
        .await;
    assert_eq!((status, code.as_str()), (400, "0x80060890"), "{body}");

    // Remove the duplicate and the failed key; a new key goes Active.
    org.keep_first("DUP-1").await;
    let path = format!("EntityDefinitions(LogicalName='account')/Keys({failed})");
    assert_eq!(org.send(Method::DELETE, &path, None).await.0, 204);
    assert_eq!(org.send(Method::GET, &path, None).await.0, 404);
    let key = org
        .create_key("new_AccountNumberKey", &["accountnumber"])
        .await;
    assert_eq!(org.settled(&key).await, "Active");

    // The key addresses the record, refuses a second record with its value (in any case:
    // SQL Server compares case-insensitively), and upserts by it.
    let one = org
        .json("accounts(accountnumber='DUP-1')?$select=name")
        .await;
    assert_eq!(one["name"], "Dup A");
    let (status, code, body) = org.create_account("Clash", "dup-1").await;
    assert_eq!((status, code.as_str()), (412, "0x80060892"), "{body}");
    assert!(body.contains("accountnumber"), "{body}");
    let (status, _, body) = org
        .send(
            Method::PATCH,
            "accounts(accountnumber='UPS-1')",
            Some(json!({"name": "Upserted"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        org.json("accounts(accountnumber='UPS-1')?$select=name")
            .await["name"],
        "Upserted"
    );

    // The key as EntityKeyMetadata, the context first; listed; declared in $metadata.
    let text = org
        .text(&format!(
            "EntityDefinitions(LogicalName='account')/Keys({key})"
        ))
        .await;
    assert!(text.starts_with(r#"{"@odata.context":"#), "{text}");
    let one: Value = serde_json::from_str(&text).unwrap();
    assert!(
        one["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#EntityDefinitions('account')/Keys/$entity")
    );
    assert_eq!(one["SchemaName"], "new_AccountNumberKey");
    assert_eq!(one["LogicalName"], "new_accountnumberkey");
    assert_eq!(one["KeyAttributes"], json!(["accountnumber"]));
    assert_eq!(one["EntityLogicalName"], "account");
    assert_eq!(
        one["DisplayName"]["UserLocalizedLabel"]["Label"],
        "Account number"
    );
    let listed = org
        .json("EntityDefinitions(LogicalName='account')/Keys?$select=KeyAttributes,EntityKeyIndexStatus")
        .await;
    assert_eq!(
        listed["value"],
        json!([{"MetadataId": key, "KeyAttributes": ["accountnumber"], "EntityKeyIndexStatus": "Active"}])
    );
    let expanded = org
        .json("EntityDefinitions?$select=LogicalName&$filter=LogicalName eq 'account'&$expand=Keys($select=KeyAttributes)")
        .await;
    assert_eq!(
        expanded["value"][0]["Keys"],
        json!([{"MetadataId": key, "KeyAttributes": ["accountnumber"]}])
    );
    let metadata = org.text("$metadata").await;
    assert!(
        metadata.contains(r#"PropertyPath="accountnumber""#),
        "the Active key is declared"
    );
    let (status, code, _) = org
        .send(
            Method::GET,
            &format!("EntityDefinitions(LogicalName='account')/Keys({key})?$select=Nope"),
            None,
        )
        .await;
    assert_eq!((status, code.as_str()), (400, "0x80060888"));

    // Deleted, the key is neither usable nor enforced.
    let path = format!("EntityDefinitions(LogicalName='account')/Keys({key})");
    assert_eq!(org.send(Method::DELETE, &path, None).await.0, 204);
    assert_eq!(org.create_account("Again", "DUP-1").await.0, 204);
    assert_eq!(
        org.send(Method::GET, "accounts(accountnumber='DUP-1')", None)
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn keys_are_checked_as_dataverse_checks_them() {
    let org = Org::start(test_config(2)).await;
    let post = |schema: &'static str, attributes: Value| {
        let org = &org;
        async move {
            org.send(
                Method::POST,
                "EntityDefinitions(LogicalName='account')/Keys",
                Some(json!({"SchemaName": schema, "KeyAttributes": attributes})),
            )
            .await
        }
    };
    for (schema, attributes, code) in [
        ("new_money", json!(["revenue"]), "0x8006088F"),
        ("new_flag", json!(["creditonhold"]), "0x8006088F"),
        ("new_nope", json!(["nope"]), "0x8006088F"),
        ("new_none", json!([]), "0x8006088F"),
        ("new_created", json!(["createdon"]), "0x80090112"),
        ("1bad", json!(["name"]), "0x8006088F"),
    ] {
        let (status, got, body) = post(schema, attributes.clone()).await;
        assert_eq!((status, got.as_str()), (400, code), "{attributes}: {body}");
    }
    assert_eq!(post("new_byname", json!(["name"])).await.0, 204);
    let (status, code, _) = post("new_byname", json!(["telephone1"])).await;
    assert_eq!((status, code.as_str()), (400, "0x80060893"), "same name");
    let (status, code, _) = post("new_other", json!(["name"])).await;
    assert_eq!((status, code.as_str()), (400, "0x80060894"), "same columns");
    // A lookup by its attribute name, with another column.
    assert_eq!(
        post("new_contactname", json!(["primarycontactid", "name"]))
            .await
            .0,
        204
    );
    let keys = org
        .json("EntityDefinitions(LogicalName='account')/Keys?$select=SchemaName,KeyAttributes")
        .await;
    assert_eq!(
        keys["value"][1]["KeyAttributes"],
        json!(["primarycontactid", "name"])
    );
    // At most ten keys per table.
    for (i, column) in [
        "telephone1",
        "websiteurl",
        "emailaddress1",
        "address1_city",
        "address1_country",
        "industrycode",
        "numberofemployees",
        "parentaccountid",
        "accountnumber",
    ]
    .iter()
    .enumerate()
    {
        let schema: &'static str = Box::leak(format!("new_k{i}").into_boxed_str());
        let (status, code, body) = post(schema, json!([column])).await;
        if i < 8 {
            assert_eq!(status, 204, "{column}: {body}");
        } else {
            assert_eq!(
                (status, code.as_str()),
                (400, "0x8006088F"),
                "the eleventh: {body}"
            );
        }
    }
}

#[tokio::test]
async fn configured_and_metadata_keys_are_active_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let org_xml = dir.path().join("org.xml");
    std::fs::write(&org_xml, d365_testkit::SENSOR_CSDL.replace(
        "<Property Name=\"versionnumber\" Type=\"Edm.Int64\" />\n      </EntityType>",
        "<Property Name=\"versionnumber\" Type=\"Edm.Int64\" />\n        <Annotation Term=\"OData.Community.Keys.V1.AlternateKeys\"><Collection><Record Type=\"OData.Community.Keys.V1.AlternateKey\"><PropertyValue Property=\"Key\"><Collection><Record Type=\"OData.Community.Keys.V1.PropertyRef\"><PropertyValue Property=\"Alias\" String=\"contoso_deviceid\" /><PropertyValue Property=\"Name\" PropertyPath=\"contoso_deviceid\" /></Record></Collection></PropertyValue></Record></Collection></Annotation>\n      </EntityType>",
    )).unwrap();
    let config = EmulatorConfig {
        metadata: Some(org_xml),
        alternate_keys: vec![AlternateKeyConfig {
            schema_name: Some("contoso_AccountNumber".into()),
            ..AlternateKeyConfig::new("account", &["accountnumber"])
        }],
        ..test_config(3)
    };
    let org = Org::start(config).await;
    let keys = org
        .json(
            "EntityDefinitions(LogicalName='account')/Keys?$select=SchemaName,EntityKeyIndexStatus",
        )
        .await;
    assert_eq!(keys["value"][0]["SchemaName"], "contoso_AccountNumber");
    assert_eq!(keys["value"][0]["EntityKeyIndexStatus"], "Active");
    assert_eq!(
        org.json("accounts(accountnumber='ACC-000002')?$select=accountnumber")
            .await["accountnumber"],
        "ACC-000002"
    );
    let sensors = org
        .json("EntityDefinitions(LogicalName='contoso_sensordata')/Keys")
        .await;
    assert_eq!(
        sensors["value"][0]["KeyAttributes"],
        json!(["contoso_deviceid"])
    );
    assert_eq!(sensors["value"][0]["EntityKeyIndexStatus"], "Active");
    for expected in [204, 412] {
        let (status, _, body) = org
            .send(
                Method::POST,
                "contoso_sensordatas",
                Some(json!({"contoso_deviceid": "D-1", "contoso_value": 1})),
            )
            .await;
        assert_eq!(status, expected, "{body}");
    }

    // A configured key on a column the table lacks stops the start.
    let bad = EmulatorConfig {
        alternate_keys: vec![AlternateKeyConfig::new("account", &["nope"])],
        ..test_config(1)
    };
    let err = d365_emulator::Emulator::start(bad, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope"), "{err}");
}

#[tokio::test]
async fn a_key_made_through_the_web_api_survives_a_restart_active_and_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmulatorConfig {
        data_dir: Some(dir.path().to_owned()),
        ..test_config(3)
    };
    let org = Org::start(config.clone()).await;
    let key = org
        .create_key("new_AccountNumberKey", &["accountnumber"])
        .await;
    assert_eq!(org.settled(&key).await, "Active");
    org.emulator.stop().await;

    let org = Org::start(config).await;
    assert_eq!(org.key_status(&key).await, "Active");
    let (status, code, body) = org.create_account("Clash", "ACC-000001").await;
    assert_eq!((status, code.as_str()), (412, "0x80060892"), "{body}");
    assert_eq!(
        org.json("accounts(accountnumber='ACC-000001')?$select=accountnumber")
            .await["accountnumber"],
        "ACC-000001"
    );
}

#[tokio::test]
async fn create_entity_key_and_reactivate_entity_key_actions() {
    let org = Org::start(test_config(2)).await;
    let (_, _, body) = org.create_account("Twin A", "TWIN-1").await;
    assert!(body.is_empty(), "{body}");
    assert_eq!(org.create_account("Twin B", "TWIN-1").await.0, 204);
    // The SDK's CreateEntityKey message, as Microsoft's Web API samples send it.
    let (status, _, body) = org
        .send(
            Method::POST,
            "CreateEntityKey",
            Some(json!({
                "EntityName": "account",
                "EntityKey": {"SchemaName": "new_TwinKey", "KeyAttributes": ["accountnumber"]},
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert!(body.starts_with(r#"{"@odata.context":"#), "{body}");
    let id = answer["EntityKeyId"].as_str().unwrap().to_owned();
    assert_eq!(org.settled(&id).await, "Failed");
    // Remove a twin, then ReactivateEntityKey runs the index job again.
    org.keep_first("TWIN-1").await;
    let (status, _, body) = org
        .send(
            Method::POST,
            "ReactivateEntityKey",
            Some(json!({"EntityLogicalName": "account", "EntityKeyLogicalName": "new_twinkey"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(org.settled(&id).await, "Active");
    assert_eq!(
        org.json("accounts(accountnumber='TWIN-1')?$select=name")
            .await["name"],
        "Twin A"
    );
}

/// Two creations of one key at the same moment: one succeeds, the other is refused as the
/// duplicate it is (the checks and the stored row are one step); and a change set cannot
/// write keys (its rollback would leave the key list and the store apart).
#[tokio::test]
async fn concurrent_key_creations_make_one_key_and_change_sets_write_none() {
    let org = Org::start(test_config(2)).await;
    let post = || {
        org.send(
            Method::POST,
            "EntityDefinitions(LogicalName='account')/Keys",
            Some(json!({"SchemaName": "new_number", "KeyAttributes": ["accountnumber"]})),
        )
    };
    let (a, b) = tokio::join!(post(), post());
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 400], "{a:?} {b:?}");
    let keys = org
        .json("EntityDefinitions(LogicalName='account')/Keys")
        .await;
    assert_eq!(keys["value"].as_array().unwrap().len(), 1, "{keys}");

    let boundary = "batch_k";
    let changeset = "changeset_k";
    let api = format!("{}/api/data/v9.2", org.info.environment_url);
    let body = format!(
        "--{boundary}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n\
         --{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n\
         POST {api}/EntityDefinitions(LogicalName='account')/Keys HTTP/1.1\r\nContent-Type: application/json\r\n\r\n\
         {{\"SchemaName\":\"new_name\",\"KeyAttributes\":[\"name\"]}}\r\n\
         --{changeset}--\r\n--{boundary}--\r\n"
    );
    let r = org
        .http
        .post(format!("{api}/$batch"))
        .bearer_auth(&org.token)
        .header(
            "Content-Type",
            format!("multipart/mixed; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("cannot run inside a change set"), "{text}");
    let keys = org
        .json("EntityDefinitions(LogicalName='account')/Keys")
        .await;
    assert_eq!(keys["value"].as_array().unwrap().len(), 1, "{keys}");
}

/// Declared keys get the checks a Web API creation gets: one name twice on a table is a clear
/// start-up error, not the database's.
#[tokio::test]
async fn declared_keys_with_one_name_are_refused_at_start() {
    let named = |columns: &[&str]| AlternateKeyConfig {
        schema_name: Some("contoso_Key".into()),
        ..AlternateKeyConfig::new("account", columns)
    };
    let config = EmulatorConfig {
        alternate_keys: vec![named(&["accountnumber"]), named(&["name"])],
        ..test_config(0)
    };
    let Err(e) = d365_testkit::Emulator::start(config, "127.0.0.1:0".parse().unwrap()).await else {
        panic!("started with two keys of one name");
    };
    assert!(
        e.to_string()
            .contains("'contoso_Key' is used by another key"),
        "{e}"
    );
}
