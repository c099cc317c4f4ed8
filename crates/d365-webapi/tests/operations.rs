//! Functions, actions, links, single properties, impersonation and annotations through the
//! client against the emulator over loopback HTTP.

mod common;

use d365_testkit::{keyed_config, start, test_config};
use d365_webapi::{AnnotatedRecord, ParamValue, surface_annotations};
use serde::Deserialize;
use serde_json::json;

use common::{api, builder};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CountResponse {
    entity_record_count_collection: Counts,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Counts {
    keys: Vec<String>,
    values: Vec<i64>,
}

#[tokio::test]
async fn unbound_functions_with_typed_parameters() {
    let emulator = start(test_config(7)).await;
    let c = builder(&emulator.info()).build().unwrap();
    let counts: CountResponse = c
        .function("RetrieveTotalRecordCount")
        .param("EntityNames", json!(["account", "lead"]))
        .send_as()
        .await
        .unwrap();
    let counts = counts.entity_record_count_collection;
    assert_eq!(counts.keys, ["account", "lead"]);
    assert_eq!(counts.values[0], 7);

    let address = c
        .function("FormatAddress")
        .param("Line1", "1 Main St & 2nd")
        .param("City", "Redmond")
        .param("StateOrProvince", "WA")
        .param("PostalCode", "98052")
        .param("Country", "O'Land")
        .send()
        .await
        .unwrap();
    assert_eq!(
        address["Address"],
        "1 Main St & 2nd\r\nRedmond, WA 98052\r\nO'Land"
    );

    let missing = c
        .function("FormatAddress")
        .param("Line1", 5)
        .send()
        .await
        .unwrap_err();
    let missing = api(missing);
    assert_eq!(missing.status, 400);
    assert!(missing.message.contains("Line1"), "{}", missing.message);
    let unknown = api(c.function("NoSuchFunction").send().await.unwrap_err());
    assert_eq!(unknown.status, 404);
    assert!(unknown.request_id.is_some(), "a request id in every error");
    let unknown_table = api(c
        .function("RetrieveTotalRecordCount")
        .param("EntityNames", json!(["nope"]))
        .send()
        .await
        .unwrap_err());
    assert_eq!(unknown_table.status, 404);
}

#[tokio::test]
async fn bound_and_unbound_actions_change_records() {
    let emulator = start(test_config(0)).await;
    let c = builder(&emulator.info()).build().unwrap();
    let lead = c
        .create(
            "leads",
            json!({"subject": "Big deal", "firstname": "Ada", "lastname": "Byron",
                   "companyname": "Analytical Engines", "emailaddress1": "ada@example.com"}),
        )
        .send()
        .await
        .unwrap();
    let created = c
        .action("QualifyLead")
        .bound("leads", lead)
        .param("CreateAccount", true)
        .param("CreateContact", true)
        .param("CreateOpportunity", true)
        .param("Status", 3)
        .send()
        .await
        .unwrap();
    let created = created["value"].as_array().unwrap().clone();
    assert_eq!(created.len(), 3, "{created:?}");
    let account: uuid::Uuid = created[0]["accountid"].as_str().unwrap().parse().unwrap();
    let opportunity: uuid::Uuid = created[2]["opportunityid"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let account = c
        .retrieve("accounts", account)
        .select(["name", "emailaddress1"])
        .send()
        .await
        .unwrap();
    assert_eq!(account["name"], "Analytical Engines");
    let lead_now = c
        .retrieve("leads", lead)
        .select(["statecode", "statuscode"])
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            lead_now["statecode"].as_i64(),
            lead_now["statuscode"].as_i64()
        ),
        (Some(1), Some(3))
    );
    // A closed lead cannot be qualified again, and nothing more is created.
    let again = api(c
        .action("QualifyLead")
        .bound("leads", lead)
        .param("CreateAccount", true)
        .param("CreateContact", false)
        .param("CreateOpportunity", false)
        .param("Status", 3)
        .send()
        .await
        .unwrap_err());
    assert_eq!(again.status, 400);
    assert_eq!(c.count("accounts").send().await.unwrap(), 1);

    // An unbound action with an entity parameter and no answer body.
    let out = c
        .action("WinOpportunity")
        .entity_param(
            "OpportunityClose",
            "opportunityclose",
            json!({"subject": "Won", "opportunityid@odata.bind": format!("/opportunities({opportunity})")}),
        )
        .param("Status", 3)
        .send()
        .await
        .unwrap();
    assert!(out.is_null());
    let won = c
        .retrieve("opportunities", opportunity)
        .select(["statecode"])
        .send()
        .await
        .unwrap();
    assert_eq!(won["statecode"], 1);
}

#[tokio::test]
async fn links_single_properties_impersonation_and_annotations() {
    let emulator = start(test_config(0)).await;
    let info = emulator.info();
    let c = builder(&info).include_annotations("*").build().unwrap();
    let parent = c
        .create("accounts", json!({"name": "Parent"}))
        .send()
        .await
        .unwrap();
    let child = c
        .create("accounts", json!({"name": "Child"}))
        .send()
        .await
        .unwrap();
    let contact = c
        .create(
            "contacts",
            json!({"firstname": "Grace", "lastname": "Hopper"}),
        )
        .send()
        .await
        .unwrap();

    c.set_lookup("accounts", child, "parentaccountid", "accounts", parent)
        .send()
        .await
        .unwrap();
    let read = c
        .retrieve("accounts", child)
        .select(["_parentaccountid_value", "statecode"])
        .send()
        .await
        .unwrap();
    let lookup = read.lookup("parentaccountid").expect("lookup set");
    assert_eq!(lookup.id, parent);
    assert_eq!(lookup.logical_name.as_deref(), Some("account"));
    assert_eq!(
        lookup.navigation_property.as_deref(),
        Some("parentaccountid")
    );
    assert_eq!(read.formatted("statecode"), Some("Active"));
    let mut flat = read.clone();
    surface_annotations(&mut flat);
    assert_eq!(flat["_parentaccountid_value_LogicalName"], "account");
    assert_eq!(flat["statecode_Formatted"], "Active");

    c.clear_lookup("accounts", child, "parentaccountid")
        .send()
        .await
        .unwrap();
    let read = c
        .retrieve("accounts", child)
        .select(["_parentaccountid_value"])
        .send()
        .await
        .unwrap();
    assert!(read.lookup("parentaccountid").is_none());

    // Collection-valued: the contact joins the parent's contact_customer_accounts, then leaves.
    c.associate(
        "accounts",
        parent,
        "contact_customer_accounts",
        "contacts",
        contact,
    )
    .send()
    .await
    .unwrap();
    let members = c
        .query("contacts")
        .filter_text(&format!("_parentcustomerid_value eq {parent}"))
        .unwrap()
        .send()
        .await
        .unwrap();
    assert_eq!(members.items.len(), 1);
    c.disassociate("accounts", parent, "contact_customer_accounts", contact)
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.count("contacts")
            .filter(&d365_odata::col("_parentcustomerid_value").eq(parent))
            .send()
            .await
            .unwrap(),
        0
    );

    c.set_property("accounts", parent, "name", json!("Renamed"))
        .send()
        .await
        .unwrap();
    c.set_property("accounts", parent, "telephone1", json!("555"))
        .send()
        .await
        .unwrap();
    c.clear_property("accounts", parent, "telephone1")
        .send()
        .await
        .unwrap();
    let read = c
        .retrieve("accounts", parent)
        .select(["name", "telephone1"])
        .send()
        .await
        .unwrap();
    assert_eq!(
        (read["name"].as_str(), read["telephone1"].is_null()),
        (Some("Renamed"), true)
    );

    // Impersonation: the record is created by (and the WhoAmI answers for) the other user.
    let user = d365_testkit::EmulatorConfig::default().users[0].clone();
    let as_user = c.impersonate(user.object_id.parse().unwrap());
    let me = as_user.who_am_i().send().await.unwrap();
    assert_eq!(me.user_id.to_string(), user.systemuser_id);
    let theirs = as_user
        .create("accounts", json!({"name": "Theirs"}))
        .send()
        .await
        .unwrap();
    let read = c
        .retrieve("accounts", theirs)
        .select(["_createdby_value"])
        .send()
        .await
        .unwrap();
    assert_eq!(read["_createdby_value"], user.systemuser_id.as_str());
    let nobody = c.impersonate(uuid::Uuid::nil());
    assert_eq!(api(nobody.who_am_i().send().await.unwrap_err()).status, 404);
    let _ = ParamValue::Null;
}

#[tokio::test]
async fn retrieve_by_alternate_key_with_expand() {
    // The org has a key on accountnumber (none has one out of the box).
    let emulator = start(keyed_config(0)).await;
    let c = builder(&emulator.info()).build().unwrap();
    let contact = c
        .create("contacts", json!({"firstname": "Ada", "lastname": "Byron"}))
        .send()
        .await
        .unwrap();
    c.create(
        "accounts",
        json!({"name": "Keyed", "accountnumber": "AK-1",
               "primarycontactid@odata.bind": format!("/contacts({contact})")}),
    )
    .send()
    .await
    .unwrap();
    let read = c
        .retrieve(
            "accounts",
            d365_webapi::RecordKey::alternate("accountnumber", "AK-1"),
        )
        .select(["name"])
        .expand_text("primarycontactid($select=fullname)")
        .unwrap()
        .send()
        .await
        .unwrap();
    assert_eq!(read["name"], "Keyed");
    assert_eq!(read["primarycontactid"]["fullname"], "Ada Byron");
    let missing = api(c
        .retrieve(
            "accounts",
            d365_webapi::RecordKey::alternate("accountnumber", "nope"),
        )
        .send()
        .await
        .unwrap_err());
    assert_eq!(missing.status, 404);
    assert!(c.retrieve("accounts", contact).expand_text("a(").is_err());
}
