//! What the bulk messages share: their `Targets` parsed and checked, each keyed target's
//! record address, the write of keyed targets, and the answer to `CreateMultiple`.

use axum::response::Response;
use d365_odata::model::EntityType;
use d365_odata::{Segment, parse_resource_path};
use serde_json::{Map, Value as Json, json};

use crate::dataverse::headers::json_response;
use crate::dataverse::modify::{check_references, stamp};
use crate::dataverse::record::from_object;
use crate::dataverse::resource::{Key, key_of};
use crate::entra::validate::Principal;
use crate::error::DataverseError;
use crate::state::AppState;
use crate::store::records::Transaction;
use crate::store::write::Stamp;
use crate::store::{StoreError, Value, guid};

fn bad(entity: &EntityType, message: impl std::fmt::Display) -> DataverseError {
    DataverseError::payload(&entity.entity_set, message)
}

/// The `Targets`, each checked to carry this table's `@odata.type` (which is then dropped).
pub(crate) fn targets(
    entity: &EntityType,
    body: &[u8],
) -> Result<Vec<Map<String, Json>>, DataverseError> {
    let json: Json =
        serde_json::from_slice(body).map_err(|e| bad(entity, format!("Invalid JSON. {e}")))?;
    let items = match json {
        Json::Object(mut body) => body.remove("Targets"),
        _ => None,
    };
    let Some(Json::Array(items)) = items else {
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

/// A validated target: its columns, and how it names its row.
pub(crate) struct Target {
    values: Vec<(String, Value)>,
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

/// Writes one target: updates its row, or (upserting) creates it when missing; answers the
/// row's id.
pub(crate) fn write_target(
    tx: &Transaction<'_>,
    owned: &EntityType,
    t: Target,
    stamp: &Stamp,
    upsert: bool,
) -> Result<Result<uuid::Uuid, DataverseError>, StoreError> {
    let (existing, mut values) = match &t.key {
        Key::Id(id) => (tx.version_of(owned, id)?.map(|_| *id), t.values),
        Key::Alternate(pairs) => {
            let found = tx.find_by_columns(owned, pairs)?;
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
                tx.update(owned, &id, values, stamp)?;
            }
            id
        }
        (None, Key::Id(id)) if !upsert => {
            return Ok(Err(DataverseError::record_not_found(&owned.name, id)));
        }
        (None, key) => {
            let id = match key {
                Key::Id(id) => *id,
                Key::Alternate(_) => crate::store::new_id(),
            };
            values.retain(|(c, _)| *c != owned.key);
            values.push((owned.key.clone(), guid(id)));
            tx.insert(owned, values, stamp)?;
            id
        }
    };
    Ok(Ok(id))
}

/// `CreateMultipleResponse`: the new records' ids (`None` for a target that failed on an
/// elastic table).
pub(crate) fn created<T: serde::Serialize>(st: &AppState, ids: Vec<T>) -> Response {
    json_response(
        json!({
            "@odata.context": format!("{}/$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse", st.api_root()),
            "Ids": ids,
        })
        .to_string(),
    )
}

/// Writes keyed targets in one transaction: all of them, or (the first refusal) none.
/// UpdateMultiple (`upsert` false: every target must exist) and UpsertMultiple write all
/// targets; an elastic table's write one at a time. Answers the rows' ids.
pub(crate) async fn write_keyed(
    st: &AppState,
    principal: &Principal,
    entity: &EntityType,
    targets: Vec<Map<String, Json>>,
    upsert: bool,
) -> Result<Vec<uuid::Uuid>, DataverseError> {
    let mut references = Vec::new();
    let targets = keyed_targets(st, entity, targets, upsert, &mut references)?;
    check_references(st, &references).await?;
    let (owned, stamp) = (entity.clone(), stamp(st, principal));
    st.store
        .transaction(move |tx| {
            let mut ids = Vec::with_capacity(targets.len());
            for t in targets {
                match write_target(tx, &owned, t, &stamp, upsert)? {
                    Ok(id) => ids.push(id),
                    Err(e) => return Ok(Err(e)), // rolls every target back
                }
            }
            Ok(Ok(ids))
        })
        .await
        .map_err(|e| DataverseError::store(e, "bulk write"))?
}
