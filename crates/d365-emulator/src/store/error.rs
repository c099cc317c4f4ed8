//! What a failed store call means, decided once here from SQLite's error, so the layers above
//! never look at `rusqlite` (they convert [`StoreError`] into their answer in `error/`).

use crate::error::{DataverseError, StartError};

/// A failed store call, classified.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A query ran past the store's deadline ([`super::Store::query_timeout`]).
    #[error("the query ran past the store's deadline")]
    TimedOut,
    /// SQLite's own size limits (an expression tree deeper than 1,000, more than 32,766
    /// parameters …): the query's size, not a fault of ours. SQLite's message.
    #[error("the query is too large to run: {0}")]
    TooLarge(String),
    /// A LIKE pattern built from a column is past the limit.
    #[error("a LIKE pattern built from a column is too long")]
    PatternTooLong,
    /// A write hit an Active alternate key's unique index.
    #[error("duplicate alternate key value in {table} ({columns:?})")]
    DuplicateKey {
        /// The table written.
        table: String,
        /// The key's columns.
        columns: Vec<String>,
    },
    /// Anything else: ours.
    #[error("sqlite: {0}")]
    Sqlite(#[source] rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) {
            return Self::TimedOut;
        }
        if let Some((table, columns)) = super::keys::violated_columns(&e) {
            return Self::DuplicateKey { table, columns };
        }
        if let rusqlite::Error::SqliteFailure(_, Some(m)) = &e {
            if m.contains("pattern too complex") {
                return Self::PatternTooLong;
            }
            if m.contains("too large") || m.contains("too many") {
                return Self::TooLarge(m.clone());
            }
        }
        Self::Sqlite(e)
    }
}

impl From<rusqlite::Error> for StartError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::from(e).into()
    }
}

impl From<StoreError> for StartError {
    fn from(e: StoreError) -> Self {
        StartError::Store(Box::new(e))
    }
}

// The answer to a failed store call is decided here, beside the classification, so that
// `error/` (which every module uses) depends on no store type.
impl DataverseError {
    /// A failed store call: a query stopped at its deadline is Dataverse's SQL timeout, a query
    /// past SQLite's limits is the client's, a duplicate alternate key value is 412; anything
    /// else is ours (logged with `what`, not sent).
    pub fn store(e: impl Into<StoreError>, what: &str) -> Self {
        match e.into() {
            StoreError::TimedOut => Self::sql_timeout(),
            StoreError::TooLarge(limit) => {
                Self::bad_query(format!("The query is too large to run: {limit}."))
            }
            StoreError::PatternTooLong => Self::bad_query(format!(
                "A LIKE pattern built from a column is longer than {} characters.",
                super::MAX_LIKE_PATTERN
            )),
            StoreError::DuplicateKey { columns, .. } => Self::duplicate_key(None, &columns),
            e @ StoreError::Sqlite(_) => {
                tracing::error!(error = %e, "{what} failed");
                Self::internal()
            }
        }
    }
}
