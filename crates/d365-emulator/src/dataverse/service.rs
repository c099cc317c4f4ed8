//! The service document and the `WhoAmI` function.

use axum::response::Response;
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
