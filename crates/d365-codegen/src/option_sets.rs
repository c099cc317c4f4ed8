//! Choice values from `EntityDefinitions`, for models read from a real org's `$metadata`
//! (CSDL carries no choice values). The requests are
//! `EntityDefinitions(LogicalName='x')/Attributes/Microsoft.Dynamics.CRM.{cast}?$select=LogicalName&$expand=OptionSet`
//! for each of [`ATTRIBUTE_CASTS`]
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api#retrieving-attributes>);
//! this module reads their answers and puts the choices into the model. No I/O.

use std::collections::BTreeMap;

use d365_odata::model::{EntityType, Model, OptionSet};
use serde_json::Value;

use crate::error::CodegenError;

/// The attribute metadata types that carry an `OptionSet`: choices, status and status reason.
pub const ATTRIBUTE_CASTS: [&str; 3] = [
    "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
    "Microsoft.Dynamics.CRM.StateAttributeMetadata",
    "Microsoft.Dynamics.CRM.StatusAttributeMetadata",
];

/// The path and query of one table's attributes of one cast, relative to the API root.
pub fn attributes_path(table: &str, cast: &str) -> String {
    format!(
        "EntityDefinitions(LogicalName='{}')/Attributes/{cast}?$select=LogicalName&$expand=OptionSet",
        table.replace('\'', "''")
    )
}

/// Reads one `…/Attributes/<cast>` answer: column logical name → its choices. A label is the
/// user's (`UserLocalizedLabel`), else the first localized one, else empty.
pub fn read_attributes(
    table: &str,
    body: &Value,
) -> Result<BTreeMap<String, OptionSet>, CodegenError> {
    let bad = |message: &str| CodegenError::Metadata {
        table: table.to_owned(),
        message: message.to_owned(),
    };
    let items = body["value"]
        .as_array()
        .ok_or_else(|| bad("no `value` array"))?;
    let mut out = BTreeMap::new();
    for item in items {
        let column = item["LogicalName"]
            .as_str()
            .ok_or_else(|| bad("an attribute without LogicalName"))?;
        let Some(options) = item["OptionSet"]["Options"].as_array() else {
            continue;
        };
        let mut set = OptionSet::default();
        for option in options {
            let value = option["Value"]
                .as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| bad(&format!("{column}: an option without an Int32 Value")))?;
            let label = &option["Label"];
            let text = label["UserLocalizedLabel"]["Label"]
                .as_str()
                .or_else(|| label["LocalizedLabels"][0]["Label"].as_str())
                .unwrap_or_default();
            set.options.push((value, text.to_owned()));
        }
        out.insert(column.to_owned(), set);
    }
    Ok(out)
}

/// The model with these choices (table → column → choices) set on its Int32 columns.
pub fn with_option_sets(
    model: &Model,
    sets: &BTreeMap<String, BTreeMap<String, OptionSet>>,
) -> Model {
    let mut types: Vec<EntityType> = model.entity_types().iter().map(|t| (**t).clone()).collect();
    for t in &mut types {
        let Some(columns) = sets.get(&t.name) else {
            continue;
        };
        for p in &mut t.properties {
            if let Some(set) = columns.get(&p.name) {
                p.option_set = Some(set.clone());
            }
        }
    }
    Model::new(types)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_labels_and_values() {
        let body = json!({"value": [
            {"LogicalName": "industrycode", "MetadataId": "x", "OptionSet": {"Options": [
                {"Value": 1, "Label": {"UserLocalizedLabel": {"Label": "Accounting"}, "LocalizedLabels": []}},
                {"Value": 2, "Label": {"UserLocalizedLabel": null, "LocalizedLabels": [{"Label": "Agriculture"}]}},
                {"Value": 3, "Label": {}}
            ]}},
            {"LogicalName": "noset"}
        ]});
        let sets = read_attributes("account", &body).unwrap();
        assert_eq!(
            sets["industrycode"].options,
            vec![
                (1, "Accounting".to_owned()),
                (2, "Agriculture".to_owned()),
                (3, String::new())
            ]
        );
        assert!(!sets.contains_key("noset"));
        let e = read_attributes("account", &json!({"error": {}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unexpected EntityDefinitions answer for 'account': no `value` array"
        );
    }

    #[test]
    fn choices_from_entity_definitions_become_enums() {
        use d365_odata::model::{EdmType, EntityType, Property};
        // As read from a real org's CSDL: an Int32 column without choices.
        let model = Model::new(vec![EntityType {
            name: "account".into(),
            entity_set: "accounts".into(),
            key: "accountid".into(),
            primary_name: None,
            properties: vec![
                Property::new("accountid", EdmType::Guid),
                Property::new("industrycode", EdmType::Int32),
            ],
            navigation: vec![],
            alternate_keys: vec![],
        }]);
        let plain = crate::generate(&model, &["account"], "x").unwrap();
        assert!(plain.contains("pub industrycode: Option<i32>,"));
        let body = json!({"value": [{"LogicalName": "industrycode", "OptionSet": {"Options": [
            {"Value": 7, "Label": {"UserLocalizedLabel": {"Label": "Consulting"}}}
        ]}}]});
        let sets = BTreeMap::from([(
            "account".to_owned(),
            read_attributes("account", &body).unwrap(),
        )]);
        let code = crate::generate(&with_option_sets(&model, &sets), &["account"], "x").unwrap();
        assert!(code.contains("pub industrycode: Option<AccountIndustrycode>,"));
        assert!(code.contains("7 => Self::Consulting,"));
    }

    #[test]
    fn quotes_the_table_name() {
        assert_eq!(
            attributes_path("o'brien", ATTRIBUTE_CASTS[0]),
            "EntityDefinitions(LogicalName='o''brien')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet"
        );
    }
}
