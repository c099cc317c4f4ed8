//! Snapshots of the data for tests: each is an in-memory database attached to the one
//! connection, holding a copy of every table's rows, the version counter and the change log. Restoring copies
//! them back in one transaction. Snapshots live as long as the emulator.

use d365_odata::model::Model;

use rusqlite::Connection;

use super::schema::ident;

/// SQLite attaches at most 10 databases; keep room for the main one and spares.
pub const MAX_SNAPSHOTS: usize = 8;

/// Why a snapshot operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A name that is not `[A-Za-z0-9_-]{1,40}`.
    #[error("snapshot names are 1 to 40 letters, digits, '-' or '_'")]
    BadName,
    /// No snapshot by that name.
    #[error("no snapshot named '{0}'")]
    Missing(String),
    /// Too many snapshots.
    #[error("at most {MAX_SNAPSHOTS} snapshots; restore or delete one first")]
    Full,
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}

fn schema_name(name: &str) -> Result<String, SnapshotError> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(format!("snapshot_{name}"))
    } else {
        Err(SnapshotError::BadName)
    }
}

/// The names of the snapshots taken.
fn list(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_database_list")?;
    let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(names
        .filter_map(Result::ok)
        .filter_map(|n| n.strip_prefix("snapshot_").map(str::to_owned))
        .collect())
}

fn tables(model: &Model) -> Vec<String> {
    let mut t: Vec<String> = model
        .entity_types()
        .iter()
        .map(|e| e.name.clone())
        .collect();
    t.push("_emulator_meta".into());
    t.push("_emulator_changes".into());
    t
}

/// The counter's and the change log's tables, which may not exist yet.
fn ensure_meta(conn: &Connection) -> rusqlite::Result<()> {
    super::changes::create_tables(conn)
}

/// Takes (or replaces) the snapshot `name`.
fn take(conn: &mut Connection, model: &Model, name: &str) -> Result<(), SnapshotError> {
    let schema = schema_name(name)?;
    let existing = list(conn)?;
    if existing.iter().any(|n| n == name) {
        conn.execute_batch(&format!("DETACH DATABASE {}", ident(&schema)))?;
    } else if existing.len() >= MAX_SNAPSHOTS {
        return Err(SnapshotError::Full);
    }
    ensure_meta(conn)?;
    conn.execute_batch(&format!("ATTACH DATABASE ':memory:' AS {}", ident(&schema)))?;
    let tx = conn.transaction()?;
    for t in tables(model) {
        tx.execute_batch(&format!(
            "CREATE TABLE {}.{t2} AS SELECT * FROM main.{t2}",
            ident(&schema),
            t2 = ident(&t)
        ))?;
    }
    tx.commit()?;
    Ok(())
}

/// Puts the data back as it was when `name` was taken (the snapshot stays).
fn restore(conn: &mut Connection, model: &Model, name: &str) -> Result<(), SnapshotError> {
    let schema = schema_name(name)?;
    if !list(conn)?.iter().any(|n| n == name) {
        return Err(SnapshotError::Missing(name.to_owned()));
    }
    ensure_meta(conn)?;
    let tx = conn.transaction()?;
    for t in tables(model) {
        tx.execute_batch(&format!(
            "DELETE FROM main.{t2}; INSERT INTO main.{t2} SELECT * FROM {}.{t2};",
            ident(&schema),
            t2 = ident(&t)
        ))?;
    }
    tx.commit()?;
    Ok(())
}

/// Deletes the snapshot `name`.
fn delete(conn: &Connection, name: &str) -> Result<(), SnapshotError> {
    let schema = schema_name(name)?;
    if !list(conn)?.iter().any(|n| n == name) {
        return Err(SnapshotError::Missing(name.to_owned()));
    }
    conn.execute_batch(&format!("DETACH DATABASE {}", ident(&schema)))?;
    Ok(())
}

/// Empties every table (the caller seeds again), the version counter included, in the
/// caller's transaction.
pub fn clear(conn: &Connection, model: &Model) -> rusqlite::Result<()> {
    ensure_meta(conn)?;
    for t in tables(model) {
        conn.execute_batch(&format!("DELETE FROM main.{}", ident(&t)))?;
    }
    Ok(())
}

// The control API's operations on the store: it never sees a connection.
impl super::Store {
    /// The snapshots' names.
    pub async fn snapshot_names(&self) -> Result<Vec<String>, super::StoreError> {
        self.run(|c| list(c)).await.map_err(Into::into)
    }

    /// Copies the data aside as `name` (replacing a snapshot of that name).
    pub async fn take_snapshot(&self, model: Model, name: String) -> Result<(), SnapshotError> {
        self.run(move |c| take(c, &model, &name)).await
    }

    /// The data as it was when `name` was taken.
    pub async fn restore_snapshot(&self, model: Model, name: String) -> Result<(), SnapshotError> {
        self.run(move |c| restore(c, &model, &name)).await
    }

    /// Forgets the snapshot `name`.
    pub async fn delete_snapshot(&self, name: String) -> Result<(), SnapshotError> {
        self.run(move |c| delete(c, &name)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_restore_delete() {
        let model = crate::dataverse::model::DataverseModel::default().model;
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::create_tables(&conn, &model).unwrap();
        let (o, b) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        super::super::seed::seed(&mut conn, &model, 5, 1, o, b).unwrap();
        let count = |c: &Connection| -> i64 {
            c.query_row("SELECT count(*) FROM account", [], |r| r.get(0))
                .unwrap()
        };
        take(&mut conn, &model, "before").unwrap();
        conn.execute(
            "DELETE FROM account WHERE accountid IN (SELECT accountid FROM account LIMIT 2)",
            [],
        )
        .unwrap();
        assert_eq!(count(&conn), 3);
        restore(&mut conn, &model, "before").unwrap();
        assert_eq!(count(&conn), 5);
        assert_eq!(list(&conn).unwrap(), ["before"]);
        assert!(matches!(
            restore(&mut conn, &model, "nope"),
            Err(SnapshotError::Missing(_))
        ));
        assert!(matches!(
            take(&mut conn, &model, "bad name"),
            Err(SnapshotError::BadName)
        ));
        for i in 0..MAX_SNAPSHOTS - 1 {
            take(&mut conn, &model, &format!("s{i}")).unwrap();
        }
        assert!(matches!(
            take(&mut conn, &model, "one-too-many"),
            Err(SnapshotError::Full)
        ));
        take(&mut conn, &model, "before").unwrap(); // replacing is fine
        delete(&conn, "before").unwrap();
        clear(&conn, &model).unwrap();
        assert_eq!(count(&conn), 0);
    }
}
