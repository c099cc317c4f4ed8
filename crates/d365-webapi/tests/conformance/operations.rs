//! Functions and actions (PROTOCOL.md B11) and impersonation (B2.1, `CallerObjectId`).

use d365_webapi::WhoAmI;
use serde::Deserialize;
use serde_json::json;

use crate::context::{Ctx, Outcome, ensure, ensure_eq, expect_api_error, guid};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TotalRecordCount {
    entity_record_count_collection: Counts,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Counts {
    keys: Vec<String>,
    values: Vec<i64>,
}

/// Unbound functions through `client.function`: `WhoAmI()` and
/// `RetrieveTotalRecordCount(EntityNames=@p1)`.
pub(crate) async fn unbound_function(cx: &Ctx) -> Outcome {
    let me: WhoAmI = cx.client.function("WhoAmI").send_as().await?;
    ensure_eq!(
        me,
        cx.client.who_am_i().send().await?,
        "WhoAmI as a function"
    );
    let counts: TotalRecordCount = cx
        .client
        .function("RetrieveTotalRecordCount")
        .param("EntityNames", json!(["account"]))
        .send_as()
        .await?;
    let counts = counts.entity_record_count_collection;
    ensure_eq!(counts.keys, vec!["account".to_owned()], "counted tables");
    ensure!(
        counts.values.len() == 1 && counts.values[0] >= 0,
        "one count: {counts:?}"
    );
    if cx.is_emulator() {
        // EMULATOR-ONLY: a real org answers from a snapshot up to a day old.
        let now = cx.client.count("accounts").send().await?;
        ensure_eq!(counts.values[0], now as i64, "a current count");
    }
    // Calling a function with the wrong verb is a 404 (B11).
    let e = expect_api_error(cx.client.action("WhoAmI").send().await, "POST WhoAmI")?;
    ensure_eq!(e.status, 404, "POST to a function");
    Ok(())
}

/// `POST leads(<id>)/Microsoft.Dynamics.CRM.QualifyLead`: the lead is qualified and the account
/// it asked for is created from it.
pub(crate) async fn bound_action_qualify_lead(cx: &Ctx) -> Outcome {
    let company = cx.name("lead company");
    let lead = cx
        .create(
            "leads",
            json!({"subject": cx.name("lead"), "firstname": "Conformance",
                   "lastname": cx.name("lead person"), "companyname": company}),
        )
        .await?;
    let answer = cx
        .client
        .action("QualifyLead")
        .bound("leads", lead)
        .param("CreateAccount", true)
        .param("CreateContact", false)
        .param("CreateOpportunity", false)
        .param("Status", 3)
        .send()
        .await?;
    let created = answer["value"]
        .as_array()
        .ok_or_else(|| format!("a collection of created records: {answer}"))?;
    // Track whatever was created before checking, so it is deleted either way.
    let mut account = None;
    for record in created {
        for (field, set) in [
            ("accountid", "accounts"),
            ("contactid", "contacts"),
            ("opportunityid", "opportunities"),
        ] {
            if let Ok(id) = guid(record, field) {
                cx.track(set, id);
                if field == "accountid" {
                    account = Some(id);
                }
            }
        }
    }
    ensure_eq!(created.len(), 1, "only the account was asked for");
    let account = account.ok_or_else(|| format!("an account among {answer}"))?;
    let read = cx
        .client
        .retrieve("accounts", account)
        .select(["name"])
        .send()
        .await?;
    ensure_eq!(
        read["name"].as_str(),
        Some(company.as_str()),
        "account named after the company"
    );
    let read = cx
        .client
        .retrieve("accounts", account)
        .select(["_originatingleadid_value"])
        .send()
        .await?;
    ensure_eq!(
        guid(&read, "_originatingleadid_value")?,
        lead,
        "originating lead"
    );
    let lead_now = cx
        .client
        .retrieve("leads", lead)
        .select(["statecode", "statuscode"])
        .send()
        .await?;
    ensure_eq!(
        (
            lead_now["statecode"].as_i64(),
            lead_now["statuscode"].as_i64()
        ),
        (Some(1), Some(3)),
        "lead qualified"
    );
    Ok(())
}

/// `POST WinOpportunity` with an entity parameter: 204, and the opportunity is won.
pub(crate) async fn unbound_action_win_opportunity(cx: &Ctx) -> Outcome {
    let opportunity = cx
        .create("opportunities", json!({"name": cx.name("opportunity")}))
        .await?;
    let out = cx
        .client
        .action("WinOpportunity")
        .entity_param(
            "OpportunityClose",
            "opportunityclose",
            json!({"subject": cx.name("won"),
                   "opportunityid@odata.bind": format!("/opportunities({opportunity})")}),
        )
        .param("Status", 3)
        .send()
        .await?;
    ensure!(out.is_null(), "no answer body: {out}");
    let read = cx
        .client
        .retrieve("opportunities", opportunity)
        .select(["statecode"])
        .send()
        .await?;
    ensure_eq!(read["statecode"].as_i64(), Some(1), "opportunity won");
    Ok(())
}

/// EMULATOR-ONLY (it needs a user the target is known to have): with `CallerObjectId` the call
/// runs as that user, and an unknown caller is refused.
pub(crate) async fn impersonation(cx: &Ctx) -> Outcome {
    let user = cx
        .emulator_user()
        .ok_or("impersonation needs the emulator's known user")?
        .clone();
    let as_user = cx.client.impersonate(user.object_id);
    let me = as_user.who_am_i().send().await?;
    ensure_eq!(me.user_id, user.systemuser_id, "WhoAmI as the user");
    let id = as_user
        .create("accounts", json!({"name": cx.name("impersonated")}))
        .send()
        .await?;
    cx.track("accounts", id);
    let read = cx
        .client
        .retrieve("accounts", id)
        .select(["_createdby_value"])
        .send()
        .await?;
    ensure_eq!(
        read["_createdby_value"].as_str(),
        Some(user.systemuser_id.to_string().as_str()),
        "created by the impersonated user"
    );
    let app = cx.client.who_am_i().send().await?;
    let read = cx
        .client
        .retrieve("accounts", id)
        .select(["_createdonbehalfby_value"])
        .send()
        .await?;
    ensure_eq!(
        guid(&read, "_createdonbehalfby_value")?,
        app.user_id,
        "created on behalf of the impersonator"
    );
    let nobody = cx.client.impersonate(uuid::Uuid::new_v4());
    let e = expect_api_error(nobody.who_am_i().send().await, "impersonate nobody")?;
    ensure!(
        matches!(e.status, 403 | 404),
        "an unknown caller is refused: {e}"
    );
    Ok(())
}
