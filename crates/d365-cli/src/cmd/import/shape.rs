//! Turning an input row into a record the Web API takes, from the table's metadata: renamed
//! columns (`--map`), columns the server sets dropped (what an export carries: `createdon`,
//! `versionnumber`, …), lookups (`_parentaccountid_value`) written as `@odata.bind`, and the
//! key: a deterministic id for creates (so a chunk sent twice finds its rows), `@odata.id`
//! for upserts by alternate key.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, bail};
use d365_webapi::{BulkRequest, ColumnDefinition, RecordKey, TableDefinition};
use serde_json::{Map, Value};

use crate::flags::ImportMode;

/// A lookup column: the navigation property to bind through, and the entity set it points at.
#[derive(Debug, Clone)]
struct Lookup {
    navigation: String,
    target_set: String,
}

/// What shapes rows for one table and mode.
#[derive(Debug)]
pub(super) struct Shape {
    pub(super) entity_set: String,
    pub(super) logical_name: String,
    pub(super) key: String,
    mode: ImportMode,
    alternate_key: Vec<String>,
    map: HashMap<String, String>,
    types: HashMap<String, String>,
    lookups: HashMap<String, Lookup>,
    server_set: BTreeSet<String>,
    run: uuid::Uuid,
    /// Columns dropped because the server sets them (reported once).
    pub(super) dropped: BTreeSet<String>,
}

impl Shape {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        table: &TableDefinition,
        columns: &[ColumnDefinition],
        tables: &[TableDefinition],
        mode: ImportMode,
        alternate_key: Vec<String>,
        map: &[String],
        run: uuid::Uuid,
    ) -> anyhow::Result<Self> {
        let key = table.primary_id_attribute.clone().with_context(|| {
            format!("{} has no primary key in its metadata", table.logical_name)
        })?;
        let map = map
            .iter()
            .map(|m| {
                m.split_once('=')
                    .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
                    .with_context(|| format!("--map '{m}' is not SOURCE=COLUMN"))
            })
            .collect::<anyhow::Result<_>>()?;
        let set_of = |logical: &str| {
            tables
                .iter()
                .find(|t| t.logical_name == logical)
                .and_then(|t| t.entity_set_name.clone())
        };
        let mut types = HashMap::new();
        let mut lookups = HashMap::new();
        let mut server_set = BTreeSet::new();
        for c in columns {
            let kind = c.attribute_type.clone().unwrap_or_default();
            let is_lookup = matches!(kind.as_str(), "Lookup" | "Owner" | "Customer");
            let property = if is_lookup {
                format!("_{}_value", c.logical_name)
            } else {
                c.logical_name.clone()
            };
            let writable = match mode {
                ImportMode::Create => c.is_valid_for_create,
                ImportMode::Update => c.is_valid_for_update,
                ImportMode::Upsert => c.is_valid_for_create.or(c.is_valid_for_update),
            };
            if writable == Some(false) && c.logical_name != key {
                server_set.insert(property.clone());
            }
            if is_lookup
                && let Some([target]) = c.targets.as_deref()
                && let Some(target_set) = set_of(target)
            {
                lookups.insert(
                    property.clone(),
                    Lookup {
                        navigation: c.logical_name.clone(),
                        target_set,
                    },
                );
            }
            types.insert(property, kind);
        }
        if mode == ImportMode::Upsert && alternate_key.is_empty() {
            // By primary key: every row must carry it.
        } else if mode != ImportMode::Upsert && !alternate_key.is_empty() {
            bail!("--key is for --mode upsert");
        }
        Ok(Self {
            entity_set: table.entity_set_name.clone().unwrap_or_default(),
            logical_name: table.logical_name.clone(),
            key,
            mode,
            alternate_key,
            map,
            types,
            lookups,
            server_set,
            run,
            dropped: BTreeSet::new(),
        })
    }

    /// The Dataverse type of an input column (after `--map`), for typing CSV cells.
    pub(super) fn type_lookup(&self) -> impl Fn(&str) -> Option<String> + Send + 'static {
        let (map, types) = (self.map.clone(), self.types.clone());
        move |name| {
            let name = map.get(name).map_or(name, String::as_str);
            types.get(name).cloned()
        }
    }

    /// The record for input `line`, or why the row cannot be sent.
    pub(super) fn record(
        &mut self,
        line: u64,
        fields: Map<String, Value>,
    ) -> Result<Value, String> {
        let mut out = Map::new();
        for (name, value) in fields {
            let name = self.map.get(&name).cloned().unwrap_or(name);
            if name.starts_with('@') || name.contains("@OData") || name.contains("@Microsoft") {
                continue; // annotations of an export
            }
            if self.server_set.contains(&name) {
                self.dropped.insert(name);
                continue;
            }
            if let Some(lookup) = self.lookups.get(&name) {
                let bind = format!("{}@odata.bind", lookup.navigation);
                match value {
                    Value::Null if self.mode == ImportMode::Create => {}
                    Value::Null => {
                        out.insert(bind, Value::Null);
                    }
                    Value::String(id) => {
                        let id = uuid::Uuid::parse_str(&id)
                            .map_err(|_| format!("{name}: '{id}' is not a GUID"))?;
                        out.insert(bind, Value::String(format!("/{}({id})", lookup.target_set)));
                    }
                    other => return Err(format!("{name}: {other} is not a GUID")),
                }
                continue;
            }
            out.insert(name, value);
        }
        match self.mode {
            ImportMode::Create => {
                // A deterministic id: the same row of the same run always gets the same one.
                out.entry(self.key.clone()).or_insert_with(|| {
                    let name = format!("{}:{line}", self.entity_set);
                    Value::String(uuid::Uuid::new_v5(&self.run, name.as_bytes()).to_string())
                });
            }
            ImportMode::Update => {
                if !out.get(&self.key).is_some_and(Value::is_string) {
                    return Err(format!("no {} to update by", self.key));
                }
            }
            ImportMode::Upsert if self.alternate_key.is_empty() => {
                if !out.get(&self.key).is_some_and(Value::is_string) {
                    return Err(format!("no {} to upsert by (or give --key)", self.key));
                }
            }
            ImportMode::Upsert => {
                let mut pairs = Vec::new();
                for column in &self.alternate_key {
                    let literal = match out.get(column) {
                        Some(Value::String(s)) => d365_odata::Literal::String(s.clone()),
                        Some(Value::Number(n)) if n.is_i64() => {
                            d365_odata::Literal::Int(n.as_i64().unwrap_or_default())
                        }
                        Some(other) => return Err(format!("key column {column} is {other}")),
                        None => return Err(format!("no {column} for the key")),
                    };
                    pairs.push((column.clone(), literal));
                }
                return Ok(BulkRequest::upsert_target(
                    &self.entity_set,
                    &RecordKey::Alternate(pairs),
                    Value::Object(out),
                ));
            }
        }
        Ok(Value::Object(out))
    }
}
