//! One request builder per operation, each ending in `send()`.

mod batch;
mod bulk;
mod bulk_delete;
mod changes;
mod fetch_xml;
mod metadata;
mod operation;
mod query;
mod relate;
mod retrieve;
mod who_am_i;
mod write;

pub(crate) use batch::get_in_batch;
pub use batch::{
    BatchRequest, BatchResult, BatchTarget, ChangeSet, ContentRef, MAX_BATCH_REQUESTS,
    MAX_URL_LENGTH,
};
pub use bulk::{BulkMessage, BulkRequest};
pub use bulk_delete::{BulkDeleteRequest, JobState, SystemJob};
pub use changes::{Changes, ChangesRequest, InitialLoad, TrackChangesRequest};
pub use fetch_xml::{FetchPage, FetchXmlRequest};
pub use metadata::{ColumnDefinition, EntityDefinitionsRequest, MetadataRequest, TableDefinition};
pub use operation::{ActionRequest, FunctionRequest, ParamValue};
pub use query::QueryRequest;
pub use relate::{PropertyRequest, RelationRequest};
pub use retrieve::{ConditionalRetrieveRequest, RetrieveRequest, Retrieved};
pub use who_am_i::{WhoAmI, WhoAmIRequest};
pub use write::{CountRequest, CreateRequest, DeleteRequest, PatchRequest, RecordKey, UpsertMode};

/// An `$expand` value given as OData text, parsed now (a query's and a retrieve's
/// `expand_text`).
fn parse_expand_text(text: &str) -> Result<Vec<d365_odata::ExpandItem>, crate::Error> {
    d365_odata::parse_expand(text).map_err(|e| crate::Error::InvalidQuery(format!("$expand: {e}")))
}
