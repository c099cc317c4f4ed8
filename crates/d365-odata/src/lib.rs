//! OData v4 syntax for the Dataverse (Dynamics 365) Web API: lexer, `$filter`
//! and `$orderby` parser, query options, resource paths, the `Prefer` header,
//! a canonical printer and a typed query builder. Pure Rust, no I/O.
//!
//! Parse a filter, look at its s-expression form, and print it back:
//!
//! ```
//! use d365_odata::{parse_filter, print_expr};
//!
//! let expr = parse_filter("not contains(name,'x') and (revenue gt 1000 or statecode eq 0)")?;
//! assert_eq!(
//!     expr.to_string(),
//!     r#"(and (not (call contains (id name) "x")) (or (gt (id revenue) 1000) (eq (id statecode) 0)))"#
//! );
//! assert_eq!(
//!     print_expr(&expr),
//!     "not contains(name,'x') and (revenue gt 1000 or statecode eq 0)"
//! );
//! # Ok::<(), d365_odata::ParseError>(())
//! ```
//!
//! Build a query and get the exact, percent-encoded query string; parsing it
//! gives the same options back:
//!
//! ```
//! use d365_odata::{Query, QueryOptions, col};
//!
//! let query = Query::new()
//!     .select(["name", "revenue"])
//!     .filter(col("name").eq("O'Brian & Sons+1"))
//!     .order_by_desc("revenue")
//!     .top(10)
//!     .expand("primarycontactid", Query::new().select(["fullname"]));
//! let text = query.to_query_string();
//! assert_eq!(
//!     text,
//!     "$select=name,revenue&$expand=primarycontactid($select%3Dfullname)\
//!      &$filter=name%20eq%20'O''Brian%20%26%20Sons%2B1'&$orderby=revenue%20desc&$top=10"
//! );
//! assert_eq!(&QueryOptions::parse(&text)?, query.options());
//! # Ok::<(), d365_odata::QueryError>(())
//! ```

mod apply;
mod builder;
mod encode;
mod error;
mod expr;
mod lexer;
mod literal;
mod path;
mod prefer;
mod print;
mod query;
mod split;

pub use apply::{Aggregate, AggregateMethod, Transformation, parse_apply, print_apply};
pub use builder::{Filter, Query, alias, col, lit};
pub use encode::encode_query_value;
pub use error::ParseError;
pub use expr::{
    Arg, BinaryOp, Expr, ExprKind, LambdaOp, OrderBy, Span, UnaryOp, parse_filter, parse_literal,
    parse_orderby,
};
pub use lexer::{Token, TokenKind, tokenize};
pub use literal::Literal;
pub use path::{KeyPredicate, ResourcePath, Segment, parse_resource_path};
pub use prefer::Prefer;
pub use print::{print_expr, print_orderby};
pub use query::{ExpandItem, QueryError, QueryOptions, SelectItem, parse_expand, parse_select};

pub mod bind;
pub mod conformance;
pub mod csdl;
pub mod limits;
pub mod model;
pub mod multipart;
pub mod paging_cookie;
