//! Dataverse's query functions that are comparisons in disguise (`In`, `NotIn`, `Between`,
//! `NotBetween`), lowered by the subset binder to the comparisons its planner runs.

use super::{BindError, Binder, BoundFilter, CompareOp, Operand, coerce};
use crate::expr::{Arg, ExprKind};
use crate::literal::Literal;
use crate::model::EdmType;

impl Binder<'_> {
    /// Dataverse query functions that are comparisons in disguise: `In`/`NotIn` (an `or` of
    /// `eq`s) and `Between`/`NotBetween` (`ge` and `le`). Values come as a JSON array whose
    /// items are strings whatever the column's type (the Python SDK sends `["7","20"]` for
    /// an integer column), so strings are read as the column's type.
    pub(super) fn query_function(
        &self,
        function: &str,
        args: &[Arg],
    ) -> Result<BoundFilter, BindError> {
        let negate = match function {
            "In" | "Between" => false,
            "NotIn" | "NotBetween" => true,
            other => {
                return Err(BindError::Unsupported(format!(
                    "The function 'Microsoft.Dynamics.CRM.{other}'"
                )));
            }
        };
        let named = |key: &str| {
            args.iter().find_map(|a| match a {
                Arg::Named { name, value } if name == key => Some(value),
                _ => None,
            })
        };
        let missing = |key: &str| {
            BindError::InvalidArgument(format!("Microsoft.Dynamics.CRM.{function} needs {key}=…"))
        };
        let property = match &self
            .resolve(named("PropertyName").ok_or_else(|| missing("PropertyName"))?)?
            .kind
        {
            ExprKind::Literal(Literal::String(p)) => self.property(std::slice::from_ref(p))?,
            _ => {
                return Err(BindError::InvalidArgument(format!(
                    "PropertyName of Microsoft.Dynamics.CRM.{function} must be a string such as 'name'."
                )));
            }
        };
        let values = match &self
            .resolve(named("PropertyValues").ok_or_else(|| missing("PropertyValues"))?)?
            .kind
        {
            ExprKind::Literal(Literal::Array(items)) if !items.is_empty() => items.clone(),
            _ => {
                return Err(BindError::InvalidArgument(format!(
                    "PropertyValues of Microsoft.Dynamics.CRM.{function} must be a non-empty array such as [\"a\",\"b\"]."
                )));
            }
        };
        let value = |lit: &Literal| -> Result<Operand, BindError> {
            let typed = match lit {
                Literal::String(s) if property.edm_type != EdmType::String => {
                    string_as(s, property.edm_type).unwrap_or_else(|| lit.clone())
                }
                other => other.clone(),
            };
            coerce(&typed, property.edm_type).ok_or_else(|| {
                BindError::InvalidArgument(format!(
                    "The value {lit} does not fit the property '{}' of type '{}'.",
                    property.name, property.edm_type
                ))
            })
        };
        let compare = |op: CompareOp, v: Operand| BoundFilter::Compare {
            op,
            lhs: Operand::Property(property.clone()),
            rhs: v,
        };
        let filter = if function.ends_with("Between") {
            let [lo, hi] = values.as_slice() else {
                return Err(BindError::InvalidArgument(format!(
                    "PropertyValues of Microsoft.Dynamics.CRM.{function} takes two values."
                )));
            };
            BoundFilter::And(
                Box::new(compare(CompareOp::Ge, value(lo)?)),
                Box::new(compare(CompareOp::Le, value(hi)?)),
            )
        } else {
            let mut items = values.iter();
            let first = compare(CompareOp::Eq, value(items.next().expect("non-empty"))?);
            items.try_fold(first, |acc, v| {
                Ok::<_, BindError>(BoundFilter::Or(
                    Box::new(acc),
                    Box::new(compare(CompareOp::Eq, value(v)?)),
                ))
            })?
        };
        Ok(if negate {
            BoundFilter::Not(Box::new(filter))
        } else {
            filter
        })
    }
}

/// A string read as a literal of the given type (`"7"` → 7, `"true"` → true, a date).
fn string_as(s: &str, ty: EdmType) -> Option<Literal> {
    let s = s.trim();
    match ty {
        t if t.is_numeric() => s.parse::<i64>().map(Literal::Int).ok().or_else(|| {
            s.parse::<f64>()
                .ok()
                .map(|_| Literal::Decimal(s.to_owned()))
        }),
        EdmType::Boolean => s.parse().ok().map(Literal::Bool),
        EdmType::DateTimeOffset => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(Literal::DateTimeOffset)
                .or_else(|| string_as(s, EdmType::Date))
        }
        EdmType::Date => {
            time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
                .ok()
                .map(Literal::Date)
        }
        _ => None,
    }
}
