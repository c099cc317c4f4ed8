//! The emulator's own middleware, around every route: fault injection with the request log
//! ([`crate::faults`]) and the `Host` check of loopback binds ([`crate::exposure`]). The rules
//! and the allow-list are data in [`AppState`]; serving them is here, so that the state does
//! not depend on the modules that read it.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::DataverseError;
use crate::faults::{FaultKind, FaultRule, LoggedRequest, log_path};
use crate::state::AppState;

fn answer(rule: &FaultRule) -> Response {
    match rule.kind {
        // Dataverse's default limits (6,000 requests in 300 seconds), as the message says.
        FaultKind::Throttle => {
            DataverseError::too_many_requests(6000, 300, rule.retry_after.unwrap_or(2))
                .into_response()
        }
        FaultKind::Error => {
            let status = rule
                .status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut e = DataverseError::with_status(
                status,
                "",
                format!(
                    "{} (injected by the emulator).",
                    status.canonical_reason().unwrap_or("Error")
                ),
            );
            e.retry_after = rule.retry_after;
            e.into_response()
        }
        FaultKind::ExpiredCookie => DataverseError::paging_cookie_expired().into_response(),
        FaultKind::Drop | FaultKind::DropAfter => {
            // Headers go out, then the body fails: hyper closes the connection mid-answer.
            let body = futures_util::stream::once(async {
                Err::<axum::body::Bytes, _>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "connection dropped by fault injection",
                ))
            });
            let mut response = Response::new(Body::from_stream(body));
            *response.status_mut() = StatusCode::OK;
            response
        }
        // Delays are served by the middleware, never answered here.
        FaultKind::Delay => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A delay to serve inside the Web API's admitted section, so that it counts as execution
/// time and holds a concurrency slot, as a slow request would.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InjectedDelay(pub(crate) u64);

/// The middleware: injects faults and logs every request outside the control API.
pub(crate) async fn inject(State(st): State<AppState>, request: Request, next: Next) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    if path.starts_with("/_emulator/") {
        return next.run(request).await;
    }
    let method = request.method().as_str().to_owned();
    let (at_ms, started) = (st.clock.now_millis(), Instant::now());
    let fault = st.faults.take(&method, &path);
    let mut request = request;
    let response = match &fault {
        None => next.run(request).await,
        Some(rule) if rule.kind == FaultKind::Delay => {
            let ms = rule.delay_ms.unwrap_or(0);
            if path.starts_with("/api/data/") {
                request.extensions_mut().insert(InjectedDelay(ms));
            } else {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            next.run(request).await
        }
        Some(rule) if rule.kind == FaultKind::DropAfter => {
            let served = next.run(request).await;
            let mut dropped = answer(rule);
            *dropped.status_mut() = served.status();
            dropped
        }
        Some(rule) => {
            let mut response = answer(rule);
            // Injected answers stand for the service's, which always carry a request id.
            let id = uuid::Uuid::new_v4().to_string();
            if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
                response
                    .headers_mut()
                    .insert("x-ms-service-request-id", v.clone());
                response.headers_mut().insert("req_id", v);
            }
            response
        }
    };
    st.faults.record(LoggedRequest {
        at_ms,
        // Extension methods are tokens of any length.
        method: method.chars().take(32).collect(),
        path: log_path(path),
        status: response.status().as_u16(),
        elapsed_ms: started.elapsed().as_millis() as u64,
        fault: fault.map(|f| f.kind),
    });
    response
}

/// The middleware: with an allow-list (loopback binds), refuses requests whose `Host` (or,
/// over HTTP/2, `:authority`) names another host. A request with neither is let through: it
/// cannot come from a browser.
pub(crate) async fn check_host(
    State(st): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(allowed) = &st.allowed_hosts {
        let host = match request.headers().get(axum::http::header::HOST) {
            Some(v) => Some(v.to_str().unwrap_or("\u{0}").to_owned()),
            None => request.uri().authority().map(|a| a.as_str().to_owned()),
        };
        if let Some(host) = host
            && !allowed.allows(&host)
        {
            return refused(&host);
        }
    }
    next.run(request).await
}

fn refused(host: &str) -> Response {
    let message = format!(
        "The emulator answers on loopback only to its own host names, not '{}' (DNS rebinding protection). Use localhost, 127.0.0.1 or [::1], or set environment.url to the name you map to 127.0.0.1.",
        host.escape_default()
    );
    (
        StatusCode::FORBIDDEN,
        axum::Json(serde_json::json!({"error": "invalid_request", "error_description": message})),
    )
        .into_response()
}
