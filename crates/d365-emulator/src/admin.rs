//! The control API under `/_emulator/`, answered only to loopback callers: counters, session
//! revocation, and the clock.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::state::AppState;

fn forbidden_unless_loopback(addr: &SocketAddr) -> Option<Response> {
    (!addr.ip().is_loopback()).then(|| {
        (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"error": "the emulator's control API answers only on loopback"})),
        )
            .into_response()
    })
}

/// `GET /_emulator/stats`: request counters.
pub(crate) async fn stats(
    State(st): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Response {
    if let Some(r) = forbidden_unless_loopback(&addr) {
        return r;
    }
    axum::Json(json!({"token_requests": st.token_requests(), "now": st.clock.now()}))
        .into_response()
}

/// `POST /_emulator/users/{upn}/revoke`: revokes the user's refresh tokens (as a password
/// reset or an admin's "revoke sessions" does).
pub(crate) async fn revoke(
    State(st): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(upn): Path<String>,
) -> Response {
    if let Some(r) = forbidden_unless_loopback(&addr) {
        return r;
    }
    let Some(user) = st
        .registry
        .config()
        .users
        .iter()
        .find(|u| u.upn.eq_ignore_ascii_case(&upn))
    else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": format!("no user '{upn}'")})),
        )
            .into_response();
    };
    match st
        .store
        .revoke_user_refresh_tokens(user.object_id.clone())
        .await
    {
        Ok(n) => axum::Json(json!({"revoked": n})).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": e.to_string()})),
        )
            .into_response(),
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
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Query(q): Query<Advance>,
) -> Response {
    if let Some(r) = forbidden_unless_loopback(&addr) {
        return r;
    }
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
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(user_code): Path<String>,
    Query(q): Query<Approve>,
) -> Response {
    if let Some(r) = forbidden_unless_loopback(&addr) {
        return r;
    }
    let Some(user) = st
        .registry
        .config()
        .users
        .iter()
        .find(|u| u.upn.eq_ignore_ascii_case(&q.upn))
    else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": format!("no user '{}'", q.upn)})),
        )
            .into_response();
    };
    if crate::entra::device_code::approve(&st, &user_code, &user.object_id.clone()) {
        axum::Json(json!({"approved": user_code})).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no pending device code with that user code"})),
        )
            .into_response()
    }
}

/// `POST /_emulator/devicecode/{user_code}/decline`
pub(crate) async fn decline_device_code(
    State(st): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(user_code): Path<String>,
) -> Response {
    if let Some(r) = forbidden_unless_loopback(&addr) {
        return r;
    }
    if crate::entra::device_code::decline(&st, &user_code) {
        axum::Json(json!({"declined": user_code})).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no pending device code with that user code"})),
        )
            .into_response()
    }
}
