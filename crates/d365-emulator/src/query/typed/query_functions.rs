//! Dataverse's query functions (`Microsoft.Dynamics.CRM.LastXDays(…)` and the rest) as SQL:
//! `In`/`Between` and their negations here, the ones on the clock and the caller through
//! [`crate::query::conditions`], which FetchXML's operators share.

use d365_odata::Literal;
use d365_odata::bind::BoundProperty;
use time::Date;

use super::{Planner, R, Unsupported};
use crate::query::conditions::{Argument, MAX_COUNT, Operator, day_start};
use crate::query::plan::negated_or_null;
use crate::query::values::literal_to_sql;
use crate::store::schema::ident;

impl Planner<'_> {
    pub(super) fn query_function(
        &mut self,
        name: &str,
        p: &BoundProperty,
        values: &[Literal],
    ) -> R<String> {
        // PropertyName names a column of the root table (where the binder looked it up).
        let col = format!("{}.{}", self.scopes[0].alias, ident(&p.name));
        if let Some(op) = Operator::from_odata(name) {
            let argument = match op.argument() {
                Argument::None => 0,
                Argument::Count => count(name, values.first())?,
                Argument::Day => day(name, values.first())?,
            };
            let f = op
                .sql(argument, &col, p.edm_type, &self.ctx)
                .ok_or_else(|| Unsupported(format!("{name} on a column that is not a date")))?;
            self.params.extend(f.params);
            return Ok(f.sql);
        }
        let lits = |planner: &mut Self| -> Vec<String> {
            values
                .iter()
                .map(|v| {
                    let value = literal_to_sql(v, p.edm_type, p.scale);
                    planner.param(value)
                })
                .collect()
        };
        match name {
            "In" | "NotIn" => {
                let items = lits(self);
                let list = items.join(", ");
                Ok(if name == "NotIn" {
                    negated_or_null(&col, &format!("{col} NOT IN ({list})"))
                } else {
                    format!("({col} IN ({list}))")
                })
            }
            "Between" | "NotBetween" => {
                let items = lits(self);
                let [lo, hi] = items.as_slice() else {
                    return Err(Unsupported(format!("{name} without two values")));
                };
                Ok(if name == "NotBetween" {
                    negated_or_null(&col, &format!("{col} NOT BETWEEN {lo} AND {hi}"))
                } else {
                    format!("({col} BETWEEN {lo} AND {hi})")
                })
            }
            other => Err(Unsupported(format!(
                "The function 'Microsoft.Dynamics.CRM.{other}'"
            ))),
        }
    }
}

/// X of `LastXDays` and the like: a number or a numeric string, within reason.
fn count(name: &str, value: Option<&Literal>) -> R<i64> {
    let n = match value {
        Some(Literal::Int(n)) => Some(*n),
        Some(Literal::String(s)) => s.parse().ok(),
        _ => None,
    };
    n.filter(|n| (0..=MAX_COUNT).contains(n))
        .ok_or_else(|| Unsupported(format!("{name} with a count outside 0 to {MAX_COUNT}")))
}

/// The day of `On` and its kin: a date, a date-time (its UTC day) or a `YYYY-MM-DD` string.
fn day(name: &str, value: Option<&Literal>) -> R<i64> {
    match value {
        Some(Literal::Date(d)) => Ok(d.midnight().assume_utc().unix_timestamp()),
        Some(Literal::DateTimeOffset(t)) => Ok(day_start(t.unix_timestamp())),
        Some(Literal::String(s)) => {
            Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
                .map(|d| d.midnight().assume_utc().unix_timestamp())
                .map_err(|_| Unsupported(format!("{name} with '{s}'")))
        }
        _ => Err(Unsupported(format!("{name} without a date"))),
    }
}
