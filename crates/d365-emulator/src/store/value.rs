//! The values the store takes and gives for columns, the one way a GUID is stored, and the
//! WHERE fragments the query planner makes for the store to run.

pub use rusqlite::types::Value;

/// A GUID as the store keeps it: its 16 bytes, as a blob.
pub fn guid(id: uuid::Uuid) -> Value {
    Value::Blob(id.as_bytes().to_vec())
}

/// The id of a record created without one. Dataverse makes sequential GUIDs for new records
/// (so its clustered indexes grow at their end); these are time-ordered (version 7), which in
/// the store's byte order does the same: a new row appends to its table's key B-tree instead
/// of landing at a random page (at a million rows, more than twice the insert rate).
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

/// A SQL WHERE fragment with its parameters, as the query planner (`query/`) makes it and the
/// store runs it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SqlFilter {
    /// The SQL text (`?` placeholders).
    pub sql: String,
    /// The parameters, in order.
    pub params: Vec<Value>,
}
