//! A single record: `GET {api}/{set}({id})`.

use axum::response::Response;
use d365_odata::QueryOptions;
use d365_odata::model::EntityType;

use super::entity_set::{output_columns, select_names};
use super::first_line;
use super::headers::json_response;
use crate::error::DataverseError;
use crate::query::exec;
use crate::state::AppState;

/// Retrieves one record with optional `$select`.
pub(crate) async fn retrieve(
    st: &AppState,
    entity: &EntityType,
    id: uuid::Uuid,
    raw_query: &str,
    headers: &axum::http::HeaderMap,
) -> Result<Response, DataverseError> {
    let options = QueryOptions::parse(raw_query)
        .map_err(|e| DataverseError::bad_query(first_line(&e.to_string())))?;
    let names = select_names(entity, &options)?;
    let prefer = d365_odata::Prefer::parse(
        headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let annotations = super::entity_set::annotations_for(&prefer, &st.model.model, entity);
    let columns = output_columns(entity, names.as_deref());
    let owned = entity.clone();
    let cols = columns.clone();
    let row = st
        .store
        .read(move |c| exec::retrieve(c, &owned, &id, &cols, annotations))
        .await
        .map_err(|e| DataverseError::store(&e, "retrieve"))?
        .ok_or_else(|| DataverseError::record_not_found(&entity.name, &id))?;
    let context =
        super::entity_set::context_url(st, entity, names.as_deref(), &options.expand, "/$entity");
    let row = super::expand::expand(st, entity, &options.expand, vec![row])
        .await?
        .remove(0);
    // Splice the context in front of the row's own properties.
    let body = format!(
        "{{\"@odata.context\":{},{}",
        serde_json::to_string(&context).unwrap_or_default(),
        &row[1..]
    );
    Ok(json_response(body))
}
