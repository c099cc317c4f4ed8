//! `EntityDefinitions`: table metadata as entities, the part Microsoft's Python SDK asks for
//! before every record operation (`?$select=LogicalName,EntitySetName,PrimaryIdAttribute&$filter=
//! LogicalName eq 'account'`) and before writes (the picklist cast path with option labels)
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api>).
//! Metadata queries are not paged: everything comes in one response.

use d365_odata::model::{EdmType, EntityType, Property};
use d365_odata::{BinaryOp, Expr, ExprKind, Literal, QueryOptions, SelectItem, UnaryOp};
use serde_json::{Map, Value, json};

use super::first_line;
use super::headers::json_response;
use crate::error::DataverseError;
use crate::state::AppState;

fn label(text: &str) -> Value {
    let l = json!({"Label": text, "LanguageCode": 1033, "IsManaged": true});
    json!({"LocalizedLabels": [l.clone()], "UserLocalizedLabel": l})
}

/// A stable id for a metadata item (Dataverse's MetadataId), derived from its name.
fn metadata_id(name: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.as_bytes());
    uuid::Builder::from_random_bytes(d.as_ref()[..16].try_into().unwrap_or_default())
        .into_uuid()
        .to_string()
}

fn entity_json(e: &EntityType, elastic: bool) -> Map<String, Value> {
    let schema = format!("{}{}", e.name[..1].to_uppercase(), &e.name[1..]);
    let Value::Object(m) = json!({
        "MetadataId": metadata_id(&e.name),
        "LogicalName": e.name,
        "SchemaName": schema,
        "EntitySetName": e.entity_set,
        "LogicalCollectionName": e.entity_set,
        "PrimaryIdAttribute": e.key,
        "PrimaryNameAttribute": e.primary_name,
        "IsPrivate": false,
        "IsCustomEntity": e.name.contains('_'),
        "OwnershipType": match e.name.as_str() {
            _ if e.property("_ownerid_value").is_some() => "UserOwned",
            "organization" => "OrganizationOwned",
            _ => "BusinessOwned",
        },
        "ChangeTrackingEnabled": super::model::change_tracking_enabled(e),
        "TableType": if elastic { "Elastic" } else { "Standard" },
        "DisplayName": label(&schema),
    }) else {
        unreachable!()
    };
    m
}

fn attribute_type(p: &Property) -> &'static str {
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

fn attribute_json(e: &EntityType, p: &Property) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "MetadataId".into(),
        json!(metadata_id(&format!("{}.{}", e.name, p.name))),
    );
    // A lookup's attribute is `parentaccountid`; `_parentaccountid_value` is only its Web API
    // property name.
    let logical = match p
        .name
        .strip_prefix('_')
        .and_then(|n| n.strip_suffix("_value"))
    {
        Some(inner) if !p.lookup_targets.is_empty() => inner,
        _ => p.name.as_str(),
    };
    m.insert("LogicalName".into(), json!(logical));
    m.insert("AttributeType".into(), json!(attribute_type(p)));
    m.insert("IsPrimaryId".into(), json!(p.name == e.key));
    m.insert(
        "IsPrimaryName".into(),
        json!(e.primary_name.as_deref() == Some(p.name.as_str())),
    );
    if let Some(max) = p.max_length {
        m.insert("MaxLength".into(), json!(max));
    }
    if let Some(scale) = p.scale {
        m.insert("Precision".into(), json!(scale));
    }
    let system = p.read_only || p.name == e.key;
    m.insert("IsValidForCreate".into(), json!(!p.read_only));
    m.insert("IsValidForUpdate".into(), json!(!system));
    let required = if p.nullable {
        "None"
    } else {
        "ApplicationRequired"
    };
    m.insert(
        "RequiredLevel".into(),
        json!({"Value": required, "CanBeChanged": !system, "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"}),
    );
    if !p.lookup_targets.is_empty() {
        m.insert("Targets".into(), json!(p.lookup_targets));
    }
    if let Some(options) = &p.option_set {
        let options: Vec<Value> = options
            .options
            .iter()
            .map(|(v, l)| json!({"Value": v, "Label": label(l)}))
            .collect();
        m.insert("OptionSet".into(), json!({"MetadataId": metadata_id(&format!("{}.{}.options", e.name, p.name)), "Name": format!("{}_{}", e.name, p.name), "Options": options}));
    }
    m
}

/// `$select` on a metadata item (`MetadataId` always stays, as in Dataverse).
fn select(mut item: Map<String, Value>, options: &QueryOptions) -> Map<String, Value> {
    if let Some(items) = &options.select {
        let names: Vec<String> = items
            .iter()
            .filter_map(|s| {
                if let SelectItem::Path(p) = s {
                    Some(p.join("/"))
                } else {
                    None
                }
            })
            .collect();
        if !names.is_empty() {
            let mut expand_names: Vec<&str> =
                options.expand.iter().map(|x| x.path.as_str()).collect();
            expand_names.push("MetadataId");
            item.retain(|k, _| names.iter().any(|n| n == k) || expand_names.contains(&k.as_str()));
        }
    }
    item
}

/// `$filter` over metadata: comparisons of properties with literals, `and`, `or`, `not`.
fn matches(item: &Map<String, Value>, expr: &Expr) -> Result<bool, DataverseError> {
    Ok(match &expr.kind {
        ExprKind::Binary {
            op: BinaryOp::And,
            lhs,
            rhs,
        } => matches(item, lhs)? && matches(item, rhs)?,
        ExprKind::Binary {
            op: BinaryOp::Or,
            lhs,
            rhs,
        } => matches(item, lhs)? || matches(item, rhs)?,
        ExprKind::Unary {
            op: UnaryOp::Not,
            operand,
        } => !matches(item, operand)?,
        ExprKind::Binary {
            op: op @ (BinaryOp::Eq | BinaryOp::Ne),
            lhs,
            rhs,
        } => {
            let (ExprKind::Member(path), ExprKind::Literal(lit)) = (&lhs.kind, &rhs.kind) else {
                return Err(DataverseError::bad_query(
                    "Metadata filters compare a property with a value.",
                ));
            };
            let actual = item.get(&path.join("/")).cloned().unwrap_or(Value::Null);
            let expected = match lit {
                Literal::String(s) => json!(s),
                Literal::Bool(b) => json!(b),
                Literal::Int(i) => json!(i),
                Literal::Null => Value::Null,
                Literal::Enum { value, .. } => json!(value),
                other => {
                    return Err(DataverseError::bad_query(format!(
                        "Metadata filters do not take {other}."
                    )));
                }
            };
            let equal = match (&actual, &expected) {
                (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
                (a, b) => a == b,
            };
            if *op == BinaryOp::Eq { equal } else { !equal }
        }
        _ => {
            return Err(DataverseError::bad_query(
                "Metadata filters support eq, ne, and, or, not.",
            ));
        }
    })
}

/// `GET {api}/EntityDefinitions[(LogicalName='x')|(<id>)][/Attributes[/Microsoft.Dynamics.CRM.<Type>AttributeMetadata]]`.
pub(crate) fn entity_definitions(
    st: &AppState,
    key: Option<&str>,
    attributes: Option<Option<&str>>,
    raw_query: &str,
) -> Result<axum::response::Response, DataverseError> {
    let options = QueryOptions::parse(raw_query)
        .map_err(|e| DataverseError::bad_query(first_line(&e.to_string())))?;
    let root = st.api_root();
    let entities: Vec<&EntityType> = st
        .model
        .model
        .entity_types()
        .iter()
        .filter(|e| {
            key.is_none_or(|k| {
                e.name.eq_ignore_ascii_case(k) || metadata_id(&e.name) == k.to_ascii_lowercase()
            })
        })
        .collect();
    if let Some(k) = key
        && entities.is_empty()
    {
        return Err(DataverseError::not_found(
            "0x80040217",
            format!("Could not find entity with logical name or metadata id '{k}'."),
        ));
    }
    let (context, mut items) = match attributes {
        None => (
            "EntityDefinitions".to_owned(),
            entities
                .iter()
                .map(|e| entity_json(e, st.model.is_elastic(&e.name)))
                .collect::<Vec<_>>(),
        ),
        Some(cast) => {
            let e = entities
                .first()
                .ok_or_else(|| DataverseError::bad_query("Attributes need one entity."))?;
            let wanted = match cast {
                None => None,
                Some("Microsoft.Dynamics.CRM.PicklistAttributeMetadata") => Some("Picklist"),
                Some("Microsoft.Dynamics.CRM.StateAttributeMetadata") => Some("State"),
                Some("Microsoft.Dynamics.CRM.StatusAttributeMetadata") => Some("Status"),
                Some("Microsoft.Dynamics.CRM.LookupAttributeMetadata") => Some("Lookup"),
                Some("Microsoft.Dynamics.CRM.MoneyAttributeMetadata") => Some("Money"),
                Some("Microsoft.Dynamics.CRM.StringAttributeMetadata") => Some("String"),
                Some(other) => return Err(DataverseError::segment_not_found(other)),
            };
            let attrs = e
                .properties
                .iter()
                .filter(|p| wanted.is_none_or(|w| attribute_type(p) == w))
                .map(|p| attribute_json(e, p))
                .collect();
            (
                format!(
                    "EntityDefinitions('{}')/Attributes{}",
                    e.name,
                    cast.map(|c| format!("/{c}")).unwrap_or_default()
                ),
                attrs,
            )
        }
    };
    if let Some(filter) = &options.filter {
        let mut kept = Vec::new();
        for item in items {
            if matches(&item, filter)? {
                kept.push(item);
            }
        }
        items = kept;
    }
    let items: Vec<Value> = items
        .into_iter()
        .map(|i| Value::Object(select(i, &options)))
        .collect();
    let body = if key.is_some() && attributes.is_none() {
        let mut one = match items.into_iter().next() {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        one.insert(
            "@odata.context".into(),
            json!(format!("{root}/$metadata#EntityDefinitions/$entity")),
        );
        Value::Object(one)
    } else {
        json!({"@odata.context": format!("{root}/$metadata#{context}"), "value": items})
    };
    Ok(json_response(body.to_string()))
}
