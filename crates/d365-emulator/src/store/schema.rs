//! SQL tables from the model: one table per entity type, one typed column per property, and
//! Dataverse's plain indexes: one per lookup, the primary name, `createdon` and the Quick Find
//! columns (alternate keys have their unique ones in `keys.rs`). Values are stored as:
//!
//! | EDM | SQLite |
//! |---|---|
//! | Guid | BLOB (16 bytes) |
//! | String | TEXT COLLATE NOCASE (Dataverse compares strings case-insensitively) |
//! | Int32, Int64, Boolean | INTEGER |
//! | Decimal | INTEGER scaled by 10^scale (exact; money's range is exactly i64 / 10^4) |
//! | Double | REAL |
//! | DateTimeOffset | INTEGER Unix seconds (Dataverse keeps whole seconds) |
//! | Date | TEXT `YYYY-MM-DD` |
//!
//! A lookup with several target tables (`ownerid`: systemuser or team; `parentcustomerid`:
//! account or contact; `regardingobjectid`) also stores the table its value points at, in a
//! hidden TEXT column named by [`lookup_type_column`], as Dataverse stores `owneridtype`.

use std::collections::BTreeMap;

use d365_odata::model::{EdmType, EntityType, Model, Property};
use rusqlite::{Connection, OptionalExtension};

pub use super::sql::ident;

/// The SQL column type of an EDM type.
pub fn column_type(t: EdmType) -> &'static str {
    match t {
        EdmType::Guid => "BLOB",
        EdmType::String => "TEXT COLLATE NOCASE",
        EdmType::Int32
        | EdmType::Int64
        | EdmType::Boolean
        | EdmType::Decimal
        | EdmType::DateTimeOffset => "INTEGER",
        EdmType::Double => "REAL",
        EdmType::Date => "TEXT",
    }
}

/// The hidden column holding the logical name of the table a polymorphic lookup points at
/// (`_ownerid_value` → `_ownerid_value@lookuplogicalname`). The `@` keeps it apart from every
/// property name, which is a simple identifier.
pub fn lookup_type_column(lookup: &str) -> String {
    format!("{lookup}@lookuplogicalname")
}

/// Whether a lookup may point at more than one table (and so stores which one it does).
pub fn is_polymorphic(lookup: &Property) -> bool {
    lookup.lookup_targets.len() > 1
}

/// The lookups of `entity` that may point at more than one table.
pub fn polymorphic_lookups(entity: &EntityType) -> impl Iterator<Item = &Property> {
    entity.properties.iter().filter(|p| is_polymorphic(p))
}

/// Every stored column of `entity` with its SQL type: the properties, then the hidden target
/// type of each polymorphic lookup.
pub fn stored_columns(entity: &EntityType) -> Vec<(String, &'static str)> {
    entity
        .properties
        .iter()
        .map(|p| (p.name.clone(), column_type(p.edm_type)))
        .chain(polymorphic_lookups(entity).map(|p| (lookup_type_column(&p.name), "TEXT")))
        .collect()
}

/// The table (of `targets`, in order) holding a row whose key is `id`: the target of a
/// polymorphic lookup value written without one. Keys are read from the schema itself.
pub fn lookup_target(
    conn: &Connection,
    targets: &[String],
    id: &[u8],
) -> rusqlite::Result<Option<String>> {
    for target in targets {
        let Some(key) = primary_key(conn, target)? else {
            continue;
        };
        let found = conn
            .prepare_cached(&format!(
                "SELECT 1 FROM {} WHERE {} = ?1",
                ident(target),
                ident(&key)
            ))?
            .exists([id])?;
        if found {
            return Ok(Some(target.clone()));
        }
    }
    Ok(None)
}

fn primary_key(conn: &Connection, table: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT name FROM pragma_table_info(?1) WHERE pk = 1")?
        .query_row([table], |r| r.get(0))
        .optional()
}

/// Fills the target type of a polymorphic lookup's values in a store from before the type was
/// stored: the first target table holding the id. Values pointing at no row keep none.
fn infer_lookup_types(
    conn: &Connection,
    entity: &EntityType,
    lookup: &Property,
) -> rusqlite::Result<()> {
    for target in &lookup.lookup_targets {
        let Some(key) = primary_key(conn, target)? else {
            continue;
        };
        let (value, kind) = (
            ident(&lookup.name),
            ident(&lookup_type_column(&lookup.name)),
        );
        conn.execute(
            &format!(
                "UPDATE {table} SET {kind} = ?1 WHERE {kind} IS NULL AND {value} IS NOT NULL \
                 AND {value} IN (SELECT {key} FROM {target_table})",
                table = ident(&entity.name),
                key = ident(&key),
                target_table = ident(target),
            ),
            [target],
        )?;
    }
    Ok(())
}

/// Columns an org indexes on top of those every table has: the find columns of each table's
/// Quick Find view, by table logical name. Dataverse indexes them so that Quick Find (and any
/// `startswith` on them) reads a range of an index instead of the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindColumns(pub BTreeMap<String, Vec<String>>);

impl FindColumns {
    /// Adds `columns` to `table`'s, each once.
    pub fn add(&mut self, table: &str, columns: impl IntoIterator<Item = String>) {
        let list = self.0.entry(table.to_owned()).or_default();
        for c in columns {
            if !list.contains(&c) {
                list.push(c);
            }
        }
    }
}

/// The name of the single-column index on `column` of `table` (lookups, the primary name, find
/// columns): `{table}_{column}`, as the lookup indexes have always been named.
fn column_index(table: &str, column: &str) -> String {
    format!("{table}_{column}")
}

/// The indexes every table has, as `(name, columns)`: one per lookup, the primary name column
/// (Dataverse indexes it: lookups and type-ahead search it by prefix), and `(createdon, key)`.
/// None is unique: an index refuses nothing.
fn builtin_indexes(entity: &EntityType) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let lookups = entity
        .properties
        .iter()
        .filter(|p| !p.lookup_targets.is_empty())
        .map(|p| p.name.as_str());
    let name = entity
        .primary_name
        .as_deref()
        .filter(|n| entity.property(n).is_some());
    for column in lookups.chain(name) {
        let index = column_index(&entity.name, column);
        if !out.iter().any(|(n, _)| *n == index) {
            out.push((index, vec![column.to_owned()]));
        }
    }
    // Dataverse indexes createdon: exports page by (createdon, key) ranges, and without it each
    // page would sort the whole table.
    if entity.property("createdon").is_some() {
        out.push((
            format!("{}_createdon", entity.name),
            vec!["createdon".to_owned(), entity.key.clone()],
        ));
    }
    out
}

fn create_index_sql(table: &str, index: &str, columns: &[String]) -> String {
    let columns: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} ({});\n",
        ident(index),
        ident(table),
        columns.join(", ")
    )
}

fn create_table_sql(entity: &EntityType) -> String {
    let columns: Vec<String> = stored_columns(entity)
        .into_iter()
        .map(|(name, ty)| {
            let mut col = format!("{} {ty}", ident(&name));
            if name == entity.key {
                col.push_str(" PRIMARY KEY NOT NULL");
            }
            col
        })
        .collect();
    // Clustered on the GUID key: one B-tree per table instead of a rowid table plus a key
    // index, which halves the work of every insert and key lookup. An index on (c) of such a
    // table holds (c, key): it serves `ORDER BY c, key` without a sort.
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS {} ({}) WITHOUT ROWID;\n",
        ident(&entity.name),
        columns.join(", ")
    );
    for (index, columns) in builtin_indexes(entity) {
        sql.push_str(&create_index_sql(&entity.name, &index, &columns));
    }
    sql
}

/// Creates the indexes of the find columns (idempotent; a store from before gets them when it
/// opens). A column the table lacks is skipped (the configuration is checked against the model
/// at start-up); one indexed already (a lookup, the primary name) is not indexed twice.
pub fn create_find_indexes(
    conn: &Connection,
    model: &Model,
    find: &FindColumns,
) -> rusqlite::Result<()> {
    for (table, columns) in &find.0 {
        let Some(entity) = model.entity_type(table) else {
            continue;
        };
        for column in columns.iter().filter(|c| entity.property(c).is_some()) {
            let index = column_index(&entity.name, column);
            conn.execute_batch(&create_index_sql(
                &entity.name,
                &index,
                std::slice::from_ref(column),
            ))?;
        }
    }
    Ok(())
}

/// Drops the emulator's plain indexes (before a bulk load): those of the lookups, the primary
/// name, `createdon` and the find columns. `create_tables` and [`create_find_indexes`] put
/// them back; the unique indexes of alternate keys stay.
pub fn drop_indexes(conn: &Connection, model: &Model) -> rusqlite::Result<()> {
    for entity in model.entity_types() {
        let names = entity
            .properties
            .iter()
            .map(|p| column_index(&entity.name, &p.name))
            .chain(std::iter::once(format!("{}_createdon", entity.name)));
        for name in names {
            conn.execute_batch(&format!("DROP INDEX IF EXISTS {}", ident(&name)))?;
        }
    }
    Ok(())
}

/// Creates every table of the model (idempotent), and adds the columns a persisted table
/// lacks when the model has grown since (a newer emulator, a new `--metadata` file).
pub fn create_tables(conn: &Connection, model: &Model) -> rusqlite::Result<()> {
    let mut added_types = Vec::new();
    for entity in model.entity_types() {
        let existing: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info(?1)")?
            .query_map([&entity.name], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if !existing.is_empty() {
            for lookup in polymorphic_lookups(entity) {
                let kind = lookup_type_column(&lookup.name);
                if !existing.iter().any(|c| c.eq_ignore_ascii_case(&kind)) {
                    added_types.push((entity, lookup));
                }
            }
            for (name, ty) in stored_columns(entity) {
                if !existing.iter().any(|c| c.eq_ignore_ascii_case(&name)) {
                    conn.execute_batch(&format!(
                        "ALTER TABLE {} ADD COLUMN {} {ty}",
                        ident(&entity.name),
                        ident(&name),
                    ))?;
                }
            }
        }
        conn.execute_batch(&create_table_sql(entity))?;
    }
    // The target types a store from before they were stored lacks, once all tables exist
    // (inference reads the target tables).
    for (entity, lookup) in added_types {
        infer_lookup_types(conn, entity, lookup)?;
    }
    super::changes::create_tables(conn)
}

#[cfg(test)]
mod tests {
    use super::super::changes::{
        ChangeClock, current_version, deleted_since, prune, record_delete,
    };
    use super::*;

    /// The change log comes with the tables (its counter, its tombstones).
    #[test]
    fn the_change_counter_starts_above_the_seed_and_tombstones_are_per_id() {
        let model = crate::dataverse::model::DataverseModel::default().model;
        let mut conn = Connection::open_in_memory().unwrap();
        create_tables(&conn, &model).unwrap();
        let (o, b) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        super::super::seed::seed(&mut conn, &model, 3, 1, o, b).unwrap();
        let account = model.entity_type("account").unwrap();
        let seeded: i64 = conn
            .query_row("SELECT max(versionnumber) FROM contact", [], |r| r.get(0))
            .unwrap();
        let v0 = current_version(&conn, &model).unwrap();
        assert!(v0 >= seeded, "{v0} < {seeded}");
        assert_eq!(current_version(&conn, &model).unwrap(), v0);
        let id: Vec<u8> = conn
            .query_row("SELECT accountid FROM account LIMIT 1", [], |r| r.get(0))
            .unwrap();
        let id = uuid::Uuid::from_slice(&id).unwrap();
        let gone = uuid::Uuid::from_u128(99);
        for (i, who) in [gone, gone, id].iter().enumerate() {
            let clock = ChangeClock {
                now: 1000,
                keep_secs: 100,
            };
            record_delete(&conn, account, who, v0 + 1 + i as i64, clock).unwrap();
        }
        // One entry for `gone` (its latest delete); none for a row that is there again.
        let deleted = deleted_since(&conn, account, v0, v0 + 10, v0, 10).unwrap();
        assert_eq!(deleted, vec![(gone, v0 + 2)]);
        assert!(
            deleted_since(&conn, account, v0, v0 + 1, v0, 10)
                .unwrap()
                .iter()
                .all(|(_, v)| *v <= v0 + 1)
        );
        assert!(
            deleted_since(&conn, account, v0 + 2, v0 + 10, v0, 10)
                .unwrap()
                .is_empty()
        );
        // Kept for the lifetime, then forgotten.
        let at = |now| ChangeClock {
            now,
            keep_secs: 100,
        };
        assert_eq!(prune(&conn, at(1100)).unwrap(), 0);
        assert_eq!(prune(&conn, at(1101)).unwrap(), 3);
        assert!(
            deleted_since(&conn, account, v0, v0 + 10, v0, 10)
                .unwrap()
                .is_empty()
        );
    }
}
