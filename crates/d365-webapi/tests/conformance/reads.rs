//! Reading: WhoAmI, collection queries and their options, paging, counts, one record by id,
//! FetchXML with paging cookies, and formatted values. All read the runner's fixture
//! (PROTOCOL.md B4, B5, B6, B11, B14).

use std::collections::HashSet;

use d365_odata::col;
use d365_webapi::{AnnotatedRecord, FORMATTED_VALUE, LOOKUP_LOGICAL_NAME, Retrieved};
use futures_util::TryStreamExt;
use serde_json::Value;

use crate::context::{Ctx, Outcome, ensure, ensure_eq, expect_api_error, guid};

/// `GET WhoAmI` answers three GUIDs; the caller's user exists as a `systemuser`.
pub(crate) async fn who_am_i(cx: &Ctx) -> Outcome {
    let me = cx.client.who_am_i().send().await?;
    ensure!(
        !me.user_id.is_nil() && !me.business_unit_id.is_nil() && !me.organization_id.is_nil(),
        "WhoAmI ids must not be empty: {me:?}"
    );
    let user = cx
        .client
        .retrieve("systemusers", me.user_id)
        .select(["systemuserid"])
        .send()
        .await?;
    ensure_eq!(guid(&user, "systemuserid")?, me.user_id, "systemuserid");
    if let Some(known) = cx.emulator_user() {
        // EMULATOR-ONLY: the app's own application user is not the seeded person.
        ensure!(
            me.user_id != known.systemuser_id,
            "the app must not sign in as the seeded user"
        );
    }
    Ok(())
}

/// `$select`, `$filter` (typed builder and text), `$orderby` and `$top` together.
pub(crate) async fn query_options(cx: &Ctx) -> Outcome {
    let fixture = cx.fixture()?;
    let page = cx
        .client
        .query("accounts")
        .select(["name", "numberofemployees"])
        .filter(
            col("name")
                .startswith(fixture.name_prefix.as_str())
                .and(col("numberofemployees").ge(20)),
        )
        .order_by_text("numberofemployees desc")?
        .top(3)
        .send()
        .await?;
    let employees: Vec<Option<i64>> = page
        .items
        .iter()
        .map(|r| r["numberofemployees"].as_i64())
        .collect();
    ensure_eq!(
        employees,
        vec![Some(60), Some(50), Some(40)],
        "top 3 by employees desc"
    );
    ensure!(
        page.next_link.is_none(),
        "$top without paging has no next link"
    );
    for record in &page.items {
        guid(record, "accountid")?; // the key comes back unasked
        ensure!(
            record["@odata.etag"].is_string(),
            "every record has an etag: {record}"
        );
        ensure!(
            record.get("telephone1").is_none() && record.get("description").is_none(),
            "only selected columns: {record}"
        );
    }
    // The same filter as text, checked by the parser, orders ascending by name.
    let text = format!(
        "startswith(name,'{}') and numberofemployees lt 30",
        fixture.name_prefix
    );
    let page = cx
        .client
        .query("accounts")
        .select(["name"])
        .filter_text(&text)?
        .order_by_text("name asc")?
        .send()
        .await?;
    let names: Vec<&str> = page
        .items
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    let expected: Vec<&str> = fixture.accounts[..3]
        .iter()
        .map(|(_, n, _)| n.as_str())
        .collect();
    ensure_eq!(names, expected, "filter_text + orderby name");
    Ok(())
}

/// `Prefer: odata.maxpagesize` splits the result; following `@odata.nextLink` yields every
/// record exactly once.
pub(crate) async fn paging_next_link(cx: &Ctx) -> Outcome {
    let fixture = cx.fixture()?;
    let query = || {
        cx.client
            .query("accounts")
            .select(["name"])
            .filter(col("name").startswith(fixture.name_prefix.as_str()))
            .order_by_text("name")
            .map(|q| q.max_page_size(3))
    };
    let pages: Vec<_> = query()?.pages().try_collect().await?;
    let sizes: Vec<usize> = pages.iter().map(|p| p.items.len()).collect();
    ensure_eq!(sizes, vec![3, 3, 1], "page sizes");
    ensure!(
        pages[..2].iter().all(|p| p.next_link.is_some()) && pages[2].next_link.is_none(),
        "next links on all but the last page"
    );
    let records: Vec<Value> = query()?.into_stream().try_collect().await?;
    let ids: Vec<uuid::Uuid> = records
        .iter()
        .map(|r| guid(r, "accountid"))
        .collect::<Result<_, _>>()?;
    let unique: HashSet<_> = ids.iter().collect();
    ensure_eq!(unique.len(), ids.len(), "no record twice");
    let expected: Vec<uuid::Uuid> = fixture.accounts.iter().map(|a| a.0).collect();
    ensure_eq!(ids, expected, "every fixture record, in name order");
    // A next link is fetched as given, by hand too.
    let first = query()?.send().await?;
    let link = first.next_link.ok_or("the first page has a next link")?;
    let second = cx.client.next_page(&link, Some(3)).await?;
    ensure_eq!(
        guid(&second.items[0], "accountid")?,
        expected[3],
        "the second page starts at the fourth record"
    );
    Ok(())
}

/// `$count=true` counts every match whatever the page size; `/$count` counts the set.
pub(crate) async fn count(cx: &Ctx) -> Outcome {
    let fixture = cx.fixture()?;
    let filter = col("name").startswith(fixture.name_prefix.as_str());
    let page = cx
        .client
        .query("accounts")
        .select(["name"])
        .filter(filter.clone())
        .count()
        .max_page_size(2)
        .send()
        .await?;
    ensure_eq!(
        page.count,
        Some(fixture.accounts.len() as u64),
        "@odata.count"
    );
    ensure_eq!(
        page.count_limit_exceeded,
        Some(false),
        "totalrecordcountlimitexceeded under the 5,000 cap"
    );
    ensure_eq!(page.items.len(), 2, "page size with $count");
    let all = cx.client.count("accounts").send().await?;
    ensure!(
        all >= fixture.accounts.len() as u64,
        "/$count {all} covers at least the fixture"
    );
    if cx.is_emulator() {
        // EMULATOR-ONLY: the docs show `/$count` without options; a filtered `/$count` is
        // standard OData but not documented for Dataverse.
        let n = cx.client.count("accounts").filter(&filter).send().await?;
        ensure_eq!(n, fixture.accounts.len() as u64, "/$count?$filter");
    }
    Ok(())
}

/// `GET accounts(<id>)?$select=…`: the columns asked for, the key and an etag.
pub(crate) async fn retrieve_by_id(cx: &Ctx) -> Outcome {
    let (id, name, employees) = cx.fixture()?.accounts[4].clone();
    let record = cx
        .client
        .retrieve("accounts", id)
        .select(["name", "numberofemployees"])
        .send()
        .await?;
    ensure_eq!(record["name"].as_str(), Some(name.as_str()), "name");
    ensure_eq!(
        record["numberofemployees"].as_i64(),
        Some(employees),
        "numberofemployees"
    );
    ensure_eq!(guid(&record, "accountid")?, id, "accountid");
    let etag = record["@odata.etag"].as_str().unwrap_or_default();
    ensure!(etag.starts_with("W/\""), "a weak etag: {etag:?}");
    ensure!(
        record.get("telephone1").is_none(),
        "only selected columns: {record}"
    );
    // Conditional: 304 with the current etag, the record with any other.
    let again = cx.client.retrieve("accounts", id).select(["name"]);
    ensure_eq!(
        again.clone().if_none_match(etag).send().await?,
        Retrieved::NotModified,
        "If-None-Match with the current etag"
    );
    let other = format!("{}0\"", etag.trim_end_matches('"'));
    let changed = again.if_none_match(other).send().await?;
    ensure!(
        matches!(&changed, Retrieved::Changed(r) if r["name"].as_str() == Some(name.as_str())),
        "If-None-Match with another etag: {changed:?}"
    );
    Ok(())
}

/// A missing id is a 404 with `0x80040217`, naming the id, with a request id.
pub(crate) async fn retrieve_missing(cx: &Ctx) -> Outcome {
    let missing = uuid::Uuid::new_v4();
    let e = expect_api_error(
        cx.client.retrieve("accounts", missing).send().await,
        "retrieve a missing id",
    )?;
    ensure_eq!(e.status, 404, "status");
    ensure_eq!(e.code.as_str(), "0x80040217", "code");
    ensure!(
        e.message.to_lowercase().contains(&missing.to_string()),
        "the message names the id: {}",
        e.message
    );
    ensure!(
        e.request_id.as_deref().is_some_and(|id| !id.is_empty()),
        "a request id (x-ms-service-request-id or REQ_ID)"
    );
    Ok(())
}

/// FetchXML paged by cookie: every fixture record once, in the document's order.
pub(crate) async fn fetch_xml_paging_cookie(cx: &Ctx) -> Outcome {
    let fixture = cx.fixture()?;
    let xml = format!(
        "<fetch><entity name='account'><attribute name='name'/><attribute name='numberofemployees'/>\
         <filter><condition attribute='name' operator='like' value='{}%'/></filter>\
         <order attribute='name'/></entity></fetch>",
        fixture.name_prefix
    );
    let request = cx.client.fetch_xml("accounts", &xml);
    let first = request.page(1, Some(3), None).await?;
    ensure_eq!(first.records.len(), 3, "first page size");
    ensure!(first.more, "morerecords on the first page");
    let (next, cookie) = first.next.clone().ok_or("a next page")?;
    ensure_eq!(next, 2, "next page number");
    let cookie = cookie.ok_or("a paging cookie")?;
    ensure!(
        cookie.starts_with("<cookie page=\"1\">"),
        "a decoded paging cookie: {cookie}"
    );
    let records: Vec<Value> = request.into_stream(Some(3)).try_collect().await?;
    let ids: Vec<uuid::Uuid> = records
        .iter()
        .map(|r| guid(r, "accountid"))
        .collect::<Result<_, _>>()?;
    let expected: Vec<uuid::Uuid> = fixture.accounts.iter().map(|a| a.0).collect();
    ensure_eq!(ids, expected, "every record once, in name order");
    // FetchXML leaves out null columns; `numberofemployees` 0 is not null.
    ensure_eq!(
        records[0]["numberofemployees"].as_i64(),
        Some(0),
        "zero is a value"
    );
    Ok(())
}

/// `Prefer: odata.include-annotations` (the client's default) brings formatted values and
/// lookup targets.
pub(crate) async fn formatted_values(cx: &Ctx) -> Outcome {
    let fixture = cx.fixture()?;
    let annotated = cx.builder().include_annotations("*").build()?;
    let (id, ..) = fixture.accounts[1];
    let record = annotated
        .retrieve("accounts", id)
        .select(["name", "statecode", "_ownerid_value"])
        .send()
        .await?;
    let state = record.formatted("statecode").unwrap_or_default();
    ensure!(
        !state.is_empty(),
        "a formatted statecode (`statecode@{FORMATTED_VALUE}`): {record}"
    );
    if cx.is_emulator() {
        // EMULATOR-ONLY: labels follow the org's language; the emulator's is English.
        ensure_eq!(state, "Active", "statecode label");
    }
    let owner = record
        .lookup("ownerid")
        .ok_or_else(|| format!("an owner lookup: {record}"))?;
    ensure!(
        matches!(owner.logical_name.as_deref(), Some("systemuser" | "team")),
        "`_ownerid_value@{LOOKUP_LOGICAL_NAME}` names the owner's table: {owner:?}"
    );
    // A single-target lookup: its table, navigation property and the related record's name.
    let (parent, parent_name, _) = fixture.accounts[0].clone();
    let child = cx
        .create(
            "accounts",
            serde_json::json!({"name": cx.name("annotated child"),
                               "parentaccountid@odata.bind": format!("/accounts({parent})")}),
        )
        .await?;
    let record = annotated
        .retrieve("accounts", child)
        .select(["_parentaccountid_value"])
        .send()
        .await?;
    let lookup = record
        .lookup("parentaccountid")
        .ok_or_else(|| format!("a parent lookup: {record}"))?;
    ensure_eq!(lookup.id, parent, "lookup id");
    ensure_eq!(
        lookup.logical_name.as_deref(),
        Some("account"),
        "lookuplogicalname"
    );
    ensure_eq!(
        lookup.navigation_property.as_deref(),
        Some("parentaccountid"),
        "associatednavigationproperty"
    );
    ensure_eq!(
        lookup.name.as_deref(),
        Some(parent_name.as_str()),
        "a lookup's formatted value is the related record's name"
    );
    // Pages ask for the same annotations.
    let page = annotated
        .query("accounts")
        .select(["statecode"])
        .filter(col("name").startswith(fixture.name_prefix.as_str()))
        .top(2)
        .send()
        .await?;
    ensure!(
        page.items
            .iter()
            .all(|r| r.formatted("statecode").is_some()),
        "formatted values on every queried record"
    );
    // Without the preference there are none.
    let plain = cx
        .client
        .retrieve("accounts", id)
        .select(["statecode"])
        .send()
        .await?;
    ensure!(
        plain.formatted("statecode").is_none(),
        "no annotations unless asked: {plain}"
    );
    Ok(())
}

/// `$orderby` on a lookup sorts by the related record's primary name, not its id (Learn,
/// "Order rows": lookup columns), across pages; and a customer lookup names the table it was
/// bound to (`parentcustomerid_account` vs `parentcustomerid_contact`).
pub(crate) async fn lookup_order_and_targets(cx: &Ctx) -> Outcome {
    // Contacts created in the opposite order of their names.
    let mut contacts = Vec::new();
    for last in ["Zulu", "Yankee", "Xray"] {
        let id = cx
            .create("contacts", serde_json::json!({"lastname": cx.name(last)}))
            .await?;
        contacts.push(id);
    }
    let prefix = cx.name("by contact");
    let mut accounts = Vec::new();
    for (i, contact) in contacts.iter().enumerate() {
        let id = cx
            .create(
                "accounts",
                serde_json::json!({"name": format!("{prefix} {i}"),
                    "primarycontactid@odata.bind": format!("/contacts({contact})")}),
            )
            .await?;
        accounts.push(id);
    }
    let records: Vec<Value> = cx
        .client
        .query("accounts")
        .select(["name", "_primarycontactid_value"])
        .filter(col("name").startswith(prefix.as_str()))
        .order_by_text("_primarycontactid_value")?
        .max_page_size(2)
        .into_stream()
        .try_collect()
        .await?;
    let ids: Vec<uuid::Uuid> = records
        .iter()
        .map(|r| guid(r, "accountid"))
        .collect::<Result<_, _>>()?;
    let by_name: Vec<uuid::Uuid> = accounts.iter().rev().copied().collect();
    ensure_eq!(
        ids,
        by_name,
        "accounts in their contacts' name order (Xray, Yankee, Zulu)"
    );

    // A customer is an account or a contact; the annotations say which.
    let annotated = cx.builder().include_annotations("*").build()?;
    for (bind, target, table) in [
        (
            "parentcustomerid_account",
            format!("/accounts({})", accounts[0]),
            "account",
        ),
        (
            "parentcustomerid_contact",
            format!("/contacts({})", contacts[0]),
            "contact",
        ),
    ] {
        let id = cx
            .create(
                "contacts",
                serde_json::json!({"lastname": cx.name("customer"),
                                   format!("{bind}@odata.bind"): target}),
            )
            .await?;
        let record = annotated
            .retrieve("contacts", id)
            .select(["_parentcustomerid_value"])
            .send()
            .await?;
        let lookup = record
            .lookup("parentcustomerid")
            .ok_or_else(|| format!("a customer lookup: {record}"))?;
        ensure_eq!(
            lookup.logical_name.as_deref(),
            Some(table),
            "lookuplogicalname"
        );
        ensure_eq!(
            lookup.navigation_property.as_deref(),
            Some(bind),
            "associatednavigationproperty"
        );
    }
    Ok(())
}
