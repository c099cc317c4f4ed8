//! Metadata (PROTOCOL.md B15) and the shapes of errors, client-side and from the service
//! (B5.2, B11, C1–C3).

use d365_webapi::Error;

use crate::context::{Ctx, Outcome, ensure, ensure_eq, expect_api_error};

/// `$metadata` has the `account` type on `accounts`; `EntityDefinitions` lists the table and
/// its columns; an unknown table is a 404.
pub(crate) async fn metadata(cx: &Ctx) -> Outcome {
    let model = cx.client.metadata().send().await?;
    let account = model
        .entity_type("account")
        .ok_or("$metadata has the account type")?;
    ensure_eq!(
        account.entity_set.as_str(),
        "accounts",
        "account's entity set"
    );
    ensure_eq!(account.key.as_str(), "accountid", "account's key");
    ensure!(
        account.property("name").is_some(),
        "account has a name property"
    );
    ensure!(
        account.navigation("parentaccountid").is_some()
            && account.navigation("contact_customer_accounts").is_some(),
        "account's navigation properties used by the suite"
    );
    ensure!(
        model.by_entity_set("Accounts").is_none(),
        "entity set names are case-sensitive"
    );

    let tables = cx.client.tables().await?;
    let table = tables
        .iter()
        .find(|t| t.logical_name == "account")
        .ok_or("EntityDefinitions lists account")?;
    ensure_eq!(
        table.entity_set_name.as_deref(),
        Some("accounts"),
        "EntitySetName"
    );
    ensure_eq!(
        table.primary_id_attribute.as_deref(),
        Some("accountid"),
        "PrimaryIdAttribute"
    );
    ensure_eq!(
        table.primary_name_attribute.as_deref(),
        Some("name"),
        "PrimaryNameAttribute"
    );

    let columns = cx.client.columns("account").await?;
    let column = |name: &str| columns.iter().find(|c| c.logical_name == name);
    let name = column("name").ok_or("account has a name column")?;
    ensure_eq!(
        name.attribute_type.as_deref(),
        Some("String"),
        "name's type"
    );
    ensure_eq!(
        name.is_valid_for_create,
        Some(true),
        "name is valid for create"
    );
    // A lookup column's logical name is `parentaccountid`; `_parentaccountid_value` is only
    // the Web API's name for its value.
    {
        let parent = column("parentaccountid").ok_or_else(|| {
            let names: Vec<&str> = columns.iter().map(|c| c.logical_name.as_str()).collect();
            format!("account has parentaccountid among {names:?}")
        })?;
        ensure_eq!(
            parent.attribute_type.as_deref(),
            Some("Lookup"),
            "parentaccountid's type"
        );
        ensure_eq!(
            parent.targets.as_deref(),
            Some(&["account".to_owned()][..]),
            "parentaccountid's targets"
        );
    }
    let e = expect_api_error(
        cx.client
            .columns(&format!("{}_nosuchtable", cx.prefix))
            .await,
        "columns of an unknown table",
    )?;
    ensure_eq!(e.status, 404, "unknown table");
    Ok(())
}

/// A bad `$filter` is refused before anything is sent, with a caret under the problem; the
/// service answers an unknown entity set (names are case-sensitive) with a 404 and an unknown
/// column with a 400, both with a request id.
pub(crate) async fn error_shapes(cx: &Ctx) -> Outcome {
    for bad in [
        "name eq 'unterminated",
        "name eq",
        "numberofemployees gt 1 and",
    ] {
        match cx.client.query("accounts").filter_text(bad) {
            Ok(q) => return Err(format!("'{bad}' was accepted as {}", q.url()).into()),
            Err(Error::InvalidQuery(message)) => ensure!(
                message.contains('^') && message.contains("$filter"),
                "a caret message for '{bad}': {message}"
            ),
            Err(e) => return Err(format!("'{bad}': not an invalid query: {e}").into()),
        }
    }
    for set in ["nosuchentities", "Accounts"] {
        let e = expect_api_error(
            cx.client.query(set).top(1).send().await,
            &format!("query {set}"),
        )?;
        ensure_eq!(e.status, 404, "unknown entity set {set}");
        ensure!(e.request_id.is_some(), "a request id on the 404 for {set}");
    }
    let e = expect_api_error(
        cx.client
            .query("accounts")
            .select([format!("{}nosuchcolumn", cx.prefix.replace('-', ""))])
            .top(1)
            .send()
            .await,
        "select an unknown column",
    )?;
    ensure_eq!(e.status, 400, "unknown column");
    ensure!(
        e.message.contains("nosuchcolumn"),
        "the message names the column: {}",
        e.message
    );
    Ok(())
}
