//! The service document and the `WhoAmI` function.

use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::headers::json_response;
use crate::entra::validate::Principal;
use crate::state::AppState;

/// `GET {api}/`: the entity sets.
pub(crate) fn service_document(st: &AppState) -> Response {
    let sets: Vec<_> = st
        .model
        .model
        .entity_types()
        .iter()
        .map(|e| json!({"name": e.entity_set, "kind": "EntitySet", "url": e.entity_set}))
        .collect();
    json_response(
        json!({"@odata.context": format!("{}/$metadata", st.api_root()), "value": sets})
            .to_string(),
    )
}

/// `GET {api}/$metadata`: the CSDL of the emulated tables, with their Active alternate keys,
/// and the functions and actions served, written by `d365-odata` (the same code that reads a real org's `$metadata`), as XML.
pub(crate) fn metadata(st: &AppState) -> Response {
    let csdl = st.keys.csdl(&st.model.model, |model| {
        d365_odata::csdl::write_csdl_with(model, &super::metadata::services(model))
    });
    let mut response = csdl.into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/xml"),
    );
    response
}

/// The Dataverse version the emulator answers as.
pub(crate) const VERSION: &str = "9.2.25101.165";

/// `GET {api}/RetrieveVersion` (also `RetrieveVersion()`).
pub(crate) fn retrieve_version(st: &AppState) -> Response {
    json_response(
        json!({
            "@odata.context": format!("{}/$metadata#Microsoft.Dynamics.CRM.RetrieveVersionResponse", st.api_root()),
            "Version": VERSION,
        })
        .to_string(),
    )
}

/// `GET {api}/WhoAmI` (also `WhoAmI()`).
pub(crate) fn who_am_i(st: &AppState, principal: &Principal) -> Response {
    let env = &st.registry.config().environment;
    json_response(
        json!({
            "@odata.context": format!("{}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", st.api_root()),
            "BusinessUnitId": env.business_unit_id,
            "UserId": principal.systemuser_id,
            "OrganizationId": env.organization_id,
        })
        .to_string(),
    )
}
