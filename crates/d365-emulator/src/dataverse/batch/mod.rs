//! `POST {api}/$batch` (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api>):
//! a `multipart/mixed` body of requests run in order, change sets run as one transaction.
//!
//! Each part is run as an inner request through the same dispatcher as a direct request
//! (`super::handle`), so a part behaves exactly like the request it contains. A change set
//! runs inside [`crate::store::Store::atomic`]: every store call its parts make joins one
//! SQLite transaction on the writer connection, which is rolled back when a part fails (or the
//! client goes away), and other requests' writes wait until it ends. The whole batch counts as
//! one request for service protection: the limiter admitted it in `route`, the parts skip it.
//!
//! The answer follows Dataverse (and what DynamicsWebApi's strict parser needs): a new
//! `batchresponse_<guid>` boundary, the body starting with the delimiter line, change sets as
//! one `changesetresponse_<guid>` part echoing the `Content-ID`s, and a failed change set as a
//! single error part in its place. Without `Prefer: odata.continue-on-error` processing stops
//! at the first failure and the batch answers `400`; with it every part runs and the batch
//! answers `200`. A body that is not a batch at all gets a plain JSON error.

mod part;
mod write;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use d365_odata::Prefer;
use d365_odata::multipart::{self, EmbeddedRequest};

use crate::entra::validate::Principal;
use crate::error::DataverseError;
use crate::state::AppState;

pub(crate) use part::PartResponse;

/// Dataverse runs at most this many requests in one batch.
pub(crate) const MAX_REQUESTS: usize = 1000;
/// The longest URL Dataverse takes outside a batch.
pub(crate) const MAX_URL: usize = 32_768;
/// The longest URL a GET inside a batch may have.
pub(crate) const MAX_URL_IN_BATCH: usize = 65_536;
/// The largest batch body read.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// When the caller's combined execution time runs out (set by service protection on the
/// request): a batch's parts spend it as they run, so parts past it fail with the 429 a new
/// request would get (PROTOCOL.md D1, D4).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExecutionLeft(pub(crate) Instant);

/// What one batch may still spend: bytes of answer, and execution time.
#[derive(Debug)]
pub(crate) struct Budget {
    answer_left: AtomicUsize,
    answer_limit: usize,
    until: Option<Instant>,
}

impl Budget {
    /// Refuses the next part when the answer is full or the execution time is spent.
    pub(crate) fn check(&self, st: &AppState) -> Result<(), DataverseError> {
        if self.answer_left.load(Ordering::SeqCst) == 0 {
            return Err(DataverseError::batch_answer_too_large(self.answer_limit));
        }
        if let (Some(until), Some(limits)) = (self.until, st.limiter.limits())
            && Instant::now() >= until
        {
            return Err(crate::limits::execution_time_exceeded(&limits, 1));
        }
        Ok(())
    }

    /// Bytes the next part's answer may have.
    pub(crate) fn answer_left(&self) -> usize {
        self.answer_left.load(Ordering::SeqCst)
    }

    /// Counts `bytes` of answer.
    pub(crate) fn spend(&self, bytes: usize) {
        let left = self.answer_left.load(Ordering::SeqCst);
        self.answer_left
            .store(left.saturating_sub(bytes), Ordering::SeqCst);
    }

    /// A part's answer did not fit: the budget is empty, and this is the part's error.
    pub(crate) fn overflowed(&self) -> DataverseError {
        self.answer_left.store(0, Ordering::SeqCst);
        DataverseError::batch_answer_too_large(self.answer_limit)
    }
}

/// Whether the request is `…/api/data/v9.x/$batch`.
pub(crate) fn is_batch(path: &str) -> bool {
    path.strip_prefix("/api/data/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, p)| p == "$batch")
}

/// One request of the batch, as read.
#[derive(Debug)]
pub(crate) struct Operation {
    pub(crate) content_id: Option<String>,
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// A top-level item: one request, or a change set.
#[derive(Debug)]
enum Item {
    Single(Operation),
    ChangeSet(Vec<Operation>),
}

/// What one top-level item produced.
#[derive(Debug)]
pub(crate) enum Outcome {
    Single(PartResponse),
    /// The responses of a change set that committed.
    ChangeSet(Vec<PartResponse>),
}

impl Outcome {
    fn failed(&self) -> bool {
        match self {
            Outcome::Single(r) => r.status >= 400,
            Outcome::ChangeSet(_) => false,
        }
    }
}

/// Serves `POST …/$batch`.
pub(crate) async fn execute(
    st: &AppState,
    principal: &Principal,
    request: Request,
) -> Result<Response, DataverseError> {
    if request.method() != Method::POST {
        return Err(DataverseError::method_not_allowed(
            request.method().as_str(),
            &request.uri().to_string(),
        ));
    }
    let version = request
        .uri()
        .path()
        .trim_start_matches("/api/data/")
        .split('/')
        .next()
        .unwrap_or("v9.2")
        .to_owned();
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let boundary = multipart::boundary(&content_type).ok_or_else(|| {
        DataverseError::batch_format(
            "The batch request must have a 'Content-Type' of 'multipart/mixed' with a boundary.",
        )
    })?;
    let prefer = Prefer::parse(
        request
            .headers()
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let answer_limit = st.registry.config().batch_answer_limit_bytes;
    let budget = Budget {
        answer_left: AtomicUsize::new(answer_limit),
        answer_limit,
        until: request.extensions().get::<ExecutionLeft>().map(|e| e.0),
    };
    let body = axum::body::to_bytes(request.into_body(), MAX_BODY)
        .await
        .map_err(|_| {
            DataverseError::batch_format("The batch body could not be read or is over 64 MB.")
        })?;
    let items = read_items(&body, &boundary)?;

    let mut outcomes = Vec::with_capacity(items.len());
    let mut failed = false;
    for item in items {
        let outcome = match item {
            Item::Single(op) => Outcome::Single(
                part::run(st, principal, &version, &op, &Default::default(), &budget).await,
            ),
            Item::ChangeSet(ops) => {
                part::run_change_set(st, principal, &version, ops, &budget).await
            }
        };
        failed |= outcome.failed();
        outcomes.push(outcome);
        if failed && !prefer.continue_on_error {
            break;
        }
    }
    let (boundary, text) = write::response(&outcomes);
    let status = if failed && !prefer.continue_on_error {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut response = (status, text).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("multipart/mixed; boundary={boundary}")) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    if prefer.continue_on_error {
        response.headers_mut().insert(
            "preference-applied",
            HeaderValue::from_static("odata.continue-on-error"),
        );
    }
    Ok(response)
}

/// Reads and checks the whole body before anything runs: framing (CRLF), nesting, methods,
/// unique Content-IDs and the request cap.
fn read_items(body: &[u8], boundary: &str) -> Result<Vec<Item>, DataverseError> {
    let format = |e: multipart::MultipartError| DataverseError::batch_format(e.0);
    let outer = multipart::split(body, boundary).map_err(format)?;
    if outer.bare_lf {
        return Err(DataverseError::batch_bare_lf());
    }
    let mut items = Vec::with_capacity(outer.parts.len());
    let mut ids = HashSet::new();
    let mut count = 0;
    for part in &outer.parts {
        if let Some(nested) = part.nested_boundary() {
            let inner = multipart::split(part.body, &nested).map_err(format)?;
            if inner.bare_lf {
                return Err(DataverseError::batch_bare_lf());
            }
            let mut ops = Vec::with_capacity(inner.parts.len());
            for p in &inner.parts {
                if p.nested_boundary().is_some() {
                    return Err(DataverseError::batch_format(
                        "A change set cannot contain another change set.",
                    ));
                }
                let op = operation(p)?;
                if op.method.eq_ignore_ascii_case("GET") {
                    return Err(DataverseError::batch_format(
                        "GET requests are not allowed inside a change set; put them outside it.",
                    ));
                }
                ops.push(op);
            }
            count += ops.len();
            for op in &ops {
                check_unique(&mut ids, op)?;
            }
            items.push(Item::ChangeSet(ops));
        } else {
            let op = operation(part)?;
            check_unique(&mut ids, &op)?;
            count += 1;
            items.push(Item::Single(op));
        }
    }
    if count > MAX_REQUESTS {
        return Err(DataverseError::batch_too_large(count, MAX_REQUESTS));
    }
    if count == 0 {
        return Err(DataverseError::batch_format(
            "The batch request contains no requests.",
        ));
    }
    Ok(items)
}

fn check_unique(ids: &mut HashSet<String>, op: &Operation) -> Result<(), DataverseError> {
    match &op.content_id {
        Some(id) if !ids.insert(id.clone()) => Err(DataverseError::batch_format(format!(
            "The Content-ID '{id}' appears more than once in the batch; Content-IDs must be unique."
        ))),
        _ => Ok(()),
    }
}

/// An `application/http` part as an operation.
fn operation(part: &multipart::Part<'_>) -> Result<Operation, DataverseError> {
    let content_type = part.header("content-type").unwrap_or_default();
    if !content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .eq_ignore_ascii_case("application/http")
    {
        return Err(DataverseError::batch_format(format!(
            "A batch part must have 'Content-Type: application/http' (or be a change set), not '{content_type}'."
        )));
    }
    let EmbeddedRequest {
        method,
        target,
        headers,
        body,
    } = multipart::parse_request(part.body).map_err(|e| DataverseError::batch_format(e.0))?;
    if target.contains("$batch") {
        return Err(DataverseError::batch_format(
            "A batch cannot contain another batch.",
        ));
    }
    Ok(Operation {
        content_id: part.header("content-id").map(str::to_owned),
        method,
        target,
        headers,
        body: body.to_vec(),
    })
}
