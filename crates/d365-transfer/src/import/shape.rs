//! Turning an input row into a record the Web API takes, from the table's metadata: renamed
//! columns (`--map`), columns the server sets dropped (what an export carries: `createdon`,
//! `versionnumber`, …), lookups (`_parentaccountid_value`) written as `@odata.bind`, and the
//! key: a deterministic id for creates (so a chunk sent twice finds its rows), `@odata.id`
//! for upserts by alternate key.
//!
//! What cannot work is refused before anything is sent ([`Shape::new`], [`Shape::survey`]):
//! `--key` columns the table lacks, input columns the table lacks (named all at once, with
//! `--map` and `--drop` as the ways out), and columns none of whose values converts to the
//! column's type. A single value that does not convert rejects its row locally, with no
//! request; values that do convert (`"42"` for a whole number, `"true"`, `7` for text) are
//! sent as the type the server expects.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use d365_webapi::{BulkRequest, ColumnDefinition, RecordKey, TableDefinition};
use serde_json::{Map, Value};

use super::Mode;
use super::input::Rows;
use crate::error::{Error, Result};
use crate::table::{is_lookup, primary_key, property_of};

/// A lookup column: the navigation property to bind through, and the entity set it points at.
#[derive(Debug, Clone)]
struct Lookup {
    navigation: String,
    target_set: String,
}

/// What shapes rows for one table and mode.
#[derive(Debug)]
pub struct Shape {
    /// The table's entity set.
    pub entity_set: String,
    /// The table's logical name.
    pub logical_name: String,
    /// The primary key column.
    pub key: String,
    /// An elastic table (bulk messages partly succeed; smaller chunks).
    pub elastic: bool,
    mode: Mode,
    pub(super) alternate_key: Vec<String>,
    map: HashMap<String, String>,
    /// Input columns left out on purpose (`--drop`, `--map col=`).
    drop: BTreeSet<String>,
    types: HashMap<String, String>,
    /// Logical names of lookup columns, for `nav@odata.bind` input.
    lookup_names: BTreeSet<String>,
    lookups: HashMap<String, Lookup>,
    server_set: BTreeSet<String>,
    /// The run's id (from the journal), seeding created records' ids.
    pub run: uuid::Uuid,
    /// How the run makes created records' ids (from the journal).
    pub ids: super::IdScheme,
    /// Columns dropped because the server sets them (reported once).
    pub dropped: BTreeSet<String>,
}

impl Shape {
    /// Shaping for `table` (one of `tables`, whose entity sets lookups bind to) in `mode`:
    /// `alternate_key` for upserts by key, `map` as `SOURCE=COLUMN` (or `SOURCE=` to drop),
    /// `drop` as input columns left out.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        table: &TableDefinition,
        columns: &[ColumnDefinition],
        tables: &[TableDefinition],
        mode: Mode,
        alternate_key: Vec<String>,
        map: &[String],
        drop: &[String],
    ) -> Result<Self> {
        let key = primary_key(table)?;
        let mut drop: BTreeSet<String> = drop.iter().map(|d| d.trim().to_owned()).collect();
        let mut renames = HashMap::new();
        for m in map {
            let (a, b) = m
                .split_once('=')
                .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
                .ok_or_else(|| {
                    Error::refused(format!(
                        "--map '{m}' is not SOURCE=COLUMN (or SOURCE= to drop it)"
                    ))
                })?;
            if b.is_empty() {
                drop.insert(a);
            } else {
                renames.insert(a, b);
            }
        }
        let map = renames;
        let set_of = |logical: &str| {
            tables
                .iter()
                .find(|t| t.logical_name == logical)
                .and_then(|t| t.entity_set_name.clone())
        };
        let mut types = HashMap::new();
        let mut lookups = HashMap::new();
        let mut server_set = BTreeSet::new();
        let mut lookup_names = BTreeSet::new();
        for c in columns {
            let kind = c.attribute_type.clone().unwrap_or_default();
            let is_lookup = is_lookup(&kind);
            if is_lookup {
                lookup_names.insert(c.logical_name.clone());
            }
            let property = property_of(&c.logical_name, &kind);
            let writable = match mode {
                Mode::Create => c.is_valid_for_create,
                Mode::Update => c.is_valid_for_update,
                Mode::Upsert => c.is_valid_for_create.or(c.is_valid_for_update),
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
        if mode == Mode::Upsert && alternate_key.is_empty() {
            // By primary key: every row must carry it.
        } else if mode != Mode::Upsert && !alternate_key.is_empty() {
            return Err(Error::refused("--key is for --mode upsert"));
        }
        let unknown_keys: Vec<&str> = alternate_key
            .iter()
            .filter(|k| !types.contains_key(k.as_str()))
            .map(String::as_str)
            .collect();
        if !unknown_keys.is_empty() {
            return Err(Error::refused(format!(
                "--key {}: {} has no such column (see `d365 metadata columns {}`)",
                unknown_keys.join(","),
                table.logical_name,
                table.logical_name
            )));
        }
        Ok(Self {
            entity_set: table.entity_set_name.clone().unwrap_or_default(),
            logical_name: table.logical_name.clone(),
            key,
            elastic: table.is_elastic(),
            mode,
            alternate_key,
            map,
            drop,
            types,
            lookup_names,
            lookups,
            server_set,
            run: uuid::Uuid::nil(),
            ids: super::IdScheme::default(),
            dropped: BTreeSet::new(),
        })
    }

    /// What an input column becomes: `None` when it is left out (an annotation of an export,
    /// `--drop`), else its column name after `--map`.
    fn target<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        if self.drop.contains(name) {
            return None;
        }
        let name = self.map.get(name).map_or(name, String::as_str);
        if name.starts_with('@') || name.contains("@OData") || name.contains("@Microsoft") {
            return None; // annotations of an export
        }
        Some(name)
    }

    /// Whether the table can take a column of this name (after `--map`).
    fn knows(&self, name: &str) -> bool {
        if self.types.contains_key(name) {
            return true;
        }
        // `parentcustomerid_account@odata.bind`: a lookup's navigation property.
        name.strip_suffix("@odata.bind").is_some_and(|nav| {
            self.lookup_names
                .iter()
                .any(|l| nav == l || nav.starts_with(&format!("{l}_")))
        })
    }

    /// Reads every row once, before anything is sent, and refuses the import when it cannot
    /// work: input columns the table does not have, or a column none of whose values converts
    /// to the column's type.
    pub fn survey(&self, rows: Rows, input: &std::path::Path) -> Result<()> {
        #[derive(Default)]
        struct Seen {
            values: u64,
            failed: u64,
            first_failure: Option<(u64, String)>,
        }
        let mut unknown: BTreeMap<String, String> = BTreeMap::new();
        let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
        let mut keys_seen: BTreeSet<String> = BTreeSet::new();
        for row in rows {
            let row = row?;
            let Ok(fields) = row.fields else { continue };
            for (source, value) in fields {
                let Some(name) = self.target(&source) else {
                    continue;
                };
                if !self.knows(name) {
                    let shown = if name == source {
                        source.clone()
                    } else {
                        format!("{source} (mapped to {name})")
                    };
                    unknown.entry(name.to_owned()).or_insert(shown);
                    continue;
                }
                if !value.is_null() && !keys_seen.contains(name) {
                    keys_seen.insert(name.to_owned());
                }
                if value.is_null()
                    || self.server_set.contains(name)
                    || self.lookups.contains_key(name)
                {
                    continue;
                }
                let s = match seen.get_mut(name) {
                    Some(s) => s,
                    None => seen.entry(name.to_owned()).or_default(),
                };
                s.values += 1;
                // A column with one value that converts is not refused: its other values
                // need no converting here (the rows that fail go to the reject file).
                if s.failed < s.values - 1 {
                    continue;
                }
                if let Err(why) = self.convert(name, value) {
                    s.failed += 1;
                    s.first_failure.get_or_insert((row.line, why));
                }
            }
        }
        if !unknown.is_empty() {
            let names: Vec<&str> = unknown.values().map(String::as_str).collect();
            return Err(Error::refused(format!(
                "{} has no column {} (from {}): rename with --map SOURCE=COLUMN, or leave out with --drop COLUMN (see `d365 metadata columns {}`); nothing was sent",
                self.logical_name,
                names.join(", "),
                input.display(),
                self.logical_name
            )));
        }
        let hopeless: Vec<String> = seen
            .iter()
            .filter(|(_, s)| s.values > 0 && s.failed == s.values)
            .map(|(name, s)| {
                let (line, why) = s.first_failure.clone().unwrap_or_default();
                format!(
                    "{name} ({}): none of its {} values converts (line {line}: {why})",
                    self.types.get(name).map_or("?", String::as_str),
                    s.values
                )
            })
            .collect();
        if !hopeless.is_empty() {
            return Err(Error::refused(format!(
                "{}; fix the input, rename with --map SOURCE=COLUMN, or leave out with --drop COLUMN; nothing was sent",
                hopeless.join("; ")
            )));
        }
        let missing: Vec<&str> = self
            .alternate_key
            .iter()
            .filter(|k| !keys_seen.contains(k.as_str()))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(Error::refused(format!(
                "--key {}: no row of {} has a value for it; nothing was sent",
                missing.join(","),
                input.display()
            )));
        }
        Ok(())
    }

    /// A value as the column's type takes it, or why it cannot be.
    fn convert(&self, name: &str, value: Value) -> Result<Value, String> {
        let Some(kind) = self.types.get(name) else {
            return Ok(value);
        };
        convert(kind, value).map_err(|why| format!("{name}: {why}"))
    }

    /// The Dataverse type of an input column (after `--map`), for typing CSV cells.
    pub fn type_lookup(&self) -> impl Fn(&str) -> Option<String> + Send + 'static {
        let (map, types) = (self.map.clone(), self.types.clone());
        move |name| {
            let name = map.get(name).map_or(name, String::as_str);
            types.get(name).cloned()
        }
    }

    /// The record for input `line`, or why the row cannot be sent.
    pub fn record(&mut self, line: u64, fields: Map<String, Value>) -> Result<Value, String> {
        let mut out = Map::new();
        for (source, value) in fields {
            let Some(name) = self.target(&source).map(str::to_owned) else {
                continue;
            };
            if self.server_set.contains(&name) {
                self.dropped.insert(name);
                continue;
            }
            if let Some(lookup) = self.lookups.get(&name) {
                let bind = format!("{}@odata.bind", lookup.navigation);
                match value {
                    Value::Null if self.mode == Mode::Create => {}
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
            let value = self.convert(&name, value)?;
            out.insert(name, value);
        }
        match self.mode {
            Mode::Create => {
                // A deterministic id: the same row of the same run always gets the same one.
                out.entry(self.key.clone()).or_insert_with(|| {
                    let id = super::ids::record_id(self.ids, &self.run, &self.entity_set, line);
                    Value::String(id.to_string())
                });
            }
            Mode::Update => {
                if !out.get(&self.key).is_some_and(Value::is_string) {
                    return Err(format!("no {} to update by", self.key));
                }
            }
            Mode::Upsert if self.alternate_key.is_empty() => {
                if !out.get(&self.key).is_some_and(Value::is_string) {
                    return Err(format!("no {} to upsert by (or give --key)", self.key));
                }
            }
            Mode::Upsert => {
                let key = alternate_key(&self.alternate_key, &out)?;
                return Ok(BulkRequest::upsert_target(
                    &self.entity_set,
                    &key,
                    Value::Object(out),
                ));
            }
        }
        Ok(Value::Object(out))
    }
}

/// The alternate key of a record: its values of the key's `columns`.
pub(super) fn alternate_key(
    columns: &[String],
    fields: &Map<String, Value>,
) -> Result<RecordKey, String> {
    let mut pairs = Vec::new();
    for column in columns {
        let literal = match fields.get(column) {
            Some(Value::String(s)) => d365_odata::Literal::String(s.clone()),
            Some(Value::Number(n)) if n.is_i64() => {
                d365_odata::Literal::Int(n.as_i64().unwrap_or_default())
            }
            Some(other) => return Err(format!("key column {column} is {other}")),
            None => return Err(format!("no {column} for the key")),
        };
        pairs.push((column.clone(), literal));
    }
    Ok(RecordKey::Alternate(pairs))
}

/// `value` as a column of Dataverse type `kind` takes it: text for text, whole numbers in
/// range, numbers, booleans, GUIDs, dates; text that spells one of these converts.
fn convert(kind: &str, value: Value) -> Result<Value, String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.trim().to_owned(),
        other => other.to_string(),
    };
    match kind {
        "String" | "Memo" | "EntityName" => match value {
            Value::String(_) => Ok(value),
            Value::Number(_) | Value::Bool(_) => Ok(Value::String(value.to_string())),
            other => Err(format!("{other} is not text")),
        },
        "Integer" | "Picklist" | "State" | "Status" | "BigInt" => {
            let n = match &value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| format!("'{}' is not a whole number", text(&value)))?;
            if kind != "BigInt" && i32::try_from(n).is_err() {
                return Err(format!("{n} is out of range for a whole number column"));
            }
            Ok(Value::from(n))
        }
        "Decimal" | "Money" | "Double" => match value {
            Value::Number(_) => Ok(value),
            Value::String(s) => serde_json::from_str::<serde_json::Number>(s.trim())
                .map(Value::Number)
                .map_err(|_| format!("'{s}' is not a number")),
            other => Err(format!("'{other}' is not a number")),
        },
        "Boolean" => match &value {
            Value::Bool(_) => Ok(value),
            Value::Number(n) if n.as_i64() == Some(0) => Ok(Value::Bool(false)),
            Value::Number(n) if n.as_i64() == Some(1) => Ok(Value::Bool(true)),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(Value::Bool(true)),
                "false" | "0" | "no" => Ok(Value::Bool(false)),
                _ => Err(format!("'{s}' is not true or false")),
            },
            other => Err(format!("'{other}' is not true or false")),
        },
        "Uniqueidentifier" => match &value {
            Value::String(s) if uuid::Uuid::parse_str(s.trim()).is_ok() => Ok(value),
            other => Err(format!("'{}' is not a GUID", text(other))),
        },
        "DateTime" => match &value {
            Value::String(s) if is_date_time(s.trim()) => Ok(value),
            other => Err(format!("'{}' is not a date or date and time", text(other))),
        },
        _ => Ok(value),
    }
}

/// `2024-05-01`, `2024-05-01T10:00:00Z`, `2024-05-01T10:00:00.123+02:00`, or without an offset.
fn is_date_time(s: &str) -> bool {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    time::OffsetDateTime::parse(s, &Rfc3339).is_ok()
        || time::Date::parse(s, format_description!("[year]-[month]-[day]")).is_ok()
        || time::PrimitiveDateTime::parse(
            s,
            format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
            ),
        )
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_to_their_column_types_or_say_why_not() {
        assert_eq!(convert("Integer", Value::from("42")), Ok(Value::from(42)));
        assert_eq!(convert("Integer", Value::from(7)), Ok(Value::from(7)));
        assert!(
            convert("Integer", Value::from("many"))
                .unwrap_err()
                .contains("'many' is not a whole number")
        );
        assert!(convert("Integer", Value::from(1_i64 << 40)).is_err());
        assert_eq!(
            convert("BigInt", Value::from(1_i64 << 40)),
            Ok(Value::from(1_i64 << 40))
        );
        assert_eq!(
            convert("Money", Value::from("12.50")).unwrap().to_string(),
            "12.50"
        );
        assert_eq!(convert("String", Value::from(123)), Ok(Value::from("123")));
        assert!(convert("String", serde_json::json!({"a": 1})).is_err());
        assert_eq!(
            convert("Boolean", Value::from("yes")),
            Ok(Value::Bool(true))
        );
        assert!(convert("Boolean", Value::from("maybe")).is_err());
        assert!(convert("Uniqueidentifier", Value::from("nope")).is_err());
        for ok in [
            "2024-05-01",
            "2024-05-01T10:00:00Z",
            "2024-05-01T10:00:00.5+02:00",
            "2024-05-01T10:00:00",
        ] {
            assert!(convert("DateTime", Value::from(ok)).is_ok(), "{ok}");
        }
        assert!(convert("DateTime", Value::from("yesterday")).is_err());
        assert_eq!(convert("Virtual", Value::from("x")), Ok(Value::from("x")));
    }
}
