//! `$expand`: related records attached to each row, single-valued navigation properties as a
//! nested object (or `null`), collection-valued ones as an array, with nested `$select`,
//! `$filter`, `$orderby` and `$top` (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/join-tables>).
//! One query per expanded property for the whole page, never one per row.

use std::collections::HashMap;

use d365_odata::ExpandItem;
use d365_odata::bind::bind_orderby;
use d365_odata::model::{EdmType, EntityType, NavigationProperty};
use rusqlite::types::Value;
use serde_json::{Map, Value as Json};

use super::entity_set::{output_columns, select_names};
use crate::error::DataverseError;
use crate::query::exec::{self, PageSpec};
use crate::query::plan::{Column, SqlFilter, order_columns};
use crate::state::AppState;

/// Dataverse's limit on `$expand` options per query.
const MAX_EXPANDS: usize = 15;
/// Most related rows per expanded collection (Dataverse's page size).
const MAX_RELATED: usize = 5000;

fn key_of(row: &Map<String, Json>, entity: &EntityType) -> Option<uuid::Uuid> {
    row.get(&entity.key)
        .and_then(Json::as_str)
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
}

fn in_filter(column: &str, ids: &[uuid::Uuid], extra: Option<SqlFilter>) -> SqlFilter {
    let mut f = SqlFilter {
        sql: format!(
            "{} IN ({})",
            crate::store::schema::ident(column),
            vec!["?"; ids.len()].join(", ")
        ),
        params: ids
            .iter()
            .map(|id| Value::Blob(id.as_bytes().to_vec()))
            .collect(),
    };
    if let Some(extra) = extra {
        f.sql = format!("({}) AND ({})", f.sql, extra.sql);
        f.params.extend(extra.params);
    }
    f
}

/// The `@odata.context` fragment of the expands: `primarycontactid(fullname)`.
pub(crate) fn context_part(
    items: &[ExpandItem],
    target_select: impl Fn(&ExpandItem) -> Vec<String>,
) -> Vec<String> {
    items
        .iter()
        .map(|i| format!("{}({})", i.path, target_select(i).join(",")))
        .collect()
}

/// Attaches every `$expand` item to the rows (JSON objects of `entity`).
pub(crate) async fn expand(
    st: &AppState,
    entity: &EntityType,
    items: &[ExpandItem],
    rows: Vec<String>,
) -> Result<Vec<String>, DataverseError> {
    if items.is_empty() {
        return Ok(rows);
    }
    if items.len() > MAX_EXPANDS {
        return Err(DataverseError::bad_query(format!(
            "The number of $expand options exceeds the limit of {MAX_EXPANDS}."
        )));
    }
    let mut objects: Vec<Map<String, Json>> = rows
        .iter()
        .map(|r| match serde_json::from_str::<Json>(r) {
            Ok(Json::Object(m)) => Ok(m),
            _ => Err(DataverseError::internal()),
        })
        .collect::<Result<_, _>>()?;
    let keys: Vec<uuid::Uuid> = objects.iter().filter_map(|o| key_of(o, entity)).collect();
    for item in items {
        let nav = entity
            .navigation(&item.path)
            .ok_or_else(|| DataverseError::unknown_property(&item.path, &entity.name))?;
        if !item.options.expand.is_empty() {
            return Err(DataverseError::bad_query(
                "Nested $expand is not supported by the emulator yet.",
            ));
        }
        let target = st
            .model
            .model
            .entity_type(&nav.target)
            .ok_or_else(DataverseError::internal)?
            .clone();
        let related = if nav.collection {
            expand_collection(st, nav, &target, item, &keys).await?
        } else {
            expand_single(st, entity, nav, &target, item, &keys).await?
        };
        for object in &mut objects {
            let value = key_of(object, entity)
                .and_then(|k| related.get(&k).cloned())
                .unwrap_or(if nav.collection {
                    Json::Array(Vec::new())
                } else {
                    Json::Null
                });
            object.insert(item.path.clone(), value);
        }
    }
    Ok(objects
        .into_iter()
        .map(|o| Json::Object(o).to_string())
        .collect())
}

fn target_spec(
    st: &AppState,
    target: &EntityType,
    item: &ExpandItem,
    filter: SqlFilter,
    extra_column: Option<&str>,
) -> Result<(PageSpec, bool), DataverseError> {
    let names = select_names(target, &item.options)?;
    let mut columns = output_columns(target, names.as_deref());
    let mut added = false;
    if let Some(fk) = extra_column
        && !columns.iter().any(|c| c.name == fk)
    {
        columns.push(Column {
            name: fk.to_owned(),
            edm_type: EdmType::Guid,
            scale: None,
            expr: None,
        });
        added = true;
    }
    let nested = item
        .options
        .filter
        .as_ref()
        .map(|f| super::filter::filter_sql(st, target, f, &item.options.aliases))
        .transpose()?;
    let filter = match nested {
        Some(n) => SqlFilter {
            sql: format!("({}) AND ({})", filter.sql, n.sql),
            params: filter.params.into_iter().chain(n.params).collect(),
        },
        None => filter,
    };
    let order = order_columns(
        &st.model.model,
        target,
        &bind_orderby(target, &item.options.orderby)
            .map_err(|e| DataverseError::bad_query(e.to_string()))?,
    );
    Ok((
        PageSpec {
            columns,
            filter: Some(filter),
            order,
            after: None,
            limit: MAX_RELATED * 10,
            offset: 0,
            count: false,
            annotations: None,
        },
        added,
    ))
}

async fn run(
    st: &AppState,
    target: &EntityType,
    spec: PageSpec,
) -> Result<Vec<Map<String, Json>>, DataverseError> {
    let owned = target.clone();
    let page = st
        .store
        .read(move |c| exec::query_page(c, &owned, &spec))
        .await
        .map_err(|e| DataverseError::store(&e, "expand"))?;
    Ok(page
        .rows
        .iter()
        .filter_map(|r| match serde_json::from_str::<Json>(r) {
            Ok(Json::Object(m)) => Some(m),
            _ => None,
        })
        .collect())
}

/// A lookup: each row's related record, by the row's foreign key.
async fn expand_single(
    st: &AppState,
    entity: &EntityType,
    nav: &NavigationProperty,
    target: &EntityType,
    item: &ExpandItem,
    keys: &[uuid::Uuid],
) -> Result<HashMap<uuid::Uuid, Json>, DataverseError> {
    let (owned, fk, ks) = (entity.clone(), nav.foreign_key.clone(), keys.to_vec());
    let pairs = st
        .store
        .read(move |c| exec::lookup_values(c, &owned, &fk, &ks))
        .await
        .map_err(|e| DataverseError::store(&e, "lookup"))?;
    let wanted: Vec<uuid::Uuid> = pairs.iter().filter_map(|(_, fk)| *fk).collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    if item.options.top.is_some() || !item.options.orderby.is_empty() {
        return Err(DataverseError::bad_query(
            "Only $select and $filter clause can be provided while doing $expand on many-to-one relationship or nested one-to-many relationship.",
        ));
    }
    let (spec, _) = target_spec(
        st,
        target,
        item,
        in_filter(&target.key, &wanted, None),
        None,
    )?;
    let by_key: HashMap<uuid::Uuid, Map<String, Json>> = run(st, target, spec)
        .await?
        .into_iter()
        .filter_map(|o| key_of(&o, target).map(|k| (k, o)))
        .collect();
    Ok(pairs
        .into_iter()
        .filter_map(|(row, fk)| Some((row, by_key.get(&fk?).cloned().map(Json::Object)?)))
        .collect())
}

/// A one-to-many relationship: the related rows of each row, through their foreign key.
async fn expand_collection(
    st: &AppState,
    nav: &NavigationProperty,
    target: &EntityType,
    item: &ExpandItem,
    keys: &[uuid::Uuid],
) -> Result<HashMap<uuid::Uuid, Json>, DataverseError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let (spec, added) = target_spec(
        st,
        target,
        item,
        in_filter(&nav.foreign_key, keys, None),
        Some(&nav.foreign_key),
    )?;
    let top = item
        .options
        .top
        .map(|t| t as usize)
        .unwrap_or(MAX_RELATED)
        .min(MAX_RELATED);
    let mut grouped: HashMap<uuid::Uuid, Vec<Json>> = HashMap::new();
    for mut object in run(st, target, spec).await? {
        let parent = object
            .get(&nav.foreign_key)
            .and_then(Json::as_str)
            .and_then(|s| uuid::Uuid::parse_str(s).ok());
        if added {
            object.remove(&nav.foreign_key);
        }
        if let Some(parent) = parent {
            let list = grouped.entry(parent).or_default();
            if list.len() < top {
                list.push(Json::Object(object));
            }
        }
    }
    Ok(grouped
        .into_iter()
        .map(|(k, v)| (k, Json::Array(v)))
        .collect())
}
