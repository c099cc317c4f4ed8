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

fn internal(e: rusqlite::Error) -> DataverseError {
    tracing::error!(error = %e, "write failed");
    DataverseError::internal()
}

fn entity_id_header(st: &AppState, entity: &EntityType, id: &uuid::Uuid) -> HeaderValue {
    HeaderValue::from_str(&format!("{}/{}({id})", st.api_root(), entity.entity_set))
        .unwrap_or(HeaderValue::from_static(""))
}

/// The server-maintained columns of a write by `principal`, now.
fn stamp(st: &AppState, principal: &Principal) -> write::Stamp {
    let guid = |s: &str| uuid::Uuid::parse_str(s).unwrap_or_default();
    write::Stamp {
        now: st.clock.now(),
        user: guid(&principal.systemuser_id),
        business_unit: guid(&st.registry.config().environment.business_unit_id),
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

async fn check_references(st: &AppState, record: &Record) -> Result<(), DataverseError> {
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
            .run(move |c| write::exists(c, &target, &id))
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

/// `POST {set}`: create (the body may name the key).
pub(crate) async fn create(
    st: &AppState,
    entity: &EntityType,
    principal: &Principal,
    headers: &HeaderMap,
    body: &[u8],
    raw_query: &str,
) -> Result<Response, DataverseError> {
    let record = from_json(&st.model.model, entity, &entity.entity_set, body)?;
    check_references(st, &record).await?;
    let id = record.id.unwrap_or_else(uuid::Uuid::new_v4);
    let mut values = record.values;
    values.push((
        entity.key.clone(),
        rusqlite::types::Value::Blob(id.as_bytes().to_vec()),
    ));
    let (owned, stamp) = (entity.clone(), stamp(st, principal));
    let inserted = st
        .store
        .run(move |c| {
            if write::exists(c, &owned, &id)? {
                return Ok(false);
            }
            write::insert(c, &owned, values, &stamp).map(|_| true)
        })
        .await
        .map_err(internal)?;
    if !inserted {
        return Err(DataverseError::duplicate_record());
    }
    answer(st, entity, id, true, headers, raw_query).await
}

/// `PATCH {set}({id})`: update, or create when missing (upsert), per the conditional headers.
pub(crate) async fn upsert(
    st: &AppState,
    entity: &EntityType,
    id: uuid::Uuid,
    principal: &Principal,
    headers: &HeaderMap,
    body: &[u8],
    raw_query: &str,
) -> Result<Response, DataverseError> {
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
            write::delete(c, &owned, &id)?;
            Ok(Ok(()))
        })
        .await
        .map_err(internal)??;
    Ok(StatusCode::NO_CONTENT.into_response())
}
