//! QueryExpression, the query type that action parameters such as `BulkDelete`'s `QuerySet`
//! take, serialised as the Web API expects (`{"EntityName", "Criteria": {"FilterOperator",
//! "Conditions": [{"AttributeName", "Operator", "Values": [{"Value", "Type"}]}]}}`), and built
//! from an OData `$filter` so users keep writing the filters they know.

use d365_odata::{Arg, BinaryOp, Expr, ExprKind, Literal, UnaryOp};
use serde_json::{Value, json};

use crate::error::Error;

/// `And` or `Or`: how a [`FilterExpression`] joins its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogicalOperator {
    /// Every part must hold.
    #[default]
    And,
    /// One part must hold.
    Or,
}

/// One condition: a column, a `ConditionOperator` name (`Equal`, `In`, `OlderThanXDays`, …)
/// and its values, each a JSON scalar with its .NET type (`System.Guid`, `System.String`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionExpression {
    /// The column's logical name.
    pub attribute: String,
    /// The `ConditionOperator` name.
    pub operator: String,
    /// `(value, .NET type name)` pairs.
    pub values: Vec<(Value, &'static str)>,
}

impl ConditionExpression {
    /// A condition with values whose types are inferred from the JSON (GUID-shaped strings are
    /// `System.Guid`).
    pub fn new(attribute: &str, operator: &str, values: impl IntoIterator<Item = Value>) -> Self {
        Self {
            attribute: attribute.to_ascii_lowercase(),
            operator: operator.to_owned(),
            values: values
                .into_iter()
                .map(|v| {
                    let t = infer_type(&v);
                    (v, t)
                })
                .collect(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "@odata.type": "Microsoft.Dynamics.CRM.ConditionExpression",
            "AttributeName": self.attribute,
            "Operator": self.operator,
            "Values": self.values.iter().map(|(v, t)| json!({"Value": v, "Type": t})).collect::<Vec<_>>(),
        })
    }
}

fn infer_type(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "System.Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) {
                "System.Int32"
            } else {
                "System.Int64"
            }
        }
        Value::Number(_) => "System.Double",
        Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => "System.Guid",
        _ => "System.String",
    }
}

/// Conditions and nested filters joined by one [`LogicalOperator`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FilterExpression {
    /// How the parts are joined.
    pub operator: LogicalOperator,
    /// The conditions.
    pub conditions: Vec<ConditionExpression>,
    /// Nested filters.
    pub filters: Vec<FilterExpression>,
}

impl FilterExpression {
    fn to_json(&self) -> Value {
        json!({
            "@odata.type": "Microsoft.Dynamics.CRM.FilterExpression",
            "FilterOperator": match self.operator {
                LogicalOperator::And => "And",
                LogicalOperator::Or => "Or",
            },
            "Conditions": self.conditions.iter().map(ConditionExpression::to_json).collect::<Vec<_>>(),
            "Filters": self.filters.iter().map(FilterExpression::to_json).collect::<Vec<_>>(),
        })
    }
}

/// A query on one table by its logical name, with criteria; no columns (the actions that
/// take one act on whole records).
///
/// ```
/// use d365_webapi::QueryExpression;
///
/// let q = QueryExpression::from_filter("account", "statecode eq 1 and (name eq null or startswith(name,'Old'))")?;
/// let json = q.to_json();
/// assert_eq!(json["EntityName"], "account");
/// assert_eq!(json["Criteria"]["Conditions"][0]["Operator"], "Equal");
/// assert_eq!(json["Criteria"]["Filters"][0]["FilterOperator"], "Or");
/// assert_eq!(json["Criteria"]["Filters"][0]["Conditions"][1]["Operator"], "BeginsWith");
/// # Ok::<(), d365_webapi::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct QueryExpression {
    /// The table's logical name.
    pub entity_name: String,
    /// The criteria (empty: every record).
    pub criteria: FilterExpression,
}

impl QueryExpression {
    /// Every record of a table.
    pub fn all(logical_name: &str) -> Self {
        Self {
            entity_name: logical_name.to_ascii_lowercase(),
            criteria: FilterExpression::default(),
        }
    }

    /// The records whose `key` column is one of `ids` (an `In` condition), as Microsoft's
    /// Python SDK deletes a list of records.
    pub fn ids(logical_name: &str, key: &str, ids: &[uuid::Uuid]) -> Self {
        let mut q = Self::all(logical_name);
        q.criteria.conditions.push(ConditionExpression {
            attribute: key.to_ascii_lowercase(),
            operator: "In".into(),
            values: ids
                .iter()
                .map(|id| (Value::String(id.to_string()), "System.Guid"))
                .collect(),
        });
        q
    }

    /// The records an OData `$filter` matches. Comparisons of a column with a literal,
    /// `and`/`or`, `in`, `contains`/`startswith`/`endswith` (and their `not`), and Dataverse
    /// query functions (`Microsoft.Dynamics.CRM.OlderThanXDays(PropertyName='createdon',
    /// PropertyValue=30)`) translate; anything else (navigation paths, arithmetic, lambdas,
    /// other functions) is refused naming the part that cannot be expressed.
    pub fn from_filter(logical_name: &str, filter: &str) -> Result<Self, Error> {
        let expr = d365_odata::parse_filter(filter)
            .map_err(|e| Error::InvalidQuery(format!("$filter: {e}")))?;
        let mut q = Self::all(logical_name);
        q.criteria = match filter_of(&expr)? {
            Part::Filter(f) => f,
            Part::Condition(c) => FilterExpression {
                conditions: vec![c],
                ..FilterExpression::default()
            },
        };
        Ok(q)
    }

    /// The JSON the Web API takes (a `Microsoft.Dynamics.CRM.QueryExpression`).
    pub fn to_json(&self) -> Value {
        json!({
            "@odata.type": "Microsoft.Dynamics.CRM.QueryExpression",
            "EntityName": self.entity_name,
            "ColumnSet": {"@odata.type": "Microsoft.Dynamics.CRM.ColumnSet", "AllColumns": false, "Columns": []},
            "Criteria": self.criteria.to_json(),
        })
    }
}

enum Part {
    Filter(FilterExpression),
    Condition(ConditionExpression),
}

fn refuse(what: &str, expr: &Expr) -> Error {
    Error::InvalidQuery(format!(
        "$filter: {what} cannot be expressed as a QueryExpression: {expr}"
    ))
}

fn filter_of(expr: &Expr) -> Result<Part, Error> {
    match &expr.kind {
        ExprKind::Binary {
            op: op @ (BinaryOp::And | BinaryOp::Or),
            lhs,
            rhs,
        } => {
            let operator = if *op == BinaryOp::And {
                LogicalOperator::And
            } else {
                LogicalOperator::Or
            };
            let mut f = FilterExpression {
                operator,
                ..FilterExpression::default()
            };
            for side in [lhs, rhs] {
                match filter_of(side)? {
                    Part::Condition(c) => f.conditions.push(c),
                    // `a and b and c` parses left-deep: fold same-operator filters into one.
                    Part::Filter(inner) if inner.operator == operator => {
                        f.conditions.extend(inner.conditions);
                        f.filters.extend(inner.filters);
                    }
                    Part::Filter(inner) => f.filters.push(inner),
                }
            }
            Ok(Part::Filter(f))
        }
        _ => condition_of(expr).map(Part::Condition),
    }
}

fn column(expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Member(path) if path.len() == 1 => Some(path[0].to_ascii_lowercase()),
        _ => None,
    }
}

/// A literal as a typed QueryExpression value; `None` for `null`.
fn literal(expr: &Expr) -> Result<Option<(Value, &'static str)>, Error> {
    let ExprKind::Literal(l) = &expr.kind else {
        return Err(refuse("a value that is not a literal", expr));
    };
    typed(l, expr)
}

fn typed(l: &Literal, expr: &Expr) -> Result<Option<(Value, &'static str)>, Error> {
    Ok(Some(match l {
        Literal::Null => return Ok(None),
        Literal::Bool(b) => (json!(b), "System.Boolean"),
        Literal::Int(i) => (
            json!(i),
            if i32::try_from(*i).is_ok() {
                "System.Int32"
            } else {
                "System.Int64"
            },
        ),
        Literal::Decimal(d) => (json!(d), "System.Decimal"),
        Literal::Double(f) => (json!(f), "System.Double"),
        Literal::String(s) => (json!(s), "System.String"),
        Literal::Guid(g) => (json!(g.to_string()), "System.Guid"),
        Literal::DateTimeOffset(_) | Literal::Date(_) => (json!(l.to_string()), "System.DateTime"),
        _ => return Err(refuse("this literal", expr)),
    }))
}

fn comparison(op: BinaryOp) -> Option<(&'static str, &'static str)> {
    // (operator, operator with the sides swapped)
    Some(match op {
        BinaryOp::Eq => ("Equal", "Equal"),
        BinaryOp::Ne => ("NotEqual", "NotEqual"),
        BinaryOp::Gt => ("GreaterThan", "LessThan"),
        BinaryOp::Ge => ("GreaterEqual", "LessEqual"),
        BinaryOp::Lt => ("LessThan", "GreaterThan"),
        BinaryOp::Le => ("LessEqual", "GreaterEqual"),
        _ => return None,
    })
}

fn condition_of(expr: &Expr) -> Result<ConditionExpression, Error> {
    match &expr.kind {
        ExprKind::Binary { op, lhs, rhs } => {
            let (name, swapped) = comparison(*op).ok_or_else(|| refuse("this operator", expr))?;
            let (col, value, operator) = match (column(lhs), column(rhs)) {
                (Some(c), None) => (c, rhs, name),
                (None, Some(c)) => (c, lhs, swapped),
                _ => {
                    return Err(refuse(
                        "a comparison that is not column against literal",
                        expr,
                    ));
                }
            };
            match (literal(value)?, operator) {
                (None, "Equal") => Ok(cond(col, "Null", vec![])),
                (None, "NotEqual") => Ok(cond(col, "NotNull", vec![])),
                (None, _) => Err(refuse("an ordering comparison with null", expr)),
                (Some(v), _) => Ok(cond(col, operator, vec![v])),
            }
        }
        ExprKind::In { lhs, list } => {
            let col = column(lhs).ok_or_else(|| refuse("`in` on something not a column", expr))?;
            let values = list
                .iter()
                .map(|v| literal(v)?.ok_or_else(|| refuse("null in a list", expr)))
                .collect::<Result<_, _>>()?;
            Ok(cond(col, "In", values))
        }
        ExprKind::Unary {
            op: UnaryOp::Not,
            operand,
        } => match string_match(operand)? {
            Some((col, op, v)) => Ok(cond(col, negated(op), vec![v])),
            None => Err(refuse(
                "`not` of anything but contains/startswith/endswith",
                expr,
            )),
        },
        ExprKind::Call { name, args } => {
            if let Some((col, op, v)) = string_match(expr)? {
                return Ok(cond(col, op, vec![v]));
            }
            query_function(name, args, expr)
        }
        _ => Err(refuse("this expression", expr)),
    }
}

fn cond(
    attribute: String,
    operator: &str,
    values: Vec<(Value, &'static str)>,
) -> ConditionExpression {
    ConditionExpression {
        attribute,
        operator: operator.to_owned(),
        values,
    }
}

fn negated(op: &str) -> &'static str {
    match op {
        "Like" => "NotLike",
        "BeginsWith" => "DoesNotBeginWith",
        _ => "DoesNotEndWith",
    }
}

/// A column, a string operator and its typed pattern.
type StringMatch = (String, &'static str, (Value, &'static str));

/// `contains`, `startswith`, `endswith` of a column and a string without LIKE wildcards:
/// Dataverse keeps `%`, `_` and `[` as patterns, and a bulk delete must not match more
/// than the filter says.
fn string_match(expr: &Expr) -> Result<Option<StringMatch>, Error> {
    let ExprKind::Call { name, args } = &expr.kind else {
        return Ok(None);
    };
    let op = match name.as_str() {
        "contains" => "Like",
        "startswith" => "BeginsWith",
        "endswith" => "EndsWith",
        _ => return Ok(None),
    };
    let [Arg::Positional(target), Arg::Positional(value)] = args.as_slice() else {
        return Err(refuse("these arguments", expr));
    };
    let col = column(target)
        .ok_or_else(|| refuse("a string function of something not a column", expr))?;
    let Some((Value::String(text), _)) = literal(value)? else {
        return Err(refuse("a string function without a string", expr));
    };
    if text.contains(['%', '_', '[']) {
        return Err(Error::InvalidQuery(format!(
            "$filter: '{text}' holds a LIKE wildcard (%, _ or [), which Dataverse would match as a pattern; write the condition with eq, or build a Like ConditionExpression yourself"
        )));
    }
    let pattern = if op == "Like" {
        format!("%{text}%")
    } else {
        text
    };
    Ok(Some((col, op, (Value::String(pattern), "System.String"))))
}

/// `Microsoft.Dynamics.CRM.Name(PropertyName='col', PropertyValue=v | PropertyValues=[…])`:
/// Dataverse's query functions are named after the `ConditionOperator`s they are.
fn query_function(name: &str, args: &[Arg], expr: &Expr) -> Result<ConditionExpression, Error> {
    let Some(operator) = name.strip_prefix("Microsoft.Dynamics.CRM.") else {
        return Err(refuse(&format!("the function {name}"), expr));
    };
    let mut col = None;
    let mut values = Vec::new();
    for arg in args {
        let Arg::Named { name, value } = arg else {
            return Err(refuse("a query function with unnamed parameters", expr));
        };
        match name.as_str() {
            "PropertyName" => match &value.kind {
                ExprKind::Literal(Literal::String(s)) => col = Some(s.to_ascii_lowercase()),
                _ => return Err(refuse("a PropertyName that is not a string", expr)),
            },
            "PropertyValue" => {
                values.push(literal(value)?.ok_or_else(|| refuse("a null PropertyValue", expr))?)
            }
            "PropertyValues" => match &value.kind {
                ExprKind::Literal(Literal::Array(items)) => {
                    for item in items {
                        // A dropped null would widen NotIn: refuse it.
                        values.push(
                            typed(item, expr)?
                                .ok_or_else(|| refuse("a null in PropertyValues", expr))?,
                        );
                    }
                }
                _ => values
                    .push(literal(value)?.ok_or_else(|| refuse("a null PropertyValues", expr))?),
            },
            other => return Err(refuse(&format!("the parameter {other}"), expr)),
        }
    }
    let col = col.ok_or_else(|| refuse("a query function without PropertyName", expr))?;
    Ok(cond(col, operator, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criteria(filter: &str) -> Value {
        QueryExpression::from_filter("account", filter)
            .unwrap()
            .to_json()["Criteria"]
            .clone()
    }

    #[test]
    fn comparisons_nulls_and_swapped_sides() {
        let c = criteria(
            "revenue gt 100 and 5 lt numberofemployees and name ne null and description eq null",
        );
        let ops: Vec<_> = c["Conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["Operator"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ops, ["GreaterThan", "GreaterThan", "NotNull", "Null"]);
        assert_eq!(
            c["Conditions"][0]["Values"][0],
            json!({"Value": 100, "Type": "System.Int32"})
        );
        assert_eq!(c["Conditions"][2]["Values"], json!([]));
    }

    #[test]
    fn and_chains_fold_and_or_nests() {
        let c = criteria(
            "statecode eq 0 and name eq 'a' and (accountnumber eq 'x' or accountnumber eq 'y')",
        );
        assert_eq!(c["FilterOperator"], "And");
        assert_eq!(c["Conditions"].as_array().unwrap().len(), 2);
        assert_eq!(c["Filters"][0]["FilterOperator"], "Or");
        assert_eq!(c["Filters"][0]["Conditions"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn in_lists_string_functions_and_query_functions() {
        let c = criteria(
            "accountid in (00000000-0000-0000-0000-000000000001) and not contains(name,'test') and Microsoft.Dynamics.CRM.OlderThanXDays(PropertyName='createdon',PropertyValue=30)",
        );
        let conds = c["Conditions"].as_array().unwrap();
        assert_eq!(conds[0]["Operator"], "In");
        assert_eq!(conds[0]["Values"][0]["Type"], "System.Guid");
        assert_eq!(conds[1]["Operator"], "NotLike");
        assert_eq!(conds[1]["Values"][0]["Value"], "%test%");
        assert_eq!(conds[2]["Operator"], "OlderThanXDays");
        assert_eq!(conds[2]["AttributeName"], "createdon");
        assert_eq!(conds[2]["Values"][0]["Value"], 30);
    }

    #[test]
    fn what_cannot_be_expressed_is_refused_by_name() {
        for (filter, expected) in [
            (
                "primarycontactid/fullname eq 'x'",
                "not column against literal",
            ),
            ("revenue add 1 gt 5", "not column against literal"),
            ("not (statecode eq 1)", "`not` of anything"),
            ("tolower(name) eq 'x'", "not column against literal"),
            ("Account_Tasks/any(t:t/subject eq 'x')", "this expression"),
            ("contains(name,'50%')", "LIKE wildcard"),
            ("revenue gt null", "ordering comparison with null"),
            ("name eq", "$filter"),
            (
                "Microsoft.Dynamics.CRM.NotIn(PropertyName='name',PropertyValues=['a',null])",
                "a null in PropertyValues",
            ),
        ] {
            let e = QueryExpression::from_filter("account", filter)
                .unwrap_err()
                .to_string();
            assert!(e.contains(expected), "{filter}: {e}");
        }
    }
}
