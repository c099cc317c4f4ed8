//! What a key may be made of, as Dataverse checks it when a key is created
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/define-alternate-keys-entity>):
//! columns of the types Decimal, Integer, String, DateTime, Lookup and Picklist, valid for
//! create and update, at most 16 of them, and at most 10 keys per table.

use d365_odata::model::{EntityType, Property};

use crate::dataverse::model::names::{attribute_type, metadata_id};
use crate::error::DataverseError;

/// Keys per table.
pub(crate) const MAX_KEYS: usize = 10;
/// Columns per key (SQL Server's index limit).
const MAX_COLUMNS: usize = 16;
/// The attribute types a key may use.
const KEY_TYPES: [&str; 6] = [
    "Decimal", "Integer", "String", "DateTime", "Lookup", "Picklist",
];

/// A property's attribute logical name: `_parentaccountid_value` is `parentaccountid`.
pub(crate) fn logical(property: &str) -> &str {
    property
        .strip_prefix('_')
        .and_then(|n| n.strip_suffix("_value"))
        .unwrap_or(property)
}

/// The property a key column name stands for: the property itself (`accountnumber`,
/// `_parentaccountid_value`), or a lookup's `_x_value` for its attribute name `x`, the form
/// `KeyAttributes` uses.
pub(crate) fn property<'e>(entity: &'e EntityType, attribute: &str) -> Option<&'e Property> {
    entity.property(attribute).or_else(|| {
        entity
            .property(&format!("_{attribute}_value"))
            .filter(|p| !p.lookup_targets.is_empty())
    })
}

/// Key column names as the table's property names (unknown names stay as given, for
/// [`check_columns`] to refuse).
pub(crate) fn resolve(entity: &EntityType, names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|a| property(entity, a).map_or_else(|| a.clone(), |p| p.name.clone()))
        .collect()
}

/// Checks the columns (property names) of a key on `entity`.
pub(crate) fn check_columns(entity: &EntityType, columns: &[String]) -> Result<(), DataverseError> {
    if columns.is_empty() {
        return Err(DataverseError::key_operation(
            "an entity key needs at least one attribute",
        ));
    }
    if columns.len() > MAX_COLUMNS {
        return Err(DataverseError::key_operation(format!(
            "an entity key can have at most {MAX_COLUMNS} attributes"
        )));
    }
    for (i, c) in columns.iter().enumerate() {
        if columns[..i].contains(c) {
            return Err(DataverseError::key_operation(format!(
                "attribute {} appears more than once in the key",
                logical(c)
            )));
        }
        let p = entity.property(c).ok_or_else(|| {
            DataverseError::key_operation(format!(
                "attribute {} does not exist on entity {}",
                logical(c),
                entity.name
            ))
        })?;
        let kind = attribute_type(p);
        if !KEY_TYPES.contains(&kind) || p.name == entity.key {
            return Err(DataverseError::key_operation(format!(
                "attribute {} of type {kind} cannot be part of an entity key; keys take Decimal, Integer, String, DateTime, Lookup and Picklist attributes",
                logical(c)
            )));
        }
        // A lookup's `_x_value` is written through its navigation property, unless the
        // server sets it (createdby, modifiedby, owningbusinessunit).
        let writable = if p.lookup_targets.is_empty() {
            !p.read_only
        } else {
            !crate::dataverse::model::SERVER_LOOKUPS.contains(&p.name.as_str())
        };
        if !writable {
            return Err(DataverseError::key_attribute_not_writable(
                logical(c),
                &metadata_id(&format!("{}.{}", entity.name, p.name)),
            ));
        }
    }
    Ok(())
}

/// A schema name as Dataverse takes one: a letter, then letters, digits and `_`.
pub(crate) fn check_schema_name(name: &str) -> Result<(), DataverseError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 100;
    if ok {
        Ok(())
    } else {
        Err(DataverseError::key_operation(format!(
            "'{name}' is not a valid SchemaName: it must begin with a letter and hold only letters, digits and '_'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataverse::model::DataverseModel;

    #[test]
    fn keys_take_the_documented_column_types_only() {
        let model = DataverseModel::default().model;
        let account = model.entity_type("account").unwrap();
        let ok =
            |c: &[&str]| check_columns(account, &c.iter().map(|s| (*s).into()).collect::<Vec<_>>());
        ok(&["accountnumber"]).unwrap();
        ok(&["name", "_primarycontactid_value"]).unwrap();
        ok(&["industrycode"]).unwrap();
        let (invalid, not_writable) = ("0x8006088F", "0x80090112");
        for (bad, code) in [
            (&["revenue"][..], invalid),
            (&["accountid"][..], invalid),
            (&["nope"][..], invalid),
            (&[][..], invalid),
            (&["name", "name"][..], invalid),
            (&["createdon"][..], not_writable),
            (&["_createdby_value"][..], not_writable),
        ] {
            assert_eq!(ok(bad).unwrap_err().code, code, "{bad:?}");
        }
        assert_eq!(
            property(account, "primarycontactid").map(|p| p.name.as_str()),
            Some("_primarycontactid_value")
        );
        assert_eq!(logical("_primarycontactid_value"), "primarycontactid");
        check_schema_name("new_AccountNumber").unwrap();
        assert!(check_schema_name("1abc").is_err());
    }
}
