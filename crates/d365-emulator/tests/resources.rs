//! A record's sub-resources over real HTTP: alternate keys, single properties, navigation
//! properties and `$ref` associations.

mod common;

use d365_emulator::config::AlternateKeyConfig;
use d365_testkit::{Emulator, EmulatorInfo, start, test_config};
use reqwest::Method;
use serde_json::{Value, json};

struct Ctx {
    _emulator: Emulator,
    info: EmulatorInfo,
    http: reqwest::Client,
    token: String,
}

impl Ctx {
    /// An emulator whose org has a key on `account.accountnumber` (the configuration's).
    async fn new() -> Self {
        let config = d365_testkit::EmulatorConfig {
            alternate_keys: vec![AlternateKeyConfig::new("account", &["accountnumber"])],
            ..test_config(4)
        };
        let emulator = start(config).await;
        let info = emulator.info();
        let http = reqwest::Client::new();
        let token = common::app_token(&http, &info).await;
        Self {
            _emulator: emulator,
            info,
            http,
            token,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, String) {
        let r = common::api_call(&self.http, &self.info, &self.token, method, path, body).await;
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn json(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

fn code(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn alternate_keys_address_records() {
    let c = Ctx::new().await;
    let one = c
        .json("accounts(accountnumber='ACC-000001')?$select=name,accountnumber")
        .await;
    assert_eq!(one["accountnumber"], "ACC-000001");
    let id = one["accountid"].as_str().unwrap().to_owned();
    assert_eq!(
        c.json(&format!("accounts(accountid={id})?$select=name"))
            .await["name"],
        one["name"]
    );

    let (status, body) = c
        .call(Method::GET, "accounts(accountnumber='NOPE')", None)
        .await;
    assert_eq!(
        (status, code(&body).as_str()),
        (404, "0x80060891"),
        "{body}"
    );
    let (status, body) = c.call(Method::GET, "accounts(name='x')", None).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (400, "0x80060890"),
        "name is not an alternate key: {body}"
    );

    // Upsert by alternate key: update when it exists, create (with the key's value) when not.
    let (status, _) = c
        .call(
            Method::PATCH,
            "accounts(accountnumber='ACC-000001')",
            Some(json!({"telephone1": "555-0001"})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        c.json(&format!("accounts({id})?$select=telephone1")).await["telephone1"],
        "555-0001"
    );
    let (status, body) = c
        .call(
            Method::PATCH,
            "accounts(accountnumber='NEW-1')",
            Some(json!({"name": "Upserted"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let created = c.json("accounts(accountnumber='NEW-1')?$select=name").await;
    assert_eq!(created["name"], "Upserted");

    // Alternate key values stay unique.
    let (status, body) = c
        .call(
            Method::POST,
            "accounts",
            Some(json!({"name": "Clash", "accountnumber": "NEW-1"})),
        )
        .await;
    assert_eq!(
        (status, code(&body).as_str()),
        (412, "0x80060892"),
        "{body}"
    );

    let (status, _) = c
        .call(Method::DELETE, "accounts(accountnumber='NEW-1')", None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = c
        .call(Method::DELETE, "accounts(accountnumber='NEW-1')", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn single_properties_read_write_and_clear() {
    let c = Ctx::new().await;
    let id = c
        .json("accounts(accountnumber='ACC-000002')?$select=name")
        .await["accountid"]
        .as_str()
        .unwrap()
        .to_owned();
    let name = c.json(&format!("accounts({id})/name")).await;
    assert!(
        name["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with(&format!("accounts({id})/name"))
    );
    let (status, raw) = c
        .call(Method::GET, &format!("accounts({id})/name/$value"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(raw, name["value"].as_str().unwrap());
    assert!(c.json(&format!("accounts({id})/revenue")).await["value"].is_number());

    let (status, _) = c
        .call(
            Method::PUT,
            &format!("accounts({id})/name"),
            Some(json!({"value": "Renamed Ltd"})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        c.json(&format!("accounts({id})/name")).await["value"],
        "Renamed Ltd"
    );
    let (status, body) = c
        .call(
            Method::PUT,
            &format!("accounts({id})/numberofemployees"),
            Some(json!({"value": "many"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = c
        .call(Method::DELETE, &format!("accounts({id})/telephone1"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = c
        .call(Method::GET, &format!("accounts({id})/telephone1"), None)
        .await;
    assert_eq!(status, 204, "a null property has no content");
    let (status, _) = c
        .call(
            Method::PUT,
            &format!("accounts({id})/createdon"),
            Some(json!({"value": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, 400, "server-maintained");
    let (status, _) = c
        .call(Method::GET, &format!("accounts({id})/nosuch"), None)
        .await;
    assert_eq!(status, 400);
    // A missing record is a 404 whatever the sub-resource, never a silent write.
    let missing = "accounts(00000000-0000-0000-0000-000000000009)";
    for (method, path, body) in [
        (
            Method::PUT,
            format!("{missing}/name"),
            Some(json!({"value": "x"})),
        ),
        (Method::DELETE, format!("{missing}/telephone1"), None),
        (
            Method::GET,
            format!("{missing}/contact_customer_accounts"),
            None,
        ),
        (
            Method::PUT,
            format!("{missing}/primarycontactid/$ref"),
            Some(json!({"@odata.id": "contacts(00000000-0000-0000-0000-000000000009)"})),
        ),
    ] {
        let (status, body) = c.call(method, &path, body).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(code(&body), "0x80040217");
    }
}

#[tokio::test]
async fn navigation_properties_and_references() {
    let c = Ctx::new().await;
    let account = c
        .json("accounts(accountnumber='ACC-000003')?$select=name,_primarycontactid_value")
        .await;
    let id = account["accountid"].as_str().unwrap().to_owned();
    let primary = account["_primarycontactid_value"]
        .as_str()
        .unwrap()
        .to_owned();

    // Single-valued: the related record; collection-valued: the related rows, with options.
    let pc = c
        .json(&format!("accounts({id})/primarycontactid?$select=fullname"))
        .await;
    assert_eq!(pc["contactid"], primary.as_str());
    let contacts = c
        .json(&format!(
            "accounts({id})/contact_customer_accounts?$select=fullname&$orderby=fullname"
        ))
        .await;
    assert_eq!(contacts["value"].as_array().unwrap().len(), 2);
    let (status, _) = c
        .call(Method::GET, &format!("accounts({id})/nosuchnav"), None)
        .await;
    assert_eq!(status, 400);

    // $ref on the single-valued side.
    let r = c
        .json(&format!("accounts({id})/primarycontactid/$ref"))
        .await;
    assert!(
        r["@odata.id"]
            .as_str()
            .unwrap()
            .ends_with(&format!("contacts({primary})"))
    );
    let (status, _) = c
        .call(
            Method::DELETE,
            &format!("accounts({id})/primarycontactid/$ref"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = c
        .call(
            Method::GET,
            &format!("accounts({id})/primarycontactid"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = c
        .call(Method::PUT, &format!("accounts({id})/primarycontactid/$ref"),
              Some(json!({"@odata.id": format!("{}/api/data/v9.2/contacts({primary})", c.info.environment_url)})))
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        c.json(&format!("accounts({id})?$select=_primarycontactid_value"))
            .await["_primarycontactid_value"],
        primary.as_str()
    );
    let (status, body) = c
        .call(
            Method::PUT,
            &format!("accounts({id})/primarycontactid/$ref"),
            Some(json!({"@odata.id": "contacts(00000000-0000-0000-0000-000000000001)"})),
        )
        .await;
    assert_eq!((status, code(&body).as_str()), (404, "0x80040217"));

    // $ref on the collection side: a new contact joins the account, then leaves it.
    let (status, _) = c
        .call(
            Method::POST,
            "contacts",
            Some(json!({"lastname": "Newcomer"})),
        )
        .await;
    assert_eq!(status, 204);
    let newcomer = c
        .json("contacts?$select=lastname&$filter=lastname eq 'Newcomer'")
        .await["value"][0]["contactid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = c
        .call(
            Method::POST,
            &format!("accounts({id})/contact_customer_accounts/$ref"),
            Some(json!({"@odata.id": format!("contacts({newcomer})")})),
        )
        .await;
    assert_eq!(status, 204);
    let count = |v: Value| v["value"].as_array().unwrap().len();
    assert_eq!(
        count(
            c.json(&format!(
                "accounts({id})/contact_customer_accounts?$select=lastname"
            ))
            .await
        ),
        3
    );
    assert_eq!(
        c.json(&format!(
            "accounts({id})/contact_customer_accounts({newcomer})?$select=lastname"
        ))
        .await["lastname"],
        "Newcomer"
    );
    let (status, _) = c
        .call(
            Method::DELETE,
            &format!("accounts({id})/contact_customer_accounts({newcomer})/$ref"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        count(
            c.json(&format!(
                "accounts({id})/contact_customer_accounts?$select=lastname"
            ))
            .await
        ),
        2
    );
    let (status, _) = c
        .call(
            Method::DELETE,
            &format!("accounts({id})/contact_customer_accounts({newcomer})/$ref"),
            None,
        )
        .await;
    assert_eq!(status, 404, "no longer related");
}

#[tokio::test]
async fn deep_insert_creates_related_records_all_or_nothing() {
    let c = Ctx::new().await;
    let (status, body) = c
        .call(
            Method::POST,
            "accounts",
            Some(json!({
                "name": "Deep Co",
                "primarycontactid": {"firstname": "Pat", "lastname": "Primary"},
                "contact_customer_accounts": [
                    {"lastname": "Alpha"},
                    {"lastname": "Beta", "Contact_Tasks": [{"subject": "Call Beta"}]}
                ],
                "opportunity_parent_account": [{"name": "Deep deal", "estimatedvalue": 1000}]
            })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let deep = c
        .json("accounts?$select=name&$filter=name eq 'Deep Co'&$expand=primarycontactid($select=fullname),contact_customer_accounts($select=lastname;$orderby=lastname),opportunity_parent_account($select=name)")
        .await;
    let a = &deep["value"][0];
    assert_eq!(a["primarycontactid"]["fullname"], "Pat Primary");
    let names: Vec<&str> = a["contact_customer_accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["lastname"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alpha", "Beta"]);
    assert_eq!(a["opportunity_parent_account"][0]["name"], "Deep deal");
    let beta = a["contact_customer_accounts"][1]["contactid"]
        .as_str()
        .unwrap();
    let tasks = c
        .json(&format!("contacts({beta})/Contact_Tasks?$select=subject"))
        .await;
    assert_eq!(tasks["value"][0]["subject"], "Call Beta");

    // A nested record that cannot be written leaves nothing behind.
    let taken = c.json("contacts?$select=lastname&$top=1").await["value"][0]["contactid"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = c.call(Method::GET, "accounts/$count", None).await.1;
    let (status, _) = c
        .call(
            Method::POST,
            "accounts",
            Some(json!({
                "name": "Half Co",
                "contact_customer_accounts": [{"lastname": "Fresh"}, {"contactid": taken, "lastname": "Clash"}]
            })),
        )
        .await;
    assert_eq!(status, 412);
    assert_eq!(c.call(Method::GET, "accounts/$count", None).await.1, before);
    let fresh = c
        .json("contacts?$select=lastname&$filter=lastname eq 'Fresh'")
        .await;
    assert!(fresh["value"].as_array().unwrap().is_empty(), "rolled back");
    let (status, _) = c
        .call(
            Method::POST,
            "accounts",
            Some(json!({"name": "Bad", "contact_customer_accounts": {"lastname": "x"}})),
        )
        .await;
    assert_eq!(status, 400, "a collection takes an array");
}
