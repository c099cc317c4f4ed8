//! The bulk messages on standard tables, bound to an entity set: `CreateMultiple`,
//! `UpdateMultiple` and `UpsertMultiple` run every target in one transaction (all or nothing,
//! as Dataverse does for standard tables); `DeleteMultiple` exists for elastic tables only, so
//! it answers as Dataverse does on a standard one. Elastic tables go to `bulk_elastic`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use d365_odata::model::EntityType;
use d365_odata::{Segment, parse_resource_path};
use rusqlite::types::Value as Sql;
use serde_json::{Map, Value as Json, json};

use super::headers::json_response;
use super::modify::{Insert, check_references, internal, plan_insert, run_insert, stamp};
use super::record::{Record, from_object};
use super::resource::{Key, key_of};
use crate::entra::validate::Principal;
use crate::error::DataverseError;
use crate::state::AppState;
use crate::store::write;

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

fn bad(entity: &EntityType, message: impl std::fmt::Display) -> DataverseError {
    DataverseError::payload(&entity.entity_set, message)
}

/// The `Targets`, each checked to carry this table's `@odata.type` (which is then dropped).
fn targets(entity: &EntityType, body: &[u8]) -> Result<Vec<Map<String, Json>>, DataverseError> {
    let json: Json =
        serde_json::from_slice(body).map_err(|e| bad(entity, format!("Invalid JSON. {e}")))?;
    let Some(Json::Array(items)) = json.get("Targets").cloned() else {
        return Err(bad(
            entity,
            "The body must have a 'Targets' array of records.",
        ));
    };
    let wanted = format!("Microsoft.Dynamics.CRM.{}", entity.name);
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let Json::Object(mut fields) = item else {
                return Err(bad(entity, format!("Target {i} is not a JSON object.")));
            };
            match fields.remove("@odata.type") {
                Some(Json::String(t)) if t.trim_start_matches('#') == wanted => Ok(fields),
                Some(other) => Err(bad(
                    entity,
                    format!(
                        "Target {i} has @odata.type {other}; every target must be {wanted}."
                    ),
                )),
                None => Err(bad(
                    entity,
                    format!("Target {i} has no @odata.type; every target must carry \"@odata.type\": \"{wanted}\"."),
                )),
            }
        })
        .collect()
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
        return super::bulk_elastic::bulk(st, principal, entity, message, targets, headers).await;
    }
    if message == "DeleteMultiple" {
        return Err(DataverseError::with_status(
            StatusCode::BAD_REQUEST,
            "0x80040203",
            "DeleteMultiple has not yet been implemented.",
        ));
    }
    let targets = targets(entity, body)?;
    match message {
        "CreateMultiple" => create_multiple(st, principal, entity, targets).await,
        "UpdateMultiple" => keyed_multiple(st, principal, entity, targets, false).await,
        "UpsertMultiple" => keyed_multiple(st, principal, entity, targets, true).await,
        _ => Err(DataverseError::segment_not_found(message)),
    }
}

async fn create_multiple(
    st: &AppState,
    principal: &Principal,
    entity: &EntityType,
    targets: Vec<Map<String, Json>>,
) -> Result<Response, DataverseError> {
    let mut references = Vec::new();
    let plans: Vec<Insert> = targets
        .into_iter()
        .map(|t| plan_insert(&st.model.model, entity, t, &mut references, 0))
        .collect::<Result<_, _>>()?;
    check_references(
        st,
        &Record {
            references,
            ..Record::default()
        },
    )
    .await?;
    let ids: Vec<uuid::Uuid> = plans.iter().map(|p| p.id).collect();
    let stamp = stamp(st, principal);
    let inserted = st
        .store
        .run(move |c| {
            let tx = c.savepoint()?;
            for plan in plans {
                if !run_insert(&tx, plan, &stamp)? {
                    return Ok(false); // dropping the transaction rolls every target back
                }
            }
            tx.commit().map(|_| true)
        })
        .await
        .map_err(internal)?;
    if !inserted {
        return Err(DataverseError::duplicate_record());
    }
    Ok(json_response(
        json!({
            "@odata.context": format!("{}/$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse", st.api_root()),
            "Ids": ids,
        })
        .to_string(),
    ))
}

/// A validated target: its columns, and how it names its row.
pub(crate) struct Target {
    values: Vec<(String, Sql)>,
    key: Key,
}

pub(crate) fn keyed_targets(
    st: &AppState,
    entity: &EntityType,
    targets: Vec<Map<String, Json>>,
    allow_odata_id: bool,
    references: &mut Vec<(String, uuid::Uuid)>,
) -> Result<Vec<Target>, DataverseError> {
    let mut out = Vec::with_capacity(targets.len());
    for (i, mut fields) in targets.into_iter().enumerate() {
        let by_odata_id = match fields.remove("@odata.id") {
            Some(Json::String(text)) if allow_odata_id => Some(odata_id_key(st, entity, &text)?),
            Some(_) => {
                return Err(bad(
                    entity,
                    format!("Target {i}: @odata.id is not allowed here."),
                ));
            }
            None => None,
        };
        let record = from_object(&st.model.model, entity, &entity.entity_set, &fields)?;
        references.extend(record.references);
        let key = match (by_odata_id, record.id) {
            (Some(key), _) => key,
            (None, Some(id)) => Key::Id(id),
            (None, None) => {
                return Err(bad(
                    entity,
                    format!(
                        "Target {i} has no '{}': every target must name its record.",
                        entity.key
                    ),
                ));
            }
        };
        out.push(Target {
            values: record.values,
            key,
        });
    }
    Ok(out)
}

/// `accounts(accountnumber='A1')` or `accounts(<guid>)`, relative or absolute.
fn odata_id_key(st: &AppState, entity: &EntityType, text: &str) -> Result<Key, DataverseError> {
    let tail = text.rsplit('/').next().unwrap_or(text);
    let path = parse_resource_path(tail).map_err(|e| {
        bad(
            entity,
            format!("@odata.id '{text}' is not a record address: {e}"),
        )
    })?;
    match path.segments.as_slice() {
        [
            Segment::Named {
                name,
                key: Some(key),
                ..
            },
        ] if *name == entity.entity_set => key_of(st, entity, key),
        _ => Err(bad(
            entity,
            format!(
                "@odata.id '{text}' must address a record of {}.",
                entity.entity_set
            ),
        )),
    }
}

/// UpdateMultiple (`upsert` false: every target must exist) or UpsertMultiple, in one
/// savepoint.
async fn keyed_multiple(
    st: &AppState,
    principal: &Principal,
    entity: &EntityType,
    targets: Vec<Map<String, Json>>,
    upsert: bool,
) -> Result<Response, DataverseError> {
    let mut references = Vec::new();
    let targets = keyed_targets(st, entity, targets, upsert, &mut references)?;
    check_references(
        st,
        &Record {
            references,
            ..Record::default()
        },
    )
    .await?;
    let (owned, stamp) = (entity.clone(), stamp(st, principal));
    st.store
        .run(move |c| -> rusqlite::Result<Result<(), DataverseError>> {
            let tx = c.savepoint()?;
            for t in targets {
                if let Err(e) = write_target(&tx, &owned, t, &stamp, upsert)? {
                    return Ok(Err(e)); // dropping the savepoint rolls every target back
                }
            }
            tx.commit()?;
            Ok(Ok(()))
        })
        .await
        .map_err(internal)??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Writes one target: updates its row, or (upserting) creates it when missing; answers the
/// row's id.
pub(crate) fn write_target(
    tx: &rusqlite::Connection,
    owned: &EntityType,
    t: Target,
    stamp: &write::Stamp,
    upsert: bool,
) -> rusqlite::Result<Result<uuid::Uuid, DataverseError>> {
    let (existing, mut values) = match &t.key {
        Key::Id(id) => (write::version_of(tx, owned, id)?.map(|_| *id), t.values),
        Key::Alternate(pairs) => {
            let found = write::find_by_columns(tx, owned, pairs)?;
            let mut values = t.values;
            // A new row carries its key's values.
            for (column, value) in pairs {
                if !values.iter().any(|(c, _)| c == column) {
                    values.push((column.clone(), value.clone()));
                }
            }
            (found, values)
        }
    };
    let id = match (existing, &t.key) {
        (Some(id), _) => {
            if !values.is_empty() {
                write::update(tx, owned, &id, values, stamp)?;
            }
            id
        }
        (None, Key::Id(id)) if !upsert => {
            return Ok(Err(DataverseError::record_not_found(&owned.name, id)));
        }
        (None, key) => {
            let id = match key {
                Key::Id(id) => *id,
                Key::Alternate(_) => uuid::Uuid::new_v4(),
            };
            values.retain(|(c, _)| *c != owned.key);
            values.push((owned.key.clone(), Sql::Blob(id.as_bytes().to_vec())));
            write::insert(tx, owned, values, stamp)?;
            id
        }
    };
    Ok(Ok(id))
}
