//! A table as data movement sees it, from its metadata: the logical name, the primary key,
//! and the columns a `$select` can read, each by its Web API property (a lookup
//! `parentaccountid` is read as `_parentaccountid_value`, see [`property_of`]).

use d365_webapi::Client;

use crate::error::{Error, Result};

/// Column types a `$select` cannot name (computed, or not columns at all).
const UNSELECTABLE: &[&str] = &[
    "Virtual",
    "EntityName",
    "CalendarRules",
    "ManagedProperty",
    "PartyList",
];

/// Whether a column of this `AttributeType` points at another record (a lookup).
pub fn is_lookup(attribute_type: &str) -> bool {
    matches!(attribute_type, "Lookup" | "Owner" | "Customer")
}

/// The Web API property a column is read by: `_{name}_value` for a lookup, else its name
/// (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/web-api-properties#lookup-properties>).
pub fn property_of(logical_name: &str, attribute_type: &str) -> String {
    if is_lookup(attribute_type) {
        format!("_{logical_name}_value")
    } else {
        logical_name.to_owned()
    }
}

/// One readable column.
#[derive(Debug, Clone)]
pub struct Column {
    /// The Web API property (`name`, `_parentaccountid_value`).
    pub property: String,
    /// Dataverse's `AttributeType` (`String`, `Money`, `Lookup`, …).
    pub attribute_type: String,
    /// Digits after the point, for decimals and money (Parquet's decimal columns).
    pub precision: Option<u32>,
}

/// A table's shape.
#[derive(Debug, Clone)]
pub struct Table {
    /// The logical name (`account`).
    pub logical_name: String,
    /// The primary key column (`accountid`).
    pub key: String,
    /// The key first, then the rest as the metadata lists them.
    pub columns: Vec<Column>,
}

impl Table {
    /// Whether the table has a column by this property name.
    pub fn has(&self, property: &str) -> bool {
        self.columns.iter().any(|c| c.property == property)
    }
}

/// The table behind `entity_set` among `tables`.
pub fn find<'a>(
    tables: &'a [d365_webapi::TableDefinition],
    entity_set: &str,
) -> Result<&'a d365_webapi::TableDefinition> {
    tables
        .iter()
        .find(|t| t.entity_set_name.as_deref() == Some(entity_set))
        .ok_or_else(|| Error::NoTable {
            entity_set: entity_set.to_owned(),
        })
}

/// The primary key column of a table.
pub fn primary_key(table: &d365_webapi::TableDefinition) -> Result<String> {
    table
        .primary_id_attribute
        .clone()
        .ok_or_else(|| Error::NoPrimaryKey {
            table: table.logical_name.clone(),
        })
}

/// Reads the metadata of the table behind `entity_set`.
pub async fn describe(client: &Client, entity_set: &str) -> Result<Table> {
    let tables = client.tables().await?;
    let table = find(&tables, entity_set)?;
    let key = primary_key(table)?;
    let mut columns = vec![Column {
        property: key.clone(),
        attribute_type: "Uniqueidentifier".into(),
        precision: None,
    }];
    for c in client.columns(&table.logical_name).await? {
        let kind = c.attribute_type.clone().unwrap_or_default();
        if UNSELECTABLE.contains(&kind.as_str()) || c.logical_name == key {
            continue;
        }
        let property = property_of(&c.logical_name, &kind);
        columns.push(Column {
            property,
            attribute_type: kind,
            precision: c.precision,
        });
    }
    Ok(Table {
        logical_name: table.logical_name.clone(),
        key,
        columns,
    })
}
