//! Dataverse's Web API errors: `{"error":{"code","message"}}` with the service's hex codes.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A Dataverse Web API error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataverseError {
    /// HTTP status.
    pub status: StatusCode,
    /// The hex HRESULT (`0x80040217`), or empty as the service sometimes sends.
    pub code: &'static str,
    /// The message.
    pub message: String,
    /// `WWW-Authenticate` for 401s.
    pub challenge: Option<String>,
    /// `Retry-After` seconds for 429s and injected 503s.
    pub retry_after: Option<u64>,
    /// Error details the request asked for, sent as
    /// `@Microsoft.PowerApps.CDS.ErrorDetails.{key}` inside `error`.
    pub details: Vec<(String, String)>,
}

impl DataverseError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            challenge: None,
            retry_after: None,
            details: Vec::new(),
        }
    }

    /// Adds an error detail (`Plugin.BulkApiErrorDetails`).
    pub fn with_detail(mut self, key: &str, value: String) -> Self {
        self.details.push((key.to_owned(), value));
        self
    }

    /// Any status, code and message (service protection, injected faults).
    pub fn with_status(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::new(status, code, message)
    }

    /// Adds `Retry-After`.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 401 with the bearer challenge that names the authority and the resource.
    pub fn unauthorized(
        authorization_uri: &str,
        resource_id: &str,
        why: impl Into<String>,
    ) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "0x80072560", why);
        e.challenge = Some(format!(
            "Bearer authorization_uri={authorization_uri}, resource_id={resource_id}"
        ));
        e
    }
    /// 403 `0x80040220` (PrivilegeDenied): the caller may not impersonate
    /// (`CallerObjectId`/`MSCRMCallerID`) without `prvActOnBehalfOfAnotherUser`.
    pub fn missing_act_on_behalf(caller_systemuser_id: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "0x80040220",
            format!(
                "Principal user (Id={caller_systemuser_id}, type=8) is missing prvActOnBehalfOfAnotherUser privilege."
            ),
        )
    }
    /// 403 `0x80040225` (UserNotEnabled): the impersonated user is disabled. Dataverse keeps
    /// disabled users' rows and refuses to run anything as them; 403 as for its other
    /// security refusals (PROTOCOL.md C2).
    pub fn user_not_enabled(systemuser_id: &str, organization_id: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "0x80040225",
            format!(
                "The user with SystemUserId={systemuser_id} in OrganizationContext={organization_id} is disabled. Disabled users cannot access the system. Consider enabling this user."
            ),
        )
    }
    /// 404 `0x80040217`: no record with this id.
    pub fn record_not_found(entity: &str, id: &uuid::Uuid) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "0x80040217",
            format!("{entity} With Id = {id} Does Not Exist"),
        )
    }
    /// 404 with a given code and message.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    /// 404 `0x8006088a`: an unknown path segment (entity set, function or action), as the
    /// troubleshooting article shows for `GET {api}/Account`
    /// (<https://learn.microsoft.com/troubleshoot/power-platform/power-apps/dataverse/web-api-client-errors>).
    pub fn segment_not_found(segment: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "0x8006088a",
            format!("Resource not found for the segment '{segment}'."),
        )
    }
    /// 400 `0x8006088a`: a key predicate that does not fit the key's type
    /// (`accounts(123)`): Dataverse's URI parser fails in `TryCreateKeySegmentFromParentheses`
    /// with OData's generic syntax error.
    pub fn key_syntax() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "0x8006088a",
            "Bad Request - Error in query syntax.",
        )
    }
    /// 400 `0x80060888`: `/$ref` on a collection-valued navigation property inside `$expand`
    /// (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/join-tables#return-references>).
    pub fn expand_ref_on_collection() -> Self {
        Self::bad_query("Expand with $ref is only supported on lookup type navigation property.")
    }
    /// 400 `0x80060888`: `$top` or `$orderby` inside an `$expand` of a lookup, or of a
    /// collection when the query nests `$expand`.
    pub fn expand_options_limited() -> Self {
        Self::bad_query(
            "Only $select and $filter clause can be provided while doing $expand on many-to-one relationship or nested one-to-many relationship.",
        )
    }
    /// 404: nothing matches the URI (also the wrong verb for a function).
    pub fn no_resource(uri: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "",
            format!("No HTTP resource was found that matches the request URI '{uri}'."),
        )
    }
    /// 400 `0x80060888`: a query option the parser or binder rejected.
    pub fn bad_query(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "0x80060888", message)
    }
    /// 400 `0x80040203` (InvalidArgument): a FetchXML document that cannot be run.
    pub fn fetch_xml(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "0x80040203", message)
    }
    /// 400 `0x80041103` (QueryBuilderNoAttribute): FetchXML names a column the table lacks.
    pub fn fetch_no_attribute(entity: &str, attribute: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "0x80041103",
            format!(
                "'{entity}' entity doesn't contain attribute with Name = '{attribute}' and NameMapping = 'Logical'."
            ),
        )
    }
    /// 404 `0x80060891`: no record has these alternate key values.
    pub fn key_not_found(entity: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "0x80060891",
            format!("A record with the specified key values does not exist in {entity} entity"),
        )
    }
    /// 400 `0x8004E023`: an aggregation over more rows than Dataverse reads.
    pub fn aggregate_limit() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "0x8004E023",
            "The maximum record limit is exceeded. Reduce the number of records.",
        )
    }
    /// 400 `0x80060888`: `$skip` is not supported.
    pub fn skip_not_supported() -> Self {
        Self::bad_query("Skip Clause is not supported in CRM")
    }
    /// 400 `0x80060888`: unknown property.
    pub fn unknown_property(property: &str, entity: &str) -> Self {
        Self::bad_query(format!(
            "Could not find a property named '{property}' on type 'Microsoft.Dynamics.CRM.{entity}'."
        ))
    }
    /// 400 `0x8004112A`: a paging cookie we did not issue, or one that no longer fits the query.
    pub fn invalid_paging_cookie() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "0x8004112A",
            "Invalid page number in paging cookie.",
        )
    }
    /// 400 `0x80060888`: a query option that change tracking does not allow (`$filter`,
    /// `$orderby`, `$expand`, `$top`), with the documented message.
    pub fn not_with_change_tracking(option: &str) -> Self {
        Self::bad_query(format!(
            "The \"{option}\" query parameter isn't supported when Change Tracking is enabled."
        ))
    }
    /// 400 `0x80044352` (ExpiredVersionStamp): a delta token older than the retention.
    pub fn expired_version_stamp() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "0x80044352",
            "Version stamp associated with the client has expired. Please perform a full sync.",
        )
    }
    /// 400 `0x80072491` (ChangeTrackingNotEnabledForEntity).
    pub fn change_tracking_not_enabled(entity: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "0x80072491",
            format!("Entity {entity} isn't enabled for change tracking."),
        )
    }
    /// 501, no code: an authenticated call to the Organization service's SOAP endpoint, which
    /// the emulator does not implement (its 401 challenge it does answer).
    pub fn soap_not_served(api_root: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "",
            format!(
                "The d365 emulator serves the Dataverse Web API ({api_root}/), not the Organization service (SOAP). Use the Web API, or a real environment for SOAP clients."
            ),
        )
    }
    /// 405: the method is not allowed on this resource.
    pub fn method_not_allowed(method: &str, uri: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "0x80060888",
            format!("The requested resource does not support http method '{method}' on '{uri}'."),
        )
    }
    /// 400 `0x80048d19`: the request body does not fit the entity.
    pub fn payload(entity_set: &str, inner: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "0x80048d19",
            format!(
                "Error identified in Payload provided by the user for Entity :'{entity_set}', For more information on this error please follow the help link https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : Microsoft.OData.ODataException: {inner}"
            ),
        )
    }
    /// 400 `0x80048d19`: an unknown property in a body.
    pub fn invalid_property(property: &str, entity: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "0x80048d19",
            format!(
                "Invalid property '{property}' was found in entity 'Microsoft.Dynamics.CRM.{entity}'."
            ),
        )
    }
    /// 400 `0x80044331`: a value Dataverse's validation refuses.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "0x80044331",
            format!("A validation error occurred. {}", message.into()),
        )
    }
    /// 412 `0x80040237`: a create with a key that exists.
    pub fn duplicate_record() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "0x80040237",
            "Cannot insert duplicate key.",
        )
    }
    /// 412: `If-Match` with another version.
    pub fn version_mismatch() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "",
            "The version of the existing record doesn't match the RowVersion property provided.",
        )
    }
    /// 412: `If-None-Match: *` on an existing record.
    pub fn already_exists() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "",
            "A record with matching key values already exists.",
        )
    }
    /// 400: a `$batch` body that cannot be read as a batch (boundary, framing, a part that is
    /// not a request). Dataverse answers these with plain JSON, not multipart.
    pub fn batch_format(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "0x0", message)
    }
    /// 400 `0x80048d19`: framing lines ending in a bare LF; Dataverse's reader fails with
    /// this message ([troubleshooting web-api-client-errors]).
    pub fn batch_bare_lf() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "0x80048d19",
            "Error identified in Payload provided by the user for Entity :'', For more information on this error please follow the help link https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : System.ArgumentException: Stream was not readable.",
        )
    }
    /// 400: more than `max` requests in one `$batch` (the code is not documented; the
    /// message follows ExecuteMultiple's batch-size fault).
    pub fn batch_too_large(count: usize, max: usize) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "0x0",
            format!(
                "The number of requests in the batch, {count}, exceeds the maximum allowed batch size of {max}."
            ),
        )
    }
    /// 400: a `$batch` part not run because the answer reached the emulator's cap (no
    /// Dataverse code: its limits are on the request side).
    pub fn batch_answer_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "0x0",
            format!(
                "The batch answer reached the emulator's limit of {limit} bytes, so this request was not run (or its answer was dropped). Send fewer requests per batch, select fewer columns or page with a smaller odata.maxpagesize."
            ),
        )
    }
    /// 400: a `$n` that names no earlier request of the same change set.
    pub fn content_id_missing(reference: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "0x0",
            format!("Content-ID Reference: '{reference}' does not exist in the batch context."),
        )
    }
    /// 414: a URL longer than Dataverse accepts (32,768 characters, 65,536 inside `$batch`).
    pub fn uri_too_long(length: usize, max: usize) -> Self {
        Self::new(
            StatusCode::URI_TOO_LONG,
            "0x0",
            format!(
                "The request URL is {length} characters long; Dataverse accepts at most {max}. Send long GETs inside $batch."
            ),
        )
    }
    /// 500 `0x80044151` (SqlTimeout): a query ran past the store's deadline. Dataverse answers
    /// a SQL timeout this way ("Sql error: SQL timeout expired", -2147204783).
    pub fn sql_timeout() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "0x80044151",
            "Sql error: SQL timeout expired. The query ran longer than the emulator's query timeout (query_timeout_ms); narrow the filter or page with fewer rows.",
        )
    }
    /// 500: an internal failure (details are logged, not sent).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "0x80040216",
            "An unexpected error occurred.",
        )
    }
}

impl IntoResponse for DataverseError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        for (key, value) in self.details {
            body["error"][format!("@Microsoft.PowerApps.CDS.ErrorDetails.{key}")] =
                serde_json::Value::String(value);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; odata.metadata=minimal"),
        );
        headers.insert("odata-version", HeaderValue::from_static("4.0"));
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
