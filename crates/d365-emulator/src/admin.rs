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
