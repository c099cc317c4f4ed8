//! The PostgreSQL mirror: typed columns (`uuid`, `numeric`, `timestamptz`, `bigint`,
//! `boolean`), the key as primary key, upserts with `ON CONFLICT`, and `_d365_sync` holding each
//! table's delta link, written in the same transaction as the page's rows.

use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio_postgres::Client;

use super::pg_connect::Target;
use super::sink::{Batch, Sink, column_defs, ident};
use super::{Kind, TableSpec};
use crate::error::{Error, Result};

/// A mirror in a PostgreSQL database.
pub struct PostgresSink {
    client: Client,
}

impl std::fmt::Debug for PostgresSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresSink")
    }
}

fn column_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "text",
        Kind::Integer => "bigint",
        Kind::Real => "double precision",
        Kind::Decimal => "numeric",
        Kind::Boolean => "boolean",
        Kind::DateTime => "timestamptz",
        Kind::Guid => "uuid",
    }
}

/// A value as text for a `$n::text::type` parameter (`None` is NULL).
fn text(v: Option<&Value>) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

impl PostgresSink {
    /// Connects (`postgres://user[:password]@host[:port]/db[?sslmode=…&sslrootcert=…]`, see
    /// `pg_connect`: libpq's `sslmode` and `sslrootcert`, verified TLS unless told otherwise)
    /// and creates the sync state table.
    pub async fn connect(url: &str) -> Result<Self> {
        let client = Target::parse(url)?.connect().await?;
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS _d365_sync (
                     entity_set text PRIMARY KEY, delta_link text, synced_at timestamptz NOT NULL)",
            )
            .await
            .map_err(|source| Error::PostgresWhile {
                doing: "preparing _d365_sync".into(),
                source,
            })?;
        Ok(Self { client })
    }

    async fn prepare_table(&mut self, t: &TableSpec) -> Result<Option<String>> {
        let mut ddl = format!(
            "CREATE TABLE IF NOT EXISTS {} ({});",
            ident(&t.name),
            column_defs(t, column_type)
        );
        for (name, kind) in &t.columns {
            ddl.push_str(&format!(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {};",
                ident(&t.name),
                ident(name),
                column_type(*kind)
            ));
        }
        self.client
            .batch_execute(&ddl)
            .await
            .map_err(|source| Error::PostgresWhile {
                doing: format!("creating the table {}", t.name),
                source,
            })?;
        let row = self
            .client
            .query_opt(
                "SELECT delta_link FROM _d365_sync WHERE entity_set = $1",
                &[&t.entity_set],
            )
            .await?;
        Ok(row.and_then(|r| r.get::<_, Option<String>>(0)))
    }

    async fn apply_batch(&mut self, t: &TableSpec, batch: Batch<'_>) -> Result<()> {
        let Batch {
            upserted: rows,
            deleted,
            delta_link,
        } = batch;
        let names: Vec<String> = t.columns.iter().map(|(n, _)| ident(n)).collect();
        let values: Vec<String> = t
            .columns
            .iter()
            .enumerate()
            .map(|(i, (_, kind))| format!("${}::text::{}", i + 1, column_type(*kind)))
            .collect();
        let updates: Vec<String> = names
            .iter()
            .filter(|n| **n != ident(&t.key))
            .map(|n| format!("{n} = EXCLUDED.{n}"))
            .collect();
        let upsert_sql = format!(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
            ident(&t.name),
            names.join(", "),
            values.join(", "),
            ident(&t.key),
            updates.join(", ")
        );
        let tx = self.client.transaction().await?;
        let upsert = tx.prepare(&upsert_sql).await?;
        for row in rows {
            let params: Vec<Option<String>> = t
                .columns
                .iter()
                .map(|(name, _)| text(row.get(name)))
                .collect();
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                .iter()
                .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            tx.execute(&upsert, &refs).await?;
        }
        let delete = tx
            .prepare(&format!(
                "DELETE FROM {} WHERE {} = $1::text::uuid",
                ident(&t.name),
                ident(&t.key)
            ))
            .await?;
        for id in deleted {
            tx.execute(&delete, &[&id.to_string()]).await?;
        }
        if let Some(link) = delta_link {
            tx.execute(
                "INSERT INTO _d365_sync (entity_set, delta_link, synced_at) VALUES ($1, $2, now())
                 ON CONFLICT (entity_set) DO UPDATE SET delta_link = $2, synced_at = now()",
                &[&t.entity_set, &link],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn reset_table(&mut self, t: &TableSpec) -> Result<()> {
        let tx = self.client.transaction().await?;
        tx.batch_execute(&format!("DELETE FROM {}", ident(&t.name)))
            .await?;
        tx.execute(
            "DELETE FROM _d365_sync WHERE entity_set = $1",
            &[&t.entity_set],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Sink for PostgresSink {
    fn prepare<'a>(&'a mut self, table: &'a TableSpec) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(self.prepare_table(table))
    }

    fn apply<'a>(
        &'a mut self,
        table: &'a TableSpec,
        batch: Batch<'a>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.apply_batch(table, batch))
    }

    fn reset<'a>(&'a mut self, table: &'a TableSpec) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.reset_table(table))
    }
}
