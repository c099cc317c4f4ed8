//! The Dataverse Web API client.
//!
//! * [`Client`] (from [`Client::builder`]): one environment, one credential, shared freely.
//! * One request builder per operation ([`QueryRequest`], [`RetrieveRequest`],
//!   [`CreateRequest`], [`PatchRequest`] for update and upsert, [`DeleteRequest`],
//!   [`CountRequest`], [`WhoAmIRequest`]), each ending in `send()`; records by id or
//!   alternate key ([`RecordKey`]); query text comes from `d365-odata`'s printer.
//! * Paging as a `Stream` that follows `@odata.nextLink` verbatim ([`QueryRequest::into_stream`]),
//!   or [`Page`] by page.
//! * Errors: [`ApiError`] with Dataverse's code and message and the request id, never the token.
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
mod paging;
mod record;
mod request;

pub use client::{Client, ClientBuilder};
pub use d365_http::{ConcurrencyConfig, ConcurrencyStats, RetryBudgetConfig, RetryConfig};
pub use error::{ApiError, Error};
pub use paging::Page;
pub use record::{
    AnnotatedRecord, FORMATTED_VALUE, LOOKUP_LOGICAL_NAME, LookupValue, NAVIGATION_PROPERTY,
    surface_annotations,
};
pub use request::{
    ActionRequest, ColumnDefinition, CountRequest, CreateRequest, DeleteRequest,
    EntityDefinitionsRequest, FetchPage, FetchXmlRequest, FunctionRequest, MetadataRequest,
    ParamValue, PatchRequest, PropertyRequest, QueryRequest, RecordKey, RelationRequest,
    RetrieveRequest, TableDefinition, UpsertMode, WhoAmI, WhoAmIRequest,
};
