//! A mirror of Dataverse tables in a local database. The first run loads every row with change
//! tracking on and stores the delta link; later runs apply only what changed since, deletes
//! included, and store the next link in the same transaction as the rows ([`Sink::apply`]),
//! so a crash never loses or repeats a change. An expired link (Dataverse keeps them 7 days by
//! default) starts a full load again.

mod pg_connect;
mod pgpass;
mod postgres;
mod sink;
mod sqlite;

use d365_webapi::Client;
use futures_util::TryStreamExt;

use crate::error::{Error, Result};
use crate::progress::{OnProgress, Progress};

pub use pg_connect::redact;
pub use postgres::PostgresSink;
pub use sink::{Batch, Sink};
pub use sqlite::SqliteSink;

/// What a column holds, for the database's column types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    Text,
    /// Whole numbers (and choices).
    Integer,
    /// Floating point.
    Real,
    /// Exact decimals, kept as written.
    Decimal,
    /// True or false.
    Boolean,
    /// A date and time.
    DateTime,
    /// A GUID (keys and lookups).
    Guid,
}

impl Kind {
    /// The kind of a column of Dataverse's `AttributeType`.
    pub fn of(attribute_type: &str) -> Self {
        match attribute_type {
            "Integer" | "BigInt" | "Picklist" | "State" | "Status" => Kind::Integer,
            "Double" => Kind::Real,
            "Decimal" | "Money" => Kind::Decimal,
            "Boolean" => Kind::Boolean,
            "DateTime" => Kind::DateTime,
            "Uniqueidentifier" => Kind::Guid,
            t if crate::table::is_lookup(t) => Kind::Guid,
            _ => Kind::Text,
        }
    }
}

/// One mirrored table: its name in the database, its key and its columns.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// The entity set it is read from.
    pub entity_set: String,
    /// Its name in the database (the logical name).
    pub name: String,
    /// The primary key column.
    pub key: String,
    /// Every readable column, by Web API property.
    pub columns: Vec<(String, Kind)>,
}

impl TableSpec {
    /// The spec of the table behind `entity_set`, from its metadata.
    pub async fn read(client: &Client, entity_set: &str) -> Result<Self> {
        let table = crate::table::describe(client, entity_set).await?;
        Ok(Self {
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
}

/// The sink a target names: `sqlite:PATH` or `postgres://…` (see [`PostgresSink::connect`]).
pub async fn open(target: &str) -> Result<Box<dyn Sink>> {
    if let Some(path) = target.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(Error::refused("--to sqlite:PATH needs a path"));
        }
        return Ok(Box::new(SqliteSink::open(std::path::Path::new(path))?));
    }
    if target.starts_with("postgres://") || target.starts_with("postgresql://") {
        return Ok(Box::new(PostgresSink::connect(target).await?));
    }
    // The target may carry a password: never echo it.
    Err(Error::refused(format!(
        "--to takes sqlite:PATH or postgres://…, not '{}'",
        redact(target)
    )))
}

/// Brings one table of the mirror up to date: its changes since the stored delta link, or
/// every row (a page per transaction) when there is none or it expired.
pub async fn sync_table(
    client: &Client,
    sink: &mut dyn Sink,
    spec: &TableSpec,
    page_size: u32,
    progress: OnProgress<'_>,
) -> Result<()> {
    let entity_set = spec.entity_set.as_str();
    if let Some(link) = sink.prepare(spec).await? {
        match client.changes(&link).max_page_size(page_size).send().await {
            Ok(changes) => {
                let batch = Batch {
                    upserted: &changes.upserted,
                    deleted: &changes.deleted,
                    delta_link: Some(&changes.delta_link),
                };
                sink.apply(spec, batch).await?;
                progress(Progress::Changed {
                    entity_set,
                    upserted: changes.upserted.len(),
                    deleted: changes.deleted.len(),
                });
                return Ok(());
            }
            Err(e) if e.api().is_some_and(|a| a.is_expired_delta_token()) => {
                progress(Progress::DeltaExpired { entity_set });
                sink.reset(spec).await?;
            }
            Err(source) => {
                return Err(Error::ApiWhile {
                    doing: format!("reading the changes of {entity_set}"),
                    source: Box::new(source),
                });
            }
        }
    }
    // A full load, a page per transaction; the delta link comes with the last page.
    let columns: Vec<&str> = spec.columns.iter().map(|(c, _)| c.as_str()).collect();
    let mut pages = std::pin::pin!(
        client
            .query(entity_set)
            .select(&columns)
            .max_page_size(page_size)
            .track_changes()
            .pages()
    );
    let mut rows = 0;
    while let Some(page) = pages.try_next().await? {
        rows += page.items.len();
        let batch = Batch {
            upserted: &page.items,
            deleted: &[],
            delta_link: page.delta_link.as_deref(),
        };
        sink.apply(spec, batch).await?;
    }
    progress(Progress::Loaded { entity_set, rows });
    Ok(())
}
