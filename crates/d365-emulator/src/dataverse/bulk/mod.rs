//! The bulk messages, bound to an entity set: `CreateMultiple`, `UpdateMultiple` and
//! `UpsertMultiple` run every target in one transaction on standard tables (all or nothing,
//! as Dataverse does); `DeleteMultiple` exists for elastic tables only, so it answers as
//! Dataverse does on a standard one. Elastic tables go to [`elastic`]. `BulkDelete`, the
//! unbound action that deletes what queries match as a system job, is [`delete`]. The
//! targets' parsing and the one-target write both kinds share are in [`targets`].

mod delete;
mod elastic;
mod targets;

pub(crate) use delete::{bulk_delete, resume_jobs};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use d365_odata::model::EntityType;
use serde_json::{Map, Value as Json};

use super::modify::insert_records;
use crate::entra::validate::Principal;
use crate::error::DataverseError;
use crate::state::AppState;
use targets::{created, targets, write_keyed};

/// The messages served here (names without the namespace).
pub(crate) const MESSAGES: &[&str] = &[
    "CreateMultiple",
    "UpdateMultiple",
    "UpsertMultiple",
    "DeleteMultiple",
];

/// Whether `name` (`Microsoft.Dynamics.CRM.CreateMultiple`) is a bulk message.
pub(crate) fn is_bulk(name: &str) -> bool {
    name.strip_prefix("Microsoft.Dynamics.CRM.")
        .is_some_and(|n| MESSAGES.contains(&n))
}

/// `POST {set}/Microsoft.Dynamics.CRM.{message}`.
pub(crate) async fn bulk(
    st: &AppState,
    principal: &Principal,
    entity: &EntityType,
    message: &str,
    body: &[u8],
    headers: &axum::http::HeaderMap,
) -> Result<Response, DataverseError> {
    let message = message.trim_start_matches("Microsoft.Dynamics.CRM.");
    if st.model.is_elastic(&entity.name) {
        let targets = targets(entity, body)?;
        return elastic::bulk(st, principal, entity, message, targets, headers).await;
    }
    if message == "DeleteMultiple" {
        return Err(DataverseError::invalid_argument(
            "DeleteMultiple has not yet been implemented.",
        ));
    }
    let targets = targets(entity, body)?;
    match message {
        "CreateMultiple" => {
            let ids = insert_records(st, principal, entity, targets).await?;
            Ok(created(st, ids))
        }
        "UpdateMultiple" => keyed_multiple(st, principal, entity, targets, false).await,
        "UpsertMultiple" => keyed_multiple(st, principal, entity, targets, true).await,
        _ => Err(DataverseError::segment_not_found(message)),
    }
}

/// UpdateMultiple or UpsertMultiple on a standard table.
async fn keyed_multiple(
    st: &AppState,
    principal: &Principal,
    entity: &EntityType,
    targets: Vec<Map<String, Json>>,
    upsert: bool,
) -> Result<Response, DataverseError> {
    write_keyed(st, principal, entity, targets, upsert).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
