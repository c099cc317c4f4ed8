//! What the read handlers (`entity_set`, `entity`, `changes`, `expand`, `fetch`, `apply`,
//! metadata) share to shape a response the way Dataverse does: the query options and `Prefer`
//! of the request, the `$select`ed columns, the annotations asked for, `$count`'s caps,
//! `@odata.context` URLs and `@odata.nextLink`s.
//!
//! It uses none of those handlers (they all use it), so they never import each other for it.

use axum::http::{HeaderMap, HeaderValue};
use d365_odata::bind::bind_select;
use d365_odata::model::{EdmType, EntityType, Property};
use d365_odata::{ExpandItem, Prefer, QueryOptions, SelectItem};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::DataverseError;
use crate::query::exec;
use crate::query::plan::Column;
use crate::state::AppState;

/// Dataverse's largest page.
pub(crate) use d365_odata::limits::MAX_PAGE_SIZE;

/// What a query value keeps unescaped in the links the emulator writes.
pub(crate) const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Error messages travel in JSON on one line; parse errors add a caret display after it.
pub(crate) fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_owned()
}

/// The system query options of a request; a syntax error is a 400 with its first line.
pub(crate) fn query_options(raw_query: &str) -> Result<QueryOptions, DataverseError> {
    QueryOptions::parse(raw_query)
        .map_err(|e| DataverseError::bad_query(first_line(&e.to_string())))
}

/// The request's `Prefer` preferences (every `Prefer` header).
pub(crate) fn prefer(headers: &HeaderMap) -> Prefer {
    Prefer::parse(
        headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

/// A collection request being answered: what its links are made of.
#[derive(Clone, Copy)]
pub(crate) struct Collection<'a> {
    pub(crate) st: &'a AppState,
    pub(crate) entity: &'a EntityType,
    /// The resource path after `{api}/` (`accounts`, `accounts(…)/contact_customer_accounts`).
    pub(crate) path: &'a str,
    /// The query as the client wrote it.
    pub(crate) raw_query: &'a str,
}

impl Collection<'_> {
    /// `{api}/{path}?{this query}&$skiptoken={cookie}`: the same query, at the page the
    /// cookie leads to.
    pub(crate) fn next_link(&self, cookie: &str) -> String {
        let rest = without_skiptoken(self.raw_query);
        let sep = if rest.is_empty() { "" } else { "&" };
        format!(
            "{}/{}?{rest}{sep}$skiptoken={}",
            self.st.api_root(),
            self.path,
            utf8_percent_encode(cookie, QUERY_VALUE)
        )
    }
}

/// The `$select` names, validated; `None` when all columns are wanted.
pub(crate) fn select_names(
    entity: &EntityType,
    options: &QueryOptions,
) -> Result<Option<Vec<String>>, DataverseError> {
    let Some(items) = &options.select else {
        return Ok(None);
    };
    let mut names = Vec::new();
    for item in items {
        match item {
            SelectItem::All => return Ok(None),
            SelectItem::Path(path) if path.len() == 1 => names.push(path[0].clone()),
            SelectItem::Path(path) => {
                return Err(DataverseError::unknown_property(
                    &path.join("/"),
                    &entity.name,
                ));
            }
        }
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    bind_select(entity, &refs).map_err(|e| DataverseError::bad_query(e.to_string()))?;
    Ok(Some(names))
}

/// A plain output column for `property`.
fn column(property: &Property) -> Column {
    Column {
        name: property.name.clone(),
        edm_type: property.edm_type,
        scale: property.scale,
        expr: None,
    }
}

/// A GUID output column (a key, a foreign key).
pub(crate) fn guid_column(name: &str) -> Column {
    Column {
        name: name.to_owned(),
        edm_type: EdmType::Guid,
        scale: None,
        expr: None,
    }
}

/// The output columns: the selected ones (or all), then the key if not among them.
pub(crate) fn output_columns(entity: &EntityType, names: Option<&[String]>) -> Vec<Column> {
    let mut columns: Vec<Column> = match names {
        Some(names) => names
            .iter()
            .filter_map(|n| entity.property(n))
            .map(column)
            .collect(),
        None => entity
            .properties
            .iter()
            .filter(|p| p.name != entity.key)
            .map(column)
            .collect(),
    };
    // Selecting a money column also returns the record's currency, as Dataverse does.
    let money = columns
        .iter()
        .any(|c| c.edm_type == EdmType::Decimal && c.scale == Some(4));
    if money
        && !columns
            .iter()
            .any(|c| c.name == "_transactioncurrencyid_value")
        && entity.property("_transactioncurrencyid_value").is_some()
    {
        columns.push(guid_column("_transactioncurrencyid_value"));
    }
    if !columns.iter().any(|c| c.name == entity.key) {
        columns.push(guid_column(&entity.key));
    }
    // A column selected twice (`$select=name,name`) is one member of the answer.
    let mut seen = std::collections::HashSet::new();
    columns.retain(|c| seen.insert(c.name.clone()));
    columns
}

/// The annotations a `Prefer: odata.include-annotations` asks for (`*`, lists, wildcards).
pub(crate) fn annotations_for(
    prefer: &Prefer,
    model: &d365_odata::model::Model,
    entity: &EntityType,
) -> Option<exec::Annotations> {
    annotations_of(annotations_requested(prefer), model, entity)
}

/// The annotations `(formatted, lookups)` asks for on `entity`'s rows, if any.
pub(crate) fn annotations_of(
    (formatted, lookups): (bool, bool),
    model: &d365_odata::model::Model,
    entity: &EntityType,
) -> Option<exec::Annotations> {
    (formatted || lookups).then(|| exec::Annotations::new(model, entity, formatted, lookups))
}

/// Whether `Prefer` asks for formatted values, and for the lookup annotations.
pub(crate) fn annotations_requested(prefer: &Prefer) -> (bool, bool) {
    let formatted = prefer.annotation_requested("OData.Community.Display.V1.FormattedValue");
    let lookups = prefer.annotation_requested("Microsoft.Dynamics.CRM.lookuplogicalname")
        || prefer.annotation_requested("Microsoft.Dynamics.CRM.associatednavigationproperty");
    (formatted, lookups)
}

/// `Preference-Applied` for what was honoured.
pub(crate) fn preference_applied(prefer: &Prefer, page_size: Option<usize>) -> Option<HeaderValue> {
    let mut applied = Vec::new();
    if let Some(n) = page_size {
        applied.push(format!("odata.maxpagesize={n}"));
    }
    if let Some(list) = &prefer.include_annotations {
        applied.push(format!("odata.include-annotations=\"{list}\""));
    }
    (!applied.is_empty())
        .then(|| HeaderValue::from_str(&applied.join(",")).ok())
        .flatten()
}

/// The page size `Prefer: odata.maxpagesize` asks for, when Dataverse honours it: a size
/// above 5,000 is ignored (the default page of 5,000 applies and `Preference-Applied` does
/// not mention it; <https://github.com/MicrosoftDocs/powerapps-docs/issues/1050>).
pub(crate) fn page_size(prefer: &Prefer) -> Option<usize> {
    prefer
        .max_page_size
        .map(|n| n as usize)
        .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
}

/// The most rows `$count` reports on `entity`: 5,000, or 500 on an elastic table
/// (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/count-rows>).
pub(crate) fn count_cap(st: &AppState, entity: &EntityType) -> i64 {
    if st.model.is_elastic(&entity.name) {
        500
    } else {
        exec::COUNT_CAP
    }
}

/// `,"@Microsoft.Dynamics.CRM.totalrecordcount":n,"@…totalrecordcountlimitexceeded":b` for
/// the annotations `odata.include-annotations` selects (`*`, `Microsoft.Dynamics.CRM.*`, the
/// names, less `-` exclusions): the count up to `cap` and whether more rows match, or `-1`
/// and `false` without `$count=true`
/// (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/count-rows>).
/// `count` is counted up to one past 5,000 ([`exec::count`]).
pub(crate) fn count_annotations(prefer: &Prefer, count: Option<i64>, cap: i64) -> String {
    let mut out = String::new();
    if prefer.annotation_requested("Microsoft.Dynamics.CRM.totalrecordcount") {
        let total = count.map_or(-1, |n| n.min(cap));
        out.push_str(&format!(
            ",\"@Microsoft.Dynamics.CRM.totalrecordcount\":{total}"
        ));
    }
    if prefer.annotation_requested("Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded") {
        let exceeded = count.is_some_and(|n| n > cap);
        out.push_str(&format!(
            ",\"@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded\":{exceeded}"
        ));
    }
    out
}

/// `{api}/$metadata#accounts(name,primarycontactid(fullname))` + `suffix` (e.g. `/$entity`).
pub(crate) fn context_url(
    st: &AppState,
    entity: &EntityType,
    names: Option<&[String]>,
    expand: &[ExpandItem],
    suffix: &str,
) -> String {
    let mut items: Vec<String> = names.map(<[String]>::to_vec).unwrap_or_default();
    items.extend(expand_context(expand));
    if items.is_empty() {
        format!("{}/$metadata#{}{suffix}", st.api_root(), entity.entity_set)
    } else {
        format!(
            "{}/$metadata#{}({}){suffix}",
            st.api_root(),
            entity.entity_set,
            items.join(",")
        )
    }
}

/// `{"@odata.context":"…"` : the start of a response body, to be continued and closed.
pub(crate) fn body_start(context: &str) -> String {
    format!(
        "{{\"@odata.context\":{}",
        serde_json::to_string(context).unwrap_or_default()
    )
}

/// The navigation property an expand item names, and whether it asks for references (`/$ref`).
pub(crate) fn split_ref(item: &ExpandItem) -> (&str, bool) {
    match item.path.strip_suffix("/$ref") {
        Some(nav) => (nav, true),
        None => (item.path.as_str(), false),
    }
}

/// The `@odata.context` fragment of the expands, nested ones inside:
/// `primarycontactid(fullname)`, `contact_customer_accounts(fullname,owninguser(fullname))`,
/// and `primarycontactid,primarycontactid/$ref()` for references, as Dataverse writes them.
pub(crate) fn expand_context(items: &[ExpandItem]) -> Vec<String> {
    items
        .iter()
        .map(|i| {
            let (nav, reference) = split_ref(i);
            if reference {
                return format!("{nav},{nav}/$ref()");
            }
            let mut inner: Vec<String> = i
                .options
                .select
                .iter()
                .flatten()
                .filter_map(|s| match s {
                    SelectItem::Path(p) => Some(p.join("/")),
                    SelectItem::All => None,
                })
                .collect();
            inner.extend(expand_context(&i.options.expand));
            format!("{}({})", i.path, inner.join(","))
        })
        .collect()
}

/// The raw query without `$skiptoken`, so a next link can carry a new one.
pub(crate) fn without_skiptoken(raw: &str) -> String {
    raw.split('&')
        .filter(|part| {
            let name = part.split('=').next().unwrap_or_default();
            let decoded = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
            !part.is_empty() && decoded != "$skiptoken"
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skiptoken_is_replaced_not_appended() {
        assert_eq!(
            without_skiptoken("$select=name&%24skiptoken=abc&$top=2"),
            "$select=name&$top=2"
        );
        assert_eq!(without_skiptoken(""), "");
    }

    #[test]
    fn errors_keep_their_first_line() {
        assert_eq!(first_line("bad token\n  ^ here"), "bad token");
        assert_eq!(first_line(""), "");
    }
}
