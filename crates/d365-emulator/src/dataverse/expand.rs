//! `$expand`: related records attached to each row, single-valued navigation properties as a
//! nested object (or `null`, or `{"@odata.id"}` with `/$ref`), collection-valued ones as an
//! array with its `<nav>@odata.nextLink`, with nested `$select`, `$filter`, `$orderby`, `$top`
//! and `$expand` (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/join-tables>).
//! One query per expanded property and level for the whole page, never one per row. The related
//! rows are the store's text (as a page's rows are), written into their parents' text as last
//! members: no `serde_json::Value` per row.
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

fn count_items(items: &[ExpandItem]) -> usize {
    items
        .iter()
        .map(|i| 1 + count_items(&i.options.expand))
        .sum()
}

/// Attaches every `$expand` item to the rows (JSON objects of `entity`, the store's text, and
/// each row's key); `page_size` is the honoured `Prefer: odata.maxpagesize`.
pub(crate) async fn expand(
    st: &AppState,
    entity: &EntityType,
    items: &[ExpandItem],
    mut rows: Vec<String>,
    keys: &[Option<uuid::Uuid>],
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
    attach(st, entity, items, &mut rows, keys, mode).await?;
    Ok(rows)
}

/// Expands `items` on `rows` (of `entity`, with their `keys`), then their nested items on the
/// related rows, level by level: each row's related record (or `null`, or its reference) or
/// related rows (`[…]`, and the collection's next link) written as last members of its text,
/// in the items' order.
fn attach<'a>(
    st: &'a AppState,
    entity: &'a EntityType,
    items: &'a [ExpandItem],
    rows: &'a mut [String],
    keys: &'a [Option<uuid::Uuid>],
    mode: Mode,
) -> Pin<Box<dyn Future<Output = Result<(), DataverseError>> + Send + 'a>> {
    Box::pin(async move {
        if keys.len() != rows.len() {
            return Err(DataverseError::internal()); // the key is always among the columns
        }
        let known: Vec<uuid::Uuid> = keys.iter().flatten().copied().collect();
        let parents = Parents {
            entity,
            keys: &known,
        };
        // Every item checked before anything is read. A navigation expanded twice is one
        // member: the last item's, where the first was (as an object whose member is set
        // twice reads).
        let mut steps: Vec<(&str, bool, Step<'_>)> = Vec::with_capacity(items.len());
        for item in items {
            let (name, reference) = split_ref(item);
            let (nav, target) = step_of(st, entity, name)?;
            if reference && nav.collection {
                return Err(DataverseError::expand_ref_on_collection());
            }
            // A lookup's expansion, and a collection's when collections are paged, take
            // no `$top` or `$orderby`.
            let limited = item.options.top.is_some() || !item.options.orderby.is_empty();
            if limited && (!nav.collection || mode.nested) {
                return Err(DataverseError::expand_options_limited());
            }
            let step = (name, reference, Step { item, nav, target });
            match steps.iter().position(|(seen, ..)| *seen == name) {
                Some(at) => steps[at] = step,
                None => steps.push(step),
            }
        }
        for (name, reference, step) in steps {
            let nav = step.nav;
            let member = json_text(name)?;
            if nav.collection {
                let (arrays, links) = expand_collection(st, parents, step, mode).await?;
                let link_member = json_text(&format!("{name}@odata.nextLink"))?;
                for (row, key) in rows.iter_mut().zip(keys) {
                    let array = key
                        .and_then(|k| arrays.get(&k))
                        .map_or("[]", String::as_str);
                    append_member(row, &member, array)?;
                    if let Some(link) = key.and_then(|k| links.get(&k)) {
                        append_member(row, &link_member, &json_text(link)?)?;
                    }
                }
            } else {
                let (targets, records) = expand_single(st, parents, step, reference, mode).await?;
                for (row, key) in rows.iter_mut().zip(keys) {
                    let record = key
                        .and_then(|k| targets.get(&k))
                        .and_then(|fk| records.get(fk))
                        .map_or("null", String::as_str);
                    append_member(row, &member, record)?;
                }
            }
        }
        Ok(())
    })
}

/// A string (a name, a link) as JSON text.
fn json_text(text: &str) -> Result<String, DataverseError> {
    serde_json::to_string(text).map_err(|_| DataverseError::internal())
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

/// The rows `spec` selects among those of `target` whose `column` is one of `ids`, as the store
/// wrote them, with their keys (and parents, when `spec` asks); more than [`MAX_READ`] in one
/// query is refused.
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
/// point at, sorted (`None` when there are none).
async fn lookup_targets(
    st: &AppState,
    Parents { entity, keys }: Parents<'_>,
    Step { nav, .. }: Step<'_>,
) -> Result<Option<LookupValues>, DataverseError> {
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

/// A lookup: each row's foreign key, and the text of each record they point at (its
/// reference with `/$ref`), expanded in turn.
async fn expand_single(
    st: &AppState,
    Parents { entity, keys }: Parents<'_>,
    step: Step<'_>,
    reference: bool,
    mode: Mode,
) -> Result<(HashMap<uuid::Uuid, uuid::Uuid>, HashMap<uuid::Uuid, String>), DataverseError> {
    let Step { item, target, .. } = step;
    let Some((pairs, wanted)) = lookup_targets(st, Parents { entity, keys }, step).await? else {
        return Ok(Default::default());
    };
    let targets = pairs
        .into_iter()
        .filter_map(|(row, fk)| Some((row, fk?)))
        .collect();
    let spec = target_spec(st, target, item, mode)?;
    let records = if reference {
        // Only ids the target table holds: a polymorphic lookup (`parentcustomerid_account`)
        // may point at another table's record.
        let spec = PageSpec {
            columns: vec![guid_column(&target.key)],
            ..spec
        };
        let found = read_by_ids(st, target, &target.key, &wanted, &spec).await?;
        let root = st.api_root();
        found
            .keys
            .into_iter()
            .flatten()
            .map(|fk| {
                let id = format!("{root}/{}({fk})", target.entity_set);
                Ok((fk, format!("{{\"@odata.id\":{}}}", json_text(&id)?)))
            })
            .collect::<Result<_, DataverseError>>()?
    } else {
        let spec = PageSpec {
            etag: false, // Learn's expanded lookups carry no etag of their own
            ..spec
        };
        let mut read = read_by_ids(st, target, &target.key, &wanted, &spec).await?;
        attach(
            st,
            target,
            &item.options.expand,
            &mut read.rows,
            &read.keys,
            mode,
        )
        .await?;
        read.keys
            .into_iter()
            .zip(read.rows)
            .filter_map(|(k, row)| Some((k?, row)))
            .collect()
    };
    Ok((targets, records))
}

/// A one-to-many relationship: the related rows of each parent, through their foreign key, as
/// the text of a JSON array, expanded in turn, and each parent's next link (see the module
/// docs for the two ways).
async fn expand_collection(
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
        // Learn's paged (nested) collections carry no etags on their rows.
        etag: !mode.nested,
        ..target_spec(st, target, item, mode)?
    };
    let read = read_by_ids(st, target, &nav.foreign_key, keys, &spec).await?;
    let limit = collection_limit(item, mode);
    // Each parent's rows up to the limit (the rest says there is more), in the query's order.
    let mut counts: HashMap<uuid::Uuid, usize> = HashMap::new();
    let mut more: HashMap<uuid::Uuid, bool> = HashMap::new();
    let (mut rows, mut row_keys, mut parents) = (Vec::new(), Vec::new(), Vec::new());
    for ((row, key), parent) in read.rows.into_iter().zip(read.keys).zip(read.parents) {
        let Some(parent) = parent else {
            continue;
        };
        let n = counts.entry(parent).or_default();
        *n += 1;
        if *n > limit {
            more.insert(parent, true);
            continue;
        }
        rows.push(row);
        row_keys.push(key);
        parents.push(parent);
    }
    attach(st, target, &item.options.expand, &mut rows, &row_keys, mode).await?;
    // Each parent's array, and its first and last rows' keys (a nested page's cookie).
    let mut arrays: HashMap<uuid::Uuid, (String, Option<uuid::Uuid>, Option<uuid::Uuid>)> =
        HashMap::new();
    for ((row, key), parent) in rows.iter().zip(row_keys).zip(parents) {
        let (array, _, last) = arrays
            .entry(parent)
            .or_insert_with(|| ("[".to_owned(), key, None));
        if array.len() > 1 {
            array.push(',');
        }
        array.push_str(row);
        *last = key;
    }
    let (name, _) = split_ref(item);
    let options = item.options.to_query_string();
    let mut links = HashMap::new();
    for parent in keys {
        let base = format!("{}/{}({parent})/{name}", st.api_root(), entity.entity_set);
        let link = if !mode.nested {
            Some(with_query(&base, &options, None))
        } else if more.contains_key(parent) {
            arrays
                .get(parent)
                .and_then(|(_, first, last)| Some(next_page_cookie(target, (*first)?, (*last)?)))
                .map(|cookie| with_query(&base, &options, Some(&cookie)))
        } else {
            None
        };
        if let Some(link) = link {
            links.insert(*parent, link);
        }
    }
    let arrays = arrays
        .into_iter()
        .map(|(parent, (mut array, _, _))| {
            array.push(']');
            (parent, array)
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

/// The paging cookie after a page of a nested collection whose first and last rows have the
/// keys `first` and `last`, ordered by the target's key (nested collections take no
/// `$orderby`), in the shape `entity_set::query` reads back on the navigation collection.
fn next_page_cookie(target: &EntityType, first: uuid::Uuid, last: uuid::Uuid) -> String {
    PagingCookie {
        page_number: 2,
        boundaries: vec![key_boundary(&target.key, &first, &last)],
    }
    .encode()
}
