//! User realm discovery, `GET /common/userrealm/{user}?api-version=1.0`: MSAL Python's
//! password grant asks it first (on port 443 of the authority host) and proceeds with ROPC
//! when the account is `Managed`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// Answers `Managed` for accounts in a known tenant domain, `Unknown` otherwise.
pub(crate) async fn userrealm(State(st): State<AppState>, Path(user): Path<String>) -> Response {
    let domain = user
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    let known = st
        .registry
        .config()
        .tenants
        .iter()
        .any(|t| t.domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)));
    axum::Json(json!({
        "ver": "1.0",
        "account_type": if known { "Managed" } else { "Unknown" },
        "domain_name": domain,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    }))
    .into_response()
}
