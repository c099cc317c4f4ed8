//! A record in a request body (create, update, upsert) turned into typed column values:
//! every property must exist and be writable, values must fit their EDM type, length and
//! choice range, and single-valued navigation properties are set with `@odata.bind`.

use crate::store::{Value, guid};
use d365_odata::model::{EdmType, EntityType, Model, Property};
use d365_odata::{KeyPredicate, Literal, Segment, parse_resource_path};
use serde_json::Value as Json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::DataverseError;
use crate::query::values::scaled_decimal;
use crate::store::schema::{is_polymorphic, lookup_type_column};

/// Columns the server maintains: ignored in bodies, as Dataverse does.
const SYSTEM: [&str; 3] = ["createdon", "modifiedon", "versionnumber"];

/// A required parameter of an action or function, of the JSON type `get` takes
/// (`Json::as_str`, `Json::as_array` …); absent or of another type, the error Dataverse
/// answers.
pub(crate) fn required<'a, T>(
    params: &'a serde_json::Map<String, Json>,
    name: &str,
    get: impl FnOnce(&'a Json) -> Option<T>,
) -> Result<T, DataverseError> {
    params
        .get(name)
        .and_then(get)
        .ok_or_else(|| DataverseError::missing_parameter(name))
}

/// A parsed body.
#[derive(Debug, Default)]
pub(crate) struct Record {
    /// Column values to write.
    pub(crate) values: Vec<(String, Value)>,
    /// Records the body points at (`@odata.bind`): (table, id), which must exist.
    pub(crate) references: Vec<(String, uuid::Uuid)>,
    /// The primary key, when the body gives one.
    pub(crate) id: Option<uuid::Uuid>,
}

fn convert(
    entity: &EntityType,
    set: &str,
    p: &Property,
    v: &Json,
) -> Result<Value, DataverseError> {
    let cannot = |v: &Json| {
        DataverseError::payload(
            set,
            format!(
                "Cannot convert the literal '{v}' to the expected type '{}'.",
                p.edm_type
            ),
        )
    };
    if v.is_null() {
        return Ok(Value::Null);
    }
    Ok(match p.edm_type {
        EdmType::String => {
            let s = v.as_str().ok_or_else(|| cannot(v))?;
            if let Some(max) = p.max_length
                && s.chars().count() > max as usize
            {
                return Err(DataverseError::validation(format!(
                    "The length of the '{}' attribute of the '{}' entity exceeded the maximum allowed length of '{max}'.",
                    p.name, entity.name
                )));
            }
            Value::Text(s.to_owned())
        }
        EdmType::Guid => Value::Blob(
            v.as_str()
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
                .ok_or_else(|| cannot(v))?
                .as_bytes()
                .to_vec(),
        ),
        EdmType::Boolean => Value::Integer(i64::from(v.as_bool().ok_or_else(|| cannot(v))?)),
        EdmType::Int32 | EdmType::Int64 => {
            let i = v.as_i64().ok_or_else(|| cannot(v))?;
            if p.edm_type == EdmType::Int32 && i32::try_from(i).is_err() {
                return Err(cannot(v));
            }
            if let Some(options) = &p.option_set
                && options.label(i as i32).is_none()
            {
                return Err(DataverseError::validation(format!(
                    "The value {i} of '{}' on record of type '{}' is outside the valid range.",
                    p.name, entity.name
                )));
            }
            Value::Integer(i)
        }
        EdmType::Decimal => {
            // Exact: the JSON number's own text (serde_json keeps it), scaled to the column.
            let text = match v {
                Json::Number(n) => n.to_string(),
                _ => return Err(cannot(v)),
            };
            let scale = p.scale.unwrap_or(0);
            Value::Integer(scaled_decimal(&text, scale).ok_or_else(|| {
                DataverseError::validation(format!("The value {text} of '{}' has more than {scale} decimal places or is out of range.", p.name))
            })?)
        }
        EdmType::Double => Value::Real(v.as_f64().ok_or_else(|| cannot(v))?),
        EdmType::DateTimeOffset => {
            let t = v
                .as_str()
                .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
                .ok_or_else(|| cannot(v))?;
            Value::Integer(t.unix_timestamp())
        }
        EdmType::Date => {
            let s = v.as_str().ok_or_else(|| cannot(v))?;
            time::Date::parse(
                s,
                &time::macros::format_description!("[year]-[month]-[day]"),
            )
            .map_err(|_| cannot(v))?;
            Value::Text(s.to_owned())
        }
    })
}

/// `"/contacts(<id>)"`, `"contacts(<id>)"` or an absolute URL of the Web API.
pub(crate) fn bind_target(raw: &str) -> Option<(String, uuid::Uuid)> {
    let path = match raw.find("/api/data/") {
        Some(i) => raw[i + "/api/data/".len()..].split_once('/')?.1,
        None => raw.trim_start_matches('/'),
    };
    match parse_resource_path(path).ok()?.segments.as_slice() {
        [
            Segment::Named {
                name,
                key: Some(KeyPredicate::Single(Literal::Guid(id))),
                ..
            },
        ] => Some((name.clone(), *id)),
        _ => None,
    }
}

/// The tables a single-valued navigation property may be bound to: its own target, plus the
/// lookup's other targets that no navigation property of their own covers (`ownerid` takes
/// `/systemusers(…)` or `/teams(…)`; `parentcustomerid_account` takes accounts only).
fn bind_targets<'m>(
    model: &'m Model,
    entity: &EntityType,
    nav: &d365_odata::model::NavigationProperty,
) -> Vec<&'m EntityType> {
    let mut names = vec![nav.target.as_str()];
    if let Some(fk) = entity.property(&nav.foreign_key) {
        for t in &fk.lookup_targets {
            let covered = entity
                .navigation
                .iter()
                .any(|n| !n.collection && n.foreign_key == nav.foreign_key && n.target == *t);
            if !covered && !names.contains(&t.as_str()) {
                names.push(t);
            }
        }
    }
    names.iter().filter_map(|n| model.entity_type(n)).collect()
}

/// Parses and validates a JSON body for `entity` (addressed as `set`).
pub(crate) fn from_json(
    model: &Model,
    entity: &EntityType,
    set: &str,
    body: &[u8],
) -> Result<Record, DataverseError> {
    let json: Json = serde_json::from_slice(body)
        .map_err(|e| DataverseError::payload(set, format!("Invalid JSON. {e}")))?;
    let Json::Object(fields) = json else {
        return Err(DataverseError::payload(
            set,
            "The request body must be a JSON object.",
        ));
    };
    from_object(model, entity, set, &fields)
}

/// Validates a record given as a JSON object (a body, or a record nested in a deep insert).
pub(crate) fn from_object(
    model: &Model,
    entity: &EntityType,
    set: &str,
    fields: &serde_json::Map<String, Json>,
) -> Result<Record, DataverseError> {
    let mut record = Record::default();
    for (name, value) in fields {
        if let Some(nav_name) = name.strip_suffix("@odata.bind") {
            let nav = entity.navigation(nav_name).filter(|n| !n.collection).ok_or_else(|| {
                DataverseError::payload(set, format!("An undeclared property '{nav_name}' which only has property annotations in the payload but no property value was found in the payload."))
            })?;
            if super::model::SERVER_LOOKUPS.contains(&nav.foreign_key.as_str()) {
                continue; // createdby, modifiedby, owningbusinessunit are the server's
            }
            if value.is_null() {
                record.values.push((nav.foreign_key.clone(), Value::Null));
                continue;
            }
            let targets = bind_targets(model, entity, nav);
            let (target, id) = value
                .as_str()
                .and_then(bind_target)
                .and_then(|(s, id)| targets.iter().find(|t| t.entity_set == s).map(|t| (*t, id)))
                .ok_or_else(|| {
                    DataverseError::payload(
                        set,
                        format!(
                            "The value of '{name}' must be a reference such as '/{}(<id>)'.",
                            targets.first().map_or("", |t| t.entity_set.as_str())
                        ),
                    )
                })?;
            record.references.push((target.name.clone(), id));
            record.values.push((nav.foreign_key.clone(), guid(id)));
            // A lookup with several targets remembers which one the bind named.
            if entity
                .property(&nav.foreign_key)
                .is_some_and(is_polymorphic)
            {
                record.values.push((
                    lookup_type_column(&nav.foreign_key),
                    Value::Text(target.name.clone()),
                ));
            }
            continue;
        }
        if name.contains('@') {
            continue; // instance annotations (`@odata.type`, …)
        }
        let property = entity
            .property(name)
            .ok_or_else(|| DataverseError::invalid_property(name, &entity.name))?;
        if SYSTEM.contains(&name.as_str()) {
            continue;
        }
        if !property.lookup_targets.is_empty() {
            return Err(DataverseError::payload(
                set,
                format!(
                    "The property '{name}' is a lookup: set it through its navigation property with '<navigation>@odata.bind'."
                ),
            ));
        }
        if property.read_only {
            continue; // computed columns (fullname) are the server's
        }
        let v = convert(entity, set, property, value)?;
        if property.name == entity.key {
            record.id = match &v {
                Value::Blob(b) => uuid::Uuid::from_slice(b).ok(),
                _ => None,
            };
            continue;
        }
        record.values.push((property.name.clone(), v));
    }
    // Contacts: the full name follows the first and last names.
    if entity.property("fullname").is_some_and(|p| p.read_only) {
        let part = |c: &str| {
            record
                .values
                .iter()
                .find(|(n, _)| n == c)
                .and_then(|(_, v)| {
                    if let Value::Text(t) = v {
                        Some(t.clone())
                    } else {
                        None
                    }
                })
        };
        let (first, last) = (part("firstname"), part("lastname"));
        if first.is_some() || last.is_some() {
            let full = [first, last]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            record.values.push(("fullname".into(), Value::Text(full)));
        }
    }
    Ok(record)
}
