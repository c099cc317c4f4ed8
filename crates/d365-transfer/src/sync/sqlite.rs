//! The SQLite mirror: one table per Dataverse table (typed columns, the key as primary key) and
//! `_d365_sync` holding each table's delta link. Writes are one transaction per page.

use std::path::Path;

use futures_util::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, params, types::Value as Sql};
use serde_json::Value;

use super::sink::{Batch, Sink, column_defs, ident};
use super::{Kind, TableSpec};
use crate::error::{Error, Result};

/// A mirror in a SQLite file.
#[derive(Debug)]
pub struct SqliteSink {
    conn: Connection,
}

fn column_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Integer | Kind::Boolean => "INTEGER",
        Kind::Real => "REAL",
        // Text keeps decimals exact; dates as ISO 8601 text sort and compare correctly.
        Kind::Text | Kind::Decimal | Kind::DateTime | Kind::Guid => "TEXT",
    }
}

fn sql_value(v: Option<&Value>, kind: Kind) -> Sql {
    match (v, kind) {
        (None | Some(Value::Null), _) => Sql::Null,
        (Some(Value::Bool(b)), _) => Sql::Integer(i64::from(*b)),
        (Some(Value::Number(n)), Kind::Integer) => n.as_i64().map_or(Sql::Null, Sql::Integer),
        (Some(Value::Number(n)), Kind::Real) => n.as_f64().map_or(Sql::Null, Sql::Real),
        (Some(Value::Number(n)), _) => Sql::Text(n.to_string()),
        (Some(Value::String(s)), _) => Sql::Text(s.clone()),
        (Some(other), _) => Sql::Text(other.to_string()),
    }
}

impl SqliteSink {
    /// Opens (or creates) the database file.
    pub fn open(path: &Path) -> Result<Self> {
        let at = |doing: &str| {
            let doing = format!("{doing} {}", path.display());
            move |source| Error::SqliteWhile { doing, source }
        };
        let conn = Connection::open(path).map_err(at("opening"))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS _d365_sync (
                 entity_set TEXT PRIMARY KEY, delta_link TEXT, synced_at TEXT NOT NULL);",
        )
        .map_err(at("preparing"))?;
        Ok(Self { conn })
    }

    fn prepare_now(&mut self, t: &TableSpec) -> Result<Option<String>> {
        self.conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            ident(&t.name),
            column_defs(t, column_type)
        ))?;
        // Columns added to the table since the last run.
        let existing: Vec<String> = self
            .conn
            .prepare(&format!(
                "SELECT name FROM pragma_table_info({})",
                ident(&t.name).replace('"', "'")
            ))?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for (name, kind) in &t.columns {
            if !existing.contains(name) {
                self.conn.execute_batch(&format!(
                    "ALTER TABLE {} ADD COLUMN {} {}",
                    ident(&t.name),
                    ident(name),
                    column_type(*kind)
                ))?;
            }
        }
        Ok(self
            .conn
            .query_row(
                "SELECT delta_link FROM _d365_sync WHERE entity_set = ?1",
                params![t.entity_set],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }

    fn apply_now(&mut self, t: &TableSpec, batch: Batch<'_>) -> Result<()> {
        let Batch {
            upserted: rows,
            deleted,
            delta_link,
        } = batch;
        let tx = self.conn.transaction()?;
        {
            let names: Vec<String> = t.columns.iter().map(|(n, _)| ident(n)).collect();
            let mut upsert = tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO {} ({}) VALUES ({})",
                ident(&t.name),
                names.join(", "),
                vec!["?"; names.len()].join(", ")
            ))?;
            for row in rows {
                let values: Vec<Sql> = t
                    .columns
                    .iter()
                    .map(|(name, kind)| sql_value(row.get(name), *kind))
                    .collect();
                upsert.execute(rusqlite::params_from_iter(values))?;
            }
            let mut delete = tx.prepare_cached(&format!(
                "DELETE FROM {} WHERE {} = ?1",
                ident(&t.name),
                ident(&t.key)
            ))?;
            for id in deleted {
                delete.execute(params![id.to_string()])?;
            }
        }
        if let Some(link) = delta_link {
            tx.execute(
                "INSERT INTO _d365_sync (entity_set, delta_link, synced_at) VALUES (?1, ?2, datetime('now'))
                 ON CONFLICT(entity_set) DO UPDATE SET delta_link = ?2, synced_at = datetime('now')",
                params![t.entity_set, link],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn reset_now(&mut self, t: &TableSpec) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute_batch(&format!("DELETE FROM {}", ident(&t.name)))?;
        tx.execute(
            "DELETE FROM _d365_sync WHERE entity_set = ?1",
            params![t.entity_set],
        )?;
        tx.commit()?;
        Ok(())
    }
}

// SQLite's calls do not wait on the network: each future is ready when first polled.
impl Sink for SqliteSink {
    fn prepare<'a>(&'a mut self, table: &'a TableSpec) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move { self.prepare_now(table) })
    }

    fn apply<'a>(
        &'a mut self,
        table: &'a TableSpec,
        batch: Batch<'a>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.apply_now(table, batch) })
    }

    fn reset<'a>(&'a mut self, table: &'a TableSpec) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.reset_now(table) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(conn: &Connection) -> Vec<(String, Option<i64>)> {
        conn.prepare("SELECT \"accountid\", \"n\" FROM \"account\" ORDER BY 1")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[tokio::test]
    async fn pages_deletes_and_the_delta_link_land_together_and_reset_forgets_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = SqliteSink::open(&dir.path().join("m.db")).unwrap();
        let t = TableSpec {
            entity_set: "accounts".into(),
            name: "account".into(),
            key: "accountid".into(),
            columns: vec![
                ("accountid".into(), Kind::Guid),
                ("n".into(), Kind::Integer),
            ],
        };
        let (a, b) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        assert_eq!(sink.prepare(&t).await.unwrap(), None);
        let page = [
            serde_json::json!({"accountid": a.to_string(), "n": 1}),
            serde_json::json!({"accountid": b.to_string(), "n": 2}),
        ];
        let batch = Batch {
            upserted: &page,
            deleted: &[],
            delta_link: Some("link-1"),
        };
        sink.apply(&t, batch).await.unwrap();
        let changed = [serde_json::json!({"accountid": a.to_string(), "n": 10})];
        let batch = Batch {
            upserted: &changed,
            deleted: &[b],
            delta_link: Some("link-2"),
        };
        sink.apply(&t, batch).await.unwrap();
        assert_eq!(rows(&sink.conn), [(a.to_string(), Some(10))]);
        assert_eq!(sink.prepare(&t).await.unwrap().as_deref(), Some("link-2"));
        sink.reset(&t).await.unwrap();
        assert!(rows(&sink.conn).is_empty());
        assert_eq!(sink.prepare(&t).await.unwrap(), None);
    }
}
