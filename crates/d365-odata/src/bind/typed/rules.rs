//! Dataverse's rules for a parsed query: errors and warnings (the CLI lints with them).

use std::fmt;

use super::{CRM_NAMESPACE, Canonical, QUERY_FUNCTIONS};
use crate::bind::BindError;
use crate::expr::{Arg, Expr, ExprKind, UnaryOp};
use crate::limits::MAX_COUNT;
pub use crate::limits::{MAX_EXPANDS, MAX_PAGE_SIZE};
use crate::prefer::Prefer;
use crate::query::{ExpandItem, QueryOptions};

/// How serious a Dataverse rule finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// Dataverse rejects the request.
    Error,
    /// Dataverse accepts it but does something the author may not expect.
    Warning,
}

/// One finding of [`validate_dataverse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// A short stable identifier, e.g. `skip-unsupported`.
    pub code: &'static str,
    /// The message (Dataverse's own text where known).
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The findings of [`validate_dataverse`], errors and warnings apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validation {
    /// What Dataverse would reject.
    pub errors: Vec<Diagnostic>,
    /// What it would accept with surprises.
    pub warnings: Vec<Diagnostic>,
}

impl Validation {
    fn push(&mut self, severity: Severity, code: &'static str, message: impl Into<String>) {
        let d = Diagnostic {
            code,
            message: message.into(),
        };
        match severity {
            Severity::Error => self.errors.push(d),
            Severity::Warning => self.warnings.push(d),
        }
    }
}

/// Checks parsed query options and the `Prefer` header against Dataverse's rules
/// (PROTOCOL.md B5): `$skip` and `$search` are unsupported, `$top` is ignored with
/// `odata.maxpagesize`, at most 15 `$expand`s, `odata.maxpagesize` ≤ 5000, `$count` stops
/// at 5000, only `contains`/`startswith`/`endswith` and the `Microsoft.Dynamics.CRM`
/// query functions may be called, and nested `$expand` options are limited.
/// (`$format` never gets here: [`QueryOptions::parse`] rejects it as an unknown option.)
///
/// ```
/// use d365_odata::{Prefer, QueryOptions};
/// use d365_odata::bind::typed::validate_dataverse;
/// let q = QueryOptions::parse("$top=5&$skip=10&$filter=tolower(name) eq 'x'").unwrap();
/// let v = validate_dataverse(&q, &Prefer::parse(["odata.maxpagesize=10"]));
/// assert_eq!(v.errors[0].message, "Skip Clause is not supported in CRM");
/// assert_eq!(v.errors.len(), 2);
/// assert_eq!(v.warnings.len(), 1);
/// ```
pub fn validate_dataverse(options: &QueryOptions, prefer: &Prefer) -> Validation {
    let mut v = Validation::default();
    if options.skip.is_some() {
        v.push(
            Severity::Error,
            "skip-unsupported",
            "Skip Clause is not supported in CRM",
        );
    }
    if options.search.is_some() {
        v.push(Severity::Error, "search-unsupported", "$search is not supported by the Dataverse Web API; use Dataverse search (/api/search) instead");
    }
    if let (Some(top), Some(size)) = (options.top, prefer.max_page_size) {
        v.push(
            Severity::Warning,
            "top-ignored",
            format!("$top={top} is ignored because Prefer: odata.maxpagesize={size} is set"),
        );
    }
    if let Some(size) = prefer.max_page_size {
        if size as usize > MAX_PAGE_SIZE {
            v.push(
                Severity::Error,
                "maxpagesize-too-large",
                format!("odata.maxpagesize={size} exceeds the maximum of {MAX_PAGE_SIZE}"),
            );
        } else if size == 0 {
            v.push(
                Severity::Error,
                "maxpagesize-zero",
                "odata.maxpagesize must be at least 1",
            );
        }
    }
    if options.count == Some(true) {
        v.push(
            Severity::Warning,
            "count-capped",
            format!("@odata.count stops at {MAX_COUNT}; use the RetrieveTotalRecordCount function for larger tables"),
        );
    }
    let expands = count_expands(&options.expand);
    if expands > MAX_EXPANDS {
        v.push(
            Severity::Error,
            "too-many-expands",
            format!(
                "The query has {expands} $expand options; Dataverse allows at most {MAX_EXPANDS}"
            ),
        );
    }
    if let Some(filter) = &options.filter {
        check_functions(filter, &mut v);
    }
    check_expands(&options.expand, 0, &mut v);
    v
}

fn count_expands(items: &[ExpandItem]) -> usize {
    items
        .iter()
        .map(|i| 1 + count_expands(&i.options.expand))
        .sum()
}

fn check_expands(items: &[ExpandItem], depth: usize, v: &mut Validation) {
    let nested_anywhere = items.iter().any(|i| !i.options.expand.is_empty()) || depth > 0;
    for item in items {
        let o = &item.options;
        if o.skip.is_some() || o.count.is_some() || o.search.is_some() {
            v.push(
                Severity::Error,
                "expand-option-unsupported",
                format!(
                    "$skip, $count and $search are not supported inside $expand ('{}')",
                    item.path
                ),
            );
        }
        if nested_anywhere && (o.top.is_some() || !o.orderby.is_empty()) {
            v.push(
                Severity::Error,
                "expand-nested-top-orderby",
                "Only $select and $filter clause can be provided while doing $expand on many-to-one relationship or nested one-to-many relationship.",
            );
        }
        if let Some(filter) = &o.filter {
            check_functions(filter, v);
        }
        check_expands(&o.expand, depth + 1, v);
    }
}

fn check_functions(expr: &Expr, v: &mut Validation) {
    match &expr.kind {
        ExprKind::Call { name, args } => {
            let known_query = name
                .strip_prefix(CRM_NAMESPACE)
                .is_some_and(|s| QUERY_FUNCTIONS.iter().any(|(n, ..)| *n == s));
            let supported = known_query
                || Canonical::from_name(name).is_some_and(Canonical::supported_by_dataverse);
            if !supported {
                v.push(
                    Severity::Error,
                    "function-unsupported",
                    format!("The function '{name}' is not supported by Dataverse in $filter"),
                );
            }
            for arg in args {
                let (Arg::Positional(e) | Arg::Named { value: e, .. }) = arg;
                check_functions(e, v);
            }
        }
        ExprKind::Unary { op, operand } => {
            if *op == UnaryOp::Not
                && matches!(&operand.kind, ExprKind::Call { name, .. } if name.starts_with(CRM_NAMESPACE))
            {
                v.push(
                    Severity::Error,
                    "not-query-function",
                    BindError::NotWithQueryFunction.to_string(),
                );
            }
            check_functions(operand, v);
        }
        ExprKind::Binary { lhs, rhs, .. } => {
            check_functions(lhs, v);
            check_functions(rhs, v);
        }
        ExprKind::In { lhs, list } => {
            check_functions(lhs, v);
            list.iter().for_each(|e| check_functions(e, v));
        }
        ExprKind::Lambda {
            body: Some(body), ..
        } => check_functions(body, v),
        _ => {}
    }
}
