//! Collections: `GET {api}/{set}?$select&$filter&$orderby&$top&$count` with
//! `Prefer: odata.maxpagesize` paging through `@odata.nextLink` (change tracking: `changes.rs`).

use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use d365_odata::bind::{bind_orderby, bind_select};
use d365_odata::model::{EdmType, EntityType};
use d365_odata::{Prefer, QueryOptions, SelectItem};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::first_line;
use super::headers::json_response;
use crate::error::DataverseError;
use crate::query::exec::{self, PageSpec};
use crate::query::paging::PagingCookie;
use crate::query::plan::{Column, SqlFilter, order_columns};
use crate::state::AppState;

pub(crate) use d365_odata::limits::MAX_PAGE_SIZE;

pub(crate) const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

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

/// The output columns: the selected ones (or all), then the key if not among them.
pub(crate) fn output_columns(entity: &EntityType, names: Option<&[String]>) -> Vec<Column> {
    let mut columns: Vec<Column> = match names {
        Some(names) => names
            .iter()
            .filter_map(|n| entity.property(n))
            .map(|p| Column {
                name: p.name.clone(),
                edm_type: p.edm_type,
                scale: p.scale,
                expr: None,
            })
            .collect(),
        None => entity
            .properties
            .iter()
            .filter(|p| p.name != entity.key)
            .map(|p| Column {
                name: p.name.clone(),
                edm_type: p.edm_type,
                scale: p.scale,
                expr: None,
            })
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
        columns.push(Column {
            name: "_transactioncurrencyid_value".into(),
            edm_type: EdmType::Guid,
            scale: None,
            expr: None,
        });
    }
    if !columns.iter().any(|c| c.name == entity.key) {
        columns.push(Column {
            name: entity.key.clone(),
            edm_type: EdmType::Guid,
            scale: None,
            expr: None,
        });
    }
    columns
}

/// The annotations a `Prefer: odata.include-annotations` asks for (`*`, lists, wildcards).
pub(crate) fn annotations_for(
    prefer: &Prefer,
    model: &d365_odata::model::Model,
    entity: &EntityType,
) -> Option<exec::Annotations> {
    let (formatted, lookups) = annotations_requested(prefer);
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
    expand: &[d365_odata::ExpandItem],
    suffix: &str,
) -> String {
    let mut items: Vec<String> = names.map(<[String]>::to_vec).unwrap_or_default();
    items.extend(super::expand::context_part(expand));
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

/// `GET {set}/$count[?$filter=…]`: the number of rows as plain text (capped at 5,000).
pub(crate) async fn count(
    st: &AppState,
    entity: &EntityType,
    raw_query: &str,
    scope: Option<SqlFilter>,
) -> Result<Response, DataverseError> {
    let options = QueryOptions::parse(raw_query)
        .map_err(|e| DataverseError::bad_query(first_line(&e.to_string())))?;
    let filter = options
        .filter
        .as_ref()
        .map(|f| super::filter::filter_sql(st, entity, f, &options.aliases))
        .transpose()?;
    let filter = SqlFilter::all(scope.into_iter().chain(filter).collect());
    let owned = entity.clone();
    let n = st
        .store
        .read(move |c| exec::count(c, &owned, filter.as_ref()))
        .await
        .map_err(|e| DataverseError::store(e, "count"))?;
    let mut response = n.min(count_cap(st, entity)).to_string().into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    Ok(response)
}

/// Runs a collection query.
pub(crate) async fn query(
    st: &AppState,
    entity: &EntityType,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    scope: Option<SqlFilter>,
) -> Result<Response, DataverseError> {
    let options = QueryOptions::parse(raw_query)
        .map_err(|e| DataverseError::bad_query(first_line(&e.to_string())))?;
    if options.skip.is_some() {
        return Err(DataverseError::skip_not_supported());
    }
    if options.apply.is_some() {
        return Err(DataverseError::bad_query(
            "$apply is not supported on a navigation collection by the emulator yet.",
        ));
    }
    if super::changes::requested(headers, &options) {
        if scope.is_some() {
            return Err(DataverseError::bad_query(
                "Change tracking on a navigation collection is not supported by the emulator.",
            ));
        }
        return super::changes::query(st, entity, path, raw_query, headers, &options).await;
    }
    let names = select_names(entity, &options)?;
    let columns = output_columns(entity, names.as_deref());
    let filter = options
        .filter
        .as_ref()
        .map(|f| super::filter::filter_sql(st, entity, f, &options.aliases))
        .transpose()?;
    // A navigation collection: only the related rows.
    let filter = SqlFilter::all(scope.into_iter().chain(filter).collect());
    let order = order_columns(
        &st.model.model,
        entity,
        &bind_orderby(entity, &options.orderby)
            .map_err(|e| DataverseError::bad_query(e.to_string()))?,
    );

    let prefer = Prefer::parse(
        headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    // `$top` is ignored when the client pages with odata.maxpagesize.
    let (limit, pages, applied) = match (page_size(&prefer), options.top) {
        (Some(n), _) => (n, true, Some(n)),
        // A paging cookie means the client is paging, even if it dropped the Prefer header:
        // keep handing out next links rather than stopping silently.
        (None, Some(top)) => (
            (top as usize).min(MAX_PAGE_SIZE),
            options.skiptoken.is_some(),
            None,
        ),
        (None, None) => (MAX_PAGE_SIZE, true, None),
    };
    let (after, page_number) = match &options.skiptoken {
        Some(token) => {
            let cookie =
                PagingCookie::decode(token).ok_or_else(DataverseError::invalid_paging_cookie)?;
            let fits = cookie.boundaries.len() == order.len()
                && cookie
                    .boundaries
                    .iter()
                    .zip(&order)
                    .all(|(b, (c, _))| b.column == c.name);
            if !fits {
                return Err(DataverseError::invalid_paging_cookie());
            }
            let page = cookie
                .page_number
                .checked_add(1)
                .ok_or_else(DataverseError::invalid_paging_cookie)?;
            (Some(cookie.boundaries), page - 1)
        }
        None => (None, 1),
    };
    let spec = PageSpec {
        columns,
        filter,
        order,
        after,
        limit,
        offset: 0,
        count: options.count == Some(true),
        annotations: annotations_for(&prefer, &st.model.model, entity),
    };
    let owned = entity.clone();
    let page = st
        .store
        .read(move |c| exec::query_page(c, &owned, &spec))
        .await
        .map_err(|e| DataverseError::store(e, "query"))?;

    let context = context_url(st, entity, names.as_deref(), &options.expand, "");
    let rows =
        super::expand::expand(st, entity, &options.expand, page.rows, applied, &prefer).await?;
    let mut body = format!(
        "{{\"@odata.context\":{}",
        serde_json::to_string(&context).unwrap_or_default()
    );
    let cap = count_cap(st, entity);
    if let Some(count) = page.count {
        body.push_str(&format!(",\"@odata.count\":{}", count.min(cap)));
    }
    body.push_str(&count_annotations(&prefer, page.count, cap));
    body.push_str(",\"value\":[");
    body.push_str(&rows.join(","));
    body.push(']');
    if pages && page.more {
        let cookie = PagingCookie {
            page_number: page_number.saturating_add(1),
            boundaries: page.boundaries,
        };
        let rest = without_skiptoken(raw_query);
        let sep = if rest.is_empty() { "" } else { "&" };
        let link = format!(
            "{}/{path}?{rest}{sep}$skiptoken={}",
            st.api_root(),
            utf8_percent_encode(&cookie.encode(), QUERY_VALUE)
        );
        body.push_str(&format!(
            ",\"@odata.nextLink\":{}",
            serde_json::to_string(&link).unwrap_or_default()
        ));
    }
    body.push('}');
    let mut response = json_response(body);
    if let Some(v) = preference_applied(&prefer, applied) {
        response.headers_mut().insert("preference-applied", v);
    }
    Ok(response)
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
}
