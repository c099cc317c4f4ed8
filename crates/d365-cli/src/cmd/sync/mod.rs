//! `d365 sync <set>... --to sqlite:PATH|postgres://…`: a mirror of Dataverse tables in a local database.
//! The first run loads every row with change tracking on and stores the delta link; later runs
//! (or `--watch`) apply only what changed since, deletes included, and store the next link in
//! the same transaction as the rows, so a crash never loses or repeats a change. An expired
//! link (Dataverse keeps them 7 days by default) starts a full load again.

mod pg_connect;
mod pgpass;
mod postgres;
mod sqlite;

use std::process::ExitCode;

use anyhow::{Context, bail};
use d365_webapi::Client;
use futures_util::TryStreamExt;
use serde_json::Value;

use crate::flags::SyncArgs;

/// What a column holds, for the database's column types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Integer,
    Real,
    /// Exact decimals, kept as written.
    Decimal,
    Boolean,
    DateTime,
    Guid,
}

impl Kind {
    fn of(attribute_type: &str) -> Self {
        match attribute_type {
            "Integer" | "BigInt" | "Picklist" | "State" | "Status" => Kind::Integer,
            "Double" => Kind::Real,
            "Decimal" | "Money" => Kind::Decimal,
            "Boolean" => Kind::Boolean,
            "DateTime" => Kind::DateTime,
            "Uniqueidentifier" | "Lookup" | "Owner" | "Customer" => Kind::Guid,
            _ => Kind::Text,
        }
    }
}

/// One mirrored table: its name in the database, its key and its columns.
#[derive(Debug, Clone)]
pub(crate) struct TableSpec {
    pub(crate) entity_set: String,
    pub(crate) name: String,
    pub(crate) key: String,
    pub(crate) columns: Vec<(String, Kind)>,
}

/// Where the mirror lives.
#[derive(Debug)]
enum Target {
    Sqlite(sqlite::SqliteSink),
    Postgres(postgres::PostgresSink),
}

impl Target {
    /// Creates the table (and the sync state) if missing; returns the stored delta link.
    async fn prepare(&mut self, table: &TableSpec) -> anyhow::Result<Option<String>> {
        match self {
            Target::Sqlite(s) => s.prepare(table),
            Target::Postgres(p) => p.prepare(table).await,
        }
    }

    /// In one transaction: upserts `rows`, deletes `deleted`, and stores `delta_link` when
    /// given.
    async fn apply(
        &mut self,
        table: &TableSpec,
        rows: &[Value],
        deleted: &[uuid::Uuid],
        delta_link: Option<&str>,
    ) -> anyhow::Result<()> {
        match self {
            Target::Sqlite(s) => s.apply(table, rows, deleted, delta_link),
            Target::Postgres(p) => p.apply(table, rows, deleted, delta_link).await,
        }
    }

    /// Forgets the table's rows and link (before a new full load).
    async fn reset(&mut self, table: &TableSpec) -> anyhow::Result<()> {
        match self {
            Target::Sqlite(s) => s.reset(table),
            Target::Postgres(p) => p.reset(table).await,
        }
    }
}

async fn spec(client: &Client, entity_set: &str) -> anyhow::Result<TableSpec> {
    let table = super::table::describe(client, entity_set).await?;
    Ok(TableSpec {
        entity_set: entity_set.to_owned(),
        name: table.logical_name,
        key: table.key,
        columns: table
            .columns
            .into_iter()
            .map(|c| (c.property, Kind::of(&c.attribute_type)))
            .collect(),
    })
}

async fn target(target: &str) -> anyhow::Result<Target> {
    if let Some(path) = target.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        anyhow::ensure!(!path.is_empty(), "--to sqlite:PATH needs a path");
        let sink = sqlite::SqliteSink::open(std::path::Path::new(path))?;
        return Ok(Target::Sqlite(sink));
    }
    if target.starts_with("postgres://") || target.starts_with("postgresql://") {
        return Ok(Target::Postgres(
            postgres::PostgresSink::connect(target).await?,
        ));
    }
    // The target may carry a password: never echo it.
    bail!(
        "--to takes sqlite:PATH or postgres://…, not '{}'",
        pg_connect::redact(target)
    )
}

pub(crate) async fn run(args: SyncArgs, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    let every = args
        .watch
        .as_deref()
        .map(|w| super::interval("--watch", w))
        .transpose()?;
    let mut sink = target(&args.to).await?;
    let client = super::web_client(&args.auth, profile).await?;
    let mut specs = Vec::new();
    for set in &args.entity_sets {
        specs.push(spec(&client, set).await?);
    }
    loop {
        for spec in &specs {
            sync_table(&client, &mut sink, spec, args.page_size).await?;
        }
        let Some(every) = every else {
            return Ok(ExitCode::SUCCESS);
        };
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        }
    }
}

async fn sync_table(
    client: &Client,
    sink: &mut Target,
    spec: &TableSpec,
    page_size: u32,
) -> anyhow::Result<()> {
    if let Some(link) = sink.prepare(spec).await? {
        match client.changes(&link).max_page_size(page_size).send().await {
            Ok(changes) => {
                sink.apply(
                    spec,
                    &changes.upserted,
                    &changes.deleted,
                    Some(&changes.delta_link),
                )
                .await?;
                eprintln!(
                    "{}: {} changed, {} deleted",
                    spec.entity_set,
                    changes.upserted.len(),
                    changes.deleted.len()
                );
                return Ok(());
            }
            Err(e) if e.api().is_some_and(|a| a.is_expired_delta_token()) => {
                eprintln!(
                    "{}: the delta link expired; loading every row again",
                    spec.entity_set
                );
                sink.reset(spec).await?;
            }
            Err(e) => return Err(e).context(format!("reading the changes of {}", spec.entity_set)),
        }
    }
    // A full load, a page per transaction; the delta link comes with the last page.
    let columns: Vec<&str> = spec.columns.iter().map(|(c, _)| c.as_str()).collect();
    let mut pages = std::pin::pin!(
        client
            .query(&spec.entity_set)
            .select(&columns)
            .max_page_size(page_size)
            .track_changes()
            .pages()
    );
    let mut rows = 0;
    while let Some(page) = pages.try_next().await? {
        rows += page.items.len();
        sink.apply(spec, &page.items, &[], page.delta_link.as_deref())
            .await?;
    }
    eprintln!("{}: {rows} rows loaded", spec.entity_set);
    Ok(())
}
