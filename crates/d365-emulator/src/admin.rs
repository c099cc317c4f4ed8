//! The control API under `/_emulator/`, answered only to loopback callers (one middleware on
//! its router): counters, the request log, fault rules, service protection limits, reset and
//! snapshots of the data, session revocation, device-code approval, and the clock.

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

/// Whether a `Host` or `Origin` value names this machine (`localhost`, `127.0.0.1`, `[::1]`,
/// any port).
fn names_loopback(value: &str) -> bool {
    let authority = value.split("://").last().unwrap_or(value);
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Refuses every control request that does not come from loopback; and, so that a web page
/// open in the developer's browser cannot drive it, requests whose `Host` is not a loopback
/// name (DNS rebinding) or that carry a foreign `Origin` (cross-site requests).
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
    // Read before awaiting: the body is not Sync, so no borrow of the request may cross it.
    let (host, origin) = {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap_or("\u{0}").to_owned())
        };
        (header("host"), header("origin"))
    };
    if let Some(host) = host
        && !names_loopback(&host)
    {
        return error(
            StatusCode::FORBIDDEN,
            format!("the control API answers only to a loopback Host, not '{host}'"),
        );
    }
    if let Some(origin) = origin
        && !names_loopback(&origin)
    {
        return error(
            StatusCode::FORBIDDEN,
            "the control API does not answer cross-site requests".into(),
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

/// Query of the request log.
#[derive(Debug, Deserialize)]
pub(crate) struct LogQuery {
    limit: Option<usize>,
}

/// `GET /_emulator/requests?limit=N`: the last N requests (default 100), oldest first.
pub(crate) async fn requests(State(st): State<AppState>, Query(q): Query<LogQuery>) -> Response {
    axum::Json(json!({"requests": st.faults.log(q.limit.unwrap_or(100))})).into_response()
}

/// `DELETE /_emulator/requests`: forgets the log.
pub(crate) async fn clear_requests(State(st): State<AppState>) -> Response {
    st.faults.clear_log();
    StatusCode::NO_CONTENT.into_response()
}

fn fault_list(st: &AppState) -> Response {
    let rules: Vec<_> = st
        .faults
        .list()
        .into_iter()
        .map(|(id, rule)| json!({"id": id, "rule": rule}))
        .collect();
    axum::Json(json!({"faults": rules})).into_response()
}

/// `GET /_emulator/faults`: the rules in force, with the counts left.
pub(crate) async fn faults(State(st): State<AppState>) -> Response {
    fault_list(&st)
}

/// `POST /_emulator/faults` with a rule as JSON, e.g.
/// `{"kind":"error","status":503,"count":3,"method":"GET","path":"/api/data/v9.2/accounts*"}`.
pub(crate) async fn add_fault(State(st): State<AppState>, body: axum::body::Bytes) -> Response {
    let rule: crate::faults::FaultRule = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a fault rule: {e}")),
    };
    match st.faults.add(rule) {
        Ok(id) => (StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

/// `DELETE /_emulator/faults`: removes every rule.
pub(crate) async fn clear_faults(State(st): State<AppState>) -> Response {
    st.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /_emulator/limits`: the service protection limits (null when off).
pub(crate) async fn limits(State(st): State<AppState>) -> Response {
    axum::Json(json!({"limits": st.limiter.limits()})).into_response()
}

/// `PUT /_emulator/limits` with `{"limits": {...}}` (missing fields take the real values) or
/// `{"limits": null}` to switch them off. The windows start afresh.
pub(crate) async fn set_limits(State(st): State<AppState>, body: axum::body::Bytes) -> Response {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        limits: Option<crate::limits::ServiceLimits>,
    }
    match serde_json::from_slice::<Body>(&body) {
        Ok(b) => match b.limits.as_ref().map(crate::limits::ServiceLimits::check) {
            Some(Err(e)) => error(StatusCode::BAD_REQUEST, e),
            _ => {
                st.limiter.set(b.limits);
                axum::Json(json!({"limits": b.limits})).into_response()
            }
        },
        Err(e) => error(StatusCode::BAD_REQUEST, format!("not limits: {e}")),
    }
}

fn snapshot_error(e: crate::store::snapshot::SnapshotError) -> Response {
    use crate::store::snapshot::SnapshotError as E;
    match e {
        E::Missing(_) => error(StatusCode::NOT_FOUND, e.to_string()),
        E::BadName | E::Full => error(StatusCode::BAD_REQUEST, e.to_string()),
        E::Sql(_) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `POST /_emulator/reset`: every table back to the seeded data (the same rows and ids as at
/// start-up), and the service protection windows cleared.
pub(crate) async fn reset(State(st): State<AppState>) -> Response {
    let (model, config) = (st.model.model.clone(), st.registry.config().clone());
    let result = st
        .store
        .reseed(model, config.directory(), config.seed_accounts, config.seed)
        .await;
    st.limiter.set(st.limiter.limits());
    match result {
        Ok(accounts) => axum::Json(json!({"seeded_accounts": accounts})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `GET /_emulator/snapshots`: the names.
pub(crate) async fn snapshots(State(st): State<AppState>) -> Response {
    match st.store.snapshot_names().await {
        Ok(names) => axum::Json(json!({"snapshots": names})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `POST /_emulator/snapshots/{name}`: copies the data aside (replacing a snapshot of that
/// name).
pub(crate) async fn take_snapshot(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    let model = st.model.model.clone();
    let n = name.clone();
    match st.store.take_snapshot(model, n).await {
        Ok(()) => (StatusCode::CREATED, axum::Json(json!({"snapshot": name}))).into_response(),
        Err(e) => snapshot_error(e),
    }
}

/// `POST /_emulator/snapshots/{name}/restore`: the data as it was then.
pub(crate) async fn restore_snapshot(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    let model = st.model.model.clone();
    let n = name.clone();
    match st.store.restore_snapshot(model, n).await {
        Ok(()) => axum::Json(json!({"restored": name})).into_response(),
        Err(e) => snapshot_error(e),
    }
}

/// `DELETE /_emulator/snapshots/{name}`.
pub(crate) async fn delete_snapshot(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    match st.store.delete_snapshot(name).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => snapshot_error(e),
    }
}
