//! Flags of the data movement commands (`export`, `import`, `sync`, `bulk-delete`, `job`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::AuthArgs;

/// A file format for exported rows.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum ExportFormat {
    /// One JSON object per line.
    Ndjson,
    /// Comma-separated values with a header row.
    Csv,
    /// Apache Parquet, typed columns (in the default build).
    Parquet,
}

impl From<ExportFormat> for d365_transfer::export::Format {
    fn from(f: ExportFormat) -> Self {
        match f {
            ExportFormat::Ndjson => Self::Ndjson,
            ExportFormat::Csv => Self::Csv,
            ExportFormat::Parquet => Self::Parquet,
        }
    }
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

/// How `d365 import` writes each row.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum ImportMode {
    /// New records (CreateMultiple).
    Create,
    /// Existing records by primary key (UpdateMultiple).
    Update,
    /// Create or update, by primary key or by `--key` (UpsertMultiple).
    Upsert,
}

/// How `d365 import` sends rows.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum ImportVia {
    /// The bulk messages, falling back to `$batch` where the table has none.
    Auto,
    /// CreateMultiple, UpdateMultiple, UpsertMultiple.
    Bulk,
    /// One `$batch` change set per chunk (also all or nothing).
    Batch,
    /// One request per row (slow; for comparison and odd tables).
    Single,
}

impl From<ImportMode> for d365_transfer::import::Mode {
    fn from(m: ImportMode) -> Self {
        match m {
            ImportMode::Create => Self::Create,
            ImportMode::Update => Self::Update,
            ImportMode::Upsert => Self::Upsert,
        }
    }
}

impl From<ImportVia> for d365_transfer::import::Via {
    fn from(v: ImportVia) -> Self {
        match v {
            ImportVia::Auto => Self::Auto,
            ImportVia::Bulk => Self::Bulk,
            ImportVia::Batch => Self::Batch,
            ImportVia::Single => Self::Single,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The entity set, e.g. accounts.
    pub(crate) entity_set: String,
    /// The input: NDJSON (.ndjson, .jsonl) or CSV (.csv) with a header row.
    #[arg(long = "in", short)]
    pub(crate) input: PathBuf,
    /// How rows are written.
    #[arg(long, value_enum, default_value = "create")]
    pub(crate) mode: ImportMode,
    /// Upsert by this alternate key: its column(s), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub(crate) key: Vec<String>,
    /// Rename input columns: `source=column` (repeatable); `source=` leaves it out.
    #[arg(long = "map", value_name = "SOURCE=COLUMN")]
    pub(crate) map: Vec<String>,
    /// Leave input columns out on purpose (repeatable, or comma-separated). Columns the table
    /// lacks are otherwise refused before anything is sent.
    #[arg(long, value_name = "COLUMN", value_delimiter = ',')]
    pub(crate) drop: Vec<String>,
    /// Where rejected rows go, with the server's error (default: INPUT.rejects.ndjson).
    /// Created owner-only; never the input, never through a symbolic link. A reject file
    /// left by an earlier run is kept: `--resume` appends to it, `--overwrite-rejects`
    /// replaces it, otherwise the import refuses to start.
    #[arg(long)]
    pub(crate) rejects: Option<PathBuf>,
    /// Replace a reject file left by an earlier run (its rows are lost).
    #[arg(long, conflicts_with = "resume")]
    pub(crate) overwrite_rejects: bool,
    /// Rows per request to start with (halved on timeouts and size errors); default 1,000,
    /// or 100 for elastic tables, as Microsoft recommends.
    #[arg(long)]
    pub(crate) chunk_size: Option<usize>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub(crate) parallel: usize,
    /// How rows are sent.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) via: ImportVia,
    /// Continue an import that stopped, skipping what its journal says was committed.
    #[arg(long)]
    pub(crate) resume: bool,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// The entity sets to mirror, e.g. accounts contacts.
    #[arg(required = true)]
    pub(crate) entity_sets: Vec<String>,
    /// The database: `sqlite:PATH` (created if missing) or `postgres://user@host/db`, with
    /// `?sslmode=disable|prefer|require|verify-ca|verify-full` and `&sslrootcert=CA.pem` as
    /// libpq takes them (plain TCP to a host that is not loopback needs `sslmode=disable`);
    /// the password from the URL, PGPASSWORD or ~/.pgpass (PGPASSFILE).
    #[arg(long)]
    pub(crate) to: String,
    /// Keep running, syncing every INTERVAL (`30s`, `5m`, `1h`, or seconds) until Ctrl-C.
    #[arg(long, value_name = "INTERVAL")]
    pub(crate) watch: Option<String>,
    /// Rows per page of the first load.
    #[arg(long, default_value_t = 5000)]
    pub(crate) page_size: u32,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["filter", "ids", "all"])))]
pub(crate) struct BulkDeleteArgs {
    /// The entity set, e.g. accounts.
    pub(crate) entity_set: String,
    /// Delete the records this OData `$filter` matches (comparisons, and/or, in,
    /// contains/startswith/endswith, Dataverse query functions).
    #[arg(long)]
    pub(crate) filter: Option<String>,
    /// Delete the records whose ids are in FILE: one GUID per line, or NDJSON rows with the
    /// table's key (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub(crate) ids: Option<PathBuf>,
    /// Delete every record of the table.
    #[arg(long)]
    pub(crate) all: bool,
    /// The job's name (default: "d365 bulk-delete SET").
    #[arg(long)]
    pub(crate) job_name: Option<String>,
    /// Only say how many records would be deleted and print the job's QuerySet; start nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Print the job id and return at once instead of waiting for the job to end.
    #[arg(long)]
    pub(crate) no_wait: bool,
    /// Give up waiting (the job goes on) after this long: 30s, 5m, 1h.
    #[arg(long, default_value = "1h")]
    pub(crate) timeout: String,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}

#[derive(Debug, Args)]
pub(crate) struct JobArgs {
    /// The job id (asyncoperationid), as `bulk-delete --no-wait` prints it.
    pub(crate) job_id: uuid::Uuid,
    /// Wait for the job to end.
    #[arg(long)]
    pub(crate) wait: bool,
    /// Cancel the job (it stops after the chunk it is on).
    #[arg(long, conflicts_with = "wait")]
    pub(crate) cancel: bool,
    /// Give up waiting after this long: 30s, 5m, 1h.
    #[arg(long, default_value = "1h")]
    pub(crate) timeout: String,
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
}
