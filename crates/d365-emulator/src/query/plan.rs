//! The SQL pieces every query shares: columns, WHERE fragments, ORDER BY with the key as the
//! tiebreaker, and the keyset condition that resumes after a page. (`$filter` is planned in
//! `typed`, FetchXML in `fetch`.) Every value is a bound parameter; identifiers come only from
//! the model.

use d365_odata::bind::BoundOrder;
use d365_odata::model::{EdmType, EntityType, Model, Property};
use rusqlite::types::Value;

use super::error::LikePatternTooLong;
use super::paging::Boundary;
use crate::store::schema::{ident, lookup_type_column};

pub use crate::store::{MAX_LIKE_PATTERN, SqlFilter};

/// Refuses a literal LIKE pattern longer than [`MAX_LIKE_PATTERN`].
pub fn check_like_pattern(pattern: &str) -> Result<(), LikePatternTooLong> {
    let length = pattern.chars().count();
    if length > MAX_LIKE_PATTERN {
        return Err(LikePatternTooLong {
            length,
            max: MAX_LIKE_PATTERN,
        });
    }
    Ok(())
}

/// A column to read, with what is needed to print it.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The property name.
    pub name: String,
    /// Its type.
    pub edm_type: EdmType,
    /// Decimal places.
    pub scale: Option<u8>,
    /// SQL computing the value when it is not a stored column (a lookup's related name, see
    /// [`lookup_name_sql`]); `None` reads the column `name`.
    pub expr: Option<String>,
}

impl Column {
    /// The SQL that reads the column on the query's main table.
    pub fn sql(&self) -> String {
        self.expr.clone().unwrap_or_else(|| ident(&self.name))
    }
}

/// The primary name of the record a lookup points at, as SQL over the query's main table
/// (`entity`, unaliased): a scalar subquery into the target table; for a lookup with several
/// targets, into the one its stored target type names. Compared without case, as the name
/// columns are. `None` when no target has a primary name.
pub fn lookup_name_sql(model: &Model, entity: &EntityType, lookup: &Property) -> Option<String> {
    let value = format!("{}.{}", ident(&entity.name), ident(&lookup.name));
    let subquery = |target: &EntityType| {
        target.primary_name.as_ref().map(|name| {
            format!(
                "(SELECT r.{} FROM {} AS r WHERE r.{} = {value})",
                ident(name),
                ident(&target.name),
                ident(&target.key)
            )
        })
    };
    let targets: Vec<&EntityType> = lookup
        .lookup_targets
        .iter()
        .filter_map(|t| model.entity_type(t))
        .collect();
    let sql = match targets.as_slice() {
        [] => return None,
        [one] => subquery(one)?,
        many => {
            // Target names come from the model (a `--metadata` file, never a request); quoted
            // as SQL strings all the same.
            let arms: Vec<String> = many
                .iter()
                .filter_map(|t| {
                    let name = t.name.replace('\'', "''");
                    Some(format!("WHEN '{name}' THEN {}", subquery(t)?))
                })
                .collect();
            if arms.is_empty() {
                return None;
            }
            format!(
                "CASE {}.{} {} END",
                ident(&entity.name),
                ident(&lookup_type_column(&lookup.name)),
                arms.join(" ")
            )
        }
    };
    Some(format!("({sql} COLLATE NOCASE)"))
}

impl SqlFilter {
    /// All of the filters (`None` for none).
    pub fn all(filters: Vec<SqlFilter>) -> Option<SqlFilter> {
        if filters.is_empty() {
            return None;
        }
        Some(SqlFilter::joined(filters, " AND "))
    }

    /// `parts` joined by `glue` (` AND `, ` OR `) as a balanced tree of parentheses: SQLite
    /// parses `a OR b OR c …` into a tree as deep as the list is long and refuses one deeper
    /// than 1,000, while a FetchXML filter or a `?sql=` WHERE may hold thousands of conditions.
    pub fn joined(mut parts: Vec<SqlFilter>, glue: &str) -> SqlFilter {
        if parts.len() == 1 {
            let only = parts.remove(0);
            return SqlFilter {
                sql: format!("({})", only.sql),
                params: only.params,
            };
        }
        let right = parts.split_off(parts.len() / 2);
        let (left, right) = (Self::joined(parts, glue), Self::joined(right, glue));
        SqlFilter {
            sql: format!("({}{glue}{})", left.sql, right.sql),
            params: left.params.into_iter().chain(right.params).collect(),
        }
    }
}

/// `column = value`: the scope of a navigation collection (`accounts(id)/contact_customer_accounts`
/// is contacts whose `_parentcustomerid_value` is the account).
pub fn column_equals(column: &str, value: Value) -> SqlFilter {
    SqlFilter {
        sql: format!("{} = ?", ident(column)),
        params: vec![value],
    }
}

/// The full ORDER BY of `$orderby`: the requested columns (see [`sorted_by`]), then the primary
/// key (Dataverse adds it too, and keyset paging needs a unique last column).
pub fn order_columns(
    model: &Model,
    entity: &EntityType,
    order: &[BoundOrder],
) -> Vec<(Column, bool)> {
    let mut cols: Vec<(Column, bool)> = Vec::new();
    for o in order {
        let p = &o.property;
        let column = Column {
            name: p.name.clone(),
            edm_type: p.edm_type,
            scale: p.scale,
            expr: None,
        };
        cols.extend(sorted_by(model, entity, column, o.descending));
    }
    with_key_last(entity, cols)
}

/// One sort column as Dataverse sorts it, `$orderby` and FetchXML `<order>` alike: a lookup by
/// the related record's primary name (a column named as Dataverse names it,
/// `primarycontactidname`), then by its id; any other column by itself.
pub fn sorted_by(
    model: &Model,
    entity: &EntityType,
    column: Column,
    descending: bool,
) -> Vec<(Column, bool)> {
    let mut cols = Vec::new();
    if let Some(expr) = entity
        .property(&column.name)
        .and_then(|lookup| lookup_name_sql(model, entity, lookup))
    {
        let base = column
            .name
            .trim_start_matches('_')
            .trim_end_matches("_value");
        cols.push((
            Column {
                name: format!("{base}name"),
                edm_type: EdmType::String,
                scale: None,
                expr: Some(expr),
            },
            descending,
        ));
    }
    cols.push((column, descending));
    cols
}

/// The key last, ascending, unless the order has it already: every order is total.
pub fn with_key_last(entity: &EntityType, mut cols: Vec<(Column, bool)>) -> Vec<(Column, bool)> {
    if !cols.iter().any(|(c, _)| c.name == entity.key) {
        cols.push((
            Column {
                name: entity.key.clone(),
                edm_type: EdmType::Guid,
                scale: None,
                expr: None,
            },
            false,
        ));
    }
    cols
}

/// "Not equal" in every query language (`$filter` `ne`, FetchXML `ne`/`neq`, QueryExpression
/// `NotEqual`): Dataverse writes it as `(col <> @v OR col IS NULL)`, so rows whose column is null
/// match. SQLite's `IS NOT` is exactly that (and false when both sides are null).
pub fn not_equal_sql(lhs: &str, rhs: &str) -> String {
    format!("({lhs} IS NOT {rhs})")
}

/// The other negative operators (`not-like`, `not-begin-with`, `not-end-with`, `not-in`,
/// `not-between`) match nulls the same way, as Advanced Find's "Does Not Contain" returns the
/// blank rows; `$filter`'s `not` over the positive form agrees (OData's `not` is two-valued).
pub fn negated_or_null(col: &str, negated: &str) -> String {
    format!("({negated} OR {col} IS NULL)")
}

/// "After the boundary" for keyset paging over `order` (SQLite sorts NULL first ascending and
/// last descending).
pub fn keyset_sql(order: &[(Column, bool)], boundaries: &[Boundary]) -> SqlFilter {
    let mut out = SqlFilter::default();
    let mut disjuncts = Vec::new();
    for i in 0..order.len() {
        let mut parts = Vec::new();
        for ((col, _), b) in order.iter().zip(boundaries).take(i) {
            parts.push(format!("{} IS ?", col.sql()));
            out.params.push(b.last.clone());
        }
        let (col, desc) = &order[i];
        let c = col.sql();
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
    // A range on the first column, implied by the disjunction, lets SQLite seek an index on
    // it instead of walking from the start on every page (quadratic over a large table). It
    // is a BETWEEN, a pair of bounds like the one SQLite derives from `col LIKE 'prefix%'`: a
    // lone `>=` loses to that pair, and each page of a `startswith` would then walk the prefix's
    // rows from the first. The upper bound is above every value of the column: SQLite orders
    // numbers and text before blobs, and a GUID (16 bytes) before 17 bytes of 0xFF.
    if let (Some((first, false)), Some(b)) = (order.first(), boundaries.first())
        && b.last != Value::Null
    {
        let above_all = if first.edm_type == EdmType::Guid {
            "x'ffffffffffffffffffffffffffffffffff'"
        } else {
            "x''"
        };
        out.sql = format!(
            "({} BETWEEN ? AND {above_all} AND {})",
            first.sql(),
            out.sql
        );
        out.params.insert(0, b.last.clone());
    }
    out
}
