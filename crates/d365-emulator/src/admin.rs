//! The control API under `/_emulator/`, answered only to loopback callers (one middleware on
//! its router): counters, session revocation, device-code approval, and the clock.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::config::UserConfig;
use crate::state::AppState;

fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

/// Refuses every control request that does not come from loopback.
pub(crate) async fn loopback_only(
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if !addr.ip().is_loopback() {
        return error(
            StatusCode::FORBIDDEN,
            "the emulator's control API answers only on loopback".into(),
        );
    }
    next.run(request).await
}

/// The user's object id, or the 404 to answer.
fn user_oid(st: &AppState, upn: &str) -> Result<String, Box<Response>> {
    st.registry
        .config()
        .users
        .iter()
        .find(|u: &&UserConfig| u.upn.eq_ignore_ascii_case(upn))
        .map(|u| u.object_id.clone())
        .ok_or_else(|| Box::new(error(StatusCode::NOT_FOUND, format!("no user '{upn}'"))))
}

/// `GET /_emulator/stats`: request counters.
pub(crate) async fn stats(State(st): State<AppState>) -> Response {
    axum::Json(json!({"token_requests": st.token_requests(), "now": st.clock.now()}))
        .into_response()
}

/// `POST /_emulator/users/{upn}/revoke`: revokes the user's refresh tokens (as a password
/// reset or an admin's "revoke sessions" does).
pub(crate) async fn revoke(State(st): State<AppState>, Path(upn): Path<String>) -> Response {
    let oid = match user_oid(&st, &upn) {
        Ok(oid) => oid,
        Err(r) => return *r,
    };
    match st.store.revoke_user_refresh_tokens(oid).await {
        Ok(n) => axum::Json(json!({"revoked": n})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Query of the clock endpoint.
#[derive(Debug, Deserialize)]
pub(crate) struct Advance {
    seconds: i64,
}

/// `POST /_emulator/clock/advance?seconds=N`: moves the emulator's clock (token expiry).
pub(crate) async fn advance_clock(
    State(st): State<AppState>,
    Query(q): Query<Advance>,
) -> Response {
    st.clock.advance(q.seconds);
    axum::Json(json!({"now": st.clock.now()})).into_response()
}

/// Query of the device-code approval endpoint.
#[derive(Debug, Deserialize)]
pub(crate) struct Approve {
    upn: String,
}

/// `POST /_emulator/devicecode/{user_code}/approve?upn=…`: signs the user in on the device
/// page's behalf (for scripts and tests).
pub(crate) async fn approve_device_code(
    State(st): State<AppState>,
    Path(user_code): Path<String>,
    Query(q): Query<Approve>,
) -> Response {
    let oid = match user_oid(&st, &q.upn) {
        Ok(oid) => oid,
        Err(r) => return *r,
    };
    if crate::entra::device_code::approve(&st, &user_code, &oid) {
        axum::Json(json!({"approved": user_code})).into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            "no pending device code with that user code for that user's tenant".into(),
        )
    }
}

/// `POST /_emulator/devicecode/{user_code}/decline`
pub(crate) async fn decline_device_code(
    State(st): State<AppState>,
    Path(user_code): Path<String>,
) -> Response {
    if crate::entra::device_code::decline(&st, &user_code) {
        axum::Json(json!({"declined": user_code})).into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            "no pending device code with that user code".into(),
        )
    }
}
