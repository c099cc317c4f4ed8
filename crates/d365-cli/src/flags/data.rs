//! Flags of the data movement commands (`export`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::AuthArgs;

/// A file format for exported rows.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ExportFormat {
    /// One JSON object per line.
    Ndjson,
    /// Comma-separated values with a header row.
    Csv,
    /// Apache Parquet, typed columns (build with `--features parquet`).
    Parquet,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The entity set, e.g. accounts.
    pub(crate) entity_set: String,
    /// The output file; its extension picks the format (.ndjson/.jsonl, .csv, .parquet).
    #[arg(long, short)]
    pub(crate) out: PathBuf,
    /// The format, when the extension does not say.
    #[arg(long, value_enum)]
    pub(crate) format: Option<ExportFormat>,
    /// Columns, comma-separated (default: every column the table's metadata lists).
    #[arg(long, value_delimiter = ',')]
    pub(crate) select: Vec<String>,
    /// Only rows matching this OData filter.
    #[arg(long)]
    pub(crate) filter: Option<String>,
    /// Ranges read at once: a number, or `auto` (the server's x-ms-dop-hint).
    #[arg(long, default_value = "1")]
    pub(crate) parallel: String,
    /// Continue an export that stopped (crash, Ctrl-C) from its checkpoint file.
    #[arg(long)]
    pub(crate) resume: bool,
    /// Rows per page.
    #[arg(long, default_value_t = 5000)]
    pub(crate) page_size: u32,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}
