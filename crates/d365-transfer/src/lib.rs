//! Data movement for Dataverse, as a library: what `d365 export`, `d365 import` and
//! `d365 sync` do, without their flags, bars or printing.
//!
//! * [`csv`]: records as CSV rows (the export's CSV output, the CLI's `--output csv`).
//! * [`table`]: a table as data movement sees it (the columns a `$select` can read, lookups by
//!   their `_x_value` property).
//! * [`export`]: every row of a table into resumable part files, read in parallel ranges.
//! * [`import`]: rows from NDJSON or CSV into a table in chunks through the bulk messages,
//!   with bisection of refused chunks, resends of lost ones and a journal to resume from.
//! * [`sync`]: a mirror of tables in SQLite or PostgreSQL, behind the [`sync::Sink`] trait,
//!   kept current through change tracking.
//! * [`private_file`]: the files written beside the user's data, owner-only and never through
//!   a symbolic link.
//!
//! Progress goes to a callback ([`Progress`]); errors are typed ([`Error`]).
//!
//! ```no_run
//! # async fn run(client: d365_webapi::Client) -> Result<(), d365_transfer::Error> {
//! use d365_transfer::sync::{self, TableSpec};
//! let mut sink = sync::open("sqlite:mirror.db").await?;
//! let accounts = TableSpec::read(&client, "accounts").await?;
//! sync::sync_table(&client, sink.as_mut(), &accounts, 5000, &|p| eprintln!("{p:?}")).await?;
//! # Ok(()) }
//! ```

pub mod csv;
mod error;
pub mod export;
pub mod import;
pub mod private_file;
mod progress;
pub mod sync;
pub mod table;

pub use error::{Error, Result};
pub use progress::{OnProgress, Progress, quiet};
