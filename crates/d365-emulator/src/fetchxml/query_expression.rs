//! QueryExpression, the SDK's object form of a query, as the Web API carries it in action
//! parameters (`BulkDelete`'s `QuerySet`), read into the same [`Fetch`] a FetchXML document
//! becomes: the two languages have the same conditions, so they share one planner
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/org-service/build-queries-with-queryexpression>).
//!
//! ```json
//! {"EntityName": "account",
//!  "ColumnSet": {"AllColumns": false, "Columns": []},
//!  "Criteria": {"FilterOperator": "And",
//!               "Conditions": [{"AttributeName": "accountid", "Operator": "In",
//!                               "Values": [{"Value": "…", "Type": "System.Guid"}]}],
//!               "Filters": []},
//!  "LinkEntities": [{"LinkToEntityName": "contact", "LinkFromAttributeName": "primarycontactid",
//!                    "LinkToAttributeName": "contactid", "JoinOperator": "Inner",
//!                    "LinkCriteria": {…}}]}
//! ```

use serde_json::{Map, Value as Json};

use super::fetch::{Attributes, Condition, Fetch, FetchError, Filter, Link, MAX_DEPTH, Order};

fn err(message: impl Into<String>) -> FetchError {
    FetchError(message.into())
}

/// `ConditionOperator` names (and the numbers of the first fourteen, which some clients send)
/// with the FetchXML operator each is.
const OPERATORS: &[(&str, &str)] = &[
    ("Equal", "eq"),
    ("NotEqual", "ne"),
    ("GreaterThan", "gt"),
    ("LessThan", "lt"),
    ("GreaterEqual", "ge"),
    ("LessEqual", "le"),
    ("Like", "like"),
    ("NotLike", "not-like"),
    ("In", "in"),
    ("NotIn", "not-in"),
    ("Between", "between"),
    ("NotBetween", "not-between"),
    ("Null", "null"),
    ("NotNull", "not-null"),
    ("Yesterday", "yesterday"),
    ("Today", "today"),
    ("Tomorrow", "tomorrow"),
    ("LastXHours", "last-x-hours"),
    ("NextXHours", "next-x-hours"),
    ("LastXDays", "last-x-days"),
    ("NextXDays", "next-x-days"),
    ("OlderThanXDays", "olderthan-x-days"),
    ("On", "on"),
    ("OnOrBefore", "on-or-before"),
    ("OnOrAfter", "on-or-after"),
    ("EqualUserId", "eq-userid"),
    ("NotEqualUserId", "ne-userid"),
    ("EqualBusinessId", "eq-businessid"),
    ("NotEqualBusinessId", "ne-businessid"),
    ("BeginsWith", "begins-with"),
    ("DoesNotBeginWith", "not-begin-with"),
    ("EndsWith", "ends-with"),
    ("DoesNotEndWith", "not-end-with"),
];

/// The FetchXML operator of a `ConditionOperator`, by name or by number (0–13).
fn operator(value: &Json) -> Result<&'static str, FetchError> {
    let found = match value {
        Json::String(name) => match name.parse::<usize>() {
            Ok(n) if n < 14 => Some(OPERATORS[n].1),
            _ => OPERATORS
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, op)| *op),
        },
        Json::Number(n) => n
            .as_u64()
            .filter(|n| *n < 14)
            .map(|n| OPERATORS[n as usize].1),
        _ => None,
    };
    found.ok_or_else(|| {
        err(format!(
            "The condition operator {value} is not supported by the emulator yet; it knows {}.",
            OPERATORS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// A member of an object, ignoring annotations (`@odata.type`) and the case of the name, as
/// Dataverse's deserializer does.
fn field<'a>(object: &'a Map<String, Json>, name: &str) -> Option<&'a Json> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

/// The object, if it is one and has no member its type does not declare: a misspelt
/// `"Critera"` must be an error, not a query without criteria that matches every record.
fn object<'a>(
    value: &'a Json,
    what: &str,
    type_name: &str,
    members: &[&str],
) -> Result<&'a Map<String, Json>, FetchError> {
    let object = value
        .as_object()
        .ok_or_else(|| err(format!("{what} must be a JSON object, not {value}.")))?;
    if let Some(unknown) = object
        .keys()
        .find(|k| !k.starts_with('@') && !members.iter().any(|m| m.eq_ignore_ascii_case(k)))
    {
        return Err(err(format!(
            "The property '{unknown}' does not exist on type 'Microsoft.Dynamics.CRM.{type_name}'. Make sure to only use property names that are defined by the type."
        )));
    }
    Ok(object)
}

const QUERY_MEMBERS: &[&str] = &[
    "EntityName",
    "ColumnSet",
    "Criteria",
    "LinkEntities",
    "Orders",
    "TopCount",
    "Distinct",
    "NoLock",
    "PageInfo",
    "QueryHints",
    "ForceSeek",
    "DataSource",
];
const COLUMN_SET_MEMBERS: &[&str] = &["AllColumns", "Columns", "AttributeExpressions"];
const FILTER_MEMBERS: &[&str] = &[
    "FilterOperator",
    "Conditions",
    "Filters",
    "IsQuickFindFilter",
    "FilterHint",
];
const CONDITION_MEMBERS: &[&str] = &[
    "AttributeName",
    "Operator",
    "Values",
    "EntityName",
    "CompareColumns",
];
const LINK_MEMBERS: &[&str] = &[
    "LinkFromEntityName",
    "LinkToEntityName",
    "LinkFromAttributeName",
    "LinkToAttributeName",
    "JoinOperator",
    "LinkCriteria",
    "LinkEntities",
    "Columns",
    "EntityAlias",
    "Orders",
];
const ORDER_MEMBERS: &[&str] = &["AttributeName", "OrderType", "Alias", "EntityName"];

fn array<'a>(
    object: &'a Map<String, Json>,
    name: &str,
    what: &str,
) -> Result<&'a [Json], FetchError> {
    match field(object, name) {
        None => Ok(&[]),
        Some(Json::Array(items)) => Ok(items),
        Some(other) => Err(err(format!("{what}.{name} must be an array, not {other}."))),
    }
}

fn string(object: &Map<String, Json>, name: &str, what: &str) -> Result<String, FetchError> {
    match field(object, name) {
        Some(Json::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(other) => Err(err(format!("{what}.{name} must be a name, not {other}."))),
        None => Err(err(format!("{what} has no {name}."))),
    }
}

/// Reads one `QueryExpression`.
pub fn from_query_expression(value: &Json) -> Result<Fetch, FetchError> {
    let q = object(value, "A QueryExpression", "QueryExpression", QUERY_MEMBERS)?;
    let entity = string(q, "EntityName", "The QueryExpression")?.to_ascii_lowercase();
    let attributes = match field(q, "ColumnSet") {
        Some(c) => column_set(object(c, "ColumnSet", "ColumnSet", COLUMN_SET_MEMBERS)?)?,
        None => Attributes::None,
    };
    let filter = match field(q, "Criteria") {
        Some(f) => non_empty(filter(
            object(f, "Criteria", "FilterExpression", FILTER_MEMBERS)?,
            "Criteria",
            0,
        )?),
        None => None,
    };
    let links = array(q, "LinkEntities", "The QueryExpression")?
        .iter()
        .map(|l| link(l, 0))
        .collect::<Result<_, _>>()?;
    let orders = array(q, "Orders", "The QueryExpression")?
        .iter()
        .map(order)
        .collect::<Result<_, _>>()?;
    let top = match field(q, "TopCount") {
        Some(n) => Some(
            n.as_u64()
                .ok_or_else(|| err(format!("TopCount must be a whole number, not {n}.")))?
                as usize,
        ),
        None => None,
    };
    Ok(Fetch {
        entity,
        attributes,
        orders,
        filter,
        links,
        top,
        ..Fetch::default()
    })
}

fn column_set(c: &Map<String, Json>) -> Result<Attributes, FetchError> {
    if field(c, "AllColumns").and_then(Json::as_bool) == Some(true) {
        return Ok(Attributes::All);
    }
    let names = array(c, "Columns", "ColumnSet")?
        .iter()
        .map(|n| {
            n.as_str()
                .map(|s| s.to_ascii_lowercase())
                .ok_or_else(|| err(format!("ColumnSet.Columns holds names, not {n}.")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if names.is_empty() {
        Attributes::None
    } else {
        Attributes::Named(names)
    })
}

fn non_empty(f: Filter) -> Option<Filter> {
    (!f.conditions.is_empty() || !f.filters.is_empty()).then_some(f)
}

/// Refuses a tree deeper than FetchXML may nest: the planner recurses over it.
fn deeper(depth: usize, what: &str) -> Result<usize, FetchError> {
    if depth >= MAX_DEPTH {
        return Err(err(format!(
            "{what} nests more than {} levels deep.",
            MAX_DEPTH
        )));
    }
    Ok(depth + 1)
}

fn filter(f: &Map<String, Json>, what: &str, depth: usize) -> Result<Filter, FetchError> {
    let depth = deeper(depth, what)?;
    let or = match field(f, "FilterOperator") {
        None => false,
        Some(Json::String(s)) if s.eq_ignore_ascii_case("and") || s == "0" => false,
        Some(Json::String(s)) if s.eq_ignore_ascii_case("or") || s == "1" => true,
        Some(Json::Number(n)) if n.as_u64() == Some(0) => false,
        Some(Json::Number(n)) if n.as_u64() == Some(1) => true,
        Some(other) => {
            return Err(err(format!(
                "{what}.FilterOperator must be \"And\" or \"Or\", not {other}."
            )));
        }
    };
    let conditions = array(f, "Conditions", what)?
        .iter()
        .map(condition)
        .collect::<Result<_, _>>()?;
    let filters = array(f, "Filters", what)?
        .iter()
        .map(|inner| {
            filter(
                object(inner, "A nested filter", "FilterExpression", FILTER_MEMBERS)?,
                "Filters",
                depth,
            )
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter_map(non_empty)
        .collect();
    Ok(Filter {
        or,
        conditions,
        filters,
    })
}

fn condition(value: &Json) -> Result<Condition, FetchError> {
    let c = object(
        value,
        "A condition",
        "ConditionExpression",
        CONDITION_MEMBERS,
    )?;
    let attribute = string(c, "AttributeName", "A condition")?.to_ascii_lowercase();
    if field(c, "CompareColumns").and_then(Json::as_bool) == Some(true) {
        return Err(err(format!(
            "The condition on '{attribute}' compares columns (CompareColumns), which the emulator does not support yet."
        )));
    }
    let operator = operator(
        field(c, "Operator")
            .ok_or_else(|| err(format!("The condition on '{attribute}' has no Operator.")))?,
    )?;
    let values = array(c, "Values", "A condition")?
        .iter()
        .map(|v| condition_value(v, &attribute))
        .collect::<Result<_, _>>()?;
    let entity_name = match field(c, "EntityName") {
        Some(Json::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    Ok(Condition {
        attribute,
        operator: operator.to_owned(),
        values,
        entity_name,
    })
}

/// A value as the Web API serialises `Collection(Edm.Untyped)` items: `{"Value": x,
/// "Type": "System.Guid"}`, or a bare JSON scalar.
fn condition_value(v: &Json, attribute: &str) -> Result<String, FetchError> {
    let inner = match v {
        Json::Object(o) => field(o, "Value").unwrap_or(&Json::Null),
        other => other,
    };
    match inner {
        Json::String(s) => Ok(s.clone()),
        Json::Number(n) => Ok(n.to_string()),
        Json::Bool(b) => Ok(b.to_string()),
        other => Err(err(format!(
            "A value of the condition on '{attribute}' must be a string, number or boolean, not {other}."
        ))),
    }
}

fn link(value: &Json, depth: usize) -> Result<Link, FetchError> {
    let depth = deeper(depth, "A LinkEntity")?;
    let l = object(value, "A LinkEntity", "LinkEntity", LINK_MEMBERS)?;
    let name = string(l, "LinkToEntityName", "A LinkEntity")?.to_ascii_lowercase();
    let outer = match field(l, "JoinOperator") {
        None => false,
        Some(Json::String(s)) if s.eq_ignore_ascii_case("inner") || s == "0" => false,
        Some(Json::String(s)) if s.eq_ignore_ascii_case("leftouter") || s == "1" => true,
        Some(Json::Number(n)) if n.as_u64() == Some(0) => false,
        Some(Json::Number(n)) if n.as_u64() == Some(1) => true,
        Some(other) => {
            return Err(err(format!(
                "JoinOperator must be \"Inner\" or \"LeftOuter\", not {other}."
            )));
        }
    };
    let filter = match field(l, "LinkCriteria") {
        Some(f) => non_empty(filter(
            object(f, "LinkCriteria", "FilterExpression", FILTER_MEMBERS)?,
            "LinkCriteria",
            depth,
        )?),
        None => None,
    };
    let links = array(l, "LinkEntities", "A LinkEntity")?
        .iter()
        .map(|l| link(l, depth))
        .collect::<Result<_, _>>()?;
    Ok(Link {
        from: string(l, "LinkToAttributeName", "A LinkEntity")?.to_ascii_lowercase(),
        to: string(l, "LinkFromAttributeName", "A LinkEntity")?.to_ascii_lowercase(),
        alias: match field(l, "EntityAlias") {
            Some(Json::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        },
        outer,
        attributes: match field(l, "Columns") {
            Some(c) => column_set(object(c, "Columns", "ColumnSet", COLUMN_SET_MEMBERS)?)?,
            None => Attributes::None,
        },
        filter,
        orders: Vec::new(),
        links,
        name,
    })
}

fn order(value: &Json) -> Result<Order, FetchError> {
    let o = object(
        value,
        "An OrderExpression",
        "OrderExpression",
        ORDER_MEMBERS,
    )?;
    let descending = match field(o, "OrderType") {
        None => false,
        Some(Json::String(s)) if s.eq_ignore_ascii_case("ascending") || s == "0" => false,
        Some(Json::String(s)) if s.eq_ignore_ascii_case("descending") || s == "1" => true,
        Some(Json::Number(n)) => n.as_u64() == Some(1),
        Some(other) => {
            return Err(err(format!(
                "OrderType must be \"Ascending\" or \"Descending\", not {other}."
            )));
        }
    };
    Ok(Order {
        attribute: string(o, "AttributeName", "An OrderExpression")?.to_ascii_lowercase(),
        descending,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_python_sdks_bulk_delete_query_reads_as_an_in_condition() {
        let q = json!({
            "@odata.type": "Microsoft.Dynamics.CRM.QueryExpression",
            "EntityName": "account",
            "ColumnSet": {"@odata.type": "Microsoft.Dynamics.CRM.ColumnSet", "AllColumns": false, "Columns": []},
            "Criteria": {
                "@odata.type": "Microsoft.Dynamics.CRM.FilterExpression",
                "FilterOperator": "And",
                "Conditions": [{
                    "@odata.type": "Microsoft.Dynamics.CRM.ConditionExpression",
                    "AttributeName": "accountid",
                    "Operator": "In",
                    "Values": [{"Value": "00000000-0000-0000-0000-000000000001", "Type": "System.Guid"},
                               {"Value": "00000000-0000-0000-0000-000000000002", "Type": "System.Guid"}]
                }]
            }
        });
        let fetch = from_query_expression(&q).unwrap();
        assert_eq!(fetch.entity, "account");
        assert_eq!(fetch.attributes, Attributes::None);
        let f = fetch.filter.unwrap();
        assert!(!f.or);
        assert_eq!(f.conditions[0].operator, "in");
        assert_eq!(f.conditions[0].values.len(), 2);
    }

    #[test]
    fn nested_filters_numbers_links_and_orders_are_read() {
        let q = json!({
            "EntityName": "Account",
            "Criteria": {"FilterOperator": "Or",
                "Conditions": [{"AttributeName": "statecode", "Operator": 0, "Values": [1]}],
                "Filters": [{"Conditions": [
                    {"AttributeName": "name", "Operator": "BeginsWith", "Values": ["Old"]},
                    {"AttributeName": "createdon", "Operator": "OlderThanXDays", "Values": [{"Value": 30, "Type": "System.Int32"}]}
                ]}, {"Conditions": []}]},
            "LinkEntities": [{"LinkToEntityName": "contact", "LinkFromAttributeName": "primarycontactid",
                "LinkToAttributeName": "contactid", "JoinOperator": "LeftOuter",
                "LinkCriteria": {"Conditions": [{"AttributeName": "lastname", "Operator": "Null"}]}}],
            "Orders": [{"AttributeName": "name", "OrderType": "Descending"}]
        });
        let fetch = from_query_expression(&q).unwrap();
        assert_eq!(fetch.entity, "account");
        let f = fetch.filter.unwrap();
        assert!(f.or);
        assert_eq!(f.conditions[0].operator, "eq");
        assert_eq!(f.conditions[0].values, vec!["1"]);
        assert_eq!(f.filters.len(), 1, "an empty nested filter is dropped");
        assert_eq!(f.filters[0].conditions[1].operator, "olderthan-x-days");
        assert_eq!(f.filters[0].conditions[1].values, vec!["30"]);
        let link = &fetch.links[0];
        assert_eq!(
            (link.name.as_str(), link.from.as_str(), link.to.as_str()),
            ("contact", "contactid", "primarycontactid")
        );
        assert!(link.outer);
        assert_eq!(link.filter.as_ref().unwrap().conditions[0].operator, "null");
        assert!(fetch.orders[0].descending);
    }

    #[test]
    fn malformed_queries_name_what_is_wrong() {
        let cases = [
            (json!({"Criteria": {}}), "no EntityName"),
            (
                json!({"EntityName": "account", "Criteria": {"FilterOperator": "Xor"}}),
                "FilterOperator",
            ),
            (
                json!({"EntityName": "account", "Criteria": {"Conditions": [{"AttributeName": "name", "Operator": "Contains", "Values": ["x"]}]}}),
                "\"Contains\" is not supported",
            ),
            (
                json!({"EntityName": "account", "Criteria": {"Conditions": [{"AttributeName": "name", "Values": ["x"]}]}}),
                "no Operator",
            ),
            (
                json!({"EntityName": "account", "Criteria": {"Conditions": [{"AttributeName": "name", "Operator": "Equal", "Values": [{"Value": null}]}]}}),
                "must be a string, number or boolean",
            ),
            (json!(["account"]), "must be a JSON object"),
            (
                json!({"EntityName": "account", "Critera": {"Conditions": []}}),
                "The property 'Critera' does not exist on type 'Microsoft.Dynamics.CRM.QueryExpression'",
            ),
            (
                json!({"EntityName": "account", "Criteria": {"Condition": [{"AttributeName": "name", "Operator": "Null"}]}}),
                "'Condition' does not exist on type 'Microsoft.Dynamics.CRM.FilterExpression'",
            ),
        ];
        for (q, expected) in cases {
            let e = from_query_expression(&q).unwrap_err();
            assert!(e.0.contains(expected), "{q}: {e}");
        }
    }
}
