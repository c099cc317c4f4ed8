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

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use d365_odata::Prefer;
use d365_odata::model::EntityType;

use super::entity::retrieve;
use super::record::{Record, from_json};
use crate::entra::validate::Principal;
use crate::error::DataverseError;
use crate::state::AppState;
use crate::store::write;

/// A failed write (a unique alternate key hit is the client's error: [`DataverseError::store`]).
pub(crate) fn internal(e: rusqlite::Error) -> DataverseError {
    DataverseError::store(e, "write")
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

pub(crate) async fn check_references(st: &AppState, record: &Record) -> Result<(), DataverseError> {
    for (table, id) in &record.references {
        let target = st
            .model
            .model
            .entity_type(table)
            .ok_or_else(DataverseError::internal)?
            .clone();
        let id = *id;
        let found = st
            .store
            .read(move |c| write::exists(c, &target, &id))
            .await
            .map_err(internal)?;
        if !found {
            return Err(DataverseError::record_not_found(table, &id));
        }
    }
    Ok(())
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

/// A record to insert with the records nested in it (deep insert): `parents` are created
/// first (single-valued navigation properties given as objects), `children` after
/// (collection-valued ones given as arrays), all in one transaction.
#[derive(Debug)]
pub(crate) struct Insert {
    entity: EntityType,
    pub(crate) id: uuid::Uuid,
    values: Vec<(String, rusqlite::types::Value)>,
    parents: Vec<Insert>,
    children: Vec<Insert>,
}

/// Dataverse caps deep inserts; so do we, to keep a hostile body from recursing without end.
const MAX_DEPTH: usize = 10;

pub(crate) fn plan_insert(
    model: &d365_odata::model::Model,
    entity: &EntityType,
    fields: serde_json::Map<String, serde_json::Value>,
    references: &mut Vec<(String, uuid::Uuid)>,
    depth: usize,
) -> Result<Insert, DataverseError> {
    use serde_json::Value as Json;
    if depth > MAX_DEPTH {
        return Err(DataverseError::payload(
            &entity.entity_set,
            format!("A deep insert may nest at most {MAX_DEPTH} levels."),
        ));
    }
    let mut own = serde_json::Map::new();
    let mut nested = Vec::new();
    for (name, value) in fields {
        match (entity.navigation(&name), value) {
            (Some(nav), v @ (Json::Object(_) | Json::Array(_))) => nested.push((nav.clone(), v)),
            (_, v) => {
                own.insert(name, v);
            }
        }
    }
    let record = super::record::from_object(model, entity, &entity.entity_set, &own)?;
    references.extend(record.references);
    let id = record.id.unwrap_or_else(uuid::Uuid::new_v4);
    let mut insert = Insert {
        entity: entity.clone(),
        id,
        values: record.values,
        parents: Vec::new(),
        children: Vec::new(),
    };
    let guid = |u: uuid::Uuid| rusqlite::types::Value::Blob(u.as_bytes().to_vec());
    for (nav, value) in nested {
        let target = model
            .entity_type(&nav.target)
            .ok_or_else(DataverseError::internal)?;
        let not_object = || {
            DataverseError::payload(
                &entity.entity_set,
                format!("The records nested in '{}' must be JSON objects.", nav.name),
            )
        };
        match (nav.collection, value) {
            (false, Json::Object(obj)) => {
                let parent = plan_insert(model, target, obj, references, depth + 1)?;
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
                    let mut child = plan_insert(model, target, obj, references, depth + 1)?;
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

/// Inserts the plan, parents first; `false` if some id is taken already.
pub(crate) fn run_insert(
    c: &rusqlite::Connection,
    insert: Insert,
    stamp: &write::Stamp,
) -> rusqlite::Result<bool> {
    for parent in insert.parents {
        if !run_insert(c, parent, stamp)? {
            return Ok(false);
        }
    }
    if write::exists(c, &insert.entity, &insert.id)? {
        return Ok(false);
    }
    let mut values = insert.values;
    values.push((
        insert.entity.key.clone(),
        rusqlite::types::Value::Blob(insert.id.as_bytes().to_vec()),
    ));
    write::insert(c, &insert.entity, values, stamp)?;
    for child in insert.children {
        if !run_insert(c, child, stamp)? {
            return Ok(false);
        }
    }
    Ok(true)
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
        return Err(DataverseError::with_status(
            StatusCode::BAD_REQUEST,
            "0x80040203",
            format!(
                "The 'Create' method does not support entities of type '{}'. System jobs are created by the platform: start one with an asynchronous message such as BulkDelete.",
                entity.name
            ),
        ));
    }
    let json: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| DataverseError::payload(&entity.entity_set, format!("Invalid JSON. {e}")))?;
    let serde_json::Value::Object(fields) = json else {
        return Err(DataverseError::payload(
            &entity.entity_set,
            "The request body must be a JSON object.",
        ));
    };
    let id = insert_record(st, principal, entity, fields).await?;
    answer(st, entity, id, true, headers, raw_query).await
}

/// Creates one record (deep insert included) in its own transaction; a duplicate id is
/// Dataverse's duplicate-record error.
pub(crate) async fn insert_record(
    st: &AppState,
    principal: &Principal,
    entity: &EntityType,
    fields: serde_json::Map<String, serde_json::Value>,
) -> Result<uuid::Uuid, DataverseError> {
    let mut references = Vec::new();
    let plan = plan_insert(&st.model.model, entity, fields, &mut references, 0)?;
    check_references(
        st,
        &Record {
            references,
            ..Record::default()
        },
    )
    .await?;
    let id = plan.id;
    let stamp = stamp(st, principal);
    let inserted = st
        .store
        .run(move |c| {
            let tx = c.savepoint()?;
            if !run_insert(&tx, plan, &stamp)? {
                return Ok(false); // dropping the transaction rolls back
            }
            tx.commit().map(|_| true)
        })
        .await
        .map_err(internal)?;
    if !inserted {
        return Err(DataverseError::duplicate_record());
    }
    Ok(id)
}

/// `PATCH {set}({id})`: update, or create when missing (upsert), per the conditional headers.
pub(crate) async fn upsert(
    call: &super::resource::Call<'_>,
    entity: &EntityType,
    id: uuid::Uuid,
    key_values: Vec<(String, rusqlite::types::Value)>,
) -> Result<Response, DataverseError> {
    let (st, principal, headers, body, raw_query) =
        (call.st, call.principal, call.headers, call.body, call.query);
    let record = from_json(&st.model.model, entity, &entity.entity_set, body)?;
    check_references(st, &record).await?;
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
        .run(move |c| -> rusqlite::Result<Result<bool, DataverseError>> {
            // Check and write under the one connection: no other write can slip in between.
            let current = write::version_of(c, &owned, &id)?;
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
                    write::update(c, &owned, &id, values, &stamp)?;
                }
                Ok(Ok(false))
            } else {
                let mut values = values;
                values.push((
                    owned.key.clone(),
                    rusqlite::types::Value::Blob(id.as_bytes().to_vec()),
                ));
                // Upsert by alternate key: the new row carries the key's values.
                for (column, value) in key_values {
                    if !values.iter().any(|(c, _)| *c == column) {
                        values.push((column, value));
                    }
                }
                write::insert(c, &owned, values, &stamp)?;
                Ok(Ok(true))
            }
        })
        .await
        .map_err(internal)??;
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
        .run(move |c| -> rusqlite::Result<Result<(), DataverseError>> {
            let Some(current) = write::version_of(c, &owned, &id)? else {
                return Ok(Err(DataverseError::record_not_found(&owned.name, &id)));
            };
            if let Some(tag) = if_match.as_deref()
                && tag != "*"
                && etag_version(tag) != Some(current)
            {
                return Ok(Err(DataverseError::version_mismatch()));
            }
            write::delete(c, &owned, &id, clock)?;
            Ok(Ok(()))
        })
        .await
        .map_err(internal)??;
    Ok(StatusCode::NO_CONTENT.into_response())
}
