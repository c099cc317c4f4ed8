//! A table as the data commands (export, sync) see it, from its metadata: the logical name,
//! the primary key, and the columns a `$select` can read, each by its Web API property
//! (a lookup `parentaccountid` is read as `_parentaccountid_value`).

use anyhow::Context;
use d365_webapi::Client;

/// Column types a `$select` cannot name (computed, or not columns at all).
const UNSELECTABLE: &[&str] = &[
    "Virtual",
    "EntityName",
    "CalendarRules",
    "ManagedProperty",
    "PartyList",
];

/// One readable column.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    /// The Web API property (`name`, `_parentaccountid_value`).
    pub(crate) property: String,
    /// Dataverse's `AttributeType` (`String`, `Money`, `Lookup`, …).
    pub(crate) attribute_type: String,
    /// Digits after the point, for decimals and money (Parquet's decimal columns).
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(crate) precision: Option<u32>,
}

/// A table's shape.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub(crate) logical_name: String,
    pub(crate) key: String,
    /// The key first, then the rest as the metadata lists them.
    pub(crate) columns: Vec<Column>,
}

impl Table {
    /// Whether the table has a column by this property name.
    pub(crate) fn has(&self, property: &str) -> bool {
        self.columns.iter().any(|c| c.property == property)
    }
}

/// Reads the metadata of the table behind `entity_set`.
pub(crate) async fn describe(client: &Client, entity_set: &str) -> anyhow::Result<Table> {
    let tables = client.tables().await?;
    let table = tables
        .iter()
        .find(|t| t.entity_set_name.as_deref() == Some(entity_set))
        .with_context(|| format!("no table has the entity set '{entity_set}'"))?;
    let key = table
        .primary_id_attribute
        .clone()
        .with_context(|| format!("{} has no primary key in its metadata", table.logical_name))?;
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
        let property = if matches!(kind.as_str(), "Lookup" | "Owner" | "Customer") {
            format!("_{}_value", c.logical_name)
        } else {
            c.logical_name
        };
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
