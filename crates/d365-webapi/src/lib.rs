//! The Dataverse Web API client.
//!
//! * [`Client`] (from [`Client::builder`] or [`ClientBuilder::from_env`]): one environment, one
//!   credential, cheap to clone and shared freely across tasks.
//! * One request builder per operation, each ending in `send()`: [`QueryRequest`] (records as
//!   `serde_json::Value` or any serde type), [`RetrieveRequest`], [`CreateRequest`],
//!   [`PatchRequest`] for update and upsert, [`DeleteRequest`], [`PropertyRequest`] for one
//!   column, [`RelationRequest`] for links (`$ref`), [`FunctionRequest`] and [`ActionRequest`]
//!   with typed parameters, [`FetchXmlRequest`] with the paging-cookie algorithm,
//!   [`CountRequest`], [`WhoAmIRequest`], [`MetadataRequest`] and [`EntityDefinitionsRequest`];
//!   records by id or alternate key ([`RecordKey`]); query text comes from `d365-odata`'s printer.
//! * `$batch` ([`Client::batch`] → [`BatchRequest`]): GETs and change sets (all or nothing, with
//!   `$n` references through [`ContentRef`]), one [`BatchResult`] per response part; a GET
//!   longer than [`MAX_URL_LENGTH`] goes inside a batch by itself, paging included.
//! * Paging as a `Stream` that follows `@odata.nextLink` verbatim ([`QueryRequest::into_stream`],
//!   [`QueryRequest::into_typed_stream`]), or [`Page`] by page, or [`RawPage`] by page (the
//!   response's bytes, records borrowed from them: [`QueryRequest::raw_pages`]); `$count=true` with whether the
//!   count hit Dataverse's 5,000 cap ([`Page::count_limit_exceeded`]); the rest of an expanded
//!   collection through its `<nav>@odata.nextLink` ([`Client::expanded`]).
//! * Conditional retrieves: [`RetrieveRequest::if_none_match`] answers [`Retrieved::NotModified`]
//!   while the record's etag is current.
//! * Change tracking: [`QueryRequest::track_changes`] loads everything with a delta link
//!   ([`InitialLoad`]); [`Client::changes`] follows it to the records created or updated and
//!   the ids deleted since ([`Changes`]), with the next delta link;
//!   [`ApiError::is_expired_delta_token`] says when to load everything again.
//! * Resilience from `d365-http`: `Retry-After`, backoff, a shared retry budget, and an AIMD
//!   concurrency controller fed by `x-ms-dop-hint` ([`ConcurrencyConfig`]); a `tracing` span per
//!   request (`d365.request`: method, entity set, status, retries, elapsed).
//! * Impersonation ([`Client::impersonate`]), and annotations read through [`AnnotatedRecord`]
//!   or flattened by [`surface_annotations`].
//! * Errors: [`ApiError`] with Dataverse's code and message, the request id and `Retry-After`,
//!   never the token.
//!
//! ```
//! use std::sync::Arc;
//! use d365_auth::{AccessToken, StaticTokenCredential};
//! use d365_odata::col;
//! use d365_webapi::Client;
//!
//! let client = Client::builder()
//!     .environment("https://contoso.crm.dynamics.com")
//!     .credential(Arc::new(StaticTokenCredential::new(AccessToken::new("token"))))
//!     .build()
//!     .unwrap();
//! let query = client
//!     .query("accounts")
//!     .select(["name", "revenue"])
//!     .filter(col("name").startswith("Con").and(col("revenue").gt(1000)))
//!     .top(10);
//! assert_eq!(
//!     query.url(),
//!     "https://contoso.crm.dynamics.com/api/data/v9.2/accounts?$select=name,revenue\
//!      &$filter=startswith(name,'Con')%20and%20revenue%20gt%201000&$top=10"
//! );
//! ```

mod client;
mod error;
mod from_env;
mod paging;
mod query_expression;
mod record;
mod request;

pub use client::{Client, ClientBuilder};
pub use d365_http::{ConcurrencyConfig, ConcurrencyStats, RetryBudgetConfig, RetryConfig};
pub use error::{ApiError, BulkOutcome, Error};
pub use paging::{Page, RawPage};
pub use query_expression::{
    ConditionExpression, FilterExpression, LogicalOperator, QueryExpression,
};
pub use record::{
    AnnotatedRecord, FORMATTED_VALUE, LOOKUP_LOGICAL_NAME, LookupValue, NAVIGATION_PROPERTY,
    surface_annotations,
};
pub use request::{
    ActionRequest, BatchRequest, BatchResult, BatchTarget, BulkDeleteRequest, BulkMessage,
    BulkRequest, ChangeSet, Changes, ChangesRequest, ColumnDefinition, ConditionalRetrieveRequest,
    ContentRef, CountRequest, CreateRequest, DeleteRequest, EntityDefinitionsRequest, FetchPage,
    FetchXmlRequest, FunctionRequest, InitialLoad, JobState, MAX_BATCH_REQUESTS, MAX_URL_LENGTH,
    MetadataRequest, ParamValue, PatchRequest, PropertyRequest, QueryRequest, RecordKey,
    RelationRequest, RetrieveRequest, Retrieved, SystemJob, TableDefinition, TrackChangesRequest,
    UpsertMode, WhoAmI, WhoAmIRequest,
};
