//! Writes: insert, update and delete of one row, each bumping the database-wide version
//! counter that becomes `versionnumber` (and so the etag), as SQL Server's rowversion does.
//! Each runs in a [`Session`]: what the writes of one transaction reuse from row to row.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use d365_odata::model::EntityType;

mod session;

pub(crate) use session::Session;

use super::guid;
use super::schema::ident;
use session::{Kind, Table};

/// The writer's page cache, in KiB (SQLite's default is 2 MiB). A row written to a table
/// with 16 indexes touches a leaf page of each; at the default most of them are read back
/// from the OS page by page at each commit, and the cache fills only as the data grows.
const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// WAL pages between two automatic checkpoints (SQLite's default is 1,000): an index page a
/// bulk write changes in every commit is copied into the database once per checkpoint, not
/// once per thousand pages.
const CHECKPOINT_PAGES: i64 = 10_000;

/// Sets up the writer's connection for bulk writes (the readers keep SQLite's defaults).
pub(crate) fn tune_writer(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    conn.pragma_update(None, "wal_autocheckpoint", CHECKPOINT_PAGES)
}

/// Who writes, and when: the server-maintained columns of a write.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    /// Unix seconds (`createdon`, `modifiedon`).
    pub now: i64,
    /// The calling user's `systemuserid` (`createdby`, `modifiedby`, the default owner).
    pub user: uuid::Uuid,
    /// The real caller when `user` is impersonated (`createdonbehalfby`,
    /// `modifiedonbehalfby`); `None` otherwise, and those columns are null.
    pub on_behalf_of: Option<uuid::Uuid>,
    /// The caller's business unit (`owningbusinessunit`).
    pub business_unit: uuid::Uuid,
    /// The base currency, for records with money columns that name none.
    pub currency: uuid::Uuid,
}

/// The impersonating caller, or null.
fn on_behalf_of(stamp: &Stamp) -> Value {
    stamp.on_behalf_of.map_or(Value::Null, guid)
}

/// Gives each polymorphic lookup written without its target type (a writer that named the
/// record only by id: messages, seeds, the default owner) the first target table holding it.
fn fill_lookup_types(
    conn: &Connection,
    session: &Session,
    table: &Table,
    values: &mut Vec<(String, Value)>,
) -> rusqlite::Result<()> {
    for (lookup, kind, targets) in &table.polymorphic {
        if values.iter().any(|(c, _)| c == kind) {
            continue;
        }
        let target = match values.iter().find(|(c, _)| c == lookup) {
            None => continue,
            Some((_, Value::Blob(id))) => session.lookup_target(conn, targets, id)?,
            Some(_) => None,
        };
        values.push((kind.clone(), target.map_or(Value::Null, Value::Text)));
    }
    Ok(())
}

/// Sets the server-maintained columns `stamped` (those of `columns` the table has), replacing
/// any the body gave.
fn stamp_columns(
    values: &mut Vec<(String, Value)>,
    stamped: &[&'static str],
    columns: impl IntoIterator<Item = (&'static str, Value)>,
) {
    values.retain(|(c, _)| !stamped.contains(&c.as_str()));
    for (column, value) in columns {
        if stamped.contains(&column) {
            values.push((column.to_owned(), value));
        }
    }
}

/// `"a" = ?{sep}"b" = ?…`: each column set to (or compared with) its parameter.
fn each_is_bound<'a>(columns: impl Iterator<Item = &'a str>, sep: &str) -> String {
    columns
        .map(|c| format!("{} = ?", ident(c)))
        .collect::<Vec<_>>()
        .join(sep)
}

/// The `versionnumber` of a row, or `None` if it does not exist.
pub(crate) fn version_of(
    conn: &Connection,
    session: &Session,
    entity: &EntityType,
    id: &uuid::Uuid,
) -> rusqlite::Result<Option<i64>> {
    let sql = session.sql(Kind::VersionOf, &entity.name, std::iter::empty(), || {
        format!(
            "SELECT versionnumber FROM {} WHERE {} = ?1",
            ident(&entity.name),
            ident(&entity.key)
        )
    });
    conn.prepare_cached(&sql)?
        .query_row(params![id.as_bytes()], |r| r.get::<_, Option<i64>>(0))
        .optional()
        .map(|v| v.map(|v| v.unwrap_or(0)))
}

/// Inserts a row with the given columns (the key among them) and the system columns.
pub(crate) fn insert(
    conn: &Connection,
    session: &Session,
    entity: &EntityType,
    mut values: Vec<(String, Value)>,
    stamp: &Stamp,
) -> rusqlite::Result<i64> {
    let version = session.next_version(conn, entity)?;
    let table = session.table(entity);
    // The body may name an owner and a currency; otherwise the caller owns the record and
    // money is in the base currency.
    for (has, column, default) in [
        (table.owner, "_ownerid_value", stamp.user),
        (
            table.currency,
            "_transactioncurrencyid_value",
            stamp.currency,
        ),
    ] {
        if has && !values.iter().any(|(c, _)| c == column) {
            values.push((column.into(), guid(default)));
        }
    }
    // A new record is active (or open) in its state's first status, as Dataverse creates it.
    for (first, column) in [
        (table.first_state, "statecode"),
        (table.first_status, "statuscode"),
    ] {
        if let Some(first) = first
            && !values.iter().any(|(c, _)| c == column)
        {
            values.push((column.into(), Value::Integer(first)));
        }
    }
    stamp_columns(
        &mut values,
        &table.created,
        [
            ("createdon", Value::Integer(stamp.now)),
            ("modifiedon", Value::Integer(stamp.now)),
            ("versionnumber", Value::Integer(version)),
            ("_createdby_value", guid(stamp.user)),
            ("_modifiedby_value", guid(stamp.user)),
            ("_createdonbehalfby_value", on_behalf_of(stamp)),
            ("_modifiedonbehalfby_value", on_behalf_of(stamp)),
            ("_owningbusinessunit_value", guid(stamp.business_unit)),
        ],
    );
    fill_lookup_types(conn, session, &table, &mut values)?;
    let columns = values.iter().map(|(c, _)| c.as_str());
    let sql = session.sql(Kind::Insert, &entity.name, columns.clone(), || {
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            ident(&entity.name),
            columns.map(ident).collect::<Vec<_>>().join(", "),
            vec!["?"; values.len()].join(", ")
        )
    });
    conn.prepare_cached(&sql)?
        .execute(params_from_iter(values.iter().map(|(_, v)| v)))?;
    session.inserted_into(&entity.name);
    Ok(version)
}

/// Updates the given columns of a row; returns the new version.
pub(crate) fn update(
    conn: &Connection,
    session: &Session,
    entity: &EntityType,
    id: &uuid::Uuid,
    mut values: Vec<(String, Value)>,
    stamp: &Stamp,
) -> rusqlite::Result<i64> {
    let version = session.next_version(conn, entity)?;
    let table = session.table(entity);
    stamp_columns(
        &mut values,
        &table.modified,
        [
            ("modifiedon", Value::Integer(stamp.now)),
            ("versionnumber", Value::Integer(version)),
            ("_modifiedby_value", guid(stamp.user)),
            ("_modifiedonbehalfby_value", on_behalf_of(stamp)),
        ],
    );
    fill_lookup_types(conn, session, &table, &mut values)?;
    let columns = values.iter().map(|(c, _)| c.as_str());
    let sql = session.sql(Kind::Update, &entity.name, columns.clone(), || {
        format!(
            "UPDATE {} SET {} WHERE {} = ?",
            ident(&entity.name),
            each_is_bound(columns, ", "),
            ident(&entity.key)
        )
    });
    values.push((String::new(), guid(*id)));
    conn.prepare_cached(&sql)?
        .execute(params_from_iter(values.iter().map(|(_, v)| v)))?;
    Ok(version)
}

/// Deletes a row; `false` if it did not exist. The delete and its tombstone in the change
/// log (see [`super::changes`]), dated by `clock`, are one savepoint: both happen or neither.
pub(crate) fn delete(
    conn: &Connection,
    session: &Session,
    entity: &EntityType,
    id: &uuid::Uuid,
    clock: super::changes::ChangeClock,
) -> rusqlite::Result<bool> {
    conn.execute_batch("SAVEPOINT emulator_delete")?;
    let result = (|| {
        let n = conn.execute(
            &format!(
                "DELETE FROM {} WHERE {} = ?1",
                ident(&entity.name),
                ident(&entity.key)
            ),
            params![guid(*id)],
        )?;
        if n > 0 {
            session.forget_found();
            let version = session.next_version(conn, entity)?;
            super::changes::record_delete(conn, entity, id, version, clock)?;
        }
        Ok(n > 0)
    })();
    match result {
        Ok(_) => conn.execute_batch("RELEASE emulator_delete")?,
        Err(_) => conn.execute_batch("ROLLBACK TO emulator_delete; RELEASE emulator_delete")?,
    }
    result
}

/// Whether a row with this key exists.
pub(crate) fn exists(
    conn: &Connection,
    session: &Session,
    entity: &EntityType,
    id: &uuid::Uuid,
) -> rusqlite::Result<bool> {
    Ok(version_of(conn, session, entity, id)?.is_some())
}

/// The key of the row whose columns equal `values` (an alternate key), if any.
pub(crate) fn find_by_columns(
    conn: &Connection,
    session: &Session,
    entity: &EntityType,
    values: &[(String, Value)],
) -> rusqlite::Result<Option<uuid::Uuid>> {
    let columns = values.iter().map(|(c, _)| c.as_str());
    let sql = session.sql(Kind::FindBy, &entity.name, columns.clone(), || {
        format!(
            "SELECT {} FROM {} WHERE {} LIMIT 1",
            ident(&entity.key),
            ident(&entity.name),
            each_is_bound(columns, " AND ")
        )
    });
    let key: Option<Vec<u8>> = conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(values.iter().map(|(_, v)| v)), |r| {
            r.get(0)
        })
        .optional()?;
    Ok(key.and_then(|k| uuid::Uuid::from_slice(&k).ok()))
}

/// Some columns of one row, in the order asked: `None` when the row does not exist, a
/// `Value::Null` for each empty column.
pub(crate) fn columns_of(
    conn: &Connection,
    entity: &EntityType,
    id: &uuid::Uuid,
    columns: &[&str],
) -> rusqlite::Result<Option<Vec<Value>>> {
    let names = columns
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    conn.query_row(
        &format!(
            "SELECT {names} FROM {} WHERE {} = ?1",
            ident(&entity.name),
            ident(&entity.key)
        ),
        params![guid(*id)],
        |r| (0..columns.len()).map(|i| r.get::<_, Value>(i)).collect(),
    )
    .optional()
}
