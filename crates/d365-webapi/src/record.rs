//! Reading what Dataverse annotates on a record: formatted values (option-set labels, money
//! with its symbol, dates in the user's format) and lookup details, asked for with
//! `Prefer: odata.include-annotations` ([`crate::ClientBuilder::include_annotations`]).
//!
//! [`surface_annotations`] turns them into plain fields with the suffixes DynamicsWebApi uses,
//! so tables and CSV files can show them: `statuscode_Formatted`,
//! `_parentaccountid_value_LogicalName`, `_parentaccountid_value_NavigationProperty`.

use serde_json::{Map, Value};

/// The formatted-value annotation.
pub const FORMATTED_VALUE: &str = "OData.Community.Display.V1.FormattedValue";
/// The annotation naming a lookup's target table.
pub const LOOKUP_LOGICAL_NAME: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";
/// The annotation naming the navigation property behind a lookup value.
pub const NAVIGATION_PROPERTY: &str = "Microsoft.Dynamics.CRM.associatednavigationproperty";

/// A lookup column's value with what the annotations tell about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupValue {
    /// The referenced record's id.
    pub id: uuid::Uuid,
    /// The referenced table (`account`), when annotated.
    pub logical_name: Option<String>,
    /// The referenced record's primary name, when annotated.
    pub name: Option<String>,
    /// The navigation property to set it through (`parentaccountid`), when annotated.
    pub navigation_property: Option<String>,
}

/// Accessors for annotated records (`serde_json::Value` or its object map).
pub trait AnnotatedRecord {
    /// The object's fields, if it is one.
    fn fields(&self) -> Option<&Map<String, Value>>;

    /// The formatted value of `column` (`statuscode` → `"Active"`).
    fn formatted(&self, column: &str) -> Option<&str> {
        self.fields()?
            .get(&format!("{column}@{FORMATTED_VALUE}"))?
            .as_str()
    }

    /// A lookup by its navigation name (`parentaccountid`) or value column
    /// (`_parentaccountid_value`); `None` when it is empty or absent.
    fn lookup(&self, name: &str) -> Option<LookupValue> {
        let fields = self.fields()?;
        let column = if name.starts_with('_') && name.ends_with("_value") {
            name.to_owned()
        } else {
            format!("_{name}_value")
        };
        let id = uuid::Uuid::parse_str(fields.get(&column)?.as_str()?).ok()?;
        let annotation = |a: &str| {
            fields
                .get(&format!("{column}@{a}"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Some(LookupValue {
            id,
            logical_name: annotation(LOOKUP_LOGICAL_NAME),
            name: annotation(FORMATTED_VALUE),
            navigation_property: annotation(NAVIGATION_PROPERTY),
        })
    }
}

impl AnnotatedRecord for Value {
    fn fields(&self) -> Option<&Map<String, Value>> {
        self.as_object()
    }
}

impl AnnotatedRecord for Map<String, Value> {
    fn fields(&self) -> Option<&Map<String, Value>> {
        Some(self)
    }
}

/// Rewrites `field@annotation` keys into plain fields beside their field:
/// formatted values as `field_Formatted`, lookup targets as `field_LogicalName`, navigation
/// properties as `field_NavigationProperty`. Other annotations (`@odata.etag`,
/// `@odata.context`) stay as they are.
///
/// ```
/// use serde_json::json;
/// let mut record = json!({
///     "statuscode": 1,
///     "statuscode@OData.Community.Display.V1.FormattedValue": "Active",
///     "@odata.etag": "W/\"1\"",
/// });
/// d365_webapi::surface_annotations(&mut record);
/// assert_eq!(record, json!({"statuscode": 1, "statuscode_Formatted": "Active", "@odata.etag": "W/\"1\""}));
/// ```
pub fn surface_annotations(record: &mut Value) {
    let Some(fields) = record.as_object_mut() else {
        return;
    };
    let suffix = |annotation: &str| match annotation {
        FORMATTED_VALUE => Some("Formatted"),
        LOOKUP_LOGICAL_NAME => Some("LogicalName"),
        NAVIGATION_PROPERTY => Some("NavigationProperty"),
        _ => None,
    };
    let old = std::mem::take(fields);
    for (key, value) in old {
        let renamed = key
            .split_once('@')
            .filter(|(field, _)| !field.is_empty())
            .and_then(|(field, annotation)| suffix(annotation).map(|s| format!("{field}_{s}")));
        let value = match value {
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|mut v| {
                        surface_annotations(&mut v);
                        v
                    })
                    .collect(),
            ),
            mut v @ Value::Object(_) => {
                surface_annotations(&mut v);
                v
            }
            v => v,
        };
        fields.insert(renamed.unwrap_or(key), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookups_and_formatted_values() {
        let id = uuid::Uuid::from_u128(9);
        let record = json!({
            "_parentaccountid_value": id.to_string(),
            "_parentaccountid_value@OData.Community.Display.V1.FormattedValue": "Contoso",
            "_parentaccountid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "account",
            "_parentaccountid_value@Microsoft.Dynamics.CRM.associatednavigationproperty": "parentaccountid",
            "revenue@OData.Community.Display.V1.FormattedValue": "$1,000.00",
            "_ownerid_value": null,
        });
        assert_eq!(record.formatted("revenue"), Some("$1,000.00"));
        let expected = LookupValue {
            id,
            logical_name: Some("account".into()),
            name: Some("Contoso".into()),
            navigation_property: Some("parentaccountid".into()),
        };
        assert_eq!(record.lookup("parentaccountid"), Some(expected.clone()));
        assert_eq!(record.lookup("_parentaccountid_value"), Some(expected));
        assert_eq!(record.lookup("ownerid"), None);
        let mut nested = json!({"contact_customer_accounts": [record.clone()]});
        surface_annotations(&mut nested);
        let inner = &nested["contact_customer_accounts"][0];
        assert_eq!(inner["_parentaccountid_value_LogicalName"], "account");
        assert_eq!(inner["revenue_Formatted"], "$1,000.00");
    }
}
