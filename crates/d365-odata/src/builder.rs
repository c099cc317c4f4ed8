//! A typed builder for filters and whole queries; it produces the same AST the
//! parser does, and prints through [`crate::print_expr`].
//!
//! ```
//! use d365_odata::{Query, col};
//! let q = Query::new()
//!     .select(["name", "revenue"])
//!     .filter(col("name").contains("x").and(col("revenue").gt(1000)))
//!     .order_by_desc("revenue")
//!     .top(10);
//! assert_eq!(
//!     q.to_query_string(),
//!     "$select=name,revenue&$filter=contains(name,'x')%20and%20revenue%20gt%201000&$orderby=revenue%20desc&$top=10"
//! );
//! ```

use std::fmt;

use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::expr::{Arg, BinaryOp, Expr, ExprKind, LambdaOp, OrderBy, UnaryOp};
use crate::literal::Literal;
use crate::print::print_expr;
use crate::query::{ExpandItem, QueryOptions, SelectItem};

/// A filter expression under construction.
///
/// Rust values convert into literals: `&str`/`String` become strings,
/// `i32`/`i64`/`u32` integers, `f64` doubles, plus `bool`, `Uuid`,
/// `OffsetDateTime` and `Date`.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter(Expr);

/// A column (property) or a path such as `primarycontactid/fullname`.
pub fn col(name: &str) -> Filter {
    let path = name.split('/').map(str::to_owned).collect();
    Filter(Expr::new(ExprKind::Member(path)))
}

/// A literal value.
pub fn lit(value: impl Into<Literal>) -> Filter {
    Filter(Expr::new(ExprKind::Literal(value.into())))
}

/// A parameter alias `@name` (give its value with [`Query::param`]).
pub fn alias(name: &str) -> Filter {
    Filter(Expr::new(ExprKind::Alias(name.to_owned())))
}

impl Filter {
    /// Wraps a parsed or hand-built expression.
    pub fn from_expr(expr: Expr) -> Self {
        Filter(expr)
    }

    /// The expression.
    pub fn into_expr(self) -> Expr {
        self.0
    }

    fn binary(self, op: BinaryOp, rhs: impl Into<Filter>) -> Filter {
        Filter(Expr::new(ExprKind::Binary {
            op,
            lhs: Box::new(self.0),
            rhs: Box::new(rhs.into().0),
        }))
    }

    fn call(self, name: &str, arg: impl Into<String>) -> Filter {
        Filter(Expr::new(ExprKind::Call {
            name: name.to_owned(),
            args: vec![
                Arg::Positional(self.0),
                Arg::Positional(Expr::new(ExprKind::Literal(Literal::String(arg.into())))),
            ],
        }))
    }

    /// `self eq rhs`.
    pub fn eq(self, rhs: impl Into<Filter>) -> Filter {
        self.binary(BinaryOp::Eq, rhs)
    }

    /// `self ne rhs`.
    pub fn ne(self, rhs: impl Into<Filter>) -> Filter {
        self.binary(BinaryOp::Ne, rhs)
    }

    /// `self gt rhs`.
    pub fn gt(self, rhs: impl Into<Filter>) -> Filter {
        self.binary(BinaryOp::Gt, rhs)
    }

    /// `self ge rhs`.
    pub fn ge(self, rhs: impl Into<Filter>) -> Filter {
        self.binary(BinaryOp::Ge, rhs)
    }

    /// `self lt rhs`.
    pub fn lt(self, rhs: impl Into<Filter>) -> Filter {
        self.binary(BinaryOp::Lt, rhs)
    }

    /// `self le rhs`.
    pub fn le(self, rhs: impl Into<Filter>) -> Filter {
        self.binary(BinaryOp::Le, rhs)
    }

    /// `self and rhs`.
    pub fn and(self, rhs: impl Into<Filter>) -> Filter {
        self.binary(BinaryOp::And, rhs)
    }

    /// `self or rhs`.
    pub fn or(self, rhs: impl Into<Filter>) -> Filter {
        self.binary(BinaryOp::Or, rhs)
    }

    /// `not self` (also available as `!filter`).
    #[allow(clippy::should_implement_trait)] // `std::ops::Not` is implemented too.
    pub fn not(self) -> Filter {
        Filter(Expr::new(ExprKind::Unary {
            op: UnaryOp::Not,
            operand: Box::new(self.0),
        }))
    }

    /// `contains(self,'text')`.
    pub fn contains(self, text: impl Into<String>) -> Filter {
        self.call("contains", text)
    }

    /// `startswith(self,'text')`.
    pub fn startswith(self, text: impl Into<String>) -> Filter {
        self.call("startswith", text)
    }

    /// `endswith(self,'text')`.
    pub fn endswith(self, text: impl Into<String>) -> Filter {
        self.call("endswith", text)
    }

    /// `self eq null`.
    pub fn is_null(self) -> Filter {
        self.eq(Literal::Null)
    }

    /// `self ne null`.
    pub fn is_not_null(self) -> Filter {
        self.ne(Literal::Null)
    }

    /// `self in (a,b,...)`.
    pub fn in_<T: Into<Filter>>(self, values: impl IntoIterator<Item = T>) -> Filter {
        Filter(Expr::new(ExprKind::In {
            lhs: Box::new(self.0),
            list: values.into_iter().map(|v| v.into().0).collect(),
        }))
    }

    /// `self/any(var:body)`, e.g. `col("Account_Tasks").any("t", col("t/statecode").eq(1))`.
    pub fn any(self, var: &str, body: impl Into<Filter>) -> Filter {
        self.lambda(LambdaOp::Any, var, body)
    }

    /// `self/all(var:body)`.
    pub fn all(self, var: &str, body: impl Into<Filter>) -> Filter {
        self.lambda(LambdaOp::All, var, body)
    }

    fn lambda(self, op: LambdaOp, var: &str, body: impl Into<Filter>) -> Filter {
        let path = match self.0.kind {
            ExprKind::Member(path) => path,
            // Not a member: keep the printed text as a single segment.
            other => vec![print_expr(&Expr::new(other))],
        };
        Filter(Expr::new(ExprKind::Lambda {
            path,
            op,
            var: Some(var.to_owned()),
            body: Some(Box::new(body.into().0)),
        }))
    }
}

impl std::ops::Not for Filter {
    type Output = Filter;

    fn not(self) -> Filter {
        Filter::not(self)
    }
}

impl fmt::Display for Filter {
    /// The canonical `$filter` text (not percent-encoded).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_expr(&self.0))
    }
}

impl From<Expr> for Filter {
    fn from(expr: Expr) -> Self {
        Filter(expr)
    }
}

impl From<Filter> for Expr {
    fn from(filter: Filter) -> Self {
        filter.0
    }
}

macro_rules! filter_from_literal {
    ($($ty:ty),* $(,)?) => {$(
        impl From<$ty> for Filter {
            fn from(value: $ty) -> Self {
                lit(value)
            }
        }
    )*};
}

filter_from_literal!(
    Literal,
    &str,
    String,
    i32,
    i64,
    u32,
    f64,
    bool,
    Uuid,
    OffsetDateTime,
    Date
);

/// A query builder over [`QueryOptions`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    options: QueryOptions,
}

impl Query {
    /// An empty query.
    pub fn new() -> Self {
        Self::default()
    }

    /// `$select`; `"*"` selects all, `"a/b"` is a path. Extends earlier calls.
    pub fn select<S: AsRef<str>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        let items = columns.into_iter().map(|c| match c.as_ref() {
            "*" => SelectItem::All,
            path => SelectItem::Path(path.split('/').map(str::to_owned).collect()),
        });
        self.options
            .select
            .get_or_insert_with(Vec::new)
            .extend(items);
        self
    }

    /// `$filter`; a second call is combined with `and`.
    pub fn filter(mut self, filter: impl Into<Filter>) -> Self {
        let filter = filter.into();
        self.options.filter = Some(match self.options.filter.take() {
            Some(existing) => Filter(existing).and(filter).0,
            None => filter.0,
        });
        self
    }

    /// Appends an ascending `$orderby` key.
    pub fn order_by(self, column: &str) -> Self {
        self.push_order(column, false)
    }

    /// Appends a descending `$orderby` key.
    pub fn order_by_desc(self, column: &str) -> Self {
        self.push_order(column, true)
    }

    fn push_order(mut self, column: &str, descending: bool) -> Self {
        self.options.orderby.push(OrderBy {
            expr: col(column).0,
            descending,
        });
        self
    }

    /// `$top`.
    pub fn top(mut self, n: u64) -> Self {
        self.options.top = Some(n);
        self
    }

    /// `$skip`.
    pub fn skip(mut self, n: u64) -> Self {
        self.options.skip = Some(n);
        self
    }

    /// `$count`.
    pub fn count(mut self, count: bool) -> Self {
        self.options.count = Some(count);
        self
    }

    /// `$expand=path(<nested options>)`.
    pub fn expand(mut self, path: &str, nested: Query) -> Self {
        self.options.expand.push(ExpandItem {
            path: path.to_owned(),
            options: nested.options,
        });
        self
    }

    /// A parameter alias `@name=value`.
    pub fn param(mut self, name: &str, value: impl Into<Filter>) -> Self {
        self.options.aliases.push((name.to_owned(), value.into().0));
        self
    }

    /// A custom (non-`$`) query option.
    pub fn custom(mut self, name: &str, value: &str) -> Self {
        self.options
            .custom
            .push((name.to_owned(), value.to_owned()));
        self
    }

    /// The options built so far.
    pub fn options(&self) -> &QueryOptions {
        &self.options
    }

    /// Takes the options.
    pub fn into_options(self) -> QueryOptions {
        self.options
    }

    /// Raw query text, see [`QueryOptions::to_query_string`].
    pub fn to_query_string(&self) -> String {
        self.options.to_query_string()
    }
}

impl From<QueryOptions> for Query {
    fn from(options: QueryOptions) -> Self {
        Query { options }
    }
}
