//! Alternate keys as the database holds them: each key's definition and index status in
//! `_emulator_keys` (so keys made through the Web API survive a restart with `--data-dir`),
//! and, once the key is Active, a unique index over its columns, which is what enforces it
//! (SQL Server does the same under Dataverse). String columns are `COLLATE NOCASE`, so the
//! index compares case-insensitively as SQL Server's default collation does; nulls never
//! collide, so rows without a value do not stop a key.

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::schema::ident;
use super::{Store, StoreError, guid};

/// `EntityKeyIndexStatus` values.
pub mod status {
    /// Waiting for the index job.
    pub const PENDING: &str = "Pending";
    /// The index job is running.
    pub const IN_PROGRESS: &str = "InProgress";
    /// Usable and enforced.
    pub const ACTIVE: &str = "Active";
    /// The index could not be built (duplicate values).
    pub const FAILED: &str = "Failed";
}

const CREATE_SQL: &str = "CREATE TABLE IF NOT EXISTS _emulator_keys (
    metadata_id BLOB PRIMARY KEY NOT NULL,
    entity TEXT NOT NULL,
    schema_name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    attributes TEXT NOT NULL,
    status TEXT NOT NULL,
    job BLOB
)";

/// One stored key: its columns are property names of the table (`accountnumber`,
/// `_primarycontactid_value`), comma-separated in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// `MetadataId`.
    pub metadata_id: uuid::Uuid,
    /// The table's logical name.
    pub entity: String,
    /// `SchemaName`.
    pub schema_name: String,
    /// `DisplayName`'s text.
    pub display_name: String,
    /// The key's columns, as the table's property names.
    pub columns: Vec<String>,
    /// `EntityKeyIndexStatus`: `Pending`, `InProgress`, `Active` or `Failed`.
    pub status: String,
    /// The system job that builds (or built) the index.
    pub job: Option<uuid::Uuid>,
}

/// Creates the key table if missing.
pub(crate) fn create_table(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(CREATE_SQL)
}

/// Every stored key, oldest first.
pub(crate) fn load(conn: &Connection) -> rusqlite::Result<Vec<StoredKey>> {
    create_table(conn)?;
    let mut stmt = conn.prepare(
        "SELECT metadata_id, entity, schema_name, display_name, attributes, status, job
         FROM _emulator_keys ORDER BY rowid",
    )?;
    let guid = |b: Vec<u8>| uuid::Uuid::from_slice(&b).unwrap_or_default();
    let rows = stmt.query_map([], |r| {
        Ok(StoredKey {
            metadata_id: guid(r.get(0)?),
            entity: r.get(1)?,
            schema_name: r.get(2)?,
            display_name: r.get(3)?,
            columns: r
                .get::<_, String>(4)?
                .split(',')
                .map(str::to_owned)
                .collect(),
            status: r.get(5)?,
            job: r.get::<_, Option<Vec<u8>>>(6)?.map(guid),
        })
    })?;
    rows.collect()
}

/// Stores a new key.
pub(crate) fn insert(conn: &Connection, key: &StoredKey) -> rusqlite::Result<()> {
    create_table(conn)?;
    conn.execute(
        "INSERT INTO _emulator_keys (metadata_id, entity, schema_name, display_name, attributes, status, job)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            guid(key.metadata_id),
            key.entity,
            key.schema_name,
            key.display_name,
            key.columns.join(","),
            key.status,
            key.job.map(guid),
        ],
    )?;
    Ok(())
}

/// Sets a key's status; `false` when the key is gone (deleted meanwhile).
pub(crate) fn set_status(
    conn: &Connection,
    id: &uuid::Uuid,
    status: &str,
) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE _emulator_keys SET status = ?2 WHERE metadata_id = ?1",
        params![guid(*id), status],
    )? > 0)
}

/// The name of a key's unique index.
fn index_name(key: &StoredKey) -> String {
    format!("{}_ak_{}", key.entity, key.metadata_id.simple())
}

/// Builds the key's unique index and records the outcome, in one step: `Active`, or `Failed`
/// when existing rows hold duplicate values. `None` when the key was deleted before its job
/// ran.
pub(crate) fn build_index(
    conn: &mut Connection,
    key: &StoredKey,
) -> rusqlite::Result<Option<String>> {
    // A savepoint, not a transaction: inside a change set it nests in the change set's.
    let tx = conn.savepoint()?;
    let exists: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM _emulator_keys WHERE metadata_id = ?1",
            params![guid(key.metadata_id)],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Ok(None);
    }
    let sql = format!(
        "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({})",
        ident(&index_name(key)),
        ident(&key.entity),
        key.columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let status = match tx.execute_batch(&sql) {
        Ok(()) => status::ACTIVE,
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => status::FAILED,
        Err(e) => return Err(e),
    };
    set_status(&tx, &key.metadata_id, status)?;
    tx.commit()?;
    Ok(Some(status.to_owned()))
}

/// Deletes a key and its index; `false` if there was no such key.
pub(crate) fn delete(conn: &mut Connection, key: &StoredKey) -> rusqlite::Result<bool> {
    let tx = conn.savepoint()?;
    tx.execute_batch(&format!("DROP INDEX IF EXISTS {}", ident(&index_name(key))))?;
    let n = tx.execute(
        "DELETE FROM _emulator_keys WHERE metadata_id = ?1",
        params![guid(key.metadata_id)],
    )?;
    tx.commit()?;
    Ok(n > 0)
}

/// Drops the unique indexes of keys the database no longer holds, and those an older
/// emulator made from its built-in key on `account.accountnumber` (`account_ak_accountnumber`),
/// which no real org has.
pub(crate) fn drop_stray_indexes(conn: &Connection, keys: &[StoredKey]) -> rusqlite::Result<()> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE '%\\_ak\\_%' ESCAPE '\\'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    // Ours only: `{table}_ak_{32 hex}` (see `index_name`), or the old built-in one; a custom
    // table or column with an `ak` prefix has `_ak_` in its own index names.
    let ours = |name: &str| {
        name == "account_ak_accountnumber"
            || name
                .rsplit_once("_ak_")
                .is_some_and(|(_, id)| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    for name in names {
        if ours(&name) && !keys.iter().any(|k| index_name(k) == name) {
            conn.execute_batch(&format!("DROP INDEX IF EXISTS {}", ident(&name)))?;
        }
    }
    Ok(())
}

/// The key table at start-up, before the emulator answers: what loading the org's keys
/// needs, on the connection the start-up holds.
#[derive(Debug)]
pub struct KeyTable<'c>(&'c mut Connection);

impl<'c> From<&'c mut Connection> for KeyTable<'c> {
    fn from(conn: &'c mut Connection) -> Self {
        Self(conn)
    }
}

impl KeyTable<'_> {
    /// Every stored key, oldest first.
    pub fn load(&self) -> Result<Vec<StoredKey>, StoreError> {
        Ok(load(self.0)?)
    }

    /// Stores a new key.
    pub fn insert(&self, key: &StoredKey) -> Result<(), StoreError> {
        Ok(insert(self.0, key)?)
    }

    /// Drops the indexes of keys that are not in `keys` (see [`drop_stray_indexes`]).
    pub fn drop_stray_indexes(&self, keys: &[StoredKey]) -> Result<(), StoreError> {
        Ok(drop_stray_indexes(self.0, keys)?)
    }

    /// Builds a key's index (see [`build_index`]).
    pub fn build_index(&mut self, key: &StoredKey) -> Result<Option<String>, StoreError> {
        Ok(build_index(self.0, key)?)
    }
}

impl Store {
    /// Stores a new key.
    pub async fn insert_key(&self, key: StoredKey) -> Result<(), StoreError> {
        Ok(self.run(move |c| insert(c, &key)).await?)
    }

    /// Deletes a key and its index; `false` if there was no such key.
    pub async fn delete_key(&self, key: StoredKey) -> Result<bool, StoreError> {
        Ok(self.run(move |c| delete(c, &key)).await?)
    }

    /// Sets a key's status; `false` when the key is gone.
    pub async fn set_key_status(
        &self,
        id: uuid::Uuid,
        status: &'static str,
    ) -> Result<bool, StoreError> {
        Ok(self.run(move |c| set_status(c, &id, status)).await?)
    }

    /// The index job's work: marks the key `InProgress`, then builds its index and records
    /// `Active` or `Failed`; `None` when the key was deleted before the job ran.
    pub async fn build_key_index(&self, key: StoredKey) -> Result<Option<String>, StoreError> {
        Ok(self
            .run(move |c| {
                set_status(c, &key.metadata_id, status::IN_PROGRESS)?;
                build_index(c, &key)
            })
            .await?)
    }
}

/// The columns a unique-constraint failure names (`UNIQUE constraint failed: account.x, account.y`).
pub(crate) fn violated_columns(e: &rusqlite::Error) -> Option<(String, Vec<String>)> {
    let rusqlite::Error::SqliteFailure(f, Some(message)) = e else {
        return None;
    };
    if f.extended_code != rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE {
        return None;
    }
    let list = message.strip_prefix("UNIQUE constraint failed: ")?;
    let mut table = String::new();
    let mut columns = Vec::new();
    for item in list.split(", ") {
        let (t, c) = item.split_once('.')?;
        table = t.to_owned();
        columns.push(c.to_owned());
    }
    Some((table, columns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(columns: &[&str]) -> StoredKey {
        StoredKey {
            metadata_id: uuid::Uuid::new_v4(),
            entity: "t".into(),
            schema_name: "new_key".into(),
            display_name: "Key".into(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            status: "Pending".into(),
            job: None,
        }
    }

    #[test]
    fn an_index_over_duplicates_fails_and_a_clean_one_is_active_and_enforced() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT COLLATE NOCASE, b INTEGER);
             INSERT INTO t (a, b) VALUES ('X', 1), ('x', 2), (NULL, 3), (NULL, 3);",
        )
        .unwrap();
        let (on_a, on_b) = (key(&["a"]), key(&["b"]));
        insert(&conn, &on_a).unwrap();
        insert(&conn, &on_b).unwrap();
        assert_eq!(
            build_index(&mut conn, &on_a).unwrap().as_deref(),
            Some("Failed")
        );
        assert_eq!(
            build_index(&mut conn, &on_b).unwrap().as_deref(),
            Some("Failed"),
            "X and x are one value; b holds 3 twice"
        );
        conn.execute("DELETE FROM t WHERE b = 3 AND a IS NULL AND id = 4", [])
            .unwrap();
        assert_eq!(
            build_index(&mut conn, &on_b).unwrap().as_deref(),
            Some("Active")
        );
        let e = conn
            .execute("INSERT INTO t (a, b) VALUES ('y', 2)", [])
            .unwrap_err();
        assert_eq!(violated_columns(&e), Some(("t".into(), vec!["b".into()])));
        let stored = load(&conn).unwrap();
        assert_eq!(
            stored.iter().map(|k| k.status.as_str()).collect::<Vec<_>>(),
            ["Failed", "Active"]
        );
        // An older emulator's built-in key index and the index of a key no longer stored go;
        // the stored keys' indexes stay, and so do indexes that only look alike (a custom
        // `ak_` publisher prefix).
        let gone = StoredKey {
            metadata_id: uuid::Uuid::new_v4(),
            ..on_b.clone()
        };
        conn.execute_batch(&format!(
            "CREATE UNIQUE INDEX account_ak_accountnumber ON t (id, a);
             CREATE INDEX t_ak_parentid ON t (a);
             CREATE UNIQUE INDEX {} ON t (id, b);",
            index_name(&gone)
        ))
        .unwrap();
        drop_stray_indexes(&conn, std::slice::from_ref(&on_b)).unwrap();
        let mut left: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE '%ak%'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        left.sort();
        let mut expected = vec![index_name(&on_b), "t_ak_parentid".to_owned()];
        expected.sort();
        assert_eq!(left, expected);
        assert!(delete(&mut conn, &on_b).unwrap());
        conn.execute("INSERT INTO t (a, b) VALUES ('y', 2)", [])
            .unwrap();
        assert_eq!(build_index(&mut conn, &on_b).unwrap(), None, "deleted");
    }
}
