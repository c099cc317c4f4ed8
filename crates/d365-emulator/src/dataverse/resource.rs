//! One record and what hangs off it: `{set}({key})` by id or alternate key, a single
//! property (`/name`, `/name/$value`, PUT and DELETE), a navigation property (`/primarycontactid`,
//! `/contact_customer_accounts`) and its references (`/$ref`).
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api>)

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use d365_odata::model::{EntityType, NavigationProperty, Property};
use d365_odata::{KeyPredicate, Literal, Segment};
use serde_json::{Value as Json, json};

use super::headers::json_response;
pub(crate) use super::modify::Call;
use super::modify::stamp;
use super::record::{bind_target, from_json};
use super::{entity, entity_set, modify};
use crate::error::DataverseError;
use crate::query::plan::column_equals;
use crate::query::values::{literal_to_sql, write_json};
use crate::state::AppState;
use crate::store::{Value, guid};

/// How the key predicate names the record.
pub(crate) enum Key {
    Id(uuid::Uuid),
    /// Alternate key columns and values.
    Alternate(Vec<(String, Value)>),
}

pub(crate) fn key_of(
    st: &AppState,
    entity: &EntityType,
    key: &KeyPredicate,
) -> Result<Key, DataverseError> {
    match key {
        KeyPredicate::Single(Literal::Guid(id)) => Ok(Key::Id(*id)),
        KeyPredicate::Single(_) => Err(DataverseError::key_syntax()),
        KeyPredicate::Named(pairs) => {
            if let [(name, value)] = pairs.as_slice()
                && *name == entity.key
            {
                return match value {
                    Literal::Guid(id) => Ok(Key::Id(*id)),
                    _ => Err(DataverseError::key_syntax()),
                };
            }
            // Only an Active key addresses records: one still Pending (or Failed) has no
            // index yet, and Dataverse answers as if it were not defined.
            let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
            st.keys
                .with_columns(&entity.name, &names)
                .filter(|k| k.status == crate::dataverse::keys::status::ACTIVE)
                .ok_or_else(|| DataverseError::key_not_defined(&entity.name))?;
            pairs
                .iter()
                .map(|(n, lit)| {
                    let p = entity
                        .property(n)
                        .ok_or_else(|| DataverseError::unknown_property(n, &entity.name))?;
                    Ok((n.clone(), literal_to_sql(lit, p.edm_type, p.scale)))
                })
                .collect::<Result<_, _>>()
                .map(Key::Alternate)
        }
    }
}

/// The record's id: `Ok(None)` when an alternate key names no record.
async fn find(
    st: &AppState,
    entity: &EntityType,
    key: &Key,
) -> Result<Option<uuid::Uuid>, DataverseError> {
    match key {
        Key::Id(id) => Ok(Some(*id)),
        Key::Alternate(values) => st
            .store
            .find_by_columns(entity, values.clone())
            .await
            .map_err(|e| DataverseError::store(e, "finding a record by its key")),
    }
}

/// The id the key names: a GUID as is, an alternate key looked up (404 when it names no
/// record). Callers that read or delete the row answer a missing GUID themselves.
async fn named(
    st: &AppState,
    entity: &EntityType,
    key: &Key,
) -> Result<uuid::Uuid, DataverseError> {
    find(st, entity, key)
        .await?
        .ok_or_else(|| DataverseError::key_not_found(&entity.name))
}

/// The record's id, or the 404 Dataverse answers (checked, so that a write to a property,
/// a `$ref` or a collection of a missing record is not a silent 204).
async fn existing(
    st: &AppState,
    entity: &EntityType,
    key: &Key,
) -> Result<uuid::Uuid, DataverseError> {
    match (find(st, entity, key).await?, key) {
        (Some(id), Key::Alternate(_)) => Ok(id),
        (Some(id), Key::Id(_)) => {
            let found = st.store.exists(entity, id).await;
            if found.map_err(|e| DataverseError::store(e, "finding a record"))? {
                Ok(id)
            } else {
                Err(DataverseError::record_not_found(&entity.name, &id))
            }
        }
        (None, Key::Alternate(_)) => Err(DataverseError::key_not_found(&entity.name)),
        (None, Key::Id(id)) => Err(DataverseError::record_not_found(&entity.name, id)),
    }
}

/// `{set}({key})[/…]`.
pub(crate) async fn serve(
    call: &Call<'_>,
    entity: &EntityType,
    key: &KeyPredicate,
    rest: &[Segment],
) -> Result<Response, DataverseError> {
    let st = call.st;
    let key = key_of(st, entity, key)?;
    let not_allowed =
        || DataverseError::method_not_allowed(call.method.as_str(), &call.uri.to_string());
    match rest {
        [] => match *call.method {
            // Retrieve and delete answer the 404 themselves: no separate existence check.
            Method::GET => {
                entity::retrieve(
                    st,
                    entity,
                    named(st, entity, &key).await?,
                    call.query,
                    call.headers,
                )
                .await
            }
            Method::PATCH => {
                let (id, key_values) = match (&key, find(st, entity, &key).await?) {
                    (_, Some(id)) => (id, Vec::new()),
                    (Key::Alternate(values), None) => (uuid::Uuid::new_v4(), values.clone()),
                    (Key::Id(id), None) => (*id, Vec::new()),
                };
                modify::upsert(call, entity, id, key_values).await
            }
            Method::DELETE => {
                modify::delete(st, entity, named(st, entity, &key).await?, call.headers).await
            }
            _ => Err(not_allowed()),
        },
        [
            Segment::Named {
                name,
                key: nav_key,
                call_args: None,
            },
            tail @ ..,
        ] => {
            let id = existing(st, entity, &key).await?;
            if let Some(p) = entity.property(name) {
                return match (tail, nav_key) {
                    ([], None) => property(call, entity, id, p).await,
                    ([Segment::Value], None) if *call.method == Method::GET => {
                        property_value(call, entity, id, p).await
                    }
                    _ => Err(not_allowed()),
                };
            }
            let nav = entity
                .navigation(name)
                .ok_or_else(|| DataverseError::unknown_property(name, &entity.name))?;
            let child = match nav_key {
                None => None,
                Some(KeyPredicate::Single(Literal::Guid(g))) if nav.collection => Some(*g),
                Some(_) => {
                    return Err(DataverseError::bad_query(format!(
                        "Address a related record of '{name}' by its id."
                    )));
                }
            };
            let link = Link {
                entity,
                id,
                nav,
                related: target(st, nav)?,
                child,
            };
            match tail {
                [] if *call.method == Method::GET => navigate(call, link).await,
                [Segment::Ref] => reference(call, link).await,
                [Segment::Count]
                    if nav.collection && child.is_none() && *call.method == Method::GET =>
                {
                    let related = link.related;
                    let scope = column_equals(&nav.foreign_key, guid(id));
                    let mut response =
                        entity_set::count(st, related, call.query, Some(scope)).await?;
                    // A navigation `/$count` starts with a UTF-8 byte order mark, as Dataverse's does.
                    let body = std::mem::take(response.body_mut());
                    let bytes = axum::body::to_bytes(body, 64)
                        .await
                        .map_err(|_| DataverseError::internal())?;
                    *response.body_mut() =
                        axum::body::Body::from([b"\xEF\xBB\xBF".as_slice(), &bytes].concat());
                    Ok(response)
                }
                _ => Err(not_allowed()),
            }
        }
        _ => Err(DataverseError::no_resource(&call.uri.to_string())),
    }
}

async fn column(
    st: &AppState,
    entity: &EntityType,
    id: uuid::Uuid,
    column: &str,
) -> Result<Value, DataverseError> {
    st.store
        .column(entity, id, column)
        .await
        .map_err(|e| DataverseError::store(e, "read"))?
        .ok_or_else(|| DataverseError::record_not_found(&entity.name, &id))
}

/// The record a lookup column points at, if any.
async fn lookup(
    st: &AppState,
    entity: &EntityType,
    id: uuid::Uuid,
    column_name: &str,
) -> Result<Option<uuid::Uuid>, DataverseError> {
    match column(st, entity, id, column_name).await? {
        Value::Blob(b) => uuid::Uuid::from_slice(&b)
            .map(Some)
            .map_err(|_| DataverseError::internal()),
        _ => Ok(None),
    }
}

/// `GET`, `PUT` (`{"value": …}`) or `DELETE` one property.
async fn property(
    call: &Call<'_>,
    entity: &EntityType,
    id: uuid::Uuid,
    p: &Property,
) -> Result<Response, DataverseError> {
    let st = call.st;
    match *call.method {
        Method::GET => {
            let v = column(st, entity, id, &p.name).await?;
            if v == Value::Null {
                return Ok(StatusCode::NO_CONTENT.into_response());
            }
            let mut text = String::new();
            write_json(&mut text, (&v).into(), p.edm_type, p.scale);
            Ok(json_response(format!(
                "{{\"@odata.context\":{},\"value\":{text}}}",
                Json::String(format!(
                    "{}/$metadata#{}({id})/{}",
                    st.api_root(),
                    entity.entity_set,
                    p.name
                ))
            )))
        }
        Method::PUT | Method::DELETE => {
            let value = if *call.method == Method::PUT {
                let body: Json = serde_json::from_slice(call.body).map_err(|e| {
                    DataverseError::payload(&entity.entity_set, format!("Invalid JSON. {e}"))
                })?;
                body.get("value").cloned().ok_or_else(|| {
                    DataverseError::payload(&entity.entity_set, "The body must be {\"value\": …}.")
                })?
            } else {
                Json::Null
            };
            if p.name == entity.key || p.read_only {
                return Err(DataverseError::bad_query(format!(
                    "The property '{}' cannot be set.",
                    p.name
                )));
            }
            let body = json!({ p.name.clone(): value }).to_string();
            let record = from_json(&st.model.model, entity, &entity.entity_set, body.as_bytes())?;
            update(call, entity, id, record.values).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(DataverseError::method_not_allowed(
            call.method.as_str(),
            &call.uri.to_string(),
        )),
    }
}

async fn update(
    call: &Call<'_>,
    entity: &EntityType,
    id: uuid::Uuid,
    values: Vec<(String, Value)>,
) -> Result<(), DataverseError> {
    let stamp = stamp(call.st, call.principal);
    call.st
        .store
        .update(entity, id, values, stamp)
        .await
        .map_err(|e| DataverseError::store(e, "write"))?;
    Ok(())
}

/// `GET {set}({id})/{property}/$value`: the raw value as text.
async fn property_value(
    call: &Call<'_>,
    entity: &EntityType,
    id: uuid::Uuid,
    p: &Property,
) -> Result<Response, DataverseError> {
    let v = column(call.st, entity, id, &p.name).await?;
    if v == Value::Null {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut text = String::new();
    write_json(&mut text, (&v).into(), p.edm_type, p.scale);
    let raw = match serde_json::from_str::<Json>(&text) {
        Ok(Json::String(s)) => s,
        _ => text,
    };
    let mut response = raw.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

/// A navigation property of one record: the record, the property, the table it leads to,
/// and the related record a key on a collection names.
#[derive(Clone, Copy)]
struct Link<'a> {
    entity: &'a EntityType,
    id: uuid::Uuid,
    nav: &'a NavigationProperty,
    related: &'a EntityType,
    child: Option<uuid::Uuid>,
}

fn target<'m>(
    st: &'m AppState,
    nav: &NavigationProperty,
) -> Result<&'m EntityType, DataverseError> {
    st.model
        .model
        .entity_type(&nav.target)
        .ok_or_else(DataverseError::internal)
}

/// `GET {set}({id})/{navigation}`: the related record, or the related collection.
async fn navigate(call: &Call<'_>, link: Link<'_>) -> Result<Response, DataverseError> {
    let (st, entity, id, nav, related) = (call.st, link.entity, link.id, link.nav, link.related);
    if nav.collection {
        if let Some(child) = link.child {
            // One member of the collection: it must point back here.
            let fk = column(st, related, child, &nav.foreign_key).await?;
            if fk != guid(id) {
                return Err(DataverseError::record_not_found(&related.name, &child));
            }
            return entity::retrieve(st, related, child, call.query, call.headers).await;
        }
        let scope = column_equals(&nav.foreign_key, guid(id));
        return entity_set::query(
            st,
            related,
            call.path,
            call.query,
            call.headers,
            Some(scope),
        )
        .await;
    }
    match lookup(st, entity, id, &nav.foreign_key).await? {
        Some(fk) => entity::retrieve(st, related, fk, call.query, call.headers).await,
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// The record an `@odata.id` names, checked to exist in `table`.
async fn referenced(
    st: &AppState,
    table: &EntityType,
    body: &[u8],
    query: &str,
) -> Result<uuid::Uuid, DataverseError> {
    let from_query = query.split('&').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k == "$id" || k == "%24id").then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    });
    let raw = match from_query {
        Some(id) => id,
        None => serde_json::from_slice::<Json>(body)
            .ok()
            .and_then(|b| b.get("@odata.id")?.as_str().map(str::to_owned))
            .ok_or_else(|| {
                DataverseError::payload(
                    &table.entity_set,
                    "The body must be {\"@odata.id\": \"<url of the record>\"}.",
                )
            })?,
    };
    let (set, id) = bind_target(&raw)
        .filter(|(set, _)| *set == table.entity_set)
        .ok_or_else(|| {
            DataverseError::payload(
                &table.entity_set,
                format!("'{raw}' does not name a record of '{}'.", table.entity_set),
            )
        })?;
    let _ = set;
    let found = st.store.exists(table, id).await;
    if !found.map_err(|e| DataverseError::store(e, "finding a record"))? {
        return Err(DataverseError::record_not_found(&table.name, &id));
    }
    Ok(id)
}

/// `GET {set}({id})/{collection}/$ref`: the related records' references,
/// `{"@odata.context":"{api}/$metadata#Collection($ref)","value":[{"@odata.id":"{api}/tasks(<id>)"}]}`
/// (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/retrieve-entity-using-web-api>),
/// up to Dataverse's page of 5,000 in key order.
async fn references(
    st: &AppState,
    id: uuid::Uuid,
    nav: &NavigationProperty,
    related: &EntityType,
) -> Result<Response, DataverseError> {
    let key = crate::query::plan::Column {
        name: related.key.clone(),
        edm_type: d365_odata::model::EdmType::Guid,
        scale: None,
        expr: None,
    };
    let spec = crate::query::exec::PageSpec {
        columns: vec![key.clone()],
        filter: Some(column_equals(&nav.foreign_key, guid(id))),
        order: vec![(key, false)],
        after: None,
        limit: entity_set::MAX_PAGE_SIZE,
        offset: 0,
        count: false,
        annotations: None,
        omit_nulls: false,
        etag: true,
        parent: None,
    };
    let page = st
        .store
        .query_page(&st.model.model.shared(related), spec)
        .await
        .map_err(|e| DataverseError::store(e, "read"))?;
    let root = st.api_root();
    let value: Vec<Json> = page
        .rows
        .iter()
        .filter_map(|r| {
            let row: Json = serde_json::from_str(r).ok()?;
            let id = row.get(&related.key)?.as_str()?;
            Some(json!({ "@odata.id": format!("{root}/{}({id})", related.entity_set) }))
        })
        .collect();
    Ok(json_response(
        json!({
            "@odata.context": format!("{root}/$metadata#Collection($ref)"),
            "value": value,
        })
        .to_string(),
    ))
}

/// `{set}({id})/{navigation}/$ref`: associate (PUT single-valued, POST collection-valued),
/// disassociate (DELETE), or read the references (GET).
async fn reference(call: &Call<'_>, link: Link<'_>) -> Result<Response, DataverseError> {
    let (st, entity, id, nav, related) = (call.st, link.entity, link.id, link.nav, link.related);
    // Each association sets (or clears) one lookup column: on this record for a single-valued
    // property, on the related record for a collection-valued one.
    let (table, row, value) = match (nav.collection, call.method) {
        (false, &Method::GET) => {
            return match lookup(st, entity, id, &nav.foreign_key).await? {
                Some(fk) => Ok(json_response(
                    json!({
                        "@odata.context": format!("{}/$metadata#$ref", st.api_root()),
                        "@odata.id": format!("{}/{}({fk})", st.api_root(), related.entity_set),
                    })
                    .to_string(),
                )),
                None => Ok(StatusCode::NO_CONTENT.into_response()),
            };
        }
        (true, &Method::GET) if link.child.is_none() => {
            return references(st, id, nav, related).await;
        }
        (false, &Method::PUT) => (
            entity,
            id,
            guid(referenced(st, related, call.body, "").await?),
        ),
        (false, &Method::DELETE) => (entity, id, Value::Null),
        (true, &Method::POST) => (
            related,
            referenced(st, related, call.body, "").await?,
            guid(id),
        ),
        (true, &Method::DELETE) => {
            let other = match link.child {
                Some(c) => c,
                None => referenced(st, related, b"", call.query).await?,
            };
            if column(st, related, other, &nav.foreign_key).await? != guid(id) {
                return Err(DataverseError::record_not_found(&related.name, &other));
            }
            (related, other, Value::Null)
        }
        _ => {
            return Err(DataverseError::method_not_allowed(
                call.method.as_str(),
                &call.uri.to_string(),
            ));
        }
    };
    update(call, table, row, vec![(nav.foreign_key.clone(), value)]).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
