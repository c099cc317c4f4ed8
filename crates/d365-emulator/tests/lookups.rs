//! Lookups over HTTP, as Dataverse answers them: a polymorphic lookup keeps the table it was
//! bound to (owner: team or user; customer: account or contact) and says so in
//! `lookuplogicalname`/`associatednavigationproperty`; a lookup's formatted value is the
//! related record's primary name; `createdonbehalfby` names an impersonating caller; and
//! `$orderby` on a lookup sorts by the related name across pages.

mod common;

use common::api::Api;

use d365_testkit::{start, test_config};
use serde_json::{Value, json};

const FORMATTED: &str = "OData.Community.Display.V1.FormattedValue";
const LOGICAL_NAME: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";
const NAVIGATION: &str = "Microsoft.Dynamics.CRM.associatednavigationproperty";

/// The annotations of `lookup` on `record`: (logical name, navigation, formatted value).
fn annotations(record: &Value, lookup: &str) -> (Value, Value, Value) {
    (
        record[format!("{lookup}@{LOGICAL_NAME}")].clone(),
        record[format!("{lookup}@{NAVIGATION}")].clone(),
        record[format!("{lookup}@{FORMATTED}")].clone(),
    )
}

#[tokio::test]
async fn an_owner_bound_to_a_team_or_a_user_keeps_its_table() {
    let emulator = start(test_config(0)).await;
    let api = Api::new(emulator.info()).await;
    let (team, team_name) = api.first("teams", "teamid", "name").await;
    let me = api.get("WhoAmI", None).await;
    let me = me["UserId"].as_str().unwrap().to_owned();
    let my_name = api
        .get(&format!("systemusers({me})?$select=fullname"), None)
        .await["fullname"]
        .as_str()
        .unwrap()
        .to_owned();

    let by_team = api
        .create(
            "accounts",
            json!({"name": "Team owned", "ownerid@odata.bind": format!("/teams({team})")}),
            &[],
        )
        .await;
    let by_user = api
        .create(
            "accounts",
            json!({"name": "User owned", "ownerid@odata.bind": format!("/systemusers({me})")}),
            &[],
        )
        .await;
    let by_default = api
        .create("accounts", json!({"name": "Default owner"}), &[])
        .await;

    let read = |id: uuid::Uuid| api.annotated(format!("accounts({id})?$select=_ownerid_value"));
    let team_owned = read(by_team).await;
    assert_eq!(team_owned["_ownerid_value"], json!(team));
    assert_eq!(
        annotations(&team_owned, "_ownerid_value"),
        (json!("team"), json!("ownerid"), json!(team_name)),
        "{team_owned}"
    );
    for id in [by_user, by_default] {
        let user_owned = read(id).await;
        assert_eq!(user_owned["_ownerid_value"], json!(me));
        assert_eq!(
            annotations(&user_owned, "_ownerid_value"),
            (json!("systemuser"), json!("ownerid"), json!(my_name)),
            "{user_owned}"
        );
    }

    // Pages carry the same annotations, per row.
    let page = api
        .annotated("accounts?$select=name,_ownerid_value&$orderby=name")
        .await;
    let tables: Vec<(&str, &str)> = page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r[format!("_ownerid_value@{LOGICAL_NAME}")]
                    .as_str()
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tables,
        [
            ("Default owner", "systemuser"),
            ("Team owned", "team"),
            ("User owned", "systemuser")
        ]
    );

    // Change tracking writes records the same way.
    let tracked = api
        .get(
            "accounts?$select=name,_ownerid_value",
            Some("odata.track-changes,odata.include-annotations=\"*\""),
        )
        .await;
    let row = tracked["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Team owned")
        .unwrap_or_else(|| panic!("{tracked}"));
    assert_eq!(annotations(row, "_ownerid_value").0, json!("team"));

    // So does a request inside `$batch`, with its own Prefer header.
    let batch = format!(
        "--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
         GET {} HTTP/1.1\r\nAccept: application/json\r\n\
         Prefer: odata.include-annotations=\"*\"\r\n\r\n--b--\r\n",
        api.url(&format!("accounts({by_team})?$select=_ownerid_value"))
    );
    let answer = api
        .http
        .post(api.url("$batch"))
        .bearer_auth(&api.token)
        .header("content-type", "multipart/mixed; boundary=\"b\"")
        .body(batch)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        answer.contains(&format!("\"_ownerid_value@{LOGICAL_NAME}\":\"team\"")),
        "{answer}"
    );

    // Reassigned to the user: the table follows the new bind.
    api.patch(
        &format!("accounts({by_team})"),
        json!({"ownerid@odata.bind": format!("/systemusers({me})")}),
    )
    .await;
    let reassigned = read(by_team).await;
    assert_eq!(
        annotations(&reassigned, "_ownerid_value").0,
        json!("systemuser")
    );

    // Without the preference, no annotations at all.
    let plain = api
        .get(&format!("accounts({by_team})?$select=_ownerid_value"), None)
        .await;
    assert!(
        plain
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.contains("@Microsoft") && !k.contains("@OData.Community")),
        "{plain}"
    );
}

#[tokio::test]
async fn a_customer_bound_to_an_account_or_a_contact_keeps_its_table() {
    let emulator = start(test_config(0)).await;
    let api = Api::new(emulator.info()).await;
    let account = api
        .create("accounts", json!({"name": "Fourth Coffee"}), &[])
        .await;
    let contact = api
        .create(
            "contacts",
            json!({"firstname": "Rene", "lastname": "Valdes"}),
            &[],
        )
        .await;
    let of_account = api
        .create(
            "contacts",
            json!({"lastname": "Employee",
                   "parentcustomerid_account@odata.bind": format!("/accounts({account})")}),
            &[],
        )
        .await;
    let of_contact = api
        .create(
            "contacts",
            json!({"lastname": "Relative",
                   "parentcustomerid_contact@odata.bind": format!("/contacts({contact})")}),
            &[],
        )
        .await;
    let read =
        |id: uuid::Uuid| api.annotated(format!("contacts({id})?$select=_parentcustomerid_value"));
    assert_eq!(
        annotations(&read(of_account).await, "_parentcustomerid_value"),
        (
            json!("account"),
            json!("parentcustomerid_account"),
            json!("Fourth Coffee")
        )
    );
    assert_eq!(
        annotations(&read(of_contact).await, "_parentcustomerid_value"),
        (
            json!("contact"),
            json!("parentcustomerid_contact"),
            json!("Rene Valdes")
        )
    );

    // An opportunity's customer, both ways; then moved from the account to the contact.
    let opportunity = api
        .create(
            "opportunities",
            json!({"name": "Espresso machines",
                   "customerid_account@odata.bind": format!("/accounts({account})")}),
            &[],
        )
        .await;
    let read = || {
        api.annotated(format!(
            "opportunities({opportunity})?$select=_customerid_value"
        ))
    };
    assert_eq!(
        annotations(&read().await, "_customerid_value"),
        (
            json!("account"),
            json!("customerid_account"),
            json!("Fourth Coffee")
        )
    );
    api.patch(
        &format!("opportunities({opportunity})"),
        json!({"customerid_contact@odata.bind": format!("/contacts({contact})")}),
    )
    .await;
    let moved = read().await;
    assert_eq!(moved["_customerid_value"], json!(contact));
    assert_eq!(
        annotations(&moved, "_customerid_value"),
        (
            json!("contact"),
            json!("customerid_contact"),
            json!("Rene Valdes")
        )
    );
    // Cleared: a null value with no annotations.
    api.patch(
        &format!("opportunities({opportunity})"),
        json!({"customerid_contact@odata.bind": null}),
    )
    .await;
    let cleared = read().await;
    assert_eq!(cleared["_customerid_value"], Value::Null);
    assert_eq!(
        annotations(&cleared, "_customerid_value"),
        (Value::Null, Value::Null, Value::Null),
        "{cleared}"
    );
}

#[tokio::test]
async fn a_lookup_formatted_value_is_the_related_name_when_asked_for() {
    let emulator = start(test_config(0)).await;
    let api = Api::new(emulator.info()).await;
    let contact = api
        .create(
            "contacts",
            json!({"firstname": "Nancy", "lastname": "Anderson"}),
            &[],
        )
        .await;
    let account = api
        .create(
            "accounts",
            json!({"name": "Litware",
                   "primarycontactid@odata.bind": format!("/contacts({contact})")}),
            &[],
        )
        .await;
    let path = format!("accounts({account})?$select=_primarycontactid_value");
    // Formatted values only: no lookup annotations.
    let only_formatted = api
        .get(
            &path,
            Some("odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\""),
        )
        .await;
    assert_eq!(
        annotations(&only_formatted, "_primarycontactid_value"),
        (Value::Null, Value::Null, json!("Nancy Anderson")),
        "{only_formatted}"
    );
    // Lookup annotations only: no formatted value.
    let only_lookup = api
        .get(
            &path,
            Some("odata.include-annotations=\"Microsoft.Dynamics.CRM.*\""),
        )
        .await;
    assert_eq!(
        annotations(&only_lookup, "_primarycontactid_value"),
        (json!("contact"), json!("primarycontactid"), Value::Null),
        "{only_lookup}"
    );
    // The name is read, not copied: a renamed contact shows its new name.
    api.patch(
        &format!("contacts({contact})"),
        json!({"firstname": "Nan", "lastname": "Anderson"}),
    )
    .await;
    assert_eq!(
        api.annotated(&path).await[format!("_primarycontactid_value@{FORMATTED}")],
        json!("Nan Anderson")
    );
    // Also on `Prefer: return=representation`.
    let response = api
        .http
        .post(api.url("accounts?$select=name,_primarycontactid_value"))
        .bearer_auth(&api.token)
        .header(
            "Prefer",
            "return=representation,odata.include-annotations=\"*\"",
        )
        .json(&json!({"name": "Litware 2",
                      "primarycontactid@odata.bind": format!("/contacts({contact})")}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        created[format!("_primarycontactid_value@{FORMATTED}")],
        json!("Nan Anderson"),
        "{created}"
    );
    // Expanded records carry them too: a lookup, and a collection's rows.
    let expanded = api
        .annotated(format!(
            "contacts({contact})?$select=fullname&$expand=\
             account_primary_contact($select=name,_primarycontactid_value,_ownerid_value)"
        ))
        .await;
    let rows = expanded["account_primary_contact"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{expanded}");
    for row in rows {
        assert_eq!(
            row[format!("_primarycontactid_value@{FORMATTED}")],
            json!("Nan Anderson"),
            "{expanded}"
        );
        assert_eq!(
            row[format!("_ownerid_value@{LOGICAL_NAME}")],
            json!("systemuser")
        );
    }
    let lookup = api
        .annotated(format!(
            "accounts({account})?$select=name&$expand=primarycontactid($select=fullname,_ownerid_value)"
        ))
        .await;
    assert_eq!(
        lookup["primarycontactid"][format!("_ownerid_value@{NAVIGATION}")],
        json!("ownerid"),
        "{lookup}"
    );
    // Without the preference, none.
    let plain = api
        .get(
            format!(
                "accounts({account})?$select=name&$expand=primarycontactid($select=_ownerid_value)"
            ),
            None,
        )
        .await;
    assert!(
        plain["primarycontactid"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.contains('@')),
        "{plain}"
    );
}

#[tokio::test]
async fn created_on_behalf_of_names_the_impersonating_caller() {
    let config = test_config(0);
    let user = config.users[0].clone();
    let emulator = start(config).await;
    let api = Api::new(emulator.info()).await;
    let app = api.get("WhoAmI", None).await["UserId"]
        .as_str()
        .unwrap()
        .to_owned();
    let select = "$select=_createdby_value,_createdonbehalfby_value,_modifiedby_value,_modifiedonbehalfby_value";
    for header in ["CallerObjectId", "MSCRMCallerID"] {
        let value = if header == "CallerObjectId" {
            user.object_id.clone()
        } else {
            user.systemuser_id.clone()
        };
        let id = api
            .create(
                "accounts",
                json!({"name": format!("Impersonated by {header}")}),
                &[(header, value)],
            )
            .await;
        let read = api.get(&format!("accounts({id})?{select}"), None).await;
        assert_eq!(
            read["_createdby_value"],
            json!(user.systemuser_id),
            "{read}"
        );
        assert_eq!(read["_createdonbehalfby_value"], json!(app), "{read}");
        assert_eq!(read["_modifiedonbehalfby_value"], json!(app), "{read}");
        // Learn's way to tell who really acted: expand both.
        let expanded = api
            .get(
                format!(
                    "accounts({id})?$select=name&$expand=createdby($select=systemuserid),\
                     createdonbehalfby($select=systemuserid)"
                ),
                None,
            )
            .await;
        assert_eq!(
            (
                &expanded["createdby"]["systemuserid"],
                &expanded["createdonbehalfby"]["systemuserid"]
            ),
            (&json!(user.systemuser_id), &json!(app)),
            "{expanded}"
        );
        // A change by the app itself: modified by it, on behalf of no one.
        api.patch(
            &format!("accounts({id})"),
            json!({"telephone1": "555-0100"}),
        )
        .await;
        let read = api.get(&format!("accounts({id})?{select}"), None).await;
        assert_eq!(read["_modifiedby_value"], json!(app));
        assert_eq!(read["_modifiedonbehalfby_value"], Value::Null, "{read}");
        assert_eq!(read["_createdonbehalfby_value"], json!(app), "kept");
    }
    // Without impersonation, no one.
    let id = api.create("accounts", json!({"name": "Direct"}), &[]).await;
    let read = api.get(&format!("accounts({id})?{select}"), None).await;
    assert_eq!(read["_createdonbehalfby_value"], Value::Null);
    // A body cannot set it.
    let id = api
        .create(
            "accounts",
            json!({"name": "Forged",
                   "createdonbehalfby@odata.bind": format!("/systemusers({})", user.systemuser_id)}),
            &[],
        )
        .await;
    let read = api.get(&format!("accounts({id})?{select}"), None).await;
    assert_eq!(read["_createdonbehalfby_value"], Value::Null, "{read}");
}

/// Follows next links from `path` with pages of `size`; every row and the number of pages.
async fn all_pages(api: &Api, path: &str, size: u32) -> (Vec<Value>, usize) {
    let prefer = format!("odata.maxpagesize={size}");
    let mut page = api.get(path, Some(&prefer)).await;
    let (mut rows, mut pages) = (Vec::new(), 1);
    loop {
        rows.extend(page["value"].as_array().unwrap().iter().cloned());
        let Some(next) = page["@odata.nextLink"].as_str() else {
            break;
        };
        page = api.get(next, Some(&prefer)).await;
        pages += 1;
    }
    (rows, pages)
}

#[tokio::test]
async fn orderby_a_lookup_sorts_by_the_related_name_across_pages() {
    let emulator = start(test_config(0)).await;
    let api = Api::new(emulator.info()).await;
    // Names whose order differs from their ids' and from a case-sensitive sort.
    let mut contacts = Vec::new();
    for last in ["delta", "Alpha", "charlie", "Bravo", "alpha"] {
        let id = api.create("contacts", json!({"lastname": last}), &[]).await;
        contacts.push((id, last));
    }
    let mut accounts = Vec::new();
    for i in 0..13 {
        let mut body = json!({"name": format!("Sorted {i:02}")});
        // Every fifth account has no primary contact; the others cycle through the contacts.
        let contact = (i % 5 != 4).then(|| contacts[i % contacts.len()]);
        if let Some((id, _)) = contact {
            body["primarycontactid@odata.bind"] = json!(format!("/contacts({id})"));
        }
        let id = api.create("accounts", body, &[]).await;
        accounts.push((id, contact));
    }
    // Dataverse's order: by the contact's name (case-insensitive, nulls first), then the
    // contact's id, then the account's.
    let mut expected = accounts.clone();
    expected.sort_by_key(|(id, contact)| {
        (
            contact.map(|(_, name)| name.to_lowercase()),
            contact.map(|(cid, _)| cid),
            *id,
        )
    });
    let expected: Vec<uuid::Uuid> = expected.into_iter().map(|(id, _)| id).collect();
    let ids = |rows: &[Value]| -> Vec<uuid::Uuid> {
        rows.iter()
            .map(|r| r["accountid"].as_str().unwrap().parse().unwrap())
            .collect()
    };

    let (rows, pages) = all_pages(
        &api,
        "accounts?$select=name,_primarycontactid_value&$orderby=_primarycontactid_value",
        4,
    )
    .await;
    assert_eq!(pages, 4, "13 rows in pages of 4");
    assert_eq!(ids(&rows), expected);

    // Descending: names descending, nulls last; the tiebreakers descending too except the
    // key, which Dataverse adds ascending.
    let mut descending = accounts.clone();
    descending.sort_by_key(|(id, contact)| {
        (
            std::cmp::Reverse(contact.map(|(_, name)| name.to_lowercase())),
            std::cmp::Reverse(contact.map(|(cid, _)| cid)),
            *id,
        )
    });
    let descending: Vec<uuid::Uuid> = descending.into_iter().map(|(id, _)| id).collect();
    let (rows, pages) = all_pages(
        &api,
        "accounts?$select=name&$orderby=_primarycontactid_value desc",
        5,
    )
    .await;
    assert_eq!(pages, 3);
    assert_eq!(ids(&rows), descending);

    // With a filter and a second sort key: accounts sharing a contact by name, descending.
    let (rows, _) = all_pages(
        &api,
        "accounts?$select=name&$filter=_primarycontactid_value ne null&$orderby=_primarycontactid_value,name desc",
        3,
    )
    .await;
    let mut filtered: Vec<_> = accounts
        .iter()
        .enumerate()
        .filter_map(|(i, (id, contact))| {
            let (cid, name) = (*contact)?;
            Some(((name.to_lowercase(), cid, std::cmp::Reverse(i)), *id))
        })
        .collect();
    filtered.sort();
    assert_eq!(
        ids(&rows),
        filtered.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_store_from_before_lookup_types_opens_with_them_inferred() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(2);
    config.data_dir = Some(dir.path().to_owned());
    let first = start(config.clone()).await;
    let api = Api::new(first.info()).await;
    let (team, _) = api.first("teams", "teamid", "name").await;
    let account = api
        .create(
            "accounts",
            json!({"name": "Team owned", "ownerid@odata.bind": format!("/teams({team})")}),
            &[],
        )
        .await;
    let contact = api
        .create(
            "contacts",
            json!({"lastname": "Of the account",
                   "parentcustomerid_account@odata.bind": format!("/accounts({account})")}),
            &[],
        )
        .await;
    first.stop().await;

    // What an older emulator wrote: no column for the target types.
    {
        let db = rusqlite::Connection::open(dir.path().join("dataverse.sqlite3")).unwrap();
        for (table, column) in [
            ("account", "_ownerid_value@lookuplogicalname"),
            ("contact", "_ownerid_value@lookuplogicalname"),
            ("contact", "_parentcustomerid_value@lookuplogicalname"),
            ("task", "_regardingobjectid_value@lookuplogicalname"),
        ] {
            db.execute_batch(&format!("ALTER TABLE {table} DROP COLUMN \"{column}\""))
                .unwrap();
        }
    }

    let second = start(config).await;
    let api = Api::new(second.info()).await;
    let owner = api
        .annotated(&format!("accounts({account})?$select=_ownerid_value"))
        .await;
    assert_eq!(annotations(&owner, "_ownerid_value").0, json!("team"));
    let customer = api
        .annotated(&format!(
            "contacts({contact})?$select=_parentcustomerid_value"
        ))
        .await;
    assert_eq!(
        annotations(&customer, "_parentcustomerid_value").0,
        json!("account")
    );
    // The seeded rows too: owned by the seeded user, regarding their account.
    let tasks = api
        .annotated("tasks?$select=_ownerid_value,_regardingobjectid_value")
        .await;
    for task in tasks["value"].as_array().unwrap() {
        assert_eq!(annotations(task, "_ownerid_value").0, json!("systemuser"));
        assert_eq!(
            annotations(task, "_regardingobjectid_value").1,
            json!("regardingobjectid_account_task"),
            "{task}"
        );
    }
    assert!(!tasks["value"].as_array().unwrap().is_empty());
}

/// `$expand=<nav>/$ref` on a polymorphic lookup gives the reference only under the navigation
/// property of the table the value points at.
#[tokio::test]
async fn a_polymorphic_reference_appears_under_its_own_table_only() {
    let emulator = start(test_config(0)).await;
    let api = Api::new(emulator.info()).await;
    let parent = api
        .create("contacts", json!({"lastname": "Parent"}), &[])
        .await;
    let child = api
        .create(
            "contacts",
            json!({"lastname": "Child",
                   "parentcustomerid_contact@odata.bind": format!("/contacts({parent})")}),
            &[],
        )
        .await;
    let row = api
        .get(
            format!(
                "contacts({child})?$select=lastname\
                 &$expand=parentcustomerid_account/$ref,parentcustomerid_contact/$ref"
            ),
            None,
        )
        .await;
    assert_eq!(row["parentcustomerid_account"], Value::Null, "{row}");
    assert!(
        row["parentcustomerid_contact"]["@odata.id"]
            .as_str()
            .is_some_and(|id| id.ends_with(&format!("/contacts({parent})"))),
        "{row}"
    );
}
