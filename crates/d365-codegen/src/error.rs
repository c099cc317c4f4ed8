//! What can go wrong while generating.

/// Why code could not be generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodegenError {
    /// A requested table is neither a logical name nor an entity set name in the model.
    #[error("no table '{name}' in the metadata{}", suggestion.as_ref().map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default())]
    UnknownTable {
        /// The name as given.
        name: String,
        /// The closest logical name, if one is close.
        suggestion: Option<String>,
    },
    /// No table was asked for.
    #[error("no tables given")]
    NoTables,
    /// Two requested tables would become the same Rust type name.
    #[error("tables '{first}' and '{second}' both become the Rust type '{type_name}'")]
    TypeNameClash {
        /// The first table.
        first: String,
        /// The second table.
        second: String,
        /// The name they share.
        type_name: String,
    },
    /// An `EntityDefinitions` answer that is not the expected JSON shape.
    #[error("unexpected EntityDefinitions answer for '{table}': {message}")]
    Metadata {
        /// The table whose attributes were read.
        table: String,
        /// What was wrong.
        message: String,
    },
}
