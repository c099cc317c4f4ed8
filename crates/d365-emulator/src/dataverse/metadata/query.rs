//! `$select`, `$filter` and the answer shape of metadata queries. `$select` names are checked
//! against the type's documented properties, as Dataverse checks them: an unknown name is a
//! 400, never silently ignored. Metadata queries are not paged.

use d365_odata::{BinaryOp, Expr, ExprKind, Literal, QueryOptions, SelectItem, UnaryOp};
use serde_json::{Map, Value, json};

use crate::dataverse::response::query_options;
use crate::error::DataverseError;

/// A metadata type: its name (`EntityMetadata`) and documented property names, the ones
/// `$select` and `$filter` take. Items carry these properties (a documented property the
/// emulator does not model is `null`), plus `@odata.type` for attribute subtypes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// The type's name in `Microsoft.Dynamics.CRM`.
    pub(crate) type_name: &'static str,
    /// Its properties.
    pub(crate) properties: &'static [&'static str],
}

impl Shape {
    fn has(&self, name: &str) -> bool {
        self.properties.contains(&name)
    }

    /// 400 naming the property the type lacks (Dataverse's OData message).
    fn unknown(&self, name: &str) -> DataverseError {
        DataverseError::metadata_property_not_found(self.type_name, name)
    }
}

/// The query options of a metadata request.
pub(crate) fn options(raw_query: &str) -> Result<QueryOptions, DataverseError> {
    query_options(raw_query)
}

/// `$select` on one item: the named properties (each must be one of the type's), plus
/// `MetadataId` (always kept, as in Dataverse), `@odata.type` and the `$expand`ed ones.
pub(crate) fn select(
    mut item: Map<String, Value>,
    options: &QueryOptions,
    shape: &Shape,
) -> Result<Map<String, Value>, DataverseError> {
    let Some(items) = &options.select else {
        return Ok(item);
    };
    let mut names = Vec::new();
    for s in items {
        match s {
            SelectItem::All => return Ok(item),
            SelectItem::Path(p) => {
                let name = p.join("/");
                if !shape.has(&name) {
                    return Err(shape.unknown(&name));
                }
                names.push(name);
            }
        }
    }
    let expanded: Vec<&str> = options.expand.iter().map(|x| x.path.as_str()).collect();
    item.retain(|k, _| {
        k == "MetadataId"
            || k.starts_with('@')
            || names.iter().any(|n| n == k)
            || expanded.contains(&k.as_str())
    });
    Ok(item)
}

/// `$filter` then `$select` over items of one shape.
pub(crate) fn shape_items(
    items: Vec<Map<String, Value>>,
    options: &QueryOptions,
    shape: &Shape,
) -> Result<Vec<Value>, DataverseError> {
    // Unknown names are refused whatever the items (none, or a short-circuited `and`/`or`).
    select(Map::new(), options, shape)?;
    if let Some(filter) = &options.filter {
        check_names(filter, shape)?;
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(filter) = &options.filter
            && !matches(&item, filter, shape)?
        {
            continue;
        }
        out.push(Value::Object(select(item, options, shape)?));
    }
    Ok(out)
}

/// `{"@odata.context": …, "value": […]}`, the context first.
pub(crate) fn collection_body(context: &str, value: Vec<Value>) -> String {
    json!({"@odata.context": context, "value": value}).to_string()
}

/// One item with `@odata.context` first.
pub(crate) fn entity_body(context: &str, item: Map<String, Value>) -> String {
    let mut out = Map::new();
    out.insert("@odata.context".into(), json!(context));
    out.extend(item);
    Value::Object(out).to_string()
}

/// Every property a metadata filter names is one of the type's (the parser bounded the depth).
fn check_names(expr: &Expr, shape: &Shape) -> Result<(), DataverseError> {
    match &expr.kind {
        ExprKind::Binary { lhs, rhs, .. } => {
            check_names(lhs, shape)?;
            check_names(rhs, shape)
        }
        ExprKind::Unary { operand, .. } => check_names(operand, shape),
        ExprKind::Member(path) => {
            let name = path.join("/");
            if shape.has(&name) {
                Ok(())
            } else {
                Err(shape.unknown(&name))
            }
        }
        _ => Ok(()),
    }
}

/// `$filter` over metadata: comparisons of properties with literals, `and`, `or`, `not`.
fn matches(item: &Map<String, Value>, expr: &Expr, shape: &Shape) -> Result<bool, DataverseError> {
    Ok(match &expr.kind {
        ExprKind::Binary {
            op: BinaryOp::And,
            lhs,
            rhs,
        } => matches(item, lhs, shape)? && matches(item, rhs, shape)?,
        ExprKind::Binary {
            op: BinaryOp::Or,
            lhs,
            rhs,
        } => matches(item, lhs, shape)? || matches(item, rhs, shape)?,
        ExprKind::Unary {
            op: UnaryOp::Not,
            operand,
        } => !matches(item, operand, shape)?,
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
            let name = path.join("/");
            if !shape.has(&name) {
                return Err(shape.unknown(&name));
            }
            let actual = item.get(&name).cloned().unwrap_or(Value::Null);
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
