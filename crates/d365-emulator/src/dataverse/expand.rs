//! `$expand`: related records attached to each row, single-valued navigation properties as a
//! nested object (or `null`, or `{"@odata.id"}` with `/$ref`), collection-valued ones as an
//! array with its `<nav>@odata.nextLink`, with nested `$select`, `$filter`, `$orderby`, `$top`
//! and `$expand` (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/join-tables>).
//! One query per expanded property and level for the whole page, never one per row.
//!
//! Dataverse treats collections in two ways, and so does this module:
//! * no nested `$expand` anywhere in the query: each collection holds up to 5,000 rows (its own
//!   `$top` and `$orderby` apply) and its next link is the filtered collection with the same
//!   options and no paging information, which answers the same rows again;
//! * a nested `$expand` somewhere: `$top` and `$orderby` are refused on collections,
//!   `Prefer: odata.maxpagesize` pages each collection, and a collection with more rows gets
//!   a next link with a `$skiptoken` that the navigation collection resource continues from.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use d365_odata::ExpandItem;
use d365_odata::bind::bind_orderby;
use d365_odata::model::{EntityType, NavigationProperty};
use percent_encoding::utf8_percent_encode;
use serde_json::{Map, Value as Json};

use super::response::{
    MAX_PAGE_SIZE, QUERY_VALUE, annotations_of, annotations_requested, guid_column, output_columns,
    select_names, split_ref,
};
use crate::error::DataverseError;
use crate::query::exec::PageSpec;
use crate::query::paging::PagingCookie;
use crate::query::plan::order_columns;
use crate::query::reads::{RowsByIds, key_boundary};
use crate::state::AppState;

use d365_odata::limits::MAX_EXPANDS;
/// Most related rows read by one query of an expanded property (over its parents); more is
/// refused, never cut short silently.
const MAX_READ: usize = MAX_PAGE_SIZE * 10;

type Row = Map<String, Json>;

/// The rows an expansion starts from: their table and keys.
#[derive(Clone, Copy)]
struct Parents<'a> {
    entity: &'a EntityType,
    keys: &'a [uuid::Uuid],
}

/// One expanded navigation property: the item as written, the property and its target.
#[derive(Clone, Copy)]
struct Step<'a> {
    item: &'a ExpandItem,
    nav: &'a NavigationProperty,
    target: &'a EntityType,
}

/// How collections are expanded in this query (see the module docs).
#[derive(Debug, Clone, Copy)]
struct Mode {
    /// Some `$expand` is nested inside another.
    nested: bool,
    /// `Prefer: odata.maxpagesize`, when honoured.
    page_size: Option<usize>,
    /// `Prefer: odata.include-annotations` asks for formatted values / lookup annotations:
    /// related rows carry them as the top-level rows do.
    annotations: (bool, bool),
}

fn key_of(row: &Row, entity: &EntityType) -> Option<uuid::Uuid> {
    row.get(&entity.key)
        .and_then(Json::as_str)
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
}

fn count_items(items: &[ExpandItem]) -> usize {
    items
        .iter()
        .map(|i| 1 + count_items(&i.options.expand))
        .sum()
}

/// Attaches every `$expand` item to the rows (JSON objects of `entity`, with their keys when
/// known); `page_size` is the honoured `Prefer: odata.maxpagesize`.
pub(crate) async fn expand(
    st: &AppState,
    entity: &EntityType,
    items: &[ExpandItem],
    rows: Vec<String>,
    keys: Option<&[Option<uuid::Uuid>]>,
    page_size: Option<usize>,
    prefer: &d365_odata::Prefer,
) -> Result<Vec<String>, DataverseError> {
    if items.is_empty() {
        return Ok(rows);
    }
    if count_items(items) > MAX_EXPANDS {
        return Err(DataverseError::bad_query(format!(
            "The number of $expand options exceeds the limit of {MAX_EXPANDS}."
        )));
    }
    let mode = Mode {
        nested: items.iter().any(|i| !i.options.expand.is_empty()),
        page_size,
        annotations: annotations_requested(prefer),
    };
    // The common case (lookups, nothing expanded inside them) is written into the rows' text.
    if let Some(keys) = keys.filter(|k| k.len() == rows.len())
        && items.iter().all(|i| attached_as_text(entity, i))
    {
        return as_text(st, entity, items, rows, keys, mode).await;
    }
    let mut objects: Vec<Row> = rows
        .iter()
        .map(|r| match serde_json::from_str::<Json>(r) {
            Ok(Json::Object(m)) => Ok(m),
            _ => Err(DataverseError::internal()),
        })
        .collect::<Result<_, _>>()?;
    attach(st, entity, items, &mut objects, mode).await?;
    Ok(objects
        .into_iter()
        .map(|o| Json::Object(o).to_string())
        .collect())
}

/// Whether `item` can be attached to its rows as text: a lookup's record (not its `/$ref`) or
/// a collection, with nothing expanded inside it (so no collection is paged: see the module
/// docs).
fn attached_as_text(entity: &EntityType, item: &ExpandItem) -> bool {
    let (name, reference) = split_ref(item);
    !reference && item.options.expand.is_empty() && entity.navigation(name).is_some()
}

/// [`expand`] for items that are all [`attached_as_text`]: each row's related record (its
/// text as the store wrote it, without an etag) or `null`, or its related rows (`[…]`, and
/// the collection's next link), written as last members of the row's text, in the items'
/// order, as the `Value` path inserts them. No `Value` per row.
async fn as_text(
    st: &AppState,
    entity: &EntityType,
    items: &[ExpandItem],
    mut rows: Vec<String>,
    keys: &[Option<uuid::Uuid>],
    mode: Mode,
) -> Result<Vec<String>, DataverseError> {
    let known: Vec<uuid::Uuid> = keys.iter().flatten().copied().collect();
    let parents = Parents {
        entity,
        keys: &known,
    };
    for item in items {
        let (name, _) = split_ref(item);
        let (nav, target) = step_of(st, entity, name)?;
        let step = Step { item, nav, target };
        let member = serde_json::to_string(name).map_err(|_| DataverseError::internal())?;
        if nav.collection {
            let (arrays, links) = collections_as_text(st, parents, step, mode).await?;
            let link_member = serde_json::to_string(&format!("{name}@odata.nextLink"))
                .map_err(|_| DataverseError::internal())?;
            for (row, key) in rows.iter_mut().zip(keys) {
                let array = key
                    .and_then(|k| arrays.get(&k))
                    .map_or("[]", String::as_str);
                append_member(row, &member, array)?;
                if let Some(link) = key.and_then(|k| links.get(&k)) {
                    let link =
                        serde_json::to_string(link).map_err(|_| DataverseError::internal())?;
                    append_member(row, &link_member, &link)?;
                }
            }
            continue;
        }
        let (targets, records) = match lookup_targets(st, parents, step).await? {
            Some((pairs, wanted)) => {
                let spec = PageSpec {
                    etag: false, // Learn's expanded lookups carry no etag of their own
                    ..target_spec(st, target, item, mode)?
                };
                let read = read_by_ids(st, target, &target.key, &wanted, &spec).await?;
                let records: HashMap<uuid::Uuid, String> = read
                    .keys
                    .into_iter()
                    .zip(read.rows)
                    .filter_map(|(k, row)| Some((k?, row)))
                    .collect();
                let targets: HashMap<uuid::Uuid, uuid::Uuid> = pairs
                    .into_iter()
                    .filter_map(|(row, fk)| Some((row, fk?)))
                    .collect();
                (targets, records)
            }
            None => Default::default(),
        };
        for (row, key) in rows.iter_mut().zip(keys) {
            let record = key
                .and_then(|k| targets.get(&k))
                .and_then(|fk| records.get(fk))
                .map_or("null", String::as_str);
            append_member(row, &member, record)?;
        }
    }
    Ok(rows)
}

/// Writes `"name":value` (`member` is the name's JSON) as the last member of the object `row`.
fn append_member(row: &mut String, member: &str, value: &str) -> Result<(), DataverseError> {
    if row.pop() != Some('}') {
        return Err(DataverseError::internal());
    }
    if row.len() > 1 {
        row.push(',');
    }
    row.push_str(member);
    row.push(':');
    row.push_str(value);
    row.push('}');
    Ok(())
}

/// A collection's related rows of each parent as the text of a JSON array (each row as the
/// store wrote it), and each parent's next link, when no collection of the query is paged
/// (nothing is expanded inside another): up to its `$top` (at most 5,000) rows, and a link that
/// answers the same rows again, as [`expand_collection`] gives them.
async fn collections_as_text(
    st: &AppState,
    Parents { entity, keys }: Parents<'_>,
    Step { item, nav, target }: Step<'_>,
    mode: Mode,
) -> Result<(HashMap<uuid::Uuid, String>, HashMap<uuid::Uuid, String>), DataverseError> {
    if keys.is_empty() {
        return Ok(Default::default());
    }
    // The foreign key is read beside each row to group it, and written only when selected.
    let spec = PageSpec {
        parent: Some(guid_column(&nav.foreign_key)),
        ..target_spec(st, target, item, mode)?
    };
    let read = read_by_ids(st, target, &nav.foreign_key, keys, &spec).await?;
    let limit = collection_limit(item, mode);
    let mut arrays: HashMap<uuid::Uuid, (usize, String)> = HashMap::new();
    for (row, parent) in read.rows.iter().zip(&read.parents) {
        let Some(parent) = parent else {
            continue;
        };
        let (n, array) = arrays.entry(*parent).or_insert_with(|| (0, "[".to_owned()));
        if *n == limit {
            continue;
        }
        if *n > 0 {
            array.push(',');
        }
        array.push_str(row);
        *n += 1;
    }
    let arrays = arrays
        .into_iter()
        .map(|(parent, (_, mut array))| {
            array.push(']');
            (parent, array)
        })
        .collect();
    let (name, _) = split_ref(item);
    let options = item.options.to_query_string();
    let links = keys
        .iter()
        .map(|parent| {
            let base = format!("{}/{}({parent})/{name}", st.api_root(), entity.entity_set);
            (*parent, with_query(&base, &options, None))
        })
        .collect();
    Ok((arrays, links))
}

/// Most related rows of one parent in an expanded collection: a page of them when nesting pages
/// collections, else up to its `$top`; 5,000 at most.
fn collection_limit(item: &ExpandItem, mode: Mode) -> usize {
    if mode.nested {
        mode.page_size.unwrap_or(MAX_PAGE_SIZE)
    } else {
        item.options
            .top
            .map_or(MAX_PAGE_SIZE, |t| {
                usize::try_from(t).unwrap_or(MAX_PAGE_SIZE)
            })
            .min(MAX_PAGE_SIZE)
    }
}

/// The navigation property `name` of `entity` and its target.
fn step_of<'a>(
    st: &'a AppState,
    entity: &'a EntityType,
    name: &str,
) -> Result<(&'a NavigationProperty, &'a EntityType), DataverseError> {
    let nav = entity
        .navigation(name)
        .ok_or_else(|| DataverseError::unknown_property(name, &entity.name))?;
    let target = st
        .model
        .model
        .entity_type(&nav.target)
        .ok_or_else(DataverseError::internal)?;
    Ok((nav, target))
}

/// Expands `items` on `objects` (rows of `entity`), then their nested items on the related
/// rows, level by level.
fn attach<'a>(
    st: &'a AppState,
    entity: &'a EntityType,
    items: &'a [ExpandItem],
    objects: &'a mut [Row],
    mode: Mode,
) -> Pin<Box<dyn Future<Output = Result<(), DataverseError>> + Send + 'a>> {
    Box::pin(async move {
        let keys: Vec<uuid::Uuid> = objects.iter().filter_map(|o| key_of(o, entity)).collect();
        for item in items {
            let (name, reference) = split_ref(item);
            let (nav, target) = step_of(st, entity, name)?;
            if reference && nav.collection {
                return Err(DataverseError::expand_ref_on_collection());
            }
            let parents = Parents {
                entity,
                keys: &keys,
            };
            let step = Step { item, nav, target };
            let mut links = HashMap::new();
            let related = if nav.collection {
                let (related, next) = expand_collection(st, parents, step, mode).await?;
                links = next;
                related
            } else {
                expand_single(st, parents, step, reference, mode).await?
            };
            for object in objects.iter_mut() {
                let key = key_of(object, entity);
                let value =
                    key.and_then(|k| related.get(&k).cloned())
                        .unwrap_or(if nav.collection {
                            Json::Array(Vec::new())
                        } else {
                            Json::Null
                        });
                object.insert(name.to_owned(), value);
                if let Some(link) = key.and_then(|k| links.get(&k)) {
                    object.insert(format!("{name}@odata.nextLink"), Json::String(link.clone()));
                }
            }
        }
        Ok(())
    })
}

/// The query of an expanded property's related rows: `filter` and the item's own options.
fn target_spec(
    st: &AppState,
    target: &EntityType,
    item: &ExpandItem,
    mode: Mode,
) -> Result<PageSpec, DataverseError> {
    let names = select_names(target, &item.options)?;
    let columns = output_columns(target, names.as_deref());
    let filter = match &item.options.filter {
        Some(f) => Some(super::filter::filter_sql(
            st,
            target,
            f,
            &item.options.aliases,
        )?),
        None => None,
    };
    let order = order_columns(
        &st.model.model,
        target,
        &bind_orderby(target, &item.options.orderby)
            .map_err(|e| DataverseError::bad_query(e.to_string()))?,
    );
    Ok(PageSpec {
        columns,
        filter,
        order,
        after: None,
        limit: MAX_READ,
        offset: 0,
        count: false,
        annotations: annotations_of(mode.annotations, &st.model.model, target),
        omit_nulls: false,
        etag: true,
        parent: None,
    })
}

/// The rows `spec` selects among those of `target` whose `column` is one of `ids`, as JSON
/// objects; more than [`MAX_READ`] in one query is refused.
async fn run_by_ids(
    st: &AppState,
    target: &EntityType,
    column: &str,
    ids: &[uuid::Uuid],
    spec: &PageSpec,
) -> Result<Vec<Row>, DataverseError> {
    let read = read_by_ids(st, target, column, ids, spec).await?;
    Ok(read
        .rows
        .iter()
        .filter_map(|r| match serde_json::from_str::<Json>(r) {
            Ok(Json::Object(m)) => Some(m),
            _ => None,
        })
        .collect())
}

/// [`run_by_ids`]'s rows as the store wrote them, with their keys.
async fn read_by_ids(
    st: &AppState,
    target: &EntityType,
    column: &str,
    ids: &[uuid::Uuid],
    spec: &PageSpec,
) -> Result<RowsByIds, DataverseError> {
    let read = st
        .store
        .query_by_ids(&st.model.model.shared(target), column, ids, spec)
        .await
        .map_err(|e| DataverseError::store(e, "expand"))?;
    if read.cut {
        return Err(DataverseError::bad_query(format!(
            "The expanded '{}' rows of this page are more than {MAX_READ}: ask for fewer rows \
             per page (Prefer: odata.maxpagesize) or put $top or $filter in the $expand.",
            target.name
        )));
    }
    Ok(read)
}

/// A lookup's values on the rows: `(row, foreign key)` pairs and the distinct keys they
/// point at, sorted (`None` when there are none). A lookup's expansion takes no `$top` or
/// `$orderby`.
async fn lookup_targets(
    st: &AppState,
    Parents { entity, keys }: Parents<'_>,
    Step { item, nav, .. }: Step<'_>,
) -> Result<Option<LookupValues>, DataverseError> {
    if item.options.top.is_some() || !item.options.orderby.is_empty() {
        return Err(DataverseError::expand_options_limited());
    }
    let pairs = st
        .store
        .lookup_values(&st.model.model.shared(entity), &nav.foreign_key, keys)
        .await
        .map_err(|e| DataverseError::store(e, "lookup"))?;
    let mut wanted: Vec<uuid::Uuid> = pairs.iter().filter_map(|(_, fk)| *fk).collect();
    wanted.sort_unstable();
    wanted.dedup();
    Ok((!wanted.is_empty()).then_some((pairs, wanted)))
}

/// `(row, foreign key)` pairs, and the distinct foreign keys.
type LookupValues = (Vec<(uuid::Uuid, Option<uuid::Uuid>)>, Vec<uuid::Uuid>);

/// A lookup: each row's related record (or its reference), by the row's foreign key.
async fn expand_single(
    st: &AppState,
    Parents { entity, keys }: Parents<'_>,
    step: Step<'_>,
    reference: bool,
    mode: Mode,
) -> Result<HashMap<uuid::Uuid, Json>, DataverseError> {
    let Step { item, target, .. } = step;
    let Some((pairs, wanted)) = lookup_targets(st, Parents { entity, keys }, step).await? else {
        return Ok(HashMap::new());
    };
    if reference {
        // Only ids the target table holds: a polymorphic lookup (`parentcustomerid_account`)
        // may point at another table's record.
        let key = guid_column(&target.key);
        let found: std::collections::HashSet<uuid::Uuid> = run_by_ids(
            st,
            target,
            &target.key,
            &wanted,
            &PageSpec {
                columns: vec![key],
                ..target_spec(st, target, item, mode)?
            },
        )
        .await?
        .iter()
        .filter_map(|o| key_of(o, target))
        .collect();
        let root = st.api_root();
        return Ok(pairs
            .into_iter()
            .filter_map(|(row, fk)| {
                let fk = fk.filter(|k| found.contains(k))?;
                let id = format!("{root}/{}({fk})", target.entity_set);
                Some((row, serde_json::json!({ "@odata.id": id })))
            })
            .collect());
    }
    let spec = target_spec(st, target, item, mode)?;
    let mut related = run_by_ids(st, target, &target.key, &wanted, &spec).await?;
    attach(st, target, &item.options.expand, &mut related, mode).await?;
    let by_key: HashMap<uuid::Uuid, Row> = related
        .into_iter()
        .filter_map(|mut o| {
            // Learn's expanded lookups carry no etag of their own.
            o.shift_remove("@odata.etag");
            key_of(&o, target).map(|k| (k, o))
        })
        .collect();
    Ok(pairs
        .into_iter()
        .filter_map(|(row, fk)| Some((row, by_key.get(&fk?).cloned().map(Json::Object)?)))
        .collect())
}

/// Related rows by parent, and the next link of each parent's collection.
type Collections = (HashMap<uuid::Uuid, Json>, HashMap<uuid::Uuid, String>);

/// A one-to-many relationship: the related rows of each row, through their foreign key.
async fn expand_collection(
    st: &AppState,
    Parents { entity, keys }: Parents<'_>,
    Step { item, nav, target }: Step<'_>,
    mode: Mode,
) -> Result<Collections, DataverseError> {
    if mode.nested && (item.options.top.is_some() || !item.options.orderby.is_empty()) {
        return Err(DataverseError::expand_options_limited());
    }
    if keys.is_empty() {
        return Ok(Default::default());
    }
    // The foreign key is read beside each row to group it, and written only when selected.
    let spec = PageSpec {
        parent: Some(guid_column(&nav.foreign_key)),
        // Learn's paged (nested) collections carry no etags on their rows.
        etag: !mode.nested,
        ..target_spec(st, target, item, mode)?
    };
    let read = read_by_ids(st, target, &nav.foreign_key, keys, &spec).await?;
    let limit = collection_limit(item, mode);
    let mut counts: HashMap<uuid::Uuid, usize> = HashMap::new();
    let mut more: HashMap<uuid::Uuid, bool> = HashMap::new();
    let (mut related, mut parents) = (Vec::new(), Vec::new());
    for (row, parent) in read.rows.iter().zip(read.parents) {
        let (Some(parent), Ok(Json::Object(row))) = (parent, serde_json::from_str::<Json>(row))
        else {
            continue;
        };
        let n = counts.entry(parent).or_default();
        *n += 1;
        if *n > limit {
            more.insert(parent, true);
            continue;
        }
        related.push(row);
        parents.push(parent);
    }
    attach(st, target, &item.options.expand, &mut related, mode).await?;
    let mut grouped: HashMap<uuid::Uuid, Vec<Json>> = HashMap::new();
    for (object, parent) in related.into_iter().zip(parents) {
        grouped
            .entry(parent)
            .or_default()
            .push(Json::Object(object));
    }
    let (name, _) = split_ref(item);
    let options = item.options.to_query_string();
    let mut links = HashMap::new();
    for parent in keys {
        let base = format!("{}/{}({parent})/{name}", st.api_root(), entity.entity_set);
        let link = if !mode.nested {
            Some(with_query(&base, &options, None))
        } else if more.contains_key(parent) {
            let rows = grouped.get(parent).map(Vec::as_slice).unwrap_or_default();
            next_page_cookie(target, rows).map(|cookie| with_query(&base, &options, Some(&cookie)))
        } else {
            None
        };
        if let Some(link) = link {
            links.insert(*parent, link);
        }
    }
    let related = grouped
        .into_iter()
        .map(|(k, v)| (k, Json::Array(v)))
        .collect();
    Ok((related, links))
}

/// `{base}?{options}&$skiptoken={cookie}`, the cookie URL-encoded as the top-level next
/// link's is.
fn with_query(base: &str, options: &str, cookie: Option<&str>) -> String {
    let mut query = options.to_owned();
    if let Some(cookie) = cookie {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str("$skiptoken=");
        query.push_str(&utf8_percent_encode(cookie, QUERY_VALUE).to_string());
    }
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{query}")
    }
}

/// The paging cookie after a page of a nested collection, ordered by the target's key (nested
/// collections take no `$orderby`), in the shape `entity_set::query` reads back on the
/// navigation collection.
fn next_page_cookie(target: &EntityType, rows: &[Json]) -> Option<String> {
    let key = |row: &Json| uuid::Uuid::parse_str(row.get(&target.key)?.as_str()?).ok();
    let (first, last) = (key(rows.first()?)?, key(rows.last()?)?);
    Some(
        PagingCookie {
            page_number: 2,
            boundaries: vec![key_boundary(&target.key, &first, &last)],
        }
        .encode(),
    )
}
