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

/// "The text column `col` starts with `text`", `text` a literal whose `%` and `_` keep their
/// LIKE meaning (as in Dataverse), as SQL and its parameters.
///
/// Text columns compare case-insensitively (`COLLATE NOCASE`, folding ASCII letters as LIKE
/// does), so without wildcards the condition is exactly a range of the column, which an index
/// on it answers. A `LIKE ?` gets the same range from SQLite's LIKE optimisation, but its plan
/// then depends on the pattern's value: SQLite prepares the statement again every time a
/// pattern is bound, which cost a type-ahead query a tenth of its time.
pub fn starts_with_sql(col: &str, text: &str) -> (String, Vec<Value>) {
    // NOCASE stops comparing at a NUL, LIKE does not: a NUL keeps the LIKE too.
    if text.contains(['%', '_', '\0']) {
        return (
            format!("({col} LIKE ?)"),
            vec![Value::Text(format!("{text}%"))],
        );
    }
    let from = Value::Text(text.to_owned());
    match after_prefix(text) {
        Some(to) => (
            format!("({col} >= ? AND {col} < ?)"),
            vec![from, Value::Text(to)],
        ),
        None => (format!("({col} >= ?)"), vec![from]),
    }
}

/// The least text that sorts, under NOCASE, after every text starting with `prefix`; `None`
/// when nothing does (an empty prefix, or one of U+10FFFF only).
fn after_prefix(prefix: &str) -> Option<String> {
    // NOCASE compares texts with ASCII capitals folded to lower case: work on folded text.
    let mut chars: Vec<char> = prefix.to_ascii_lowercase().chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            // Capitals never occur in folded text: after '@' comes '['.
            '@' => Some('['),
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(c as u32 + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
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
    // is a BETWEEN, a pair of bounds like a `startswith`'s range ([`starts_with_sql`]) or the
    // one SQLite derives from `col LIKE 'prefix%'`: a lone `>=` loses to that pair, and each
    // page of a `startswith` would then walk the prefix's rows from the first. The upper bound is above every value of the column: SQLite orders
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rusqlite::{Connection, params_from_iter};

    use super::*;

    /// Characters around every edge the range crosses: folding, '@' before the capitals, the
    /// surrogate gap, the last code point, NUL.
    fn text() -> impl Strategy<Value = String> {
        let edges = prop::sample::select(vec![
            '\0',
            'a',
            'A',
            'z',
            'Z',
            '@',
            '[',
            '`',
            '{',
            '0',
            ' ',
            'é',
            'É',
            '\u{D7FF}',
            '\u{E000}',
            '\u{10FFFF}',
            '\u{7F}',
            '\u{80}',
        ]);
        prop::collection::vec(edges, 0..5).prop_map(|c| c.into_iter().collect())
    }

    #[test]
    fn the_range_ends_after_the_prefix_under_nocase() {
        assert_eq!(after_prefix("Con").as_deref(), Some("coo"));
        assert_eq!(
            after_prefix("x@").as_deref(),
            Some("x["),
            "'A' would let \"x[\" in"
        );
        assert_eq!(after_prefix("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(after_prefix("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(after_prefix(""), None);
        assert_eq!(after_prefix("\u{10FFFF}"), None);
    }

    /// The texts of `values` the range takes, and those SQLite's LIKE `prefix%` matches.
    fn both(prefix: &str, values: &[String]) -> (Vec<String>, Vec<String>) {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v TEXT COLLATE NOCASE)")
            .unwrap();
        for v in values {
            conn.execute("INSERT INTO t VALUES (?)", [v]).unwrap();
        }
        let matching = |sql: &str, params: Vec<Value>| -> Vec<String> {
            let mut stmt = conn
                .prepare(&format!("SELECT v FROM t WHERE {sql} ORDER BY rowid"))
                .unwrap();
            stmt.query_map(params_from_iter(params), |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let (range, params) = starts_with_sql("v", prefix);
        (
            matching(&range, params),
            matching("v LIKE ?", vec![Value::Text(format!("{prefix}%"))]),
        )
    }

    #[test]
    fn the_range_holds_what_like_matches_at_the_edges() {
        for (prefix, values) in [
            ("x@", &["x@", "x@z", "x[", "x`", "xA", "xa", "X@"][..]),
            ("a\u{D7FF}", &["a\u{D7FF}", "a\u{E000}", "b"][..]),
            ("a\u{10FFFF}", &["a\u{10FFFF}x", "b", "a"][..]),
            ("a\0b", &["a\0b", "a\0bc", "a", "a\0", "a\0c"][..]),
        ] {
            let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            let (range, like) = both(prefix, &values);
            assert_eq!(range, like, "{prefix:?}");
        }
    }

    proptest! {
        /// The range holds exactly the texts SQLite's LIKE `prefix%` matches.
        #[test]
        fn starts_with_is_like_prefix(
            prefix in text(),
            // Most values share some of the prefix, where the edges are.
            values in prop::collection::vec((0..6usize, text()), 1..8),
        ) {
            let values: Vec<String> = values
                .into_iter()
                .map(|(shared, tail)| prefix.chars().take(shared).chain(tail.chars()).collect())
                .collect();
            let (range, like) = both(&prefix, &values);
            prop_assert_eq!(range, like);
        }
    }
}
