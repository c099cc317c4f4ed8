//! The crate's one error type. Each variant says what failed and keeps what it failed on as
//! its source, so the CLI's `{:#}` prints the same chain `anyhow` context would.

use std::path::PathBuf;

/// A data movement failed. Web API errors are boxed, as object_store boxes its `RetryError`:
/// they are large, and a small `Result` keeps every call cheap.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A Web API request failed.
    #[error(transparent)]
    Api(Box<d365_webapi::Error>),
    /// A Web API request failed while doing something named.
    #[error("{doing}")]
    ApiWhile {
        /// What was being done.
        doing: String,
        /// The request's error.
        #[source]
        source: Box<d365_webapi::Error>,
    },
    /// No table has this entity set.
    #[error("no table has the entity set '{entity_set}'")]
    NoTable {
        /// The entity set asked for.
        entity_set: String,
    },
    /// The table's metadata has no primary key.
    #[error("{table} has no primary key in its metadata")]
    NoPrimaryKey {
        /// The table's logical name.
        table: String,
    },
    /// A refusal whose message says it all: input, options or saved state that cannot work,
    /// or a server that cannot be used as asked.
    #[error("{0}")]
    Refused(String),
    /// Another error, while doing something named.
    #[error("{doing}")]
    While {
        /// What was being done.
        doing: String,
        /// What failed.
        #[source]
        source: Box<Error>,
    },
    /// A chunk whose answer was lost was sent as often as the resend policy allows.
    #[error("lines {first}–{last} were sent {times} times without an answer")]
    Unanswered {
        /// The chunk's first input line.
        first: u64,
        /// Its last input line.
        last: u64,
        /// How often it was sent.
        times: u32,
        /// The last send's error.
        #[source]
        source: Box<d365_webapi::Error>,
    },
    /// A path is a symbolic link, which is never written through.
    #[error("{} is a symbolic link: d365 does not write through one", path.display())]
    SymbolicLink {
        /// The link.
        path: PathBuf,
    },
    /// A path is not a regular file.
    #[error("{} is not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// Writing the Parquet output failed (`parquet` feature).
    #[error("writing Parquet: {0}")]
    Parquet(String),
    /// A file operation failed.
    #[error("{doing}")]
    File {
        /// What was being done, with the path.
        doing: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An I/O error with no more to say than itself.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// JSON that does not read or write.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// JSON that does not read, in a named file.
    #[error("{doing}")]
    JsonIn {
        /// What was being read, with the path.
        doing: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A CSV input that does not read.
    #[error("{doing}")]
    Csv {
        /// What was being read.
        doing: String,
        /// The CSV error.
        #[source]
        source: csv::Error,
    },
    /// A SQLite mirror failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// A SQLite mirror failed while doing something named.
    #[error("{doing}")]
    SqliteWhile {
        /// What was being done.
        doing: String,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A PostgreSQL mirror failed.
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    /// A PostgreSQL mirror failed while doing something named.
    #[error("{doing}")]
    PostgresWhile {
        /// What was being done.
        doing: String,
        /// The PostgreSQL error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The TLS set-up for PostgreSQL failed.
    #[error("{doing}")]
    Tls {
        /// What was being set up.
        doing: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// The Web API error this failure comes from, if one does (through `While` too): what a
    /// caller needs to tell a refused sign-in or a throttled request from the rest.
    pub fn api_error(&self) -> Option<&d365_webapi::Error> {
        match self {
            Error::Api(e)
            | Error::ApiWhile { source: e, .. }
            | Error::Unanswered { source: e, .. } => Some(e),
            Error::While { source, .. } => source.api_error(),
            _ => None,
        }
    }
}

/// The crate's `Result`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<d365_webapi::Error> for Error {
    fn from(e: d365_webapi::Error) -> Self {
        Self::Api(Box::new(e))
    }
}

impl Error {
    /// `Refused` from a message.
    pub(crate) fn refused(message: impl Into<String>) -> Self {
        Self::Refused(message.into())
    }

    /// `File` for an I/O error while doing `doing`.
    pub(crate) fn file(doing: String) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::File { doing, source }
    }

    /// `Tls` for an error while doing `doing`.
    pub(crate) fn tls<E>(doing: String) -> impl FnOnce(E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        move |e| Self::Tls {
            doing,
            source: Box::new(e),
        }
    }
}
