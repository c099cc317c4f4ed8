//! `EntityDefinitions`: table metadata as entities, the part Microsoft's Python SDK asks for
//! before every record operation (`?$select=LogicalName,EntitySetName,PrimaryIdAttribute&$filter=
//! LogicalName eq 'account'`) and before writes (the picklist cast path with option labels)
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api>).
//! Metadata queries are not paged: everything comes in one response. A table's keys
//! (`…/Keys`) are served by [`super::keys`].

mod json;
pub(crate) mod keys;
mod operations;
mod query;

pub(crate) use json::{attribute_type, label, metadata_id};
pub(crate) use operations::services;
pub(crate) use query::{Shape, collection_body, entity_body, options, select, shape_items};

use axum::http::Method;
use axum::response::Response;
use d365_odata::model::EntityType;
use d365_odata::{KeyPredicate, Literal, Segment};
use serde_json::{Map, Value};

use super::headers::json_response;
use crate::error::DataverseError;
use crate::state::AppState;

/// The tables a key names: all of them, or the one whose logical name (any case) or
/// MetadataId it is (404 when none).
pub(crate) fn entities<'m>(
    st: &'m AppState,
    key: Option<&str>,
) -> Result<Vec<&'m EntityType>, DataverseError> {
    let entities: Vec<&EntityType> = st
        .model
        .model
        .entity_types()
        .iter()
        .map(|e| &**e)
        .filter(|e| {
            key.is_none_or(|k| {
                e.name.eq_ignore_ascii_case(k) || metadata_id(&e.name) == k.to_ascii_lowercase()
            })
        })
        .collect();
    match key {
        Some(k) if entities.is_empty() => Err(DataverseError::table_definition_not_found(k)),
        _ => Ok(entities),
    }
}

/// A table as `EntityMetadata`, with its `$expand`ed `Keys` and `Attributes`.
fn table_item(
    st: &AppState,
    e: &EntityType,
    options: &d365_odata::QueryOptions,
) -> Result<Map<String, Value>, DataverseError> {
    let mut item = json::entity_json(e, st.model.is_elastic(&e.name));
    for x in &options.expand {
        let value = match x.path.as_str() {
            "Keys" => {
                let keys = st.keys.of(&e.name).iter().map(keys::key_json).collect();
                shape_items(keys, &x.options, &keys::shape())?
            }
            "Attributes" => {
                let attrs = e
                    .properties
                    .iter()
                    .map(|p| json::attribute_json(e, p))
                    .collect();
                shape_items(attrs, &x.options, &json::ATTRIBUTE)?
            }
            other => {
                return Err(DataverseError::metadata_property_not_found(
                    "EntityMetadata",
                    other,
                ));
            }
        };
        item.insert(x.path.clone(), Value::Array(value));
    }
    Ok(item)
}

/// A metadata item's key: `LogicalName='x'` or a MetadataId.
fn item_key(key: Option<&KeyPredicate>) -> Result<Option<String>, DataverseError> {
    let bad =
        || DataverseError::bad_query("Metadata items are keyed by LogicalName='…' or MetadataId.");
    match key {
        None => Ok(None),
        Some(KeyPredicate::Named(pairs)) => match pairs.as_slice() {
            [(k, Literal::String(v))] if k == "LogicalName" => Ok(Some(v.clone())),
            _ => Err(bad()),
        },
        Some(KeyPredicate::Single(Literal::Guid(g))) => Ok(Some(g.to_string())),
        Some(_) => Err(bad()),
    }
}

/// `{api}/EntityDefinitions[(…)][/Attributes[/cast]|/Keys[(…)]]`, by method.
pub(crate) async fn route(
    st: &AppState,
    method: &Method,
    key: Option<&KeyPredicate>,
    rest: &[Segment],
    body: &[u8],
    query: &str,
    uri: &axum::http::Uri,
) -> Result<Response, DataverseError> {
    let table = item_key(key)?;
    let not_allowed = || DataverseError::method_not_allowed(method.as_str(), &uri.to_string());
    match (rest, table.as_deref()) {
        ([Segment::Named { name, key: k, .. }], Some(table)) if name == "Keys" => {
            let entity = *entities(st, Some(table))?.first().ok_or_else(not_allowed)?;
            match (method, item_key(k.as_ref())?) {
                (&Method::GET, None) => keys::list(st, entity, query),
                (&Method::GET, Some(id)) => keys::get(st, entity, &id, query),
                (&Method::POST, None) => keys::create(st, entity, body).await,
                (&Method::DELETE, Some(id)) => keys::delete(st, entity, &id).await,
                _ => Err(not_allowed()),
            }
        }
        (_, _) if method != Method::GET => Err(not_allowed()),
        ([], _) => entity_definitions(st, table.as_deref(), None, query),
        (
            [
                Segment::Named {
                    name, key: None, ..
                },
            ],
            _,
        ) if name == "Attributes" => entity_definitions(st, table.as_deref(), Some(None), query),
        (
            [
                Segment::Named {
                    name, key: None, ..
                },
                Segment::Named {
                    name: cast,
                    key: None,
                    ..
                },
            ],
            _,
        ) if name == "Attributes" => {
            entity_definitions(st, table.as_deref(), Some(Some(cast.as_str())), query)
        }
        _ => Err(DataverseError::no_resource(&uri.to_string())),
    }
}

/// `GET {api}/EntityDefinitions[(LogicalName='x')|(<id>)][/Attributes[/Microsoft.Dynamics.CRM.<Type>AttributeMetadata]]`.
fn entity_definitions(
    st: &AppState,
    key: Option<&str>,
    attributes: Option<Option<&str>>,
    raw_query: &str,
) -> Result<axum::response::Response, DataverseError> {
    let options = options(raw_query)?;
    let root = st.api_root();
    let entities = entities(st, key)?;
    let (context, items, shape) = match attributes {
        None => (
            "EntityDefinitions".to_owned(),
            entities
                .iter()
                .map(|e| table_item(st, e, &options))
                .collect::<Result<Vec<_>, _>>()?,
            json::ENTITY,
        ),
        Some(cast) => {
            let e = entities
                .first()
                .ok_or_else(|| DataverseError::bad_query("Attributes need one entity."))?;
            let wanted = match cast {
                None => None,
                Some("Microsoft.Dynamics.CRM.PicklistAttributeMetadata") => Some("Picklist"),
                Some("Microsoft.Dynamics.CRM.StateAttributeMetadata") => Some("State"),
                Some("Microsoft.Dynamics.CRM.StatusAttributeMetadata") => Some("Status"),
                Some("Microsoft.Dynamics.CRM.LookupAttributeMetadata") => Some("Lookup"),
                Some("Microsoft.Dynamics.CRM.MoneyAttributeMetadata") => Some("Money"),
                Some("Microsoft.Dynamics.CRM.StringAttributeMetadata") => Some("String"),
                Some(other) => return Err(DataverseError::segment_not_found(other)),
            };
            let attrs = e
                .properties
                .iter()
                .filter(|p| wanted.is_none_or(|w| attribute_type(p) == w))
                .map(|p| json::attribute_json(e, p))
                .collect();
            (
                format!(
                    "EntityDefinitions('{}')/Attributes{}",
                    e.name,
                    cast.map(|c| format!("/{c}")).unwrap_or_default()
                ),
                attrs,
                json::ATTRIBUTE,
            )
        }
    };
    let items = shape_items(items, &options, &shape)?;
    let body = if key.is_some() && attributes.is_none() {
        let one = match items.into_iter().next() {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        entity_body(&format!("{root}/$metadata#EntityDefinitions/$entity"), one)
    } else {
        collection_body(&format!("{root}/$metadata#{context}"), items)
    };
    Ok(json_response(body))
}
