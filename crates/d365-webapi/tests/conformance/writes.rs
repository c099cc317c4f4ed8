//! Writing: create (with and without the representation), update under an etag, upsert in
//! each mode, delete, single properties, lookups and collection links
//! (PROTOCOL.md B7, B8, B9, B10). Every record is named with the run's prefix and tracked for
//! deletion.

use d365_odata::col;
use d365_webapi::UpsertMode;
use serde_json::json;

use crate::context::{Ctx, Outcome, ensure, ensure_eq, expect_api_error, guid};

/// `POST accounts` answers 204 with the new id in `OData-EntityId`; the record reads back.
pub(crate) async fn create(cx: &Ctx) -> Outcome {
    let name = cx.name("create");
    let id = cx
        .create(
            "accounts",
            json!({"name": name, "numberofemployees": 7, "telephone1": "555-0100"}),
        )
        .await?;
    let record = cx
        .client
        .retrieve("accounts", id)
        .select(["name", "numberofemployees", "telephone1"])
        .send()
        .await?;
    ensure_eq!(record["name"].as_str(), Some(name.as_str()), "name");
    ensure_eq!(
        record["numberofemployees"].as_i64(),
        Some(7),
        "numberofemployees"
    );
    ensure_eq!(
        record["telephone1"].as_str(),
        Some("555-0100"),
        "telephone1"
    );
    Ok(())
}

/// `Prefer: return=representation` answers 201 with the record as stored.
pub(crate) async fn create_representation(cx: &Ctx) -> Outcome {
    let name = cx.name("create representation");
    let record = cx
        .client
        .create("accounts", json!({"name": name, "numberofemployees": 3}))
        .send_representation(["name", "numberofemployees"])
        .await?;
    let id = guid(&record, "accountid")?;
    cx.track("accounts", id);
    ensure_eq!(record["name"].as_str(), Some(name.as_str()), "name");
    ensure_eq!(
        record["numberofemployees"].as_i64(),
        Some(3),
        "numberofemployees"
    );
    ensure!(
        record["@odata.etag"].is_string(),
        "an etag in the representation: {record}"
    );
    ensure!(
        record.get("telephone1").is_none(),
        "only selected columns: {record}"
    );
    Ok(())
}

/// `If-Match: <etag>`: applied while the etag is current, a 412 once it is stale; a plain
/// update of a missing record is a 404 and creates nothing.
pub(crate) async fn update_if_match(cx: &Ctx) -> Outcome {
    let id = cx
        .create("accounts", json!({"name": cx.name("update")}))
        .await?;
    let etag = |r: &serde_json::Value| r["@odata.etag"].as_str().unwrap_or_default().to_owned();
    let before = cx
        .client
        .retrieve("accounts", id)
        .select(["name"])
        .send()
        .await?;
    let first = etag(&before);
    cx.client
        .update("accounts", id, json!({"name": cx.name("update 2")}))
        .if_match(&first)
        .send()
        .await?;
    let after = cx
        .client
        .retrieve("accounts", id)
        .select(["name"])
        .send()
        .await?;
    ensure_eq!(
        after["name"].as_str(),
        Some(cx.name("update 2").as_str()),
        "updated name"
    );
    ensure!(etag(&after) != first, "a write changes the etag");
    let stale = expect_api_error(
        cx.client
            .update("accounts", id, json!({"name": cx.name("late")}))
            .if_match(&first)
            .send()
            .await,
        "update with a stale etag",
    )?;
    ensure_eq!(stale.status, 412, "stale etag status");
    let now = cx
        .client
        .retrieve("accounts", id)
        .select(["name"])
        .send()
        .await?;
    ensure_eq!(
        now["name"].as_str(),
        Some(cx.name("update 2").as_str()),
        "a refused update writes nothing"
    );
    let missing = uuid::Uuid::new_v4();
    let e = expect_api_error(
        cx.client
            .update("accounts", missing, json!({"name": cx.name("ghost")}))
            .send()
            .await,
        "update a missing record",
    )?;
    ensure_eq!(e.status, 404, "update of a missing record");
    let e = expect_api_error(
        cx.client.retrieve("accounts", missing).send().await,
        "retrieve after a refused update",
    )?;
    ensure_eq!(e.status, 404, "update never creates");
    Ok(())
}

/// Upsert by a caller-chosen id: update-only refuses a missing record (404), create-only
/// creates it and then refuses (412), update-only and a plain upsert then update it.
pub(crate) async fn upsert_modes(cx: &Ctx) -> Outcome {
    let id = uuid::Uuid::new_v4();
    let name = |what: &str| cx.name(&format!("upsert {what}"));
    let e = expect_api_error(
        cx.client
            .upsert("accounts", id, json!({"name": name("update-only")}))
            .mode(UpsertMode::UpdateOnly)
            .send()
            .await,
        "update-only upsert of a missing record",
    )?;
    ensure_eq!(e.status, 404, "update-only on a missing record");
    cx.track("accounts", id);
    cx.client
        .upsert("accounts", id, json!({"name": name("created")}))
        .mode(UpsertMode::CreateOnly)
        .send()
        .await?;
    let read = |cx: &Ctx| {
        let client = cx.client.clone();
        async move {
            client
                .retrieve("accounts", id)
                .select(["name"])
                .send()
                .await
                .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        }
    };
    ensure_eq!(
        read(cx).await?,
        name("created"),
        "created with the given id"
    );
    let e = expect_api_error(
        cx.client
            .upsert("accounts", id, json!({"name": name("again")}))
            .mode(UpsertMode::CreateOnly)
            .send()
            .await,
        "create-only upsert of an existing record",
    )?;
    ensure_eq!(e.status, 412, "create-only on an existing record");
    ensure_eq!(
        read(cx).await?,
        name("created"),
        "a refused upsert writes nothing"
    );
    cx.client
        .upsert("accounts", id, json!({"name": name("updated")}))
        .mode(UpsertMode::UpdateOnly)
        .send()
        .await?;
    ensure_eq!(
        read(cx).await?,
        name("updated"),
        "update-only on an existing record"
    );
    cx.client
        .upsert("accounts", id, json!({"name": name("either")}))
        .send()
        .await?;
    ensure_eq!(read(cx).await?, name("either"), "plain upsert updates");
    // A plain upsert of a missing id creates it.
    let other = uuid::Uuid::new_v4();
    cx.track("accounts", other);
    cx.client
        .upsert("accounts", other, json!({"name": name("plain create")}))
        .send()
        .await?;
    cx.client
        .retrieve("accounts", other)
        .select(["name"])
        .send()
        .await?;
    Ok(())
}

/// `DELETE accounts(<id>)` is 204, refused with a 412 under a stale etag; afterwards the
/// record and a second delete are 404s.
pub(crate) async fn delete(cx: &Ctx) -> Outcome {
    let id = cx
        .create("accounts", json!({"name": cx.name("delete")}))
        .await?;
    let etag = |r: serde_json::Value| r["@odata.etag"].as_str().unwrap_or_default().to_owned();
    let stale = etag(
        cx.client
            .retrieve("accounts", id)
            .select(["name"])
            .send()
            .await?,
    );
    cx.client
        .set_property("accounts", id, "telephone1", json!("555-0199"))
        .send()
        .await?;
    let e = expect_api_error(
        cx.client
            .delete("accounts", id)
            .if_match(&stale)
            .send()
            .await,
        "delete under a stale etag",
    )?;
    ensure_eq!(e.status, 412, "stale etag on delete");
    let current = etag(
        cx.client
            .retrieve("accounts", id)
            .select(["name"])
            .send()
            .await?,
    );
    cx.client
        .delete("accounts", id)
        .if_match(&current)
        .send()
        .await?;
    let e = expect_api_error(
        cx.client.retrieve("accounts", id).send().await,
        "retrieve a deleted record",
    )?;
    ensure_eq!(
        (e.status, e.code.as_str()),
        (404, "0x80040217"),
        "deleted record"
    );
    let e = expect_api_error(
        cx.client.delete("accounts", id).send().await,
        "delete twice",
    )?;
    ensure_eq!(e.status, 404, "second delete");
    Ok(())
}

/// `PUT accounts(<id>)/name` sets one property; `DELETE accounts(<id>)/telephone1` clears one.
pub(crate) async fn single_property(cx: &Ctx) -> Outcome {
    let id = cx
        .create("accounts", json!({"name": cx.name("property")}))
        .await?;
    let renamed = cx.name("property renamed");
    cx.client
        .set_property("accounts", id, "name", json!(renamed))
        .send()
        .await?;
    cx.client
        .set_property("accounts", id, "telephone1", json!("555-0142"))
        .send()
        .await?;
    let read = cx
        .client
        .retrieve("accounts", id)
        .select(["name", "telephone1"])
        .send()
        .await?;
    ensure_eq!(read["name"].as_str(), Some(renamed.as_str()), "set name");
    ensure_eq!(
        read["telephone1"].as_str(),
        Some("555-0142"),
        "set telephone1"
    );
    cx.client
        .clear_property("accounts", id, "telephone1")
        .send()
        .await?;
    let read = cx
        .client
        .retrieve("accounts", id)
        .select(["name", "telephone1"])
        .send()
        .await?;
    ensure!(read["telephone1"].is_null(), "cleared telephone1: {read}");
    ensure_eq!(
        read["name"].as_str(),
        Some(renamed.as_str()),
        "the rest unchanged"
    );
    Ok(())
}

/// Lookups: bound on create (`@odata.bind`), set and cleared through `$ref`; collection links:
/// a contact joins and leaves an account's `contact_customer_accounts`.
pub(crate) async fn lookups_and_links(cx: &Ctx) -> Outcome {
    let parent = cx
        .create("accounts", json!({"name": cx.name("parent")}))
        .await?;
    let other = cx
        .create("accounts", json!({"name": cx.name("other parent")}))
        .await?;
    let child = cx
        .create(
            "accounts",
            json!({"name": cx.name("child"), "parentaccountid@odata.bind": format!("/accounts({parent})")}),
        )
        .await?;
    let parent_of = |cx: &Ctx| {
        let client = cx.client.clone();
        async move {
            client
                .retrieve("accounts", child)
                .select(["_parentaccountid_value"])
                .send()
                .await
                .map(|r| r["_parentaccountid_value"].as_str().map(str::to_owned))
        }
    };
    ensure_eq!(
        parent_of(cx).await?,
        Some(parent.to_string()),
        "bound on create"
    );
    cx.client
        .set_lookup("accounts", child, "parentaccountid", "accounts", other)
        .send()
        .await?;
    ensure_eq!(
        parent_of(cx).await?,
        Some(other.to_string()),
        "set through $ref"
    );
    cx.client
        .clear_lookup("accounts", child, "parentaccountid")
        .send()
        .await?;
    ensure_eq!(parent_of(cx).await?, None, "cleared through $ref");

    let contact = cx
        .create(
            "contacts",
            json!({"firstname": "Conformance", "lastname": cx.name("contact")}),
        )
        .await?;
    let members = |cx: &Ctx| {
        let client = cx.client.clone();
        async move {
            client
                .query("contacts")
                .select(["lastname"])
                .filter(col("_parentcustomerid_value").eq(parent))
                .send()
                .await
                .map(|p| {
                    p.items
                        .iter()
                        .filter_map(|r| r["contactid"].as_str().map(str::to_owned))
                        .collect::<Vec<_>>()
                })
        }
    };
    cx.client
        .associate(
            "accounts",
            parent,
            "contact_customer_accounts",
            "contacts",
            contact,
        )
        .send()
        .await?;
    ensure_eq!(
        members(cx).await?,
        vec![contact.to_string()],
        "associated contact"
    );
    cx.client
        .disassociate("accounts", parent, "contact_customer_accounts", contact)
        .send()
        .await?;
    ensure_eq!(
        members(cx).await?,
        Vec::<String>::new(),
        "disassociated contact"
    );
    Ok(())
}
