//! `$expand` over HTTP: related records and collections, at every level, are the records as
//! a read of their own gives them, written into each row's answer (the emulator splices the
//! store's text, no `Value` per row): members in order, one member per name.

mod common;

use common::api::Api;

use d365_testkit::{start, test_config};
use serde_json::{Value, json};

/// Lookups and collections expanded on a page's rows are written into each row's text, with no
/// `Value` per row: each related record is the record as a read of its own gives it (without
/// its etag), each collection what its next link answers, member for member and in order,
/// with and without annotations; for rows whose lookup is empty or points at another row of
/// the same table, and for collections empty, cut by `$top`, ordered, filtered, or holding the
/// foreign key they are grouped by.
#[tokio::test]
async fn expanded_records_are_the_records_as_read_on_their_own() {
    let emulator = start(test_config(0)).await;
    let api = Api::new(emulator.info()).await;
    let nan = api
        .create(
            "contacts",
            json!({"firstname": "Nan", "lastname": "Anderson"}),
            &[],
        )
        .await;
    let bo = api
        .create(
            "contacts",
            json!({"firstname": "Bo", "lastname": "Zhu"}),
            &[],
        )
        .await;
    let parent = api
        .create(
            "accounts",
            json!({"name": "A parent", "revenue": 12.5}),
            &[],
        )
        .await;
    for (name, contact, parent) in [
        ("B with Nan", Some(nan), Some(parent)),
        ("C with Bo", Some(bo), None),
        ("D with nobody", None, Some(parent)),
        ("E with Nan \"quoted\"", Some(nan), None),
    ] {
        let mut body = json!({"name": name, "revenue": 1000.50});
        if let Some(c) = contact {
            body["primarycontactid@odata.bind"] = json!(format!("/contacts({c})"));
        }
        if let Some(p) = parent {
            body["parentaccountid@odata.bind"] = json!(format!("/accounts({p})"));
        }
        api.create("accounts", body, &[]).await;
    }
    for (first, customer) in [("Cy", parent), ("Di", parent), ("Ed", parent)] {
        let bind = format!("/accounts({customer})");
        api.create(
            "contacts",
            json!({"firstname": first, "lastname": "Customer", "parentcustomerid_account@odata.bind": bind}),
            &[],
        )
        .await;
    }
    // Each related record is the record itself, read on its own with the same `$select`
    // (without its etag); each related collection is what its next link answers; a lookup is
    // null where the row's lookup is; with and without annotations.
    let without = |mut record: Value, keys: &[&str]| {
        let fields = record.as_object_mut().unwrap();
        for key in keys {
            fields.shift_remove(*key);
        }
        record
    };
    for (query, lookups, collections) in [
        (
            "accounts?$select=name,_primarycontactid_value,_parentaccountid_value&$orderby=name\
             &$expand=primarycontactid($select=fullname,_ownerid_value),parentaccountid($select=name)",
            &[
                ("primarycontactid", "contacts", "fullname,_ownerid_value"),
                ("parentaccountid", "accounts", "name"),
            ][..],
            &[][..],
        ),
        (
            "accounts?$select=name,_primarycontactid_value&$orderby=name&$expand=primarycontactid",
            &[("primarycontactid", "contacts", "")][..],
            &[][..],
        ),
        (
            "contacts?$select=fullname&$orderby=fullname&$expand=account_primary_contact(\
             $select=name,_primarycontactid_value;$orderby=name desc;$top=1)",
            &[][..],
            &["account_primary_contact"][..],
        ),
        (
            "accounts?$select=name,_primarycontactid_value&$orderby=name\
             &$expand=contact_customer_accounts($select=fullname;$filter=firstname ne 'Di'),\
             account_parent_account($select=name),primarycontactid($select=fullname)",
            &[("primarycontactid", "contacts", "fullname")][..],
            &["contact_customer_accounts", "account_parent_account"][..],
        ),
    ] {
        for prefer in [None, Some("odata.include-annotations=\"*\"")] {
            let page = api.get(query, prefer).await;
            let rows = page["value"].as_array().unwrap();
            assert!(rows.len() >= 4, "{query}: {page}");
            for row in rows {
                for (nav, set, select) in lookups {
                    let related = &row[*nav];
                    let fk = &row[format!("_{nav}_value")];
                    assert_eq!(related.is_null(), fk.is_null(), "{query}: {row}");
                    let Some(id) = fk.as_str() else { continue };
                    let select = if select.is_empty() {
                        String::new()
                    } else {
                        format!("?$select={select}")
                    };
                    let itself = api.get(format!("{set}({id}){select}"), prefer).await;
                    let itself = without(itself, &["@odata.context", "@odata.etag"]);
                    // As text: `Value`s compare their members in any order.
                    assert_eq!(
                        related.to_string(),
                        itself.to_string(),
                        "{query} {prefer:?}"
                    );
                }
                for nav in collections {
                    let link = row[format!("{nav}@odata.nextLink")].as_str().unwrap();
                    let again = api.get(link, prefer).await;
                    let again = again["value"].to_string();
                    assert_eq!(row[*nav].to_string(), again, "{query} {prefer:?}");
                }
            }
        }
    }
    // A navigation expanded twice is one member, the last item's, where the first was.
    let twice = api
        .get_text(
            "accounts?$select=name&$orderby=name\
             &$expand=primarycontactid($select=fullname),account_parent_account($select=name),\
             primarycontactid/$ref,account_parent_account($select=revenue)",
            None,
        )
        .await;
    let page: Value = serde_json::from_str(&twice).unwrap();
    let rows = page["value"].as_array().unwrap();
    assert_eq!(
        twice.matches("\"primarycontactid\":").count(),
        rows.len(),
        "{twice}"
    );
    assert_eq!(
        twice.matches("\"account_parent_account\":").count(),
        rows.len()
    );
    let b = rows.iter().find(|r| r["name"] == "B with Nan").unwrap();
    let names: Vec<&String> = b.as_object().unwrap().keys().collect();
    assert_eq!(
        names,
        [
            "@odata.etag",
            "name",
            "accountid",
            "primarycontactid",
            "account_parent_account",
            "account_parent_account@odata.nextLink"
        ],
        "{b}"
    );
    assert!(
        b["primarycontactid"]["@odata.id"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/contacts({nan})"))
    );
    let children = rows[0]["account_parent_account"].as_array().unwrap();
    assert!(
        children
            .iter()
            .all(|c| c.get("revenue").is_some() && c.get("name").is_none()),
        "{}",
        rows[0]
    );

    // A column selected twice is one member, at top level and in an expanded record.
    let twice = api
        .get_text(
            "accounts?$select=name,revenue,name&$filter=name eq 'B with Nan'\
             &$expand=primarycontactid($select=fullname,fullname)",
            None,
        )
        .await;
    assert_eq!(twice.matches("\"name\":").count(), 1, "{twice}");
    assert_eq!(twice.matches("\"fullname\":").count(), 1, "{twice}");

    // The shapes themselves: a record, a null, no etag on the related record; a collection
    // with its rows and next link.
    let page = api
        .get(
            "accounts?$select=name&$orderby=name&$expand=primarycontactid($select=fullname),\
             account_parent_account($select=name)",
            None,
        )
        .await;
    let page = page["value"].as_array().unwrap();
    assert_eq!(page[1]["name"], "B with Nan");
    assert_eq!(page[1]["primarycontactid"]["fullname"], "Nan Anderson");
    assert_eq!(
        page[1]["primarycontactid"]["contactid"],
        json!(nan.to_string())
    );
    assert!(page[1]["primarycontactid"].get("@odata.etag").is_none());
    assert!(page[1].get("@odata.etag").is_some());
    assert_eq!(page[3]["primarycontactid"], Value::Null);
    let children: Vec<&Value> = page[0]["account_parent_account"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["name"])
        .collect();
    assert_eq!(children.len(), 2, "{}", page[0]);
    assert_eq!(page[1]["account_parent_account"], json!([]));
    let link = page[0]["account_parent_account@odata.nextLink"]
        .as_str()
        .unwrap();
    assert!(
        link.ends_with(&format!(
            "/accounts({parent})/account_parent_account?$select=name"
        )),
        "{link}"
    );
}
