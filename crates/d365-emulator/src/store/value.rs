//! The values the store takes and gives for columns, and the one way a GUID is stored.

pub use rusqlite::types::Value;

/// A GUID as the store keeps it: its 16 bytes, as a blob.
pub fn guid(id: uuid::Uuid) -> Value {
    Value::Blob(id.as_bytes().to_vec())
}
