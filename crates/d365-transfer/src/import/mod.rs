//! Rows from NDJSON or CSV into a table through the bulk messages (CreateMultiple,
//! UpdateMultiple, UpsertMultiple), all or nothing per chunk.
//!
//! * Chunks start at the chunk size and halve on timeouts and size errors.
//! * A chunk the server refuses is bisected until the bad rows stand alone; they go to the
//!   reject file with the server's error, the rest is written. On elastic tables (chunks of
//!   100) a chunk is not all or nothing: the error details say which rows failed, the others
//!   are in, and only the failed rows are sent again, one by one.
//! * A chunk whose answer was lost (a dropped connection) is sent again after a backoff
//!   (`d365-http`'s, [`resend_policy`]): creates carry ids derived from the run and the line,
//!   so a chunk that had been committed comes back as duplicates, which are looked up and
//!   counted as done rather than written twice.
//! * The [`Journal`] records every committed and rejected line; a resume skips them.
//!
//! Requests go through a [`Sender`], which [`d365_webapi::Client`] implements; tests use
//! their own, so chunking, bisection and journal replay are tested without a server.

mod engine;
mod ids;
mod input;
mod journal;
mod send;
mod shape;

use std::time::Duration;

use d365_http::{BackoffConfig, RetryConfig};

pub use engine::{Options, Stats, run};
pub use ids::IdScheme;
pub use input::{Row, Rows, open};
pub use journal::{Journal, path as journal_path};
pub use send::{RowWrite, Sender};
pub use shape::Shape;

#[cfg(test)]
mod tests;

/// How each row is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// New records (CreateMultiple).
    Create,
    /// Existing records by primary key (UpdateMultiple).
    Update,
    /// Create or update, by primary key or by an alternate key (UpsertMultiple).
    Upsert,
}

/// How rows are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The bulk messages, falling back to `$batch` where the table has none.
    Auto,
    /// CreateMultiple, UpdateMultiple, UpsertMultiple.
    Bulk,
    /// One `$batch` change set per chunk (also all or nothing).
    Batch,
    /// One request per row (slow; for comparison and odd tables).
    Single,
}

/// The first chunk size on standard tables, and on elastic tables (Microsoft's advice:
/// <https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations#optimal-batch-size>).
pub const STANDARD_CHUNK: usize = 1_000;
/// See [`STANDARD_CHUNK`].
pub const ELASTIC_CHUNK: usize = 100;

/// How long a chunk's resends go on at least (the fixed pauses of 250 ms to 4 s that came
/// before the jitter made 11.75 s).
pub const RESEND_AT_LEAST: Duration = Duration::from_secs(12);

/// The most resends of one chunk, whatever the pauses.
pub const MAX_RESENDS: u32 = 20;

/// Sending a chunk whose answer was lost again: at least 6 times and for at least
/// [`RESEND_AT_LEAST`] (at most [`MAX_RESENDS`] times), the pauses growing from 250 ms to at
/// most 4 s with `d365-http`'s jitter, so a lost answer is resent at once and a network blip
/// of seconds is ridden out before the import stops (to be resumed). The HTTP layer does not
/// retry these itself: a bulk write is not idempotent.
pub fn resend_policy() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            base: Duration::from_millis(250),
            cap: Duration::from_secs(4),
        },
        max_retries: 6,
        ..RetryConfig::default()
    }
}
