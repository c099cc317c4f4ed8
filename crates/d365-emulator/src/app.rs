//! The one place routes are listed.

use axum::Router;
use axum::routing::{any, get, post};

use crate::entra::endpoint::{V1, V2};
use crate::state::AppState;
use crate::{admin, dataverse, entra};

/// The whole emulator as a router: Entra ID endpoints, the Web API, and the control API.
pub fn router(state: AppState) -> Router {
    let entra = Router::new()
        .route(
            "/{tenant}/oauth2/token",
            post(entra::token::token::<V1>).get(entra::token::token_get),
        )
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(entra::token::token::<V2>).get(entra::token::token_get),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(entra::discovery::openid_v1),
        )
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(entra::discovery::openid_v2),
        )
        .route("/{tenant}/discovery/keys", get(entra::discovery::jwks_v1))
        .route(
            "/{tenant}/discovery/v2.0/keys",
            get(entra::discovery::jwks_v2),
        )
        .route(
            "/{tenant}/oauth2/devicecode",
            post(entra::device_code::start::<V1>),
        )
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            post(entra::device_code::start::<V2>),
        )
        .route(
            "/{tenant}/oauth2/authorize",
            get(entra::authorize::get::<V1>).post(entra::authorize::post::<V1>),
        )
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(entra::authorize::get::<V2>).post(entra::authorize::post::<V2>),
        )
        .route(
            "/devicelogin",
            get(entra::device_code::page_get).post(entra::device_code::page_post),
        )
        .route("/common/userrealm/{user}", get(entra::userrealm::userrealm));
    let webapi = Router::new()
        .route("/api/data/{*rest}", any(dataverse::dispatch))
        .layer(axum::middleware::from_fn(dataverse::headers::odata_headers))
        .route(
            "/XRMServices/2011/Organization.svc/web",
            any(dataverse::organization_service),
        );
    let control = Router::new()
        .route("/_emulator/stats", get(admin::stats))
        .route("/_emulator/users/{upn}/revoke", post(admin::revoke))
        .route("/_emulator/clock/advance", post(admin::advance_clock))
        .route(
            "/_emulator/devicecode/{user_code}/approve",
            post(admin::approve_device_code),
        )
        .route(
            "/_emulator/devicecode/{user_code}/decline",
            post(admin::decline_device_code),
        )
        .route(
            "/_emulator/requests",
            get(admin::requests).delete(admin::clear_requests),
        )
        .route(
            "/_emulator/faults",
            get(admin::faults)
                .post(admin::add_fault)
                .delete(admin::clear_faults),
        )
        .route(
            "/_emulator/limits",
            get(admin::limits).put(admin::set_limits),
        )
        .route("/_emulator/reset", post(admin::reset))
        .route("/_emulator/snapshots", get(admin::snapshots))
        .route(
            "/_emulator/snapshots/{name}",
            post(admin::take_snapshot).delete(admin::delete_snapshot),
        )
        .route(
            "/_emulator/snapshots/{name}/restore",
            post(admin::restore_snapshot),
        )
        .route_layer(axum::middleware::from_fn(admin::loopback_only));
    entra
        .merge(webapi)
        .merge(control)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::middleware::inject,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::middleware::check_host,
        ))
        .layer(axum::middleware::from_fn(
            crate::unread_body::close_if_unread,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .with_state(state)
}

/// Every answer is JSON, unknown routes included (msal-node parses every body as JSON).
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        return crate::error::DataverseError::no_resource(&uri.to_string()).into_response();
    }
    let body = serde_json::json!({
        "error": "invalid_request",
        "error_description": format!("AADSTS900561: The endpoint '{}' does not exist.", uri.path()),
        "error_codes": [900561],
    });
    (axum::http::StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}
