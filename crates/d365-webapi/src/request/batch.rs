//! `$batch` (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api>):
//! many requests in one `multipart/mixed` POST, change sets all or nothing.
//!
//! [`BatchRequest`] writes the body (CRLF always, absolute inner URLs, a Content-ID on every
//! change-set request so later ones can refer to it as `$n`), and reads the answer into one
//! [`BatchResult`] per response part. A GET whose URL is longer than the client's limit is
//! sent the same way by [`get_in_batch`], invisibly to the caller.

use d365_http::reqwest::Method;
use d365_odata::multipart;
use serde_json::Value;

use super::write::{RecordKey, record_url};
use crate::client::{Answer, Client, api_error};
use crate::error::{ApiError, Error};

/// Dataverse runs at most this many requests in one batch.
pub const MAX_BATCH_REQUESTS: usize = 1000;

/// The longest GET URL Dataverse takes outside a batch (and the client's default threshold
/// for sending a GET inside one).
pub const MAX_URL_LENGTH: usize = 32_768;

/// A `$n` reference to an earlier request of the same change set (its Content-ID): usable
/// as a record to update or delete, and as an `@odata.bind` value (`reference.to_string()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentRef(u32);

impl std::fmt::Display for ContentRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "${}", self.0)
    }
}

/// The record a change-set write addresses.
#[derive(Debug, Clone)]
pub enum BatchTarget {
    /// A record by entity set and key.
    Record(String, RecordKey),
    /// The record an earlier request of the change set created.
    Ref(ContentRef),
}

impl From<ContentRef> for BatchTarget {
    fn from(r: ContentRef) -> Self {
        BatchTarget::Ref(r)
    }
}

impl From<&ContentRef> for BatchTarget {
    fn from(r: &ContentRef) -> Self {
        BatchTarget::Ref(r.clone())
    }
}

impl<K: Into<RecordKey>> From<(&str, K)> for BatchTarget {
    fn from((set, key): (&str, K)) -> Self {
        BatchTarget::Record(set.to_owned(), key.into())
    }
}

/// One request inside the batch.
#[derive(Debug, Clone)]
struct Operation {
    content_id: Option<u32>,
    method: Method,
    /// Absolute, or `$n…`.
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

#[derive(Debug, Clone)]
enum Item {
    Single(Operation),
    ChangeSet(Vec<Operation>),
}

/// The writes of one change set, run by Dataverse as one transaction. Every request gets a
/// Content-ID; the methods return it as a [`ContentRef`].
#[derive(Debug)]
pub struct ChangeSet {
    client: Client,
    ops: Vec<Operation>,
    next_id: u32,
}

impl ChangeSet {
    fn push(
        &mut self,
        method: Method,
        url: String,
        headers: Vec<(String, String)>,
        body: Option<Value>,
    ) -> ContentRef {
        let id = self.next_id;
        self.next_id += 1;
        self.ops.push(Operation {
            content_id: Some(id),
            method,
            url,
            headers,
            body,
        });
        ContentRef(id)
    }

    fn url(&self, target: BatchTarget) -> String {
        match target {
            BatchTarget::Record(set, key) => record_url(&self.client, &set, &key),
            BatchTarget::Ref(r) => r.to_string(),
        }
    }

    /// `POST {set}`: creates a record.
    pub fn create(&mut self, entity_set: &str, record: Value) -> ContentRef {
        let url = format!("{}/{entity_set}", self.client.api_root());
        self.push(Method::POST, url, Vec::new(), Some(record))
    }

    /// `PATCH` with `If-Match: *`: updates an existing record (a missing one fails the
    /// change set).
    pub fn update(&mut self, target: impl Into<BatchTarget>, changes: Value) -> ContentRef {
        let url = self.url(target.into());
        let headers = vec![("If-Match".to_owned(), "*".to_owned())];
        self.push(Method::PATCH, url, headers, Some(changes))
    }

    /// `PATCH` without conditions: updates the record or creates it.
    pub fn upsert(&mut self, target: impl Into<BatchTarget>, record: Value) -> ContentRef {
        let url = self.url(target.into());
        self.push(Method::PATCH, url, Vec::new(), Some(record))
    }

    /// `DELETE`: deletes the record.
    pub fn delete(&mut self, target: impl Into<BatchTarget>) -> ContentRef {
        let url = self.url(target.into());
        self.push(Method::DELETE, url, Vec::new(), None)
    }

    /// Any write: `method` on `path` (relative to the API root, e.g.
    /// `accounts(…)/contact_customer_accounts/$ref`, or a `$n…` reference), with a JSON body.
    pub fn request(&mut self, method: Method, path: &str, body: Option<Value>) -> ContentRef {
        let url = if path.starts_with('$') {
            path.to_owned()
        } else {
            self.client.api_url(path)
        };
        self.push(method, url, Vec::new(), body)
    }
}

/// A `$batch` request: GETs and change sets, run in order.
///
/// ```no_run
/// # async fn demo(client: d365_webapi::Client) -> Result<(), d365_webapi::Error> {
/// use serde_json::json;
/// let results = client
///     .batch()
///     .change_set(|cs| {
///         let account = cs.create("accounts", json!({"name": "Contoso"}));
///         cs.create("contacts", json!({
///             "lastname": "Smith",
///             "parentcustomerid_account@odata.bind": account.to_string(),
///         }));
///         cs.update(&account, json!({"telephone1": "555-0100"}));
///     })
///     .get("accounts?$select=name&$top=5")
///     .send()
///     .await?;
/// assert!(results.iter().all(|r| r.is_success()));
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a batch does nothing until sent"]
pub struct BatchRequest {
    client: Client,
    items: Vec<Item>,
    next_id: u32,
    continue_on_error: bool,
}

impl BatchRequest {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            items: Vec::new(),
            next_id: 1,
            continue_on_error: false,
        }
    }

    /// A GET outside any change set; `path` is relative to the API root
    /// (`accounts?$select=name`) or an absolute URL of this environment.
    pub fn get(mut self, path: &str) -> Self {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            self.client.api_url(path)
        };
        let mut headers = vec![("Accept".to_owned(), "application/json".to_owned())];
        if let Some(p) = self.client.read_prefer(None) {
            headers.push(("Prefer".to_owned(), p));
        }
        self.items.push(Item::Single(Operation {
            content_id: None,
            method: Method::GET,
            url,
            headers,
            body: None,
        }));
        self
    }

    /// A query's first page, as a GET outside any change set.
    pub fn query(self, query: super::QueryRequest) -> Self {
        self.get(&query.url())
    }

    /// A change set: the writes `build` adds run as one transaction.
    pub fn change_set(mut self, build: impl FnOnce(&mut ChangeSet)) -> Self {
        let mut cs = ChangeSet {
            client: self.client.clone(),
            ops: Vec::new(),
            next_id: self.next_id,
        };
        build(&mut cs);
        self.next_id = cs.next_id;
        if !cs.ops.is_empty() {
            self.items.push(Item::ChangeSet(cs.ops));
        }
        self
    }

    /// `Prefer: odata.continue-on-error`: every request runs, failures are reported per
    /// part; without it Dataverse stops at the first failure.
    pub fn continue_on_error(mut self) -> Self {
        self.continue_on_error = true;
        self
    }

    /// How many requests the batch holds.
    pub fn len(&self) -> usize {
        self.items
            .iter()
            .map(|i| match i {
                Item::Single(_) => 1,
                Item::ChangeSet(ops) => ops.len(),
            })
            .sum()
    }

    /// Whether the batch holds no request.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The body with the given boundary, exactly as sent (CRLF line endings).
    pub fn body(&self, boundary: &str) -> String {
        let mut out = String::new();
        for (i, item) in self.items.iter().enumerate() {
            out.push_str(&format!("--{boundary}\r\n"));
            match item {
                Item::Single(op) => write_operation(&mut out, op),
                Item::ChangeSet(ops) => {
                    let cs = format!("changeset_{boundary}_{i}");
                    out.push_str(&format!(
                        "Content-Type: multipart/mixed; boundary=\"{cs}\"\r\n\r\n"
                    ));
                    for op in ops {
                        out.push_str(&format!("--{cs}\r\n"));
                        write_operation(&mut out, op);
                    }
                    out.push_str(&format!("--{cs}--\r\n"));
                }
            }
        }
        out.push_str(&format!("--{boundary}--\r\n"));
        out
    }

    /// Sends the batch: one [`BatchResult`] per response part, in order (each request outside
    /// change sets, each request of a change set that committed, and one error in place of a
    /// change set that failed and was rolled back). Without [`BatchRequest::continue_on_error`]
    /// the results end at the first failure. A batch Dataverse refuses as a whole is an
    /// [`Error::Api`].
    pub async fn send(self) -> Result<Vec<BatchResult>, Error> {
        let count = self.len();
        if count == 0 {
            return Ok(Vec::new());
        }
        if count > MAX_BATCH_REQUESTS {
            return Err(Error::InvalidQuery(format!(
                "a batch holds at most {MAX_BATCH_REQUESTS} requests, not {count}"
            )));
        }
        let boundary = format!("batch_{}", uuid::Uuid::new_v4());
        let body = self.body(&boundary);
        let mut extra = Vec::new();
        if self.continue_on_error {
            extra.push(("prefer", "odata.continue-on-error".to_owned()));
        }
        post(&self.client, &boundary, body, &extra, false).await
    }
}

fn write_operation(out: &mut String, op: &Operation) {
    out.push_str("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = op.content_id {
        out.push_str(&format!("Content-ID: {id}\r\n"));
    }
    out.push_str(&format!("\r\n{} {} HTTP/1.1\r\n", op.method, op.url));
    for (name, value) in &op.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    match &op.body {
        Some(body) => out.push_str(&format!(
            "Content-Type: application/json; type=entry\r\n\r\n{body}\r\n"
        )),
        None => out.push_str("\r\n"),
    }
}

/// The answer to one request of a batch.
#[derive(Debug, Clone)]
pub struct BatchResult {
    /// The request's Content-ID (change-set requests).
    pub content_id: Option<String>,
    /// The HTTP status.
    pub status: u16,
    /// The response headers, names as sent.
    pub headers: Vec<(String, String)>,
    /// `OData-EntityId`: the record created or addressed.
    pub entity_id: Option<String>,
    /// The JSON body of a success, if any.
    pub body: Option<Value>,
    /// The error of a failure.
    pub error: Option<ApiError>,
}

impl BatchResult {
    /// `true` for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The id in `OData-EntityId` (`…/accounts(<id>)`).
    pub fn id(&self) -> Option<uuid::Uuid> {
        let h = self.entity_id.as_deref()?;
        let inner = h.rfind('(').and_then(|i| h[i + 1..].strip_suffix(')'))?;
        uuid::Uuid::parse_str(inner).ok()
    }

    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// POSTs a batch body and reads the answer into results.
async fn post(
    client: &Client,
    boundary: &str,
    body: String,
    extra: &[(&str, String)],
    idempotent: bool,
) -> Result<Vec<BatchResult>, Error> {
    let url = format!("{}/$batch", client.api_root());
    let content_type = format!("multipart/mixed; boundary=\"{boundary}\"");
    let (path, answer) = client
        .send_raw(
            Method::POST,
            &url,
            Some((content_type, body)),
            extra,
            idempotent,
        )
        .await?;
    let status = answer.status.as_u16();
    let response_type = answer.header("content-type").unwrap_or_default();
    let Some(response_boundary) = multipart::boundary(response_type) else {
        // Refused as a whole: a plain JSON error.
        let request_id = answer
            .header("x-ms-service-request-id")
            .or_else(|| answer.header("req_id"))
            .map(str::to_owned);
        let retry_after = answer
            .header("retry-after")
            .and_then(d365_http::parse_retry_after);
        if (200..300).contains(&status) {
            return Err(Error::Decode {
                url: path,
                message: format!("a batch answer that is not multipart ({response_type})"),
            });
        }
        return Err(Error::Api(api_error(
            status,
            &answer.body,
            request_id,
            retry_after,
        )));
    };
    read_response(&answer.body, &response_boundary)
        .map_err(|message| Error::Decode { url: path, message })
}

/// Reads a batch answer: change-set parts are flattened in order.
pub(crate) fn read_response(body: &[u8], boundary: &str) -> Result<Vec<BatchResult>, String> {
    let outer = multipart::split(body, boundary).map_err(|e| e.0)?;
    let mut results = Vec::new();
    for part in &outer.parts {
        match part.nested_boundary() {
            Some(cs) => {
                for p in &multipart::split(part.body, &cs).map_err(|e| e.0)?.parts {
                    results.push(read_part(p)?);
                }
            }
            None => results.push(read_part(part)?),
        }
    }
    Ok(results)
}

fn read_part(part: &multipart::Part<'_>) -> Result<BatchResult, String> {
    let r = multipart::parse_response(part.body).map_err(|e| e.0)?;
    let text = r.body.trim_ascii();
    let success = (200..300).contains(&r.status);
    let entity_id = r.header("odata-entityid").map(str::to_owned);
    let (body, error) = if success {
        let body = if text.is_empty() {
            None
        } else {
            Some(serde_json::from_slice(text).map_err(|e| format!("a part's JSON: {e}"))?)
        };
        (body, None)
    } else {
        let request_id = r
            .header("req_id")
            .or_else(|| r.header("x-ms-service-request-id"))
            .map(str::to_owned);
        (None, Some(api_error(r.status, text, request_id, None)))
    };
    Ok(BatchResult {
        content_id: part.header("content-id").map(str::to_owned),
        status: r.status,
        headers: r.headers.clone(),
        entity_id,
        body,
        error,
    })
}

/// A GET too long for a URL, sent as the one request of a `$batch` (Dataverse takes URLs up
/// to 65,536 characters there); its answer is returned as if it had been sent directly.
pub(crate) async fn get_in_batch(
    client: &Client,
    url: &str,
    extra: &[(&str, String)],
) -> Result<Answer, Error> {
    let mut headers = vec![("Accept".to_owned(), "application/json".to_owned())];
    headers.extend(extra.iter().map(|(n, v)| ((*n).to_owned(), v.clone())));
    let op = Operation {
        content_id: None,
        method: Method::GET,
        url: url.to_owned(),
        headers,
        body: None,
    };
    let batch = BatchRequest {
        client: client.clone(),
        items: vec![Item::Single(op)],
        next_id: 1,
        continue_on_error: false,
    };
    let boundary = format!("batch_{}", uuid::Uuid::new_v4());
    let body = batch.body(&boundary);
    // A GET changes nothing: the batch may be resent.
    let mut results = post(client, &boundary, body, &[], true).await?;
    let path = url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(url);
    let path = path.split('?').next().unwrap_or(path).to_owned();
    let result = results.pop().ok_or_else(|| Error::Decode {
        url: path.clone(),
        message: "the batch answer has no part".into(),
    })?;
    if let Some(error) = result.error {
        return Err(Error::Api(error));
    }
    let body = result
        .body
        .map(|b| bytes::Bytes::from(b.to_string()))
        .unwrap_or_default();
    Ok(Answer {
        path,
        entity_id: result.entity_id,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use d365_auth::{AccessToken, StaticTokenCredential};
    use serde_json::json;
    use std::sync::Arc;

    fn client() -> Client {
        Client::builder()
            .environment("https://org.example.com")
            .credential(Arc::new(StaticTokenCredential::new(AccessToken::new("t"))))
            .build()
            .unwrap()
    }

    #[test]
    fn the_wire_form() {
        let id = uuid::Uuid::nil();
        let batch = client()
            .batch()
            .change_set(|cs| {
                let a = cs.create("accounts", json!({"name": "A/;&+'"}));
                cs.update(&a, json!({"telephone1": "1"}));
                cs.delete(("contacts", id));
            })
            .get("accounts?$select=name");
        assert_eq!(batch.len(), 4);
        let api = "https://org.example.com/api/data/v9.2";
        assert_eq!(
            batch.body("b"),
            format!(
                "--b\r\nContent-Type: multipart/mixed; boundary=\"changeset_b_0\"\r\n\r\n\
                 --changeset_b_0\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n\
                 POST {api}/accounts HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n{{\"name\":\"A/;&+'\"}}\r\n\
                 --changeset_b_0\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\n\
                 PATCH $1 HTTP/1.1\r\nIf-Match: *\r\nContent-Type: application/json; type=entry\r\n\r\n{{\"telephone1\":\"1\"}}\r\n\
                 --changeset_b_0\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 3\r\n\r\n\
                 DELETE {api}/contacts({id}) HTTP/1.1\r\n\r\n\
                 --changeset_b_0--\r\n\
                 --b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
                 GET {api}/accounts?$select=name HTTP/1.1\r\nAccept: application/json\r\n\r\n\
                 --b--\r\n"
            )
        );
    }

    #[test]
    fn reads_change_sets_errors_and_ids() {
        let text = "--r\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n\
            --cs\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n\
            HTTP/1.1 204 No Content\r\nOData-EntityId: https://o/api/data/v9.2/accounts(00000000-0000-0000-0000-000000000001)\r\n\r\n\r\n\
            --cs--\r\n\
            --r\r\nContent-Type: application/http\r\n\r\n\
            HTTP/1.1 404 Not Found\r\nREQ_ID: abc\r\nContent-Type: application/json\r\n\r\n\
            {\"error\":{\"code\":\"0x80040217\",\"message\":\"gone\"}}\r\n\
            --r--\r\n";
        let results = read_response(text.as_bytes(), "r").unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].content_id.as_deref(), Some("1"));
        assert_eq!(
            results[0].id(),
            Some(uuid::Uuid::from_u128(1)),
            "{:?}",
            results[0]
        );
        let error = results[1].error.as_ref().unwrap();
        assert_eq!((error.status, error.code.as_str()), (404, "0x80040217"));
        assert_eq!(error.request_id.as_deref(), Some("abc"));
    }
}
