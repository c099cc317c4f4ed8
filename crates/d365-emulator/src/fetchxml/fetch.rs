//! A FetchXML query as the planner reads it, whichever text it came from: a FetchXML
//! document (`xml`), the Web API's read-only SQL (`sql`) or a `QueryExpression`
//! (`query_expression`).

/// Deepest nesting accepted, by every reader: real queries stay far below it, and the
/// interpretation recurses.
pub(crate) const MAX_DEPTH: usize = 32;

/// A parsed `<fetch>`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fetch {
    /// The table's logical name (`<entity name>`).
    pub entity: String,
    /// Columns of the table.
    pub attributes: Attributes,
    /// `<order>` elements, in order.
    pub orders: Vec<Order>,
    /// The `<filter>` of the table (several are combined with `and`).
    pub filter: Option<Filter>,
    /// Joined tables.
    pub links: Vec<Link>,
    /// `top`: at most this many rows, no paging.
    pub top: Option<usize>,
    /// `count`: the page size.
    pub count: Option<usize>,
    /// `page`: the page number, from 1.
    pub page: Option<u32>,
    /// `paging-cookie`: the inner cookie of the previous page (XML-unescaped).
    pub paging_cookie: Option<String>,
    /// `returntotalrecordcount`.
    pub total_count: bool,
    /// `aggregate="true"`.
    pub aggregate: bool,
}

/// Which columns to return.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Attributes {
    /// `<all-attributes/>`.
    All,
    /// `<attribute name>` elements (empty: the primary key only).
    #[default]
    None,
    /// The named columns.
    Named(Vec<String>),
}

/// `<order attribute descending>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// The column.
    pub attribute: String,
    /// `descending="true"`.
    pub descending: bool,
}

/// `<filter type="and|or">`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// `type="or"`.
    pub or: bool,
    /// Conditions.
    pub conditions: Vec<Condition>,
    /// Nested filters.
    pub filters: Vec<Filter>,
}

/// `<condition attribute operator value>`, with `<value>` children for list operators.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The column.
    pub attribute: String,
    /// The operator (`eq`, `like`, `in`, `last-x-days`, …).
    pub operator: String,
    /// The `value` attribute, then each `<value>`.
    pub values: Vec<String>,
    /// `entityname`: a condition on a linked table's alias.
    pub entity_name: Option<String>,
}

/// `<link-entity name from to alias link-type>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// The linked table.
    pub name: String,
    /// Its column that matches.
    pub from: String,
    /// The parent's column that matches.
    pub to: String,
    /// The alias that prefixes its columns in results.
    pub alias: Option<String>,
    /// `link-type="outer"` (default inner).
    pub outer: bool,
    /// Its columns.
    pub attributes: Attributes,
    /// Its filter.
    pub filter: Option<Filter>,
    /// Its `<order>` elements.
    pub orders: Vec<Order>,
    /// Links nested in it.
    pub links: Vec<Link>,
}

/// Why a FetchXML document was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);
