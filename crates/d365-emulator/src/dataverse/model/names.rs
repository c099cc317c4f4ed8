//! What the metadata calls a table's columns: their `AttributeType` and their stable
//! `MetadataId`. Here, below both the metadata answers and the alternate keys' rules, which
//! name them both.

use d365_odata::model::{EdmType, Property};

/// A stable id for a metadata item (Dataverse's MetadataId), derived from its name.
pub(crate) fn metadata_id(name: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.as_bytes());
    uuid::Builder::from_random_bytes(d.as_ref()[..16].try_into().unwrap_or_default())
        .into_uuid()
        .to_string()
}

/// A column's `AttributeType`.
pub(crate) fn attribute_type(p: &Property) -> &'static str {
    match (
        p.edm_type,
        p.option_set.is_some(),
        !p.lookup_targets.is_empty(),
    ) {
        // Status columns have their own metadata types and are not picklists.
        (_, true, _) if p.name == "statecode" => "State",
        (_, true, _) if p.name == "statuscode" => "Status",
        (_, true, _) => "Picklist",
        (_, _, true) => "Lookup",
        (EdmType::Guid, ..) => "Uniqueidentifier",
        (EdmType::String, ..) => "String",
        (EdmType::Boolean, ..) => "Boolean",
        (EdmType::Int32, ..) => "Integer",
        (EdmType::Int64, ..) => "BigInt",
        (EdmType::Decimal, ..) if p.scale == Some(4) => "Money",
        (EdmType::Decimal, ..) => "Decimal",
        (EdmType::Double, ..) => "Double",
        (EdmType::DateTimeOffset | EdmType::Date, ..) => "DateTime",
    }
}
