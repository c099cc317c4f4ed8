//! `EntityDefinitions(LogicalName='x')/Keys`: list, read, create and delete a table's keys
//! as `EntityKeyMetadata` (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/entitykeymetadata>).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use d365_odata::QueryOptions;
use d365_odata::model::EntityType;
use serde_json::{Map, Value, json};

use super::Shape;
use crate::dataverse::headers::json_response;
use crate::dataverse::keys::{Keys, rules, spawn_index_job, status};
use crate::dataverse::metadata;
use crate::error::DataverseError;
use crate::state::AppState;
use crate::store::keys::StoredKey;

/// The properties of `EntityKeyMetadata`, the names `$select` takes.
pub(crate) const PROPERTIES: &[&str] = &[
    "AsyncJob",
    "DisplayName",
    "EntityKeyIndexStatus",
    "EntityLogicalName",
    "HasChanged",
    "IntroducedVersion",
    "IsCustomizable",
    "IsExportKey",
    "IsManaged",
    "IsSecondaryKey",
    "IsSynchronous",
    "KeyAttributes",
    "LogicalName",
    "MetadataId",
    "SchemaName",
];

/// One key as `EntityKeyMetadata` JSON.
pub(crate) fn key_json(key: &StoredKey) -> Map<String, Value> {
    let Value::Object(m) = json!({
        "MetadataId": key.metadata_id,
        "HasChanged": null,
        "AsyncJob": key.job,
        "DisplayName": metadata::label(&key.display_name),
        "EntityKeyIndexStatus": key.status,
        "EntityLogicalName": key.entity,
        "IntroducedVersion": "1.0",
        "IsCustomizable": {"Value": true, "CanBeChanged": true, "ManagedPropertyLogicalName": "iscustomizableanddeletable"},
        "IsExportKey": false,
        "IsManaged": false,
        "IsSecondaryKey": false,
        "IsSynchronous": false,
        "KeyAttributes": key.columns.iter().map(|c| rules::logical(c)).collect::<Vec<_>>(),
        "LogicalName": key.schema_name.to_ascii_lowercase(),
        "SchemaName": key.schema_name,
    }) else {
        unreachable!()
    };
    m
}

/// The shape `$select` and `$filter` check key items against.
pub(crate) fn shape() -> Shape {
    Shape {
        type_name: "EntityKeyMetadata",
        properties: PROPERTIES,
    }
}

fn find(keys: &Keys, entity: &EntityType, id: &str) -> Result<StoredKey, DataverseError> {
    keys.of(&entity.name)
        .into_iter()
        .find(|k| {
            k.metadata_id.to_string().eq_ignore_ascii_case(id)
                || k.schema_name.eq_ignore_ascii_case(id)
        })
        .ok_or_else(|| DataverseError::entity_key_not_found(id, &entity.name))
}

/// `GET EntityDefinitions(…)/Keys`.
pub(crate) fn list(
    st: &AppState,
    entity: &EntityType,
    raw_query: &str,
) -> Result<Response, DataverseError> {
    let options = metadata::options(raw_query)?;
    let items: Vec<Map<String, Value>> = st.keys.of(&entity.name).iter().map(key_json).collect();
    let value = metadata::shape_items(items, &options, &shape())?;
    let context = format!(
        "{}/$metadata#EntityDefinitions('{}')/Keys",
        st.api_root(),
        entity.name
    );
    Ok(json_response(metadata::collection_body(&context, value)))
}

/// `GET EntityDefinitions(…)/Keys(<MetadataId>)` (or `Keys(LogicalName='…')`).
pub(crate) fn get(
    st: &AppState,
    entity: &EntityType,
    id: &str,
    raw_query: &str,
) -> Result<Response, DataverseError> {
    let options: QueryOptions = metadata::options(raw_query)?;
    let key = find(&st.keys, entity, id)?;
    let item = metadata::select(key_json(&key), &options, &shape())?;
    let context = format!(
        "{}/$metadata#EntityDefinitions('{}')/Keys/$entity",
        st.api_root(),
        entity.name
    );
    Ok(json_response(metadata::entity_body(&context, item)))
}

/// `POST EntityDefinitions(…)/Keys` with an `EntityKeyMetadata` body: the key is stored
/// `Pending` and its index job starts; 204 with the key's address in `OData-EntityId`.
pub(crate) async fn create(
    st: &AppState,
    entity: &EntityType,
    body: &[u8],
) -> Result<Response, DataverseError> {
    let body: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        DataverseError::payload(
            "EntityDefinitions",
            format!("Invalid EntityKeyMetadata: {e}"),
        )
    })?;
    let key = new_key(st, entity, &body).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    // As Dataverse answers a POST to a table's `Attributes`: the table by logical name
    // (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-update-column-definitions-using-web-api>).
    let location = format!(
        "{}/EntityDefinitions(LogicalName='{}')/Keys({})",
        st.api_root(),
        entity.name,
        key.metadata_id
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert("OData-EntityId", v);
    }
    Ok(response)
}

/// The right to write keys, one writer at a time. Keys are the org's definition, kept in
/// memory beside the store: a `$batch` change set could roll the row back and leave the
/// memory changed, so key writes are refused inside one.
async fn key_write(st: &AppState) -> Result<tokio::sync::MutexGuard<'_, ()>, DataverseError> {
    if st.store.in_atomic() {
        return Err(DataverseError::key_operation(
            "entity key operations cannot run inside a change set",
        ));
    }
    Ok(st.keys.writing.lock().await)
}

/// Checks an `EntityKeyMetadata` for `entity`, stores the key `Pending` and starts its
/// index job.
async fn new_key(
    st: &AppState,
    entity: &EntityType,
    body: &Map<String, Value>,
) -> Result<StoredKey, DataverseError> {
    let schema_name = body
        .get("SchemaName")
        .and_then(Value::as_str)
        .ok_or_else(|| DataverseError::key_operation("SchemaName is required"))?
        .to_owned();
    rules::check_schema_name(&schema_name)?;
    let attributes: Vec<String> = match body.get("KeyAttributes") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => return Err(DataverseError::key_operation("KeyAttributes are required")),
    };
    let columns = rules::resolve(entity, &attributes);
    rules::check_columns(entity, &columns)?;
    let _writing = key_write(st).await?;
    let existing = st.keys.of(&entity.name);
    if existing
        .iter()
        .any(|k| k.schema_name.eq_ignore_ascii_case(&schema_name))
    {
        return Err(DataverseError::key_name_exists(&schema_name, &entity.name));
    }
    let wanted: Vec<&str> = columns.iter().map(String::as_str).collect();
    if st.keys.with_columns(&entity.name, &wanted).is_some() {
        return Err(DataverseError::key_columns_exist());
    }
    if existing.len() >= rules::MAX_KEYS {
        return Err(DataverseError::key_operation(format!(
            "entity {} already has the maximum of {} keys",
            entity.name,
            rules::MAX_KEYS
        )));
    }
    let display_name = body
        .get("DisplayName")
        .and_then(|d| d.pointer("/LocalizedLabels/0/Label"))
        .and_then(Value::as_str)
        .unwrap_or(&schema_name)
        .to_owned();
    let key = StoredKey {
        metadata_id: uuid::Uuid::new_v4(),
        entity: entity.name.clone(),
        schema_name,
        display_name,
        columns,
        status: status::PENDING.into(),
        job: Some(uuid::Uuid::new_v4()),
    };
    st.store
        .insert_key(key.clone())
        .await
        .map_err(|e| DataverseError::store(e, "creating the entity key"))?;
    st.keys.replace(key.clone());
    spawn_index_job(st, key.clone());
    Ok(key)
}
/// `DELETE EntityDefinitions(…)/Keys(<MetadataId>)`: the key and its index go; a pending
/// index job is cancelled.
pub(crate) async fn delete(
    st: &AppState,
    entity: &EntityType,
    id: &str,
) -> Result<Response, DataverseError> {
    let _writing = key_write(st).await?;
    let key = find(&st.keys, entity, id)?;
    st.store
        .delete_key(key.clone())
        .await
        .map_err(|e| DataverseError::store(e, "deleting the entity key"))?;
    st.keys.remove(&key.metadata_id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The unbound actions on keys, by their Web API names.
pub(crate) const ACTIONS: &[&str] = &["CreateEntityKey", "ReactivateEntityKey"];

/// `CreateEntityKey` (`EntityName`, `EntityKey`: an `EntityKeyMetadata`) answers
/// `{"EntityKeyId"}`; `ReactivateEntityKey` (`EntityLogicalName`, `EntityKeyLogicalName`)
/// runs a Failed key's index job again, after the duplicates are gone
/// (<https://learn.microsoft.com/power-apps/developer/data-platform/define-alternate-keys-entity#monitor-index-creation-for-alternate-keys>).
pub(crate) async fn action(
    st: &AppState,
    name: &str,
    body: &[u8],
) -> Result<Response, DataverseError> {
    let body: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| DataverseError::payload("", format!("Invalid parameters: {e}")))?;
    let text = |p: &str| {
        body.get(p)
            .and_then(Value::as_str)
            .ok_or_else(|| DataverseError::bad_query(format!("The parameter '{p}' is required.")))
    };
    let table = |p: &str| -> Result<EntityType, DataverseError> {
        let name = text(p)?;
        metadata::entities(st, Some(name))?
            .first()
            .map(|e| (*e).clone())
            .ok_or_else(|| DataverseError::bad_query(format!("No table '{name}'.")))
    };
    let context = |what: &str| format!("{}/$metadata#Microsoft.Dynamics.CRM.{what}", st.api_root());
    match name.trim_start_matches("Microsoft.Dynamics.CRM.") {
        "CreateEntityKey" => {
            let entity = table("EntityName")?;
            let key = body
                .get("EntityKey")
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    DataverseError::bad_query("The parameter 'EntityKey' is required.")
                })?;
            let key = new_key(st, &entity, key).await?;
            let answer = json!({"@odata.context": context("CreateEntityKeyResponse"), "EntityKeyId": key.metadata_id});
            Ok(json_response(answer.to_string()))
        }
        _ => {
            let entity = table("EntityLogicalName")?;
            let logical = text("EntityKeyLogicalName")?;
            let key = find(&st.keys, &entity, logical)?;
            if key.status == status::FAILED {
                let id = key.metadata_id;
                st.store
                    .set_key_status(id, status::PENDING)
                    .await
                    .map_err(|e| DataverseError::store(e, "reactivating the entity key"))?;
                st.keys.set_status(&id, status::PENDING);
                spawn_index_job(st, key);
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}
