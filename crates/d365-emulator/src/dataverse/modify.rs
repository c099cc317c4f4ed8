//! Writes: `POST {set}` creates, `PATCH {set}({id})` updates or upserts, `DELETE {set}({id})`
//! deletes, with Dataverse's conditional-header matrix
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api>):
//!
//! | request | header | exists | missing |
//! |---|---|---|---|
//! | PATCH | none | update 204 | create 204 |
//! | PATCH | `If-Match: *` | update 204 | 404 |
//! | PATCH | `If-None-Match: *` | 412 | create 204 |
//! | PATCH, DELETE | `If-Match: W/"v"` | 204 if `v` matches, else 412 | 404 |

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use d365_odata::Prefer;
use d365_odata::model::EntityType;

use super::entity::retrieve;
use super::record::from_json;
use crate::entra::validate::Principal;
use crate::error::DataverseError;
use crate::state::AppState;
use crate::store::records::NewRecord;
use crate::store::{Value, guid, write};

/// The request, as the dispatcher has it.
pub(crate) struct Call<'a> {
    pub(crate) st: &'a AppState,
    pub(crate) principal: &'a Principal,
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a axum::http::Uri,
    /// The resource path after the version.
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
}

fn entity_id_header(st: &AppState, entity: &EntityType, id: &uuid::Uuid) -> HeaderValue {
    HeaderValue::from_str(&format!("{}/{}({id})", st.api_root(), entity.entity_set))
        .unwrap_or(HeaderValue::from_static(""))
}

/// The server-maintained columns of a write by `principal`, now.
pub(crate) fn stamp(st: &AppState, principal: &Principal) -> write::Stamp {
    let guid = |s: &str| uuid::Uuid::parse_str(s).unwrap_or_default();
    write::Stamp {
        now: st.clock.now(),
        user: guid(&principal.systemuser_id),
        on_behalf_of: principal.on_behalf_of.as_deref().map(guid),
        business_unit: guid(&st.registry.config().environment.business_unit_id),
        currency: crate::store::seed::base_currency(guid(
            &st.registry.config().environment.organization_id,
        )),
    }
}

/// `W/"123"` → 123.
fn etag_version(value: &str) -> Option<i64> {
    value
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .ok()
}

/// Checks that every record a body binds to (`(table, id)`) exists: 404 for the first that
/// does not. Each record is looked up once, all in one call to the store.
pub(crate) async fn check_references(
    st: &AppState,
    references: &[(String, uuid::Uuid)],
) -> Result<(), DataverseError> {
    let mut seen = std::collections::HashSet::with_capacity(references.len());
    let mut rows = Vec::new();
    for (table, id) in references {
        if !seen.insert((table.as_str(), *id)) {
            continue;
        }
        let target = st
            .model
            .model
            .entity_type(table)
            .ok_or_else(DataverseError::internal)?;
        rows.push((target.name.clone(), target.key.clone(), *id));
    }
    if rows.is_empty() {
        return Ok(());
    }
    let missing = st
        .store
        .first_missing(rows)
        .await
        .map_err(|e| DataverseError::store(e, "checking a reference"))?;
    match missing {
        Some((table, id)) => Err(DataverseError::record_not_found(&table, &id)),
        None => Ok(()),
    }
}

/// The answer to a write: 204 with `OData-EntityId`, or with `Prefer: return=representation`
/// the record (`201` when created, `200` when updated) and `Preference-Applied`.
async fn answer(
    st: &AppState,
    entity: &EntityType,
    id: uuid::Uuid,
    created: bool,
    headers: &HeaderMap,
    raw_query: &str,
) -> Result<Response, DataverseError> {
    let prefer = Prefer::parse(
        headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    if prefer.return_representation {
        let mut response = retrieve(st, entity, id, raw_query, headers).await?;
        *response.status_mut() = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        response.headers_mut().insert(
            "preference-applied",
            HeaderValue::from_static("return=representation"),
        );
        return Ok(response);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert("odata-entityid", entity_id_header(st, entity, &id));
    Ok(response)
}

/// Dataverse caps deep inserts; so do we, to keep a hostile body from recursing without end.
const MAX_DEPTH: usize = 10;

pub(crate) fn plan_insert(
    model: &d365_odata::model::Model,
    entity: &Arc<EntityType>,
    fields: serde_json::Map<String, serde_json::Value>,
    references: &mut Vec<(String, uuid::Uuid)>,
    depth: usize,
) -> Result<NewRecord, DataverseError> {
    use serde_json::Value as Json;
    if depth > MAX_DEPTH {
        return Err(DataverseError::payload(
            &entity.entity_set,
            format!("A deep insert may nest at most {MAX_DEPTH} levels."),
        ));
    }
    let nests = |(name, value): (&String, &Json)| {
        matches!(value, Json::Object(_) | Json::Array(_)) && entity.navigation(name).is_some()
    };
    let mut nested = Vec::new();
    // Most records nest nothing: their fields are their own as they are.
    let own = if !fields.iter().any(nests) {
        fields
    } else {
        let mut own = serde_json::Map::new();
        for (name, value) in fields {
            match (entity.navigation(&name), value) {
                (Some(nav), v @ (Json::Object(_) | Json::Array(_))) => {
                    nested.push((nav.clone(), v))
                }
                (_, v) => {
                    own.insert(name, v);
                }
            }
        }
        own
    };
    let record = super::record::from_object(model, entity, &entity.entity_set, &own)?;
    references.extend(record.references);
    let id = record.id.unwrap_or_else(crate::store::new_id);
    let mut insert = NewRecord {
        entity: Arc::clone(entity),
        id,
        values: record.values,
        parents: Vec::new(),
        children: Vec::new(),
    };
    for (nav, value) in nested {
        let target = Arc::new(
            model
                .entity_type(&nav.target)
                .ok_or_else(DataverseError::internal)?
                .clone(),
        );
        let not_object = || {
            DataverseError::payload(
                &entity.entity_set,
                format!("The records nested in '{}' must be JSON objects.", nav.name),
            )
        };
        match (nav.collection, value) {
            (false, Json::Object(obj)) => {
                let parent = plan_insert(model, &target, obj, references, depth + 1)?;
                insert.values.retain(|(c, _)| *c != nav.foreign_key);
                insert
                    .values
                    .push((nav.foreign_key.clone(), guid(parent.id)));
                insert.parents.push(parent);
            }
            (true, Json::Array(items)) => {
                for item in items {
                    let Json::Object(obj) = item else {
                        return Err(not_object());
                    };
                    let mut child = plan_insert(model, &target, obj, references, depth + 1)?;
                    child.values.retain(|(c, _)| *c != nav.foreign_key);
                    child.values.push((nav.foreign_key.clone(), guid(id)));
                    insert.children.push(child);
                }
            }
            _ => {
                return Err(DataverseError::payload(
                    &entity.entity_set,
                    format!(
                        "'{}' takes {} in a deep insert.",
                        nav.name,
                        if nav.collection {
                            "an array of records"
                        } else {
                            "a record"
                        }
                    ),
                ));
            }
        }
    }
    Ok(insert)
}

/// `POST {set}`: create (the body may name the key, and nest related records to create with
/// it: a deep insert, all or nothing).
pub(crate) async fn create(
    st: &AppState,
    entity: &EntityType,
    principal: &Principal,
    headers: &HeaderMap,
    body: &[u8],
    raw_query: &str,
) -> Result<Response, DataverseError> {
    if super::model::is_system_job(entity) {
        return Err(DataverseError::system_job_create(&entity.name));
    }
    let json: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| DataverseError::payload(&entity.entity_set, format!("Invalid JSON. {e}")))?;
    let serde_json::Value::Object(fields) = json else {
        return Err(DataverseError::payload(
            &entity.entity_set,
            "The request body must be a JSON object.",
        ));
    };
    let [id] = insert_records(st, principal, entity, vec![fields])
        .await?
        .try_into()
        .map_err(|_| DataverseError::internal())?;
    answer(st, entity, id, true, headers, raw_query).await
}

/// Creates records (deep inserts included) in one transaction, all or nothing; a duplicate
/// id is Dataverse's duplicate-record error. Answers their ids.
pub(crate) async fn insert_records(
    st: &AppState,
    principal: &Principal,
    entity: &EntityType,
    targets: Vec<serde_json::Map<String, serde_json::Value>>,
) -> Result<Vec<uuid::Uuid>, DataverseError> {
    let mut references = Vec::new();
    let shared = Arc::new(entity.clone());
    let plans: Vec<NewRecord> = targets
        .into_iter()
        .map(|t| plan_insert(&st.model.model, &shared, t, &mut references, 0))
        .collect::<Result<_, _>>()?;
    check_references(st, &references).await?;
    let ids = plans.iter().map(|p| p.id).collect();
    let stamp = stamp(st, principal);
    st.store
        .transaction(move |tx| {
            for plan in plans {
                if !tx.insert_new(plan, &stamp)? {
                    return Ok(Err(DataverseError::duplicate_record()));
                }
            }
            Ok(Ok(()))
        })
        .await
        .map_err(|e| DataverseError::store(e, "create"))??;
    Ok(ids)
}

/// `PATCH {set}({id})`: update, or create when missing (upsert), per the conditional headers.
pub(crate) async fn upsert(
    call: &Call<'_>,
    entity: &EntityType,
    id: uuid::Uuid,
    key_values: Vec<(String, Value)>,
) -> Result<Response, DataverseError> {
    let (st, principal, headers, body, raw_query) =
        (call.st, call.principal, call.headers, call.body, call.query);
    let record = from_json(&st.model.model, entity, &entity.entity_set, body)?;
    check_references(st, &record.references).await?;
    let if_match = headers
        .get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let if_none_match = headers
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (owned, stamp, values) = (entity.clone(), stamp(st, principal), record.values);
    let outcome = st
        .store
        .transaction(move |tx| {
            // Check and write in one transaction: no other write can slip in between.
            let current = tx.version_of(&owned, &id)?;
            match (current, if_match.as_deref(), if_none_match.as_deref()) {
                (Some(_), _, Some("*")) => return Ok(Err(DataverseError::already_exists())),
                (None, Some(_), _) => {
                    return Ok(Err(DataverseError::record_not_found(&owned.name, &id)));
                }
                (Some(v), Some(tag), _) if tag != "*" && etag_version(tag) != Some(v) => {
                    return Ok(Err(DataverseError::version_mismatch()));
                }
                _ => {}
            }
            if current.is_some() {
                if !values.is_empty() {
                    tx.update(&owned, &id, values, &stamp)?;
                }
                Ok(Ok(false))
            } else {
                let mut values = values;
                values.push((owned.key.clone(), guid(id)));
                // Upsert by alternate key: the new row carries the key's values.
                for (column, value) in key_values {
                    if !values.iter().any(|(c, _)| *c == column) {
                        values.push((column, value));
                    }
                }
                tx.insert(&owned, values, &stamp)?;
                Ok(Ok(true))
            }
        })
        .await
        .map_err(|e| DataverseError::store(e, "upsert"))??;
    answer(st, entity, id, outcome, headers, raw_query).await
}

/// `DELETE {set}({id})`, honouring `If-Match`.
pub(crate) async fn delete(
    st: &AppState,
    entity: &EntityType,
    id: uuid::Uuid,
    headers: &HeaderMap,
) -> Result<Response, DataverseError> {
    let if_match = headers
        .get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let owned = entity.clone();
    let clock = super::changes::change_clock(st);
    st.store
        .transaction(move |tx| {
            let Some(current) = tx.version_of(&owned, &id)? else {
                return Ok(Err(DataverseError::record_not_found(&owned.name, &id)));
            };
            if let Some(tag) = if_match.as_deref()
                && tag != "*"
                && etag_version(tag) != Some(current)
            {
                return Ok(Err(DataverseError::version_mismatch()));
            }
            tx.delete(&owned, &id, clock)?;
            Ok(Ok(()))
        })
        .await
        .map_err(|e| DataverseError::store(e, "delete"))??;
    Ok(StatusCode::NO_CONTENT.into_response())
}
