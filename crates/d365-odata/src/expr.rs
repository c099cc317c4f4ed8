//! The `$filter` / `$orderby` expression tree and its s-expression form.
//!
//! # Precedence
//!
//! The OData 4.01 ABNF (`commonExpr`) is flat: after an operand it allows one
//! arithmetic tail (`add sub mul div divby mod`), then one comparison tail
//! (`eq ne lt le gt ge has in`, all in the same alternative), then one logical
//! tail (`and or`). It states no precedence; that comes from the prose table
//! (URL Conventions §5.1.1.16). Read together, from tightest to loosest:
//!
//! | level | operators |
//! |---|---|
//! | primary | members, calls, lambdas, literals, `( )` |
//! | prefix | `-x` (negation) |
//! | multiplicative | `mul div divby mod` |
//! | additive | `add sub` |
//! | relational | `gt ge lt le has in` (`has` and `in` sit with the relational operators) |
//! | equality | `eq ne` |
//! | `not` | `not x`: its operand runs up to the next `and`/`or` |
//! | conditional and | `and` |
//! | conditional or | `or` |
//!
//! All binary operators are left-associative. `not` is a prefix operator whose
//! operand is a whole equality-level expression, so `not a eq 1 and b eq 2`
//! means `(not (a eq 1)) and (b eq 2)`. This follows the ABNF's
//! `notExpr = "not" RWS boolCommonExpr` (the operand is a Boolean expression,
//! so `(not a) eq 1` would never type-check) while still letting `and`/`or`
//! bind looser, as Azurite and Dataverse users expect. Keywords are
//! case-sensitive (lower-case), as in OData 4.0.
//!
//! # S-expression form
//!
//! `Display` for [`Expr`] prints a compact s-expression used by the
//! table-driven parser tests:
//!
//! | node | form |
//! |---|---|
//! | member path | `(id a/b/c)` |
//! | `$it` | `$it` |
//! | alias `@p1` | `(alias p1)` |
//! | null, booleans | `null`, `true`, `false` |
//! | Int, Decimal, Double | bare canonical text: `5`, `-5`, `12.50`, `1.5E0`, `INF`, `NaN` |
//! | string | double-quoted, `"` and `\` escaped with `\`: `"O'Bryan"`, `"a\"b"` |
//! | guid, date, time, date-time-offset | bare canonical text |
//! | duration | `(duration P1D)` |
//! | enum | `(enum Ns.Type Member)` |
//! | JSON array | `["a" 1]` (items separated by one space) |
//! | unary | `(not x)`, `(neg x)` |
//! | binary | `(eq l r)`, one of `eq ne gt ge lt le has and or add sub mul div divby mod` |
//! | in | `(in l (a b c))` |
//! | call | `(call name arg...)`, named args as `(arg Name value)` |
//! | lambda | `(any path var body)`, `(all path var body)`, bare `(any path)` |
//!
//! Example: `not contains(name,'x') and revenue gt 1000` displays as
//! `(and (not (call contains (id name) "x")) (gt (id revenue) 1000))`.

pub(crate) mod parser;

use std::fmt;

use crate::literal::Literal;

pub use parser::{parse_filter, parse_literal, parse_orderby};

/// A half-open byte range `start..end` in the parsed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }
}

/// An expression node with its source span.
///
/// Equality ignores spans, so a parsed tree compares equal to a hand-built
/// one (or to the tree re-parsed from the printed text).
#[derive(Debug, Clone)]
pub struct Expr {
    /// What the node is.
    pub kind: ExprKind,
    /// Where it came from; `Span::default()` for built trees.
    pub span: Span,
}

impl Expr {
    /// A node without a source position (used by the builder and tests).
    pub fn new(kind: ExprKind) -> Self {
        Self {
            kind,
            span: Span::default(),
        }
    }

    /// A node with a source position.
    pub fn with_span(kind: ExprKind, span: Span) -> Self {
        Self { kind, span }
    }
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

impl From<ExprKind> for Expr {
    fn from(kind: ExprKind) -> Self {
        Expr::new(kind)
    }
}

/// The kinds of expression nodes.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A literal value.
    Literal(Literal),
    /// A parameter alias, `@p1` (the name without `@`).
    Alias(String),
    /// A property or navigation path, `name` or `primarycontactid/fullname`;
    /// also lambda variable paths such as `t/statecode` and `$it/name`.
    Member(Vec<String>),
    /// The implicit variable `$it`.
    It,
    /// `not x` or `-x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        operand: Box<Expr>,
    },
    /// `lhs op rhs`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `lhs in (a,b)` or `lhs in ["a","b"]` (both forms give a list).
    In {
        /// The tested value.
        lhs: Box<Expr>,
        /// The candidates.
        list: Vec<Expr>,
    },
    /// A function call: `contains(name,'x')` or
    /// `Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)`.
    Call {
        /// The (possibly namespace-qualified) function name.
        name: String,
        /// Arguments in source order.
        args: Vec<Arg>,
    },
    /// `Account_Tasks/any(t:t/statecode eq 1)` or a bare `Account_Tasks/any()`.
    Lambda {
        /// Path of the collection, e.g. `["Account_Tasks"]`.
        path: Vec<String>,
        /// `any` or `all`.
        op: LambdaOp,
        /// The range variable; `None` only for a bare `any()`.
        var: Option<String>,
        /// The predicate; `None` only for a bare `any()`.
        body: Option<Box<Expr>>,
    },
}

/// A function argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `contains(name,'x')` style.
    Positional(Expr),
    /// `PropertyName='createdon'` style (Dataverse query functions).
    Named {
        /// Parameter name.
        name: String,
        /// Parameter value (a literal, an alias `@p1`, an array, ...).
        value: Expr,
    },
}

/// Prefix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// Logical `not`.
    Not,
    /// Arithmetic negation `-`.
    Neg,
}

/// Lambda operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LambdaOp {
    /// `any(...)`.
    Any,
    /// `all(...)`.
    All,
}

impl LambdaOp {
    /// The keyword, `any` or `all`.
    pub fn keyword(self) -> &'static str {
        match self {
            LambdaOp::Any => "any",
            LambdaOp::All => "all",
        }
    }
}

/// Infix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
    /// `has` (enum flags)
    Has,
    /// `and`
    And,
    /// `or`
    Or,
    /// `add`
    Add,
    /// `sub`
    Sub,
    /// `mul`
    Mul,
    /// `div`
    Div,
    /// `divby` (decimal division)
    DivBy,
    /// `mod`
    Mod,
}

/// Binding strengths shared by the parser and the printer (higher binds tighter).
pub(crate) mod prec {
    pub(crate) const OR: u8 = 1;
    pub(crate) const AND: u8 = 2;
    /// Prefix `not`: looser than comparisons, tighter than `and`.
    pub(crate) const NOT: u8 = 3;
    pub(crate) const EQUALITY: u8 = 4;
    /// `gt ge lt le has in`.
    pub(crate) const RELATIONAL: u8 = 5;
    pub(crate) const ADDITIVE: u8 = 6;
    pub(crate) const MULTIPLICATIVE: u8 = 7;
    /// Prefix `-`.
    pub(crate) const NEG: u8 = 8;
    pub(crate) const PRIMARY: u8 = 9;
}

impl BinaryOp {
    /// All operators, for tests and generators.
    pub const ALL: [BinaryOp; 15] = [
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Has,
        BinaryOp::And,
        BinaryOp::Or,
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::DivBy,
        BinaryOp::Mod,
    ];

    /// The URL keyword, e.g. `eq`.
    pub fn keyword(self) -> &'static str {
        match self {
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Has => "has",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::DivBy => "divby",
            BinaryOp::Mod => "mod",
        }
    }

    /// The operator for a keyword (case-sensitive).
    pub fn from_keyword(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.keyword() == word)
    }

    /// Binding strength: higher binds tighter (see the module docs).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => prec::OR,
            BinaryOp::And => prec::AND,
            BinaryOp::Eq | BinaryOp::Ne => prec::EQUALITY,
            BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Has => {
                prec::RELATIONAL
            }
            BinaryOp::Add | BinaryOp::Sub => prec::ADDITIVE,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::DivBy | BinaryOp::Mod => prec::MULTIPLICATIVE,
        }
    }
}

/// One `$orderby` item.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    /// The sort key.
    pub expr: Expr,
    /// `desc` was given (`asc` is the default).
    pub descending: bool,
}

/// Words that can never start an operand, so members may not be named like them.
pub(crate) fn is_reserved_word(word: &str) -> bool {
    BinaryOp::from_keyword(word).is_some()
        || matches!(
            word,
            "in" | "not" | "true" | "false" | "null" | "INF" | "NaN"
        )
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Literal(lit) => write_sexpr_literal(f, lit),
            ExprKind::Alias(name) => write!(f, "(alias {name})"),
            ExprKind::Member(path) => write!(f, "(id {})", path.join("/")),
            ExprKind::It => f.write_str("$it"),
            ExprKind::Unary { op, operand } => {
                let word = match op {
                    UnaryOp::Not => "not",
                    UnaryOp::Neg => "neg",
                };
                write!(f, "({word} {operand})")
            }
            ExprKind::Binary { op, lhs, rhs } => write!(f, "({} {lhs} {rhs})", op.keyword()),
            ExprKind::In { lhs, list } => {
                write!(f, "(in {lhs} (")?;
                write_spaced(f, list)?;
                f.write_str("))")
            }
            ExprKind::Call { name, args } => {
                write!(f, "(call {name}")?;
                for arg in args {
                    match arg {
                        Arg::Positional(e) => write!(f, " {e}")?,
                        Arg::Named { name, value } => write!(f, " (arg {name} {value})")?,
                    }
                }
                f.write_str(")")
            }
            ExprKind::Lambda {
                path,
                op,
                var,
                body,
            } => {
                write!(f, "({} {}", op.keyword(), path.join("/"))?;
                if let Some(var) = var {
                    write!(f, " {var}")?;
                }
                if let Some(body) = body {
                    write!(f, " {body}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for OrderBy {
    /// `(asc expr)` or `(desc expr)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = if self.descending { "desc" } else { "asc" };
        write!(f, "({dir} {})", self.expr)
    }
}

fn write_spaced(f: &mut fmt::Formatter<'_>, items: &[impl fmt::Display]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

fn write_sexpr_literal(f: &mut fmt::Formatter<'_>, lit: &Literal) -> fmt::Result {
    match lit {
        Literal::String(s) => {
            f.write_str("\"")?;
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\"")
        }
        Literal::Duration(text) => write!(f, "(duration {text})"),
        Literal::Enum { type_name, value } => write!(f, "(enum {type_name} {value})"),
        Literal::Array(items) => {
            f.write_str("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write_sexpr_literal(f, item)?;
            }
            f.write_str("]")
        }
        other => write!(f, "{other}"),
    }
}
