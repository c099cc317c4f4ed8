//! A single record: `GET {api}/{set}({id})`, conditional with `If-None-Match`.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use d365_odata::model::EntityType;

use super::headers::json_response;
use super::response::{
    annotations_for, context_url, output_columns, page_size, prefer, preference_applied,
    query_options, select_names,
};
use crate::error::DataverseError;
use crate::state::AppState;

/// Retrieves one record with optional `$select`.
pub(crate) async fn retrieve(
    st: &AppState,
    entity: &EntityType,
    id: uuid::Uuid,
    raw_query: &str,
    headers: &HeaderMap,
) -> Result<Response, DataverseError> {
    let options = query_options(raw_query)?;
    let names = select_names(entity, &options)?;
    let prefer = prefer(headers);
    let annotations = annotations_for(&prefer, &st.model.model, entity);
    let columns = output_columns(entity, names.as_deref());
    let row = st
        .store
        .retrieve(&st.model.model.shared(entity), id, columns, annotations)
        .await
        .map_err(|e| DataverseError::store(e, "retrieve"))?
        .ok_or_else(|| DataverseError::record_not_found(&entity.name, &id))?;
    let context = context_url(st, entity, names.as_deref(), &options.expand, "/$entity");
    // Related rows and annotations may change without the record's version changing, so
    // Dataverse never answers 304 for these.
    let conditional = options.expand.is_empty() && prefer.include_annotations.is_none();
    if conditional && unchanged(headers, &row) {
        return Ok(not_modified());
    }
    let page_size = page_size(&prefer);
    let keys = [Some(id)];
    let row = super::expand::expand(
        st,
        entity,
        &options.expand,
        vec![row],
        &keys,
        page_size,
        &prefer,
    )
    .await?
    .remove(0);
    // Splice the context in front of the row's own properties.
    let body = format!(
        "{{\"@odata.context\":{},{}",
        serde_json::to_string(&context).unwrap_or_default(),
        &row[1..]
    );
    let mut response = json_response(body);
    if let Some(v) = preference_applied(&prefer, None) {
        response.headers_mut().insert("preference-applied", v);
    }
    Ok(response)
}

/// Whether `If-None-Match` names the row's current `@odata.etag` (weak comparison, RFC 9110
/// §13.1.2: `W/"5"` and `"5"` match). `*` and the literal `null` that Learn recommends to
/// defeat caches match nothing. A table without a row version (optimistic concurrency off)
/// writes no etag, so it never matches.
fn unchanged(headers: &HeaderMap, row: &str) -> bool {
    // Most reads are unconditional: the row is parsed only for those that are not.
    if !headers.contains_key(header::IF_NONE_MATCH) {
        return false;
    }
    let Some(etag) = serde_json::from_str::<serde_json::Value>(row)
        .ok()
        .and_then(|r| r.get("@odata.etag")?.as_str().map(str::to_owned))
    else {
        return false;
    };
    let opaque = |tag: &str| {
        let tag = tag.trim();
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        tag.strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .map(str::to_owned)
    };
    let current = opaque(&etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| current.is_some() && opaque(tag) == current)
}

/// `304 Not Modified`: no body, the JSON content type, as Learn's example shows
/// (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api#conditional-retrievals>).
fn not_modified() -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; odata.metadata=minimal"),
    );
    response
}
