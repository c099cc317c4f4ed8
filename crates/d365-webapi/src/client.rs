//! The Web API client: cheap to clone, safe to share across tasks.

use std::sync::Arc;

use d365_auth::TokenCredential;
use d365_http::{HttpClient, RetryConfig, parse_retry_after, reqwest, send_with_retry};
use serde_json::Value;
use url::Url;

use crate::error::{ApiError, Error};
use crate::request::{
    CountRequest, CreateRequest, DeleteRequest, FetchXmlRequest, PatchRequest, QueryRequest,
    RecordKey, RetrieveRequest, UpsertMode, WhoAmIRequest,
};

/// A Dataverse Web API client for one environment.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: HttpClient,
    environment: Url,
    api_root: String,
    credential: Arc<dyn TokenCredential>,
    retry: RetryConfig,
}

/// Builds a [`Client`]; everything is checked in [`ClientBuilder::build`].
#[derive(Debug, Default)]
pub struct ClientBuilder {
    environment: Option<String>,
    api_version: Option<String>,
    credential: Option<Arc<dyn TokenCredential>>,
    retry: Option<RetryConfig>,
    http: Option<HttpClient>,
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
            None => HttpClient::new()?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                api_root: format!("{base}/api/data/{version}"),
                environment,
                credential,
                retry: self.retry.unwrap_or_default(),
            }),
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

    /// Queries an entity set (`accounts`).
    pub fn query(&self, entity_set: &str) -> QueryRequest {
        QueryRequest::new(self.clone(), entity_set)
    }

    /// Retrieves one record by id.
    pub fn retrieve(&self, entity_set: &str, id: uuid::Uuid) -> RetrieveRequest {
        RetrieveRequest::new(self.clone(), entity_set, id)
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
        let headers: Vec<(&str, String)> = prefer
            .map(|p| ("prefer", p.to_owned()))
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
        let url =
            Url::parse(url).map_err(|e| Error::InvalidQuery(format!("bad URL {url}: {e}")))?;
        if url.origin() != self.inner.environment.origin() {
            return Err(Error::ForeignLink(url.origin().ascii_serialization()));
        }
        let started = std::time::Instant::now();
        let resource = self.environment().to_owned();
        let inner = &self.inner;
        let idempotent = method != reqwest::Method::POST;
        let payload = body.map(|b| b.to_string());
        let response = send_with_retry(&inner.retry, idempotent, || {
            let (url, resource, method) = (url.clone(), resource.clone(), method.clone());
            let payload = payload.clone();
            async move {
                let token = inner.credential.get_token(&resource).await?;
                let mut request = inner
                    .http
                    .secure_request(method, url)?
                    .bearer_auth(token.secret())
                    .header("accept", "application/json")
                    .header("odata-maxversion", "4.0")
                    .header("odata-version", "4.0");
                for (name, value) in extra {
                    request = request.header(*name, value.as_str());
                }
                if let Some(p) = payload {
                    request = request
                        .header("content-type", "application/json; charset=utf-8")
                        .body(p);
                }
                Ok::<_, Error>(request)
            }
        })
        .await?;
        let status = response.status().as_u16();
        tracing::debug!(
            method = %method,
            path = url.path(),
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "web api request"
        );
        let request_id =
            header(&response, "x-ms-service-request-id").or_else(|| header(&response, "req_id"));
        let retry_after = header(&response, "retry-after").and_then(|v| parse_retry_after(&v));
        let entity_id = header(&response, "odata-entityid");
        let bytes = response
            .bytes()
            .await
            .map_err(|source| d365_http::HttpError::Request {
                method: method.to_string(),
                url: url.path().to_owned(),
                source: source.without_url(),
            })?;
        if !(200..300).contains(&status) {
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let error = &body["error"];
            return Err(Error::Api(ApiError {
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
            }));
        }
        Ok(Answer {
            path: url.path().to_owned(),
            entity_id,
            body: bytes.to_vec(),
        })
    }
}

/// A successful answer: what write operations need from it.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// The URL path (for error messages).
    pub(crate) path: String,
    /// `OData-EntityId`.
    pub(crate) entity_id: Option<String>,
    pub(crate) body: Vec<u8>,
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
