//! The Web API client: cheap to clone, safe to share across tasks.

use std::sync::Arc;

use d365_auth::{AccessToken, TokenCredential, TokenSource};
use d365_http::{
    ConcurrencyConfig, ConcurrencyController, ConcurrencyStats, Governors, HttpClient, RetryBudget,
    RetryBudgetConfig, RetryConfig, parse_retry_after, reqwest, send_governed,
};
use serde_json::Value;
use tracing::Instrument;
use url::Url;

use crate::error::{ApiError, Error};
use crate::request::{
    ActionRequest, CountRequest, CreateRequest, DeleteRequest, FetchXmlRequest, FunctionRequest,
    PatchRequest, PropertyRequest, QueryRequest, RecordKey, RelationRequest, RetrieveRequest,
    UpsertMode, WhoAmIRequest,
};

/// A Dataverse Web API client for one environment.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// `CallerObjectId` for impersonation ([`Client::impersonate`]).
    caller: Option<uuid::Uuid>,
}

#[derive(Debug)]
struct Inner {
    http: HttpClient,
    environment: Url,
    api_root: String,
    /// The path of `api_root` (`/api/data/v9.2`), to name entity sets in traces.
    api_path: String,
    credential: Arc<dyn TokenCredential>,
    retry: RetryConfig,
    budget: RetryBudget,
    concurrency: ConcurrencyController,
    /// `Prefer: odata.include-annotations="…"` on every read, when set.
    annotations: Option<String>,
    /// GETs with longer URLs go inside a `$batch` ([`ClientBuilder::max_url_length`]).
    max_url_length: usize,
}

/// Builds a [`Client`]; everything is checked in [`ClientBuilder::build`].
#[derive(Debug, Default)]
pub struct ClientBuilder {
    environment: Option<String>,
    api_version: Option<String>,
    credential: Option<Arc<dyn TokenCredential>>,
    retry: Option<RetryConfig>,
    budget: Option<RetryBudgetConfig>,
    concurrency: Option<ConcurrencyConfig>,
    annotations: Option<String>,
    http: Option<HttpClient>,
    timeout: Option<std::time::Duration>,
    user_agent: Option<String>,
    max_url_length: Option<usize>,
}

impl ClientBuilder {
    /// The environment URL, e.g. `https://contoso.crm.dynamics.com`.
    pub fn environment(mut self, url: impl Into<String>) -> Self {
        self.environment = Some(url.into());
        self
    }

    /// The Web API version (default `v9.2`).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = Some(version.into());
        self
    }

    /// Where tokens come from.
    pub fn credential(mut self, credential: Arc<dyn TokenCredential>) -> Self {
        self.credential = Some(credential);
        self
    }

    /// Retry policy (default: [`RetryConfig::default`]).
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = Some(retry);
        self
    }

    /// The retry budget shared by every clone of the client (default:
    /// [`RetryBudgetConfig::default`], 100 retries, one earned back per five successes).
    pub fn retry_budget(mut self, budget: RetryBudgetConfig) -> Self {
        self.budget = Some(budget);
        self
    }

    /// How many requests run at once across every clone of the client (default: adaptive,
    /// from `x-ms-dop-hint`, halving on 429, at most 52 as Dataverse allows per user).
    pub fn concurrency(mut self, concurrency: ConcurrencyConfig) -> Self {
        self.concurrency = Some(concurrency);
        self
    }

    /// Annotations every read asks for (`Prefer: odata.include-annotations="…"`), e.g. `"*"` or
    /// `"OData.Community.Display.V1.FormattedValue"`; see [`crate::AnnotatedRecord`] for reading them.
    pub fn include_annotations(mut self, pattern: impl Into<String>) -> Self {
        self.annotations = Some(pattern.into());
        self
    }

    /// The timeout of each attempt (default: the HTTP client's, 120 s); the retries' overall
    /// deadline is [`RetryConfig::retry_timeout`]. Ignored with [`ClientBuilder::http_client`].
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The `User-Agent` (default: `d365/<version>`). Ignored with [`ClientBuilder::http_client`].
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// The longest GET URL sent as is (default [`crate::MAX_URL_LENGTH`], Dataverse's
    /// 32,768 characters); a longer GET goes inside a `$batch`, where Dataverse takes URLs up
    /// to 65,536 characters, transparently (paging included).
    pub fn max_url_length(mut self, length: usize) -> Self {
        self.max_url_length = Some(length);
        self
    }

    /// A preconfigured HTTP client (timeouts, user agent, trusted roots).
    pub fn http_client(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<Client, Error> {
        let raw = self
            .environment
            .ok_or_else(|| Error::Config("no environment URL (set D365_URL or --url)".into()))?;
        let environment = Url::parse(raw.trim_end_matches('/'))
            .map_err(|e| Error::Config(format!("environment URL '{raw}' is not a URL: {e}")))?;
        d365_http::ensure_secure_url(&environment)?;
        let credential = self
            .credential
            .ok_or_else(|| Error::Config("no credential".into()))?;
        let version = self.api_version.unwrap_or_else(|| "v9.2".into());
        if !version.starts_with("v9.") {
            return Err(Error::Config(format!(
                "unsupported Web API version '{version}'"
            )));
        }
        let base = environment.as_str().trim_end_matches('/').to_owned();
        let http = match self.http {
            Some(h) => h,
            None => {
                let mut b = HttpClient::builder();
                if let Some(t) = self.timeout {
                    b = b.timeout(t);
                }
                if let Some(ua) = self.user_agent {
                    b = b.user_agent(ua);
                }
                b.build()?
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                api_root: format!("{base}/api/data/{version}"),
                api_path: format!(
                    "{}/api/data/{version}",
                    environment.path().trim_end_matches('/')
                ),
                environment,
                credential,
                retry: self.retry.unwrap_or_default(),
                budget: RetryBudget::new(self.budget.unwrap_or_default()),
                concurrency: ConcurrencyController::new(self.concurrency.unwrap_or_default()),
                annotations: self.annotations,
                max_url_length: self.max_url_length.unwrap_or(crate::MAX_URL_LENGTH),
            }),
            caller: None,
        })
    }
}

/// A decoded JSON response and the headers that matter.
#[derive(Debug, Clone)]
pub(crate) struct JsonResponse {
    pub(crate) body: Value,
}

impl Client {
    /// A builder.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The environment URL (the token resource), without a trailing slash.
    pub fn environment(&self) -> &str {
        self.inner.environment.as_str().trim_end_matches('/')
    }

    /// `{env}/api/data/v9.2`.
    pub fn api_root(&self) -> &str {
        &self.inner.api_root
    }

    /// `path` (`accounts?$select=name`, a leading `/` or not) under the API root.
    pub(crate) fn api_url(&self, path: &str) -> String {
        format!("{}/{}", self.api_root(), path.trim_start_matches('/'))
    }

    /// A client that acts on behalf of another user (`CallerObjectId`: the user's Entra object
    /// id); the signed-in principal needs the Dataverse privilege to impersonate. Shares the
    /// token cache, budget and concurrency of `self`.
    pub fn impersonate(&self, caller_object_id: uuid::Uuid) -> Client {
        Client {
            inner: self.inner.clone(),
            caller: Some(caller_object_id),
        }
    }

    /// What the concurrency controller has done so far.
    pub fn concurrency_stats(&self) -> ConcurrencyStats {
        self.inner.concurrency.stats()
    }

    /// Retries left in the shared budget.
    pub fn retry_budget_remaining(&self) -> u32 {
        self.inner.budget.remaining()
    }

    /// The annotations every read asks for ([`ClientBuilder::include_annotations`]).
    pub(crate) fn default_annotations(&self) -> Option<&str> {
        self.inner.annotations.as_deref()
    }

    /// The `Prefer` value for reads: `extra` (`odata.maxpagesize=…`) plus the client's default
    /// annotations.
    pub(crate) fn read_prefer(&self, extra: Option<&str>) -> Option<String> {
        // A caller's own include-annotations wins over the client's default.
        let annotations = self
            .inner
            .annotations
            .as_deref()
            .filter(|_| !extra.is_some_and(|e| e.contains("odata.include-annotations")))
            .map(|a| format!("odata.include-annotations=\"{a}\""));
        match (extra, annotations) {
            (None, a) => a,
            (Some(e), None) => Some(e.to_owned()),
            (Some(e), Some(a)) => Some(format!("{e},{a}")),
        }
    }

    /// Queries an entity set (`accounts`).
    pub fn query(&self, entity_set: &str) -> QueryRequest {
        QueryRequest::new(self.clone(), entity_set)
    }

    /// Retrieves one record by id or alternate key ([`RecordKey`]).
    pub fn retrieve(&self, entity_set: &str, key: impl Into<RecordKey>) -> RetrieveRequest {
        RetrieveRequest::new(self.clone(), entity_set, key.into())
    }

    /// Creates a record in an entity set.
    pub fn create(&self, entity_set: &str, record: Value) -> CreateRequest {
        CreateRequest::new(self.clone(), entity_set, record)
    }

    /// Updates an existing record (`If-Match: *`: a missing record is a 404, never created).
    pub fn update(
        &self,
        entity_set: &str,
        key: impl Into<RecordKey>,
        changes: Value,
    ) -> PatchRequest {
        PatchRequest::new(
            self.clone(),
            entity_set,
            key.into(),
            changes,
            UpsertMode::UpdateOnly,
        )
    }

    /// Updates the record or creates it (by id or alternate key); see [`UpsertMode`].
    pub fn upsert(
        &self,
        entity_set: &str,
        key: impl Into<RecordKey>,
        record: Value,
    ) -> PatchRequest {
        PatchRequest::new(
            self.clone(),
            entity_set,
            key.into(),
            record,
            UpsertMode::CreateOrUpdate,
        )
    }

    /// Deletes a record.
    pub fn delete(&self, entity_set: &str, key: impl Into<RecordKey>) -> DeleteRequest {
        DeleteRequest::new(self.clone(), entity_set, key.into())
    }

    /// A FetchXML query on an entity set (the set of the document's `<entity>`).
    pub fn fetch_xml(&self, entity_set: &str, xml: &str) -> FetchXmlRequest {
        FetchXmlRequest::new(self.clone(), entity_set, xml)
    }

    /// Counts the rows of an entity set (`/$count`).
    pub fn count(&self, entity_set: &str) -> CountRequest {
        CountRequest::new(self.clone(), entity_set)
    }

    /// A function (`GET`): unbound, or bound with [`FunctionRequest::bound`].
    pub fn function(&self, name: &str) -> FunctionRequest {
        FunctionRequest::new(self.clone(), name)
    }

    /// An action (`POST`): unbound, or bound with [`ActionRequest::bound`].
    pub fn action(&self, name: &str) -> ActionRequest {
        ActionRequest::new(self.clone(), name)
    }

    /// Adds `target` to a collection-valued navigation property of a record
    /// (`POST …/{navigation}/$ref`), e.g. a contact to `contact_customer_accounts`.
    pub fn associate(
        &self,
        entity_set: &str,
        key: impl Into<RecordKey>,
        navigation: &str,
        target_set: &str,
        target_id: uuid::Uuid,
    ) -> RelationRequest {
        RelationRequest::associate(
            self,
            entity_set,
            key.into(),
            navigation,
            target_set,
            target_id,
        )
    }

    /// Removes `target_id` from a collection-valued navigation property
    /// (`DELETE …/{navigation}({id})/$ref`).
    pub fn disassociate(
        &self,
        entity_set: &str,
        key: impl Into<RecordKey>,
        navigation: &str,
        target_id: uuid::Uuid,
    ) -> RelationRequest {
        RelationRequest::disassociate(self, entity_set, key.into(), navigation, target_id)
    }

    /// Points a lookup (single-valued navigation property) at `target`
    /// (`PUT …/{navigation}/$ref`).
    pub fn set_lookup(
        &self,
        entity_set: &str,
        key: impl Into<RecordKey>,
        navigation: &str,
        target_set: &str,
        target_id: uuid::Uuid,
    ) -> RelationRequest {
        RelationRequest::set_lookup(
            self,
            entity_set,
            key.into(),
            navigation,
            target_set,
            target_id,
        )
    }

    /// Clears a lookup (`DELETE …/{navigation}/$ref`).
    pub fn clear_lookup(
        &self,
        entity_set: &str,
        key: impl Into<RecordKey>,
        navigation: &str,
    ) -> RelationRequest {
        RelationRequest::clear_lookup(self, entity_set, key.into(), navigation)
    }

    /// Sets one property (`PUT …/{property}` with `{"value": …}`).
    pub fn set_property(
        &self,
        entity_set: &str,
        key: impl Into<RecordKey>,
        property: &str,
        value: Value,
    ) -> PropertyRequest {
        PropertyRequest::new(self, entity_set, key.into(), property, Some(value))
    }

    /// Clears one property to null (`DELETE …/{property}`).
    pub fn clear_property(
        &self,
        entity_set: &str,
        key: impl Into<RecordKey>,
        property: &str,
    ) -> PropertyRequest {
        PropertyRequest::new(self, entity_set, key.into(), property, None)
    }

    /// A `$batch`: GETs and change sets in one request ([`crate::BatchRequest`]).
    pub fn batch(&self) -> crate::BatchRequest {
        crate::BatchRequest::new(self.clone())
    }

    /// Calls `WhoAmI`.
    pub fn who_am_i(&self) -> WhoAmIRequest {
        WhoAmIRequest::new(self.clone())
    }

    /// GETs `url` (absolute, inside this environment) with the usual OData headers and an
    /// optional `Prefer`, retrying per the policy, and decodes the JSON answer.
    pub(crate) async fn get_json(
        &self,
        url: &str,
        prefer: Option<&str>,
    ) -> Result<JsonResponse, Error> {
        let headers: Vec<(&str, String)> = self
            .read_prefer(prefer)
            .map(|p| ("prefer", p))
            .into_iter()
            .collect();
        let answer = self.send(reqwest::Method::GET, url, None, &headers).await?;
        let body = serde_json::from_slice(&answer.body).map_err(|e| Error::Decode {
            url: answer.path.clone(),
            message: e.to_string(),
        })?;
        Ok(JsonResponse { body })
    }

    /// Sends one request (absolute `url` inside this environment) with the OData headers,
    /// the token, `extra` headers and an optional JSON body, retrying per the policy: GET,
    /// PATCH, PUT and DELETE are idempotent; POST is retried only when it was never sent.
    /// A non-2xx answer is an [`ApiError`].
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
        extra: &[(&str, String)],
    ) -> Result<Answer, Error> {
        if method == reqwest::Method::GET && url.len() > self.inner.max_url_length {
            return crate::request::get_in_batch(self, url, extra).await;
        }
        let idempotent = method != reqwest::Method::POST;
        let payload = body.map(|b| ("application/json; charset=utf-8".to_owned(), b.to_string()));
        let (path, answer) = self
            .send_raw(method, url, payload, extra, idempotent)
            .await?;
        let status = answer.status.as_u16();
        let request_id = answer
            .header("x-ms-service-request-id")
            .or_else(|| answer.header("req_id"))
            .map(str::to_owned);
        let retry_after = answer.header("retry-after").and_then(parse_retry_after);
        let entity_id = answer.header("odata-entityid").map(str::to_owned);
        let bytes = answer.body;
        if !(200..300).contains(&status) {
            return Err(Error::Api(api_error(
                status,
                &bytes,
                request_id,
                retry_after,
            )));
        }
        Ok(Answer {
            path,
            entity_id,
            body: bytes,
        })
    }

    /// Sends one request with the OData headers, the token, `extra` headers and an optional
    /// body (content type, text), retrying per the policy, and returns the URL path and the
    /// answer whatever its status.
    pub(crate) async fn send_raw(
        &self,
        method: reqwest::Method,
        url: &str,
        payload: Option<(String, String)>,
        extra: &[(&str, String)],
        idempotent: bool,
    ) -> Result<(String, d365_http::Buffered), Error> {
        let url =
            Url::parse(url).map_err(|e| Error::InvalidQuery(format!("bad URL {url}: {e}")))?;
        if url.origin() != self.inner.environment.origin() {
            return Err(Error::ForeignLink(url.origin().ascii_serialization()));
        }
        let resource = self.environment().to_owned();
        let inner = &self.inner;
        let caller = self.caller.map(|c| c.to_string());
        let entity_set = url
            .path()
            .strip_prefix(inner.api_path.as_str())
            .unwrap_or_default()
            .trim_start_matches('/')
            .split(['/', '('])
            .next()
            .unwrap_or_default()
            .to_owned();
        // OpenTelemetry's HTTP client conventions where they exist.
        let span = tracing::info_span!(
            "d365.request",
            otel.kind = "client",
            http.request.method = %method,
            d365.entity_set = %entity_set,
            url.path = %url.path(),
            http.response.status_code = tracing::field::Empty,
            http.request.resend_count = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let governors = Governors {
            budget: Some(&inner.budget),
            concurrency: Some(&inner.concurrency),
        };
        // The token each attempt sent, and where it came from.
        let used: std::sync::Mutex<Option<(AccessToken, TokenSource)>> = Default::default();
        let make = || {
            let (url, resource, method) = (url.clone(), resource.clone(), method.clone());
            let (payload, caller) = (payload.clone(), caller.clone());
            let used = &used;
            async move {
                let (token, source) = inner.credential.get_token_with_source(&resource).await?;
                *used.lock().unwrap_or_else(|e| e.into_inner()) = Some((token.clone(), source));
                let mut request = inner
                    .http
                    .secure_request(method, url)?
                    .bearer_auth(token.secret());
                // A caller's Accept (XML for $metadata) replaces the JSON default.
                if !extra.iter().any(|(n, _)| n.eq_ignore_ascii_case("accept")) {
                    request = request.header("accept", "application/json");
                }
                request = request
                    .header("odata-maxversion", "4.0")
                    .header("odata-version", "4.0");
                if let Some(caller) = caller {
                    request = request.header("callerobjectid", caller);
                }
                for (name, value) in extra {
                    request = request.header(*name, value.as_str());
                }
                if let Some((content_type, p)) = payload {
                    request = request.header("content-type", content_type).body(p);
                }
                Ok::<_, Error>(request)
            }
        };
        let mut answer = send_governed(&inner.retry, idempotent, governors, make)
            .instrument(span.clone())
            .await?;
        // A cached token the resource refuses (a key rollover, a revocation, a restarted
        // emulator): drop it, get a new one and send once more; never for a token just acquired.
        let refused = used.lock().unwrap_or_else(|e| e.into_inner()).take();
        if answer.status == reqwest::StatusCode::UNAUTHORIZED
            && let Some((token, TokenSource::Cache)) = refused
            && inner.credential.invalidate(&resource, &token).await
        {
            span.in_scope(|| tracing::debug!("cached token refused; sending again with a new one"));
            answer = send_governed(&inner.retry, idempotent, governors, make)
                .instrument(span.clone())
                .await?;
        }
        let status = answer.status.as_u16();
        span.record("http.response.status_code", status);
        span.record("http.request.resend_count", answer.retries);
        span.record("elapsed_ms", started.elapsed().as_millis() as u64);
        span.in_scope(|| tracing::debug!(status, retries = answer.retries, "web api request"));
        Ok((url.path().to_owned(), answer))
    }
}

/// The [`ApiError`] of a non-2xx answer: Dataverse's `{"error":{"code","message"}}`, else the
/// start of the body.
pub(crate) fn api_error(
    status: u16,
    bytes: &[u8],
    request_id: Option<String>,
    retry_after: Option<std::time::Duration>,
) -> ApiError {
    let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let error = &body["error"];
    ApiError {
        status,
        code: error["code"].as_str().unwrap_or_default().to_owned(),
        message: error["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned()
            }),
        request_id,
        retry_after,
        bulk_outcomes: bulk_outcomes(error),
    }
}

/// `@Microsoft.PowerApps.CDS.ErrorDetails.Plugin.BulkApiErrorDetails`: a JSON string of
/// `[{"RequestIndex","Id","StatusCode"}]`.
fn bulk_outcomes(error: &Value) -> Vec<crate::error::BulkOutcome> {
    // Documented as a JSON string; an array is read too.
    let items: Vec<Value> = match &error["@Microsoft.PowerApps.CDS.ErrorDetails.Plugin.BulkApiErrorDetails"]
    {
        Value::String(text) => serde_json::from_str(text).unwrap_or_default(),
        Value::Array(items) => items.clone(),
        _ => return Vec::new(),
    };
    items
        .iter()
        .filter_map(|item| {
            Some(crate::error::BulkOutcome {
                request_index: usize::try_from(item["RequestIndex"].as_u64()?).ok()?,
                id: item["Id"]
                    .as_str()
                    .and_then(|s| uuid::Uuid::parse_str(s).ok()),
                status: u16::try_from(item["StatusCode"].as_u64()?).ok()?,
            })
        })
        .collect()
}

/// A successful answer: what write operations need from it.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// The URL path (for error messages).
    pub(crate) path: String,
    /// `OData-EntityId`.
    pub(crate) entity_id: Option<String>,
    pub(crate) body: bytes::Bytes,
}
