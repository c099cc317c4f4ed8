//! The bulk messages on elastic tables (`--elastic-table`): unlike standard tables, a failing
//! target does not roll the others back. Each target is written on its own; if any fails,
//! the answer is the first failure's error, and when the request asks for error details
//! (`Prefer: odata.include-annotations="*"` or `"Microsoft.PowerApps.CDS.ErrorDetails.*"`)
//! the error carries every target's outcome as
//! `@Microsoft.PowerApps.CDS.ErrorDetails.Plugin.BulkApiErrorDetails`, a JSON string of
//! `[{"RequestIndex", "Id", "StatusCode"}]`
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations#on-error-behavior-with-elastic-tables>).
//! `DeleteMultiple`, refused on standard tables, works here.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use d365_odata::Prefer;
use d365_odata::model::EntityType;
use serde_json::{Map, Value as Json, json};

use super::targets::{created, write_keyed};
use crate::dataverse::modify::insert_records;
use crate::entra::validate::Principal;
use crate::error::DataverseError;
use crate::state::AppState;

/// The error-details annotation that carries each target's outcome.
pub(crate) const DETAILS: &str = "Plugin.BulkApiErrorDetails";

/// The record a target names by its primary key.
fn key_of(entity: &EntityType, target: &Map<String, Json>) -> Option<uuid::Uuid> {
    target
        .get(&entity.key)
        .and_then(Json::as_str)
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
}

/// One target's outcome.
struct Outcome {
    id: Option<uuid::Uuid>,
    error: Option<DataverseError>,
}

/// `POST {set}/Microsoft.Dynamics.CRM.{message}` on an elastic table.
pub(crate) async fn bulk(
    st: &AppState,
    principal: &Principal,
    entity: &EntityType,
    message: &str,
    targets: Vec<Map<String, Json>>,
    headers: &HeaderMap,
) -> Result<Response, DataverseError> {
    if message == "DeleteMultiple"
        && let Some(i) = targets.iter().position(|t| key_of(entity, t).is_none())
    {
        return Err(DataverseError::payload(
            &entity.entity_set,
            format!(
                "Target {i} does not name its record: every DeleteMultiple target needs '{}'.",
                entity.key
            ),
        ));
    }
    let mut outcomes = Vec::with_capacity(targets.len());
    for target in targets {
        let named = key_of(entity, &target);
        let result = match message {
            "CreateMultiple" => insert_records(st, principal, entity, vec![target])
                .await
                .map(|ids| ids[0]),
            "UpdateMultiple" => keyed_one(st, principal, entity, target, false).await,
            "UpsertMultiple" => keyed_one(st, principal, entity, target, true).await,
            "DeleteMultiple" => delete_one(st, entity, target).await,
            _ => return Err(DataverseError::segment_not_found(message)),
        };
        outcomes.push(match result {
            Ok(id) => Outcome {
                id: Some(id),
                error: None,
            },
            Err(e) => Outcome {
                id: named,
                error: Some(e),
            },
        });
    }
    let Some(first) = outcomes.iter().find_map(|o| o.error.clone()) else {
        return Ok(match message {
            "CreateMultiple" => created(st, outcomes.iter().map(|o| o.id).collect()),
            _ => StatusCode::NO_CONTENT.into_response(),
        });
    };
    let prefer = Prefer::parse(
        headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    // Inside a `$batch` change set the failure rolls the whole set back, this request's
    // good targets included: say so, and give no outcomes that would claim otherwise.
    if st.store.in_atomic() {
        return Err(first);
    }
    let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
    let mut error = DataverseError::with_status(
        first.status,
        first.code,
        format!(
            "{failed} of {} targets failed; the others were written. First failure: {}",
            outcomes.len(),
            first.message
        ),
    );
    if prefer.annotation_requested(&format!("Microsoft.PowerApps.CDS.ErrorDetails.{DETAILS}")) {
        let details: Vec<Json> = outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| {
                json!({
                    "RequestIndex": i,
                    "Id": o.id.map(|id| id.to_string()).unwrap_or_default(),
                    "StatusCode": o.error.as_ref().map_or(200, |e| e.status.as_u16()),
                })
            })
            .collect();
        error = error.with_detail(DETAILS, Json::Array(details).to_string());
    }
    Err(error)
}

/// UpdateMultiple or UpsertMultiple of one target, in its own transaction.
async fn keyed_one(
    st: &AppState,
    principal: &Principal,
    entity: &EntityType,
    target: Map<String, Json>,
    upsert: bool,
) -> Result<uuid::Uuid, DataverseError> {
    let ids = write_keyed(st, principal, entity, vec![target], upsert).await?;
    Ok(ids[0])
}

async fn delete_one(
    st: &AppState,
    entity: &EntityType,
    target: Map<String, Json>,
) -> Result<uuid::Uuid, DataverseError> {
    let id = key_of(entity, &target).ok_or_else(|| {
        DataverseError::payload(&entity.entity_set, "The target does not name its record.")
    })?;
    let clock = crate::dataverse::changes::change_clock(st);
    let deleted = st
        .store
        .delete(entity, id, clock)
        .await
        .map_err(|e| DataverseError::store(e, "delete"))?;
    if !deleted {
        return Err(DataverseError::record_not_found(&entity.name, &id));
    }
    Ok(id)
}
