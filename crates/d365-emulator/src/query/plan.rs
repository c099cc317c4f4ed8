//! Bound OData → SQL. Every value is a bound parameter; identifiers come only from the model.
//!
//! OData comparisons are two-valued (`null eq 'x'` is false, so `not (name eq 'x')` includes
//! rows whose name is null); SQL's are three-valued. `NOT` therefore wraps its operand in
//! `coalesce(…, 0)`, and `ne` uses `IS NOT` so that null rows count as "not equal".

use d365_odata::bind::{BoundFilter, BoundOrder, BoundProperty, CompareOp, Operand, StringMatch};
use d365_odata::model::{EdmType, EntityType};
use rusqlite::types::Value;

use super::paging::Boundary;
use super::values::literal_to_sql;
use crate::store::schema::ident;

/// A column to read, with what is needed to print it.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The property name.
    pub name: String,
    /// Its type.
    pub edm_type: EdmType,
    /// Decimal places.
    pub scale: Option<u8>,
}

/// A SQL WHERE fragment with its parameters.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SqlFilter {
    /// The SQL text (`?` placeholders).
    pub sql: String,
    /// The parameters, in order.
    pub params: Vec<Value>,
}

/// `column = value`: the scope of a navigation collection (`accounts(id)/contact_customer_accounts`
/// is contacts whose `_parentcustomerid_value` is the account).
pub fn column_equals(column: &str, value: Value) -> SqlFilter {
    SqlFilter {
        sql: format!("{} = ?", ident(column)),
        params: vec![value],
    }
}

/// Translates a bound filter.
pub fn filter_sql(filter: &BoundFilter) -> SqlFilter {
    let mut out = SqlFilter::default();
    write_filter(filter, &mut out);
    out
}

fn operand(o: &Operand, against: Option<&BoundProperty>, out: &mut SqlFilter) -> String {
    match o {
        Operand::Property(p) => ident(&p.name),
        Operand::Null => "NULL".into(),
        Operand::Value(lit, ty) => {
            out.params
                .push(literal_to_sql(lit, *ty, against.and_then(|p| p.scale)));
            "?".into()
        }
    }
}

fn flip(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Gt => CompareOp::Lt,
        CompareOp::Ge => CompareOp::Le,
        CompareOp::Lt => CompareOp::Gt,
        CompareOp::Le => CompareOp::Ge,
        same => same,
    }
}

fn write_filter(f: &BoundFilter, out: &mut SqlFilter) {
    match f {
        BoundFilter::And(a, b) | BoundFilter::Or(a, b) => {
            out.sql.push('(');
            write_filter(a, out);
            out.sql.push_str(if matches!(f, BoundFilter::And(..)) {
                " AND "
            } else {
                " OR "
            });
            write_filter(b, out);
            out.sql.push(')');
        }
        BoundFilter::Not(inner) => {
            out.sql.push_str("NOT coalesce(");
            write_filter(inner, out);
            out.sql.push_str(", 0)");
        }
        BoundFilter::Match {
            kind,
            property,
            pattern,
        } => {
            // Dataverse passes `%` and `_` through to SQL LIKE; so does the emulator. (`[…]`
            // classes are refused earlier: SQLite's LIKE has none.)
            let pattern = match kind {
                StringMatch::Contains => format!("%{pattern}%"),
                StringMatch::StartsWith => format!("{pattern}%"),
                StringMatch::EndsWith => format!("%{pattern}"),
            };
            out.sql
                .push_str(&format!("{} LIKE ?", ident(&property.name)));
            out.params.push(Value::Text(pattern));
        }
        BoundFilter::Compare { op, lhs, rhs } => {
            // Put the property on the left so literals take its scale.
            let (op, lhs, rhs) = match (lhs, rhs) {
                (Operand::Property(_), _) => (*op, lhs, rhs),
                _ => (flip(*op), rhs, lhs),
            };
            let prop = match lhs {
                Operand::Property(p) => Some(p),
                _ => None,
            };
            let mut l = operand(lhs, None, out);
            let null = matches!(rhs, Operand::Null);
            let mut r = operand(rhs, prop, out);
            // Decimals are stored scaled by 10^scale: bring two columns to the same scale
            // before comparing them (`revenue gt numberofemployees`).
            if let (Operand::Property(a), Operand::Property(b)) = (lhs, rhs) {
                let (sa, sb) = (stored_scale(a), stored_scale(b));
                if sa < sb {
                    l = format!("({l} * 1e{})", sb - sa);
                } else if sb < sa {
                    r = format!("({r} * 1e{})", sa - sb);
                }
            }
            let sql_op = match (op, null) {
                (CompareOp::Eq, true) => "IS",
                (CompareOp::Ne, true) => "IS NOT",
                (CompareOp::Eq, false) if matches!(rhs, Operand::Property(_)) => "IS",
                (CompareOp::Eq, false) => "=",
                (CompareOp::Ne, false) => "IS NOT",
                (CompareOp::Gt, _) => ">",
                (CompareOp::Ge, _) => ">=",
                (CompareOp::Lt, _) => "<",
                (CompareOp::Le, _) => "<=",
            };
            out.sql.push_str(&format!("{l} {sql_op} {r}"));
        }
    }
}

/// The power of ten a column's values are stored multiplied by.
fn stored_scale(p: &BoundProperty) -> u8 {
    if p.edm_type == EdmType::Decimal {
        p.scale.unwrap_or(0)
    } else {
        0
    }
}

/// Whether a filter uses a LIKE character class (`[a-c]`), which SQLite cannot evaluate.
pub fn uses_like_class(filter: &BoundFilter) -> bool {
    match filter {
        BoundFilter::Match { pattern, .. } => pattern.contains('['),
        BoundFilter::And(a, b) | BoundFilter::Or(a, b) => uses_like_class(a) || uses_like_class(b),
        BoundFilter::Not(inner) => uses_like_class(inner),
        BoundFilter::Compare { .. } => false,
    }
}

/// The full ORDER BY: the requested columns, then the primary key (Dataverse adds it too, and
/// keyset paging needs a unique last column).
pub fn order_columns(entity: &EntityType, order: &[BoundOrder]) -> Vec<(Column, bool)> {
    let mut cols: Vec<(Column, bool)> = order
        .iter()
        .map(|o| {
            (
                Column {
                    name: o.property.name.clone(),
                    edm_type: o.property.edm_type,
                    scale: o.property.scale,
                },
                o.descending,
            )
        })
        .collect();
    if !cols.iter().any(|(c, _)| c.name == entity.key) {
        cols.push((
            Column {
                name: entity.key.clone(),
                edm_type: EdmType::Guid,
                scale: None,
            },
            false,
        ));
    }
    cols
}

/// "After the boundary" for keyset paging over `order` (SQLite sorts NULL first ascending and
/// last descending).
pub fn keyset_sql(order: &[(Column, bool)], boundaries: &[Boundary]) -> SqlFilter {
    let mut out = SqlFilter::default();
    let mut disjuncts = Vec::new();
    for i in 0..order.len() {
        let mut parts = Vec::new();
        for ((col, _), b) in order.iter().zip(boundaries).take(i) {
            parts.push(format!("{} IS ?", ident(&col.name)));
            out.params.push(b.last.clone());
        }
        let (col, desc) = &order[i];
        let c = ident(&col.name);
        let last = &boundaries[i].last;
        let after = match (desc, last) {
            (false, Value::Null) => format!("{c} IS NOT NULL"),
            (false, v) => {
                out.params.push(v.clone());
                format!("{c} > ?")
            }
            (true, Value::Null) => "0".to_owned(),
            (true, v) => {
                out.params.push(v.clone());
                format!("({c} < ? OR {c} IS NULL)")
            }
        };
        parts.push(after);
        disjuncts.push(format!("({})", parts.join(" AND ")));
    }
    out.sql = format!("({})", disjuncts.join(" OR "));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use d365_odata::bind::bind_filter;
    use d365_odata::parse_filter;

    fn sql(text: &str) -> SqlFilter {
        let model = crate::dataverse::model::DataverseModel::default().model;
        let account = model.entity_type("account").unwrap();
        filter_sql(&bind_filter(account, &parse_filter(text).unwrap(), &[]).unwrap())
    }

    #[test]
    fn translations() {
        let f = sql("name eq 'x' and revenue gt 1000.5");
        assert_eq!(f.sql, "(\"name\" = ? AND \"revenue\" > ?)");
        assert_eq!(
            f.params,
            vec![Value::Text("x".into()), Value::Integer(10_005_000)]
        );
        assert_eq!(
            sql("not (name ne null)").sql,
            "NOT coalesce(\"name\" IS NOT NULL, 0)"
        );
        assert_eq!(sql("1000 lt revenue").sql, "\"revenue\" > ?");
        assert_eq!(
            sql("revenue gt numberofemployees").sql,
            "\"revenue\" > (\"numberofemployees\" * 1e4)"
        );
        let f = sql("startswith(name,'Con')");
        assert_eq!(
            (f.sql.as_str(), &f.params[0]),
            ("\"name\" LIKE ?", &Value::Text("Con%".into()))
        );
    }
}
