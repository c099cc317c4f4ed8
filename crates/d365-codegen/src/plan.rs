//! From the model to what will be written: the tables asked for, each column's Rust name and
//! type, lookups with their targets, choice enums with their variants. Everything is sorted
//! here, so the emitted text depends on the model only, never on the order of its parts.

use std::collections::{BTreeMap, BTreeSet};

use d365_odata::model::{EdmType, EntityType, Model, Property};

use crate::error::CodegenError;
use crate::names;

/// One table to generate.
#[derive(Debug)]
pub(crate) struct TablePlan {
    pub(crate) logical_name: String,
    pub(crate) entity_set: String,
    pub(crate) key: String,
    pub(crate) primary_name: Option<String>,
    pub(crate) type_name: String,
    /// The `@odata.etag` field's name (`etag`, unless a column has it).
    pub(crate) etag_field: String,
    /// Key first, then by field name.
    pub(crate) columns: Vec<Column>,
    /// By name.
    pub(crate) enums: Vec<EnumPlan>,
}

/// One column.
#[derive(Debug)]
pub(crate) struct Column {
    pub(crate) field: String,
    /// The JSON name (`name`, `_primarycontactid_value`).
    pub(crate) property: String,
    pub(crate) edm_type: EdmType,
    pub(crate) kind: Kind,
    pub(crate) read_only: bool,
    pub(crate) required: bool,
    pub(crate) max_length: Option<u32>,
    pub(crate) scale: Option<u8>,
}

/// How a column is typed.
#[derive(Debug)]
pub(crate) enum Kind {
    /// A primitive: the Rust type and the serde `with` module, if any.
    Plain {
        rust_type: &'static str,
        with: Option<&'static str>,
    },
    /// A choice column, typed by a generated enum.
    Choice { enum_name: String },
    /// A lookup (`_x_value`).
    Lookup {
        /// `Contact`, or `AnyTable`.
        target_type: String,
        /// Every table it may point to (logical names).
        targets: Vec<String>,
        /// How to write it: (table, navigation property, entity set), by table.
        binds: Vec<(String, String, String)>,
    },
}

/// A choice enum.
#[derive(Debug)]
pub(crate) struct EnumPlan {
    pub(crate) name: String,
    pub(crate) column: String,
    /// (variant, value, label), by value.
    pub(crate) variants: Vec<(String, i32, String)>,
}

/// Resolves the requested tables (logical or entity set names, case-insensitively as a
/// fallback) and plans each, sorted by logical name.
pub(crate) fn plan(model: &Model, requested: &[&str]) -> Result<Vec<TablePlan>, CodegenError> {
    if requested.is_empty() {
        return Err(CodegenError::NoTables);
    }
    let mut tables: BTreeMap<&str, &EntityType> = BTreeMap::new();
    for name in requested {
        let name = name.trim();
        let found = model
            .entity_type(name)
            .or_else(|| model.by_entity_set(name))
            .or_else(|| {
                model.entity_types().iter().map(|t| &**t).find(|t| {
                    t.name.eq_ignore_ascii_case(name) || t.entity_set.eq_ignore_ascii_case(name)
                })
            });
        let Some(t) = found else {
            let suggestion = model
                .entity_types()
                .iter()
                .map(|t| {
                    (
                        names::distance(&t.name, &name.to_ascii_lowercase()),
                        &t.name,
                    )
                })
                .filter(|(d, _)| *d <= 2)
                .min()
                .map(|(_, n)| n.clone());
            return Err(CodegenError::UnknownTable {
                name: name.to_owned(),
                suggestion,
            });
        };
        tables.insert(&t.name, t);
    }
    let mut type_names: BTreeMap<String, String> = BTreeMap::new();
    for t in tables.values() {
        let type_name = names::camel(&t.name).unwrap_or_else(|| "Table".to_owned());
        if let Some(first) = type_names.insert(type_name.clone(), t.name.clone()) {
            return Err(CodegenError::TypeNameClash {
                first,
                second: t.name.clone(),
                type_name,
            });
        }
    }
    let by_table: BTreeMap<&str, &str> = type_names
        .iter()
        .map(|(ty, table)| (table.as_str(), ty.as_str()))
        .collect();
    let mut taken: BTreeSet<String> = type_names.keys().cloned().collect();
    taken.extend(["Table", "AnyTable", "Lookup", "Target"].map(str::to_owned));
    Ok(tables
        .values()
        .map(|t| plan_table(model, t, &by_table, &mut taken))
        .collect())
}

fn plan_table(
    model: &Model,
    t: &EntityType,
    type_names: &BTreeMap<&str, &str>,
    taken: &mut BTreeSet<String>,
) -> TablePlan {
    let type_name = type_names[t.name.as_str()].to_owned();
    let mut columns = Vec::new();
    let mut enums = Vec::new();
    let mut fields: BTreeSet<String> = BTreeSet::new();
    let mut properties: Vec<&Property> = t.properties.iter().collect();
    properties.sort_by(|a, b| a.name.cmp(&b.name));
    for p in properties {
        let lookup = lookup_targets(t, p);
        let mut field = match lookup {
            Some(_) => names::lookup_field(&p.name),
            None => names::field(&p.name),
        };
        while !fields.insert(field.clone()) {
            field = format!("{}_", names::bare(&field));
        }
        let kind = if let Some(targets) = lookup {
            lookup_kind(model, t, p, targets, type_names)
        } else if let (EdmType::Int32, Some(set)) = (p.edm_type, &p.option_set) {
            let base = format!(
                "{type_name}{}",
                names::camel(names::bare(&field)).unwrap_or_default()
            );
            let mut enum_name = base.clone();
            if !taken.insert(enum_name.clone()) {
                enum_name = format!("{base}Choice");
                taken.insert(enum_name.clone());
            }
            enums.push(EnumPlan {
                name: enum_name.clone(),
                column: p.name.clone(),
                variants: variants(&set.options),
            });
            Kind::Choice { enum_name }
        } else {
            plain(p.edm_type)
        };
        columns.push(Column {
            field,
            property: p.name.clone(),
            edm_type: p.edm_type,
            kind,
            read_only: p.read_only && p.name != t.key,
            required: !p.nullable,
            max_length: p.max_length,
            scale: p.scale,
        });
    }
    // The key first; the rest by field name.
    columns.sort_by(|a, b| (a.property != t.key, &a.field).cmp(&(b.property != t.key, &b.field)));
    let etag_field = if fields.contains("etag") {
        "odata_etag".to_owned()
    } else {
        "etag".to_owned()
    };
    enums.sort_by(|a, b| a.name.cmp(&b.name));
    TablePlan {
        logical_name: t.name.clone(),
        entity_set: t.entity_set.clone(),
        key: t.key.clone(),
        primary_name: t.primary_name.clone(),
        type_name,
        etag_field,
        columns,
        enums,
    }
}

/// The tables a lookup property may point to, or `None` if it is not a lookup. A property is
/// a lookup if the model says so (the emulator's model, the toolkit's CSDL annotation), if a
/// single-valued navigation property uses it as its foreign key (a real org's `$metadata`),
/// or if it is a GUID named `_x_value` (then its targets are unknown).
fn lookup_targets(t: &EntityType, p: &Property) -> Option<Vec<String>> {
    let mut targets: BTreeSet<String> = p.lookup_targets.iter().cloned().collect();
    targets.extend(
        t.navigation
            .iter()
            .filter(|n| !n.collection && n.foreign_key == p.name)
            .map(|n| n.target.clone()),
    );
    let named =
        p.edm_type == EdmType::Guid && p.name.starts_with('_') && p.name.ends_with("_value");
    (named || !targets.is_empty()).then(|| targets.into_iter().collect())
}

fn lookup_kind(
    model: &Model,
    t: &EntityType,
    p: &Property,
    targets: Vec<String>,
    type_names: &BTreeMap<&str, &str>,
) -> Kind {
    let target_type = match targets.as_slice() {
        [only] => type_names.get(only.as_str()).copied().unwrap_or("AnyTable"),
        _ => "AnyTable",
    }
    .to_owned();
    let binds = targets
        .iter()
        .filter_map(|target| {
            let mut navs: Vec<&str> = t
                .navigation
                .iter()
                .filter(|n| !n.collection && n.foreign_key == p.name && &n.target == target)
                .map(|n| n.name.as_str())
                .collect();
            navs.sort_unstable();
            let set = model.entity_type(target)?.entity_set.clone();
            Some((target.clone(), (*navs.first()?).to_owned(), set))
        })
        .collect();
    Kind::Lookup {
        target_type,
        targets,
        binds,
    }
}

fn plain(edm: EdmType) -> Kind {
    let (rust_type, with) = match edm {
        EdmType::Guid => ("uuid::Uuid", None),
        EdmType::String => ("String", None),
        EdmType::Boolean => ("bool", None),
        EdmType::Int32 => ("i32", None),
        EdmType::Int64 => ("i64", None),
        EdmType::Decimal => ("serde_json::Number", None),
        EdmType::Double => ("f64", None),
        EdmType::DateTimeOffset => ("time::OffsetDateTime", Some("time::serde::rfc3339::option")),
        EdmType::Date => ("time::Date", Some("edm_date")),
    };
    Kind::Plain { rust_type, with }
}

/// Variant names from labels; repeats and the reserved `Other` get the value appended.
fn variants(options: &[(i32, String)]) -> Vec<(String, i32, String)> {
    let mut sorted: Vec<&(i32, String)> = options.iter().collect();
    sorted.sort_by_key(|(v, _)| *v);
    sorted.dedup_by_key(|(v, _)| *v);
    let mut used: BTreeSet<String> = BTreeSet::new();
    sorted
        .into_iter()
        .map(|(value, label)| {
            let number = value.to_string().replace('-', "Minus");
            let mut name = match names::camel(label) {
                Some(n) if n != "Other" => n,
                Some(n) => format!("{n}{number}"),
                None => format!("Value{number}"),
            };
            if !used.insert(name.clone()) {
                name = format!("{}{number}", names::bare(&name));
                used.insert(name.clone());
            }
            (name, *value, label.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_unique_and_sorted() {
        let options = vec![
            (2, "Closed".to_owned()),
            (1, "Open".to_owned()),
            (3, "Open".to_owned()),
            (4, "Other".to_owned()),
            (-1, "".to_owned()),
        ];
        let names: Vec<(String, i32)> = variants(&options)
            .into_iter()
            .map(|(n, v, _)| (n, v))
            .collect();
        assert_eq!(
            names,
            vec![
                ("ValueMinus1".to_owned(), -1),
                ("Open".to_owned(), 1),
                ("Closed".to_owned(), 2),
                ("Open3".to_owned(), 3),
                ("Other4".to_owned(), 4),
            ]
        );
    }
}
