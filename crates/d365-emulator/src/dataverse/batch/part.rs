//! Running one part of a batch: resolving its URL (absolute, server-relative, relative to the
//! service root, or a `$n` Content-ID reference), replacing `$n` in `@odata.bind` and
//! `@odata.id` values, and sending it through the Web API dispatcher as an inner request.

use std::collections::HashMap;

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;

use super::{Budget, MAX_URL_IN_BATCH, Operation, Outcome};
use crate::entra::validate::Principal;
use crate::error::DataverseError;
use crate::state::AppState;

/// The response of one inner request, read in full.
#[derive(Debug)]
pub(crate) struct PartResponse {
    /// The request's `Content-ID`, echoed.
    pub(crate) content_id: Option<String>,
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: axum::body::Bytes,
}

impl PartResponse {
    fn from_error(content_id: Option<String>, e: DataverseError) -> Self {
        let response = e.into_response();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        // The body of an error response is built in memory; reading it cannot fail.
        let body = futures_util::FutureExt::now_or_never(axum::body::to_bytes(
            response.into_body(),
            usize::MAX,
        ))
        .and_then(Result::ok)
        .unwrap_or_default();
        Self {
            content_id,
            status,
            headers,
            body,
        }
    }

    /// The URL a later `$n` stands for: the created or addressed record.
    fn entity_url(&self) -> Option<String> {
        self.headers
            .get("odata-entityid")
            .or_else(|| self.headers.get("location"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// Runs a change set as one transaction: all parts commit, or none (the first failure rolls
/// the others back and stands for the whole change set).
pub(super) async fn run_change_set(
    st: &AppState,
    principal: &Principal,
    version: &str,
    ops: Vec<Operation>,
    budget: &Budget,
) -> Outcome {
    let result = st
        .store
        .atomic(async {
            let mut refs = HashMap::new();
            let mut done = Vec::with_capacity(ops.len());
            for op in &ops {
                let response = run(st, principal, version, op, &refs, budget).await;
                if response.status >= 400 {
                    return Err(response);
                }
                if let (Some(id), Some(url)) = (&op.content_id, response.entity_url()) {
                    refs.insert(id.clone(), url);
                }
                done.push(response);
            }
            Ok(done)
        })
        .await;
    match result {
        Ok(responses) => Outcome::ChangeSet(responses),
        Err(failure) => Outcome::Single(failure),
    }
}

/// Runs one operation; `refs` maps the change set's earlier Content-IDs to entity URLs.
pub(super) async fn run(
    st: &AppState,
    principal: &Principal,
    version: &str,
    op: &Operation,
    refs: &HashMap<String, String>,
    budget: &Budget,
) -> PartResponse {
    if let Err(e) = budget.check(st) {
        return PartResponse::from_error(op.content_id.clone(), e);
    }
    match prepare(version, op, refs) {
        Ok(request) => {
            let response = super::super::handle(st, principal, request)
                .await
                .unwrap_or_else(IntoResponse::into_response);
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            // Read no further than the answer's budget; a part past it fails as a whole.
            match axum::body::to_bytes(response.into_body(), budget.answer_left()).await {
                Ok(body) => {
                    budget.spend(body.len());
                    PartResponse {
                        content_id: op.content_id.clone(),
                        status,
                        headers,
                        body,
                    }
                }
                Err(_) => PartResponse::from_error(op.content_id.clone(), budget.overflowed()),
            }
        }
        Err(e) => PartResponse::from_error(op.content_id.clone(), e),
    }
}

/// The inner request of an operation.
fn prepare(
    version: &str,
    op: &Operation,
    refs: &HashMap<String, String>,
) -> Result<axum::extract::Request, DataverseError> {
    let method = Method::from_bytes(op.method.as_bytes()).map_err(|_| {
        DataverseError::batch_format(format!("'{}' is not an HTTP method.", op.method))
    })?;
    let target = resolve_target(version, &op.target, refs)?;
    if target.len() > MAX_URL_IN_BATCH {
        return Err(DataverseError::uri_too_long(target.len(), MAX_URL_IN_BATCH));
    }
    let uri: axum::http::Uri = target.replace(' ', "%20").parse().map_err(|_| {
        DataverseError::batch_format(format!("'{}' is not a request URL.", op.target))
    })?;
    let body = resolve_body(&op.body, refs)?;
    let mut builder = axum::http::Request::builder().method(method).uri(uri);
    for (name, value) in &op.headers {
        if name.eq_ignore_ascii_case("content-length") {
            continue; // the body may have changed with the references
        }
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(axum::body::Body::from(body))
        .map_err(|e| DataverseError::batch_format(format!("A batch part is not a request: {e}")))
}

/// The server-relative path and query of a part's URL.
fn resolve_target(
    version: &str,
    target: &str,
    refs: &HashMap<String, String>,
) -> Result<String, DataverseError> {
    if let Some(rest) = target.strip_prefix('$')
        && rest.starts_with(|c: char| c.is_ascii_digit())
    {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (id, tail) = rest.split_at(end);
        let url = refs
            .get(id)
            .ok_or_else(|| DataverseError::content_id_missing(&format!("${id}")))?;
        return Ok(server_relative(&format!("{url}{tail}")));
    }
    if target.starts_with("http://") || target.starts_with("https://") || target.starts_with('/') {
        return Ok(server_relative(target));
    }
    Ok(format!("/api/data/{version}/{target}"))
}

/// `https://host/api/data/v9.2/x?y` → `/api/data/v9.2/x?y`.
fn server_relative(url: &str) -> String {
    match url.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(i) => rest[i..].to_owned(),
            None => "/".to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The body with `$n` in `…@odata.bind` and `@odata.id` values replaced by the entity URLs.
fn resolve_body(body: &[u8], refs: &HashMap<String, String>) -> Result<Vec<u8>, DataverseError> {
    if !body.contains(&b'$') {
        return Ok(body.to_vec());
    }
    let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Ok(body.to_vec()); // not JSON: the handler reports it
    };
    replace_refs(&mut json, refs)?;
    Ok(json.to_string().into_bytes())
}

fn replace_refs(
    json: &mut serde_json::Value,
    refs: &HashMap<String, String>,
) -> Result<(), DataverseError> {
    match json {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if let serde_json::Value::String(s) = value
                    && (key.ends_with("@odata.bind") || key == "@odata.id")
                    && let Some(rest) = s.strip_prefix('$')
                    && rest.starts_with(|c: char| c.is_ascii_digit())
                {
                    let end = rest.find('/').unwrap_or(rest.len());
                    let (id, tail) = rest.split_at(end);
                    let url = refs
                        .get(id)
                        .ok_or_else(|| DataverseError::content_id_missing(&format!("${id}")))?;
                    *s = format!("{url}{tail}");
                } else {
                    replace_refs(value, refs)?;
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                replace_refs(item, refs)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The reason phrase of a status line (`No Content`); DynamicsWebApi needs word characters
/// and spaces only.
pub(super) fn reason(status: u16) -> &'static str {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_to_server_relative_paths() {
        let mut refs = HashMap::new();
        refs.insert(
            "1".to_owned(),
            "https://org.example/api/data/v9.2/accounts(00000000-0000-0000-0000-000000000001)"
                .to_owned(),
        );
        let r = |t: &str| resolve_target("v9.2", t, &refs);
        assert_eq!(
            r("https://org.example/api/data/v9.2/tasks?$top=1").unwrap(),
            "/api/data/v9.2/tasks?$top=1"
        );
        assert_eq!(r("/api/data/v9.2/tasks").unwrap(), "/api/data/v9.2/tasks");
        assert_eq!(r("tasks").unwrap(), "/api/data/v9.2/tasks");
        assert_eq!(
            r("$1/name").unwrap(),
            "/api/data/v9.2/accounts(00000000-0000-0000-0000-000000000001)/name"
        );
        assert_eq!(r("$2").unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn references_in_bodies_are_replaced() {
        let mut refs = HashMap::new();
        refs.insert(
            "1".to_owned(),
            "https://o/api/data/v9.2/accounts(1)".to_owned(),
        );
        let body = br#"{"parentcustomerid_account@odata.bind":"$1","name":"$1"}"#;
        let out: serde_json::Value =
            serde_json::from_slice(&resolve_body(body, &refs).unwrap()).unwrap();
        assert_eq!(
            out["parentcustomerid_account@odata.bind"],
            "https://o/api/data/v9.2/accounts(1)"
        );
        assert_eq!(out["name"], "$1", "plain values are data, not references");
        assert!(resolve_body(br#"{"@odata.id":"$7"}"#, &refs).is_err());
    }
}
