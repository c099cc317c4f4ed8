//! Writes: insert, update and delete of one row, each bumping the database-wide version
//! counter that becomes `versionnumber` (and so the etag), as SQL Server's rowversion does.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use d365_odata::model::EntityType;

use super::guid;
use super::schema::{self, ident};

/// The next `versionnumber`. Every statement is prepared once per connection and cached, as
/// are all of this module's: a bulk message runs them once per row.
fn next_version(conn: &Connection, entity: &EntityType) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "CREATE TABLE IF NOT EXISTS _emulator_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    )?
    .execute([])?;
    let current: Option<i64> = conn
        .prepare_cached("SELECT value FROM _emulator_meta WHERE key = 'versionnumber'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    let next = match current {
        Some(v) => v + 1,
        None => {
            // First write: continue after the seeded rows.
            let max: Option<i64> = conn.query_row(
                &format!("SELECT max(versionnumber) FROM {}", ident(&entity.name)),
                [],
                |r| r.get(0),
            )?;
            max.unwrap_or(100_000) + 1_000_000
        }
    };
    conn.prepare_cached("INSERT INTO _emulator_meta (key, value) VALUES ('versionnumber', ?1) ON CONFLICT(key) DO UPDATE SET value = ?1")?
        .execute(params![next])?;
    Ok(next)
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

/// Gives each polymorphic lookup written without its target type (a writer that named the
/// record only by id: messages, seeds, the default owner) the first target table holding it.
fn fill_lookup_types(
    conn: &Connection,
    entity: &EntityType,
    values: &mut Vec<(String, Value)>,
) -> rusqlite::Result<()> {
    for p in schema::polymorphic_lookups(entity) {
        let kind = schema::lookup_type_column(&p.name);
        if values.iter().any(|(c, _)| *c == kind) {
            continue;
        }
        let target = match values.iter().find(|(c, _)| *c == p.name) {
            None => continue,
            Some((_, Value::Blob(id))) => schema::lookup_target(conn, &p.lookup_targets, id)?,
            Some(_) => None,
        };
        values.push((kind, target.map_or(Value::Null, Value::Text)));
    }
    Ok(())
}

/// Sets the server-maintained columns the entity has, replacing any the body gave.
fn stamp_columns(
    entity: &EntityType,
    values: &mut Vec<(String, Value)>,
    columns: Vec<(&str, Value)>,
) {
    for (col, v) in columns {
        if entity.property(col).is_some() {
            values.retain(|(c, _)| c != col);
            values.push((col.to_owned(), v));
        }
    }
}

/// The impersonating caller, or null.
fn on_behalf_of(stamp: &Stamp) -> Value {
    stamp.on_behalf_of.map_or(Value::Null, guid)
}

/// The `versionnumber` of a row, or `None` if it does not exist.
pub(crate) fn version_of(
    conn: &Connection,
    entity: &EntityType,
    id: &uuid::Uuid,
) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(&format!(
        "SELECT versionnumber FROM {} WHERE {} = ?1",
        ident(&entity.name),
        ident(&entity.key)
    ))?
    .query_row(params![guid(*id)], |r| r.get::<_, Option<i64>>(0))
    .optional()
    .map(|v| v.map(|v| v.unwrap_or(0)))
}

/// Inserts a row with the given columns (the key among them) and the system columns.
pub(crate) fn insert(
    conn: &Connection,
    entity: &EntityType,
    mut values: Vec<(String, Value)>,
    stamp: &Stamp,
) -> rusqlite::Result<i64> {
    let version = next_version(conn, entity)?;
    // The body may name an owner and a currency; otherwise the caller owns the record and
    // money is in the base currency.
    for (column, default) in [
        ("_ownerid_value", stamp.user),
        ("_transactioncurrencyid_value", stamp.currency),
    ] {
        if entity.property(column).is_some() && !values.iter().any(|(c, _)| c == column) {
            values.push((column.into(), guid(default)));
        }
    }
    // A new record is active (or open) in its state's first status, as Dataverse creates it.
    for column in ["statecode", "statuscode"] {
        if let Some(p) = entity.property(column)
            && !values.iter().any(|(c, _)| c == column)
        {
            let first = p
                .option_set
                .as_ref()
                .and_then(|o| o.options.first())
                .map_or(0, |(v, _)| *v);
            values.push((column.into(), Value::Integer(first.into())));
        }
    }
    stamp_columns(
        entity,
        &mut values,
        vec![
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
    fill_lookup_types(conn, entity, &mut values)?;
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        ident(&entity.name),
        values
            .iter()
            .map(|(c, _)| ident(c))
            .collect::<Vec<_>>()
            .join(", "),
        vec!["?"; values.len()].join(", ")
    );
    conn.prepare_cached(&sql)?
        .execute(params_from_iter(values.iter().map(|(_, v)| v)))?;
    Ok(version)
}

/// Updates the given columns of a row; returns the new version.
pub(crate) fn update(
    conn: &Connection,
    entity: &EntityType,
    id: &uuid::Uuid,
    mut values: Vec<(String, Value)>,
    stamp: &Stamp,
) -> rusqlite::Result<i64> {
    let version = next_version(conn, entity)?;
    stamp_columns(
        entity,
        &mut values,
        vec![
            ("modifiedon", Value::Integer(stamp.now)),
            ("versionnumber", Value::Integer(version)),
            ("_modifiedby_value", guid(stamp.user)),
            ("_modifiedonbehalfby_value", on_behalf_of(stamp)),
        ],
    );
    fill_lookup_types(conn, entity, &mut values)?;
    let sets = values
        .iter()
        .map(|(c, _)| format!("{} = ?", ident(c)))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE {} SET {sets} WHERE {} = ?",
        ident(&entity.name),
        ident(&entity.key)
    );
    let mut params: Vec<Value> = values.into_iter().map(|(_, v)| v).collect();
    params.push(guid(*id));
    conn.prepare_cached(&sql)?
        .execute(params_from_iter(params.iter()))?;
    Ok(version)
}

/// Deletes a row; `false` if it did not exist. The delete and its tombstone in the change
/// log (see [`super::changes`]), dated by `clock`, are one savepoint: both happen or neither.
pub(crate) fn delete(
    conn: &Connection,
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
            let version = next_version(conn, entity)?;
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
    entity: &EntityType,
    id: &uuid::Uuid,
) -> rusqlite::Result<bool> {
    Ok(version_of(conn, entity, id)?.is_some())
}

/// The key of the row whose columns equal `values` (an alternate key), if any.
pub(crate) fn find_by_columns(
    conn: &Connection,
    entity: &EntityType,
    values: &[(String, Value)],
) -> rusqlite::Result<Option<uuid::Uuid>> {
    let wheres = values
        .iter()
        .map(|(c, _)| format!("{} = ?", ident(c)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let sql = format!(
        "SELECT {} FROM {} WHERE {wheres} LIMIT 1",
        ident(&entity.key),
        ident(&entity.name)
    );
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
