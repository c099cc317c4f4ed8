//! The change log behind change tracking (`Prefer: odata.track-changes`, `$deltatoken`).
//!
//! New and updated rows need no log: every write stamps the row with the next value of the
//! database-wide version counter (`versionnumber`), so "changed since version V" is
//! `versionnumber > V`. Deleted rows leave a tombstone in `_emulator_changes` (version, table,
//! id, when), written by the store's delete (`write::delete`) in the same savepoint as the
//! delete. A delta token is a version of that counter (see [`current_version`]); change
//! tracking's operations on it are in `delta.rs`.
//!
//! Tombstones older than the change-token lifetime are pruned ([`prune`]): every token that
//! could still ask for them is younger, so it is at a later version than they are.

use d365_odata::model::{EntityType, Model};
use rusqlite::{Connection, OptionalExtension, params};

use super::sql::ident;

/// The tombstone table and the version counter's table (idempotent).
pub const CREATE_SQL: &str = "CREATE TABLE IF NOT EXISTS _emulator_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS _emulator_changes (version INTEGER PRIMARY KEY, entity TEXT NOT NULL, id BLOB NOT NULL, deleted_at INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS _emulator_changes_entity ON _emulator_changes (entity, version);";

/// The index [`prune`] uses (after the column exists, which older databases lack).
const CREATE_AT_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS _emulator_changes_at ON _emulator_changes (deleted_at);";

/// Prunes tombstones every this many deletes (one index probe each time), besides at every
/// change-tracking request.
const PRUNE_EVERY: i64 = 1024;

/// The emulator's time for the change log: now, and how long tombstones are kept (the
/// change-token lifetime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeClock {
    /// Unix seconds (the emulator's clock).
    pub now: i64,
    /// Seconds a tombstone is kept.
    pub keep_secs: i64,
}

/// Creates the change log (and the counter's table) if missing; gives a change log of an
/// older version its `deleted_at` column (its tombstones dated now, so they are kept a
/// full lifetime).
pub fn create_tables(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(CREATE_SQL)?;
    let dated: bool = conn.query_row(
        "SELECT count(*) FROM pragma_table_info('_emulator_changes') WHERE name = 'deleted_at'",
        [],
        |r| r.get(0),
    )?;
    if !dated {
        conn.execute_batch(
            "ALTER TABLE _emulator_changes ADD COLUMN deleted_at INTEGER NOT NULL DEFAULT 0;
             UPDATE _emulator_changes SET deleted_at = CAST(strftime('%s', 'now') AS INTEGER);",
        )?;
    }
    conn.execute_batch(CREATE_AT_INDEX)
}

/// Records that `id` of `entity` was deleted at `version`, now.
pub fn record_delete(
    conn: &Connection,
    entity: &EntityType,
    id: &uuid::Uuid,
    version: i64,
    clock: ChangeClock,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO _emulator_changes (version, entity, id, deleted_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        version,
        entity.name,
        id.as_bytes().to_vec(),
        clock.now
    ])?;
    if version % PRUNE_EVERY == 0 {
        prune(conn, clock)?;
    }
    Ok(())
}

/// Forgets tombstones older than the change-token lifetime; returns how many.
pub fn prune(conn: &Connection, clock: ChangeClock) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM _emulator_changes WHERE deleted_at < ?1")?
        .execute(params![clock.now.saturating_sub(clock.keep_secs)])
}

/// The version every change so far is at or below: the counter, started now (at the highest
/// seeded `versionnumber`) if no write has started it yet, so that every later write is
/// above it. Needs the writer's connection.
pub fn current_version(conn: &Connection, model: &Model) -> rusqlite::Result<i64> {
    create_tables(conn)?;
    let current: Option<i64> = conn
        .query_row(
            "SELECT value FROM _emulator_meta WHERE key = 'versionnumber'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(v) = current {
        return Ok(v);
    }
    let mut highest = 0_i64;
    for entity in model.entity_types() {
        if entity.property("versionnumber").is_none() {
            continue;
        }
        let max: Option<i64> = conn.query_row(
            &format!("SELECT max(versionnumber) FROM {}", ident(&entity.name)),
            [],
            |r| r.get(0),
        )?;
        highest = highest.max(max.unwrap_or(0));
    }
    conn.execute(
        "INSERT INTO _emulator_meta (key, value) VALUES ('versionnumber', ?1)",
        params![highest],
    )?;
    Ok(highest)
}

/// Rows of `entity` deleted in `(since, upto]` and not there now, one per id (its latest
/// delete), ordered by that version, after version `after`; at most `limit`.
pub fn deleted_since(
    conn: &Connection,
    entity: &EntityType,
    since: i64,
    upto: i64,
    after: i64,
    limit: usize,
) -> rusqlite::Result<Vec<(uuid::Uuid, i64)>> {
    let sql = format!(
        "SELECT t.id, max(t.version) AS v FROM _emulator_changes t \
         WHERE t.entity = ?1 AND t.version > ?2 AND t.version <= ?3 \
         AND NOT EXISTS (SELECT 1 FROM {table} r WHERE r.{key} = t.id) \
         GROUP BY t.id HAVING v > ?4 ORDER BY v LIMIT ?5",
        table = ident(&entity.name),
        key = ident(&entity.key)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![entity.name, since, upto, after, limit as i64],
        |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)),
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (id, version) = row?;
        if let Ok(id) = uuid::Uuid::from_slice(&id) {
            out.push((id, version));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_change_log_gets_its_dates() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE _emulator_changes (version INTEGER PRIMARY KEY, entity TEXT NOT NULL, id BLOB NOT NULL);
             INSERT INTO _emulator_changes VALUES (1, 'account', x'00');",
        )
        .unwrap();
        create_tables(&conn).unwrap();
        create_tables(&conn).unwrap();
        let at: i64 = conn
            .query_row("SELECT deleted_at FROM _emulator_changes", [], |r| r.get(0))
            .unwrap();
        assert!(at > 1_700_000_000, "{at}");
    }
}
