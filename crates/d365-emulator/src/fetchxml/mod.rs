//! FetchXML, Dataverse's own query language, parsed into a typed query
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/reference/>):
//! from a FetchXML document (`xml`), from the Web API's read-only SQL (`sql`) and from a
//! `QueryExpression` (`query_expression`), all into one [`Fetch`]. Only the shape is checked
//! here; names and values are checked against the model when the query is planned
//! (`query::fetch`).

mod fetch;
mod query_expression;
mod sql;
mod xml;

pub use fetch::{Attributes, Condition, Fetch, FetchError, Filter, Link, Order};
pub use query_expression::from_query_expression;
pub use sql::from_sql;
pub use xml::parse;
