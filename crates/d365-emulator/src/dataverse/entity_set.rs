//! Collections: `GET {api}/{set}?$select&$filter&$orderby&$top&$count` with
//! `Prefer: odata.maxpagesize` paging through `@odata.nextLink` (change tracking: `changes.rs`).

use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use d365_odata::QueryOptions;
use d365_odata::bind::bind_orderby;
use d365_odata::model::EntityType;

use super::headers::json_response;
pub(crate) use super::response::MAX_PAGE_SIZE;
use super::response::{
    Collection, annotations_for, body_start, context_url, count_annotations, count_cap,
    output_columns, page_size, prefer, preference_applied, query_options, select_names,
};
use crate::error::DataverseError;
use crate::query::exec::PageSpec;
use crate::query::paging::PagingCookie;
use crate::query::plan::{SqlFilter, order_columns};
use crate::state::AppState;

/// The `$filter` of `options` as SQL, within `scope` (a navigation collection's related rows).
fn scoped_filter(
    st: &AppState,
    entity: &EntityType,
    options: &QueryOptions,
    scope: Option<SqlFilter>,
) -> Result<Option<SqlFilter>, DataverseError> {
    let filter = options
        .filter
        .as_ref()
        .map(|f| super::filter::filter_sql(st, entity, f, &options.aliases))
        .transpose()?;
    Ok(SqlFilter::all(scope.into_iter().chain(filter).collect()))
}

/// `GET {set}/$count[?$filter=…]`: the number of rows as plain text (capped at 5,000).
pub(crate) async fn count(
    st: &AppState,
    entity: &EntityType,
    raw_query: &str,
    scope: Option<SqlFilter>,
) -> Result<Response, DataverseError> {
    let options = query_options(raw_query)?;
    let filter = scoped_filter(st, entity, &options, scope)?;
    let n = st
        .store
        .count(&st.model.model.shared(entity), filter)
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
    let options = query_options(raw_query)?;
    let collection = Collection {
        st,
        entity,
        path,
        raw_query,
    };
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
        // Boxed: its future stays out of this one, which every collection request carries.
        return Box::pin(super::changes::query(collection, headers, &options)).await;
    }
    let names = select_names(entity, &options)?;
    let columns = output_columns(entity, names.as_deref());
    let filter = scoped_filter(st, entity, &options, scope)?;
    let order = order_columns(
        &st.model.model,
        entity,
        &bind_orderby(entity, &options.orderby)
            .map_err(|e| DataverseError::bad_query(e.to_string()))?,
    );

    let prefer = prefer(headers);
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
        omit_nulls: false,
        etag: true,
        parent: None,
    };
    let page = st
        .store
        .query_page(&st.model.model.shared(entity), spec)
        .await
        .map_err(|e| DataverseError::store(e, "query"))?;

    let context = context_url(st, entity, names.as_deref(), &options.expand, "");
    let rows = super::expand::expand(
        st,
        entity,
        &options.expand,
        page.rows,
        &page.keys,
        applied,
        &prefer,
    )
    .await?;
    let mut body = body_start(&context);
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
        let link = collection.next_link(&cookie.encode());
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
