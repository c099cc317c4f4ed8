//! SQL tables from the model: one table per entity type, one typed column per property, an
//! index per lookup and alternate key. Values are stored as:
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

use d365_odata::model::{EdmType, EntityType, Model};
use rusqlite::Connection;

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

/// Quotes an identifier for SQL. Names come from the model, never from a request.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn create_table_sql(entity: &EntityType) -> String {
    let columns: Vec<String> = entity
        .properties
        .iter()
        .map(|p| {
            let mut col = format!("{} {}", ident(&p.name), column_type(p.edm_type));
            if p.name == entity.key {
                col.push_str(" PRIMARY KEY NOT NULL");
            }
            col
        })
        .collect();
    // Clustered on the GUID key: one B-tree per table instead of a rowid table plus a key
    // index, which halves the work of every insert and key lookup.
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS {} ({}) WITHOUT ROWID;\n",
        ident(&entity.name),
        columns.join(", ")
    );
    for p in entity
        .properties
        .iter()
        .filter(|p| !p.lookup_targets.is_empty())
    {
        sql.push_str(&format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} ({});\n",
            ident(&format!("{}_{}", entity.name, p.name)),
            ident(&entity.name),
            ident(&p.name)
        ));
    }
    // Dataverse indexes createdon: exports page by (createdon, key) ranges, and without it each
    // page would sort the whole table.
    if entity.property("createdon").is_some() {
        sql.push_str(&format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} (createdon, {});\n",
            ident(&format!("{}_createdon", entity.name)),
            ident(&entity.name),
            ident(&entity.key)
        ));
    }
    for key in &entity.alternate_keys {
        sql.push_str(&format!(
            "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({});\n",
            ident(&format!("{}_ak_{}", entity.name, key.join("_"))),
            ident(&entity.name),
            key.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ")
        ));
    }
    sql
}

/// Drops the lookup and alternate-key indexes (before a bulk load; `create_tables` puts
/// them back).
pub fn drop_indexes(conn: &Connection, model: &Model) -> rusqlite::Result<()> {
    for entity in model.entity_types() {
        for p in entity
            .properties
            .iter()
            .filter(|p| !p.lookup_targets.is_empty())
        {
            conn.execute_batch(&format!(
                "DROP INDEX IF EXISTS {}",
                ident(&format!("{}_{}", entity.name, p.name))
            ))?;
        }
        conn.execute_batch(&format!(
            "DROP INDEX IF EXISTS {}",
            ident(&format!("{}_createdon", entity.name))
        ))?;
        for key in &entity.alternate_keys {
            conn.execute_batch(&format!(
                "DROP INDEX IF EXISTS {}",
                ident(&format!("{}_ak_{}", entity.name, key.join("_")))
            ))?;
        }
    }
    Ok(())
}

/// Creates every table of the model (idempotent), and adds the columns a persisted table
/// lacks when the model has grown since (a newer emulator, a new `--metadata` file).
pub fn create_tables(conn: &Connection, model: &Model) -> rusqlite::Result<()> {
    for entity in model.entity_types() {
        let existing: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info(?1)")?
            .query_map([&entity.name], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if !existing.is_empty() {
            for p in &entity.properties {
                if !existing.iter().any(|c| c.eq_ignore_ascii_case(&p.name)) {
                    conn.execute_batch(&format!(
                        "ALTER TABLE {} ADD COLUMN {} {}",
                        ident(&entity.name),
                        ident(&p.name),
                        column_type(p.edm_type)
                    ))?;
                }
            }
        }
        conn.execute_batch(&create_table_sql(entity))?;
    }
    super::changes::create_tables(conn)
}
