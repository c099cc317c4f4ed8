//! Binding: a parsed expression plus the model gives a typed tree, or an error a user can act
//! on. Type checks happen here, before any SQL exists: no comparing a string to a number, no
//! unknown property (Azurite compares untyped; we do not, see STYLE.md §9).

use crate::expr::{Arg, BinaryOp, Expr, ExprKind, OrderBy, UnaryOp};
use crate::literal::Literal;
use crate::model::{EdmType, EntityType, Property};

/// `null`, the value of an unassigned parameter alias.
pub(crate) static NULL_EXPR: std::sync::LazyLock<Expr> = std::sync::LazyLock::new(|| {
    Expr::with_span(
        ExprKind::Literal(Literal::Null),
        crate::expr::Span::new(0, 0),
    )
});

/// Why binding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// No such property on the entity type.
    #[error(
        "Could not find a property named '{property}' on type 'Microsoft.Dynamics.CRM.{entity}'."
    )]
    UnknownProperty {
        /// The name as written.
        property: String,
        /// The entity's logical name.
        entity: String,
    },
    /// Operand types do not fit the operator.
    #[error(
        "A binary operator with incompatible types was detected. Found operand types '{left}' and '{right}' for operator kind '{operator}'."
    )]
    IncompatibleTypes {
        /// Left operand type.
        left: String,
        /// Right operand type.
        right: String,
        /// OData's operator kind name (`Equal`, `GreaterThan`, …).
        operator: &'static str,
    },
    /// A function argument has the wrong type or shape.
    #[error("{0}")]
    InvalidArgument(String),
    /// A parameter alias was used but not given a value.
    #[error("The parameter alias '@{0}' is not defined.")]
    UndefinedAlias(String),
    /// Valid OData that this engine does not support.
    #[error("{0} is not supported here yet.")]
    Unsupported(String),
    /// A property used where its type does not fit (typed binder).
    #[error(
        "The property '{property}' of type '{edm_type}' on 'Microsoft.Dynamics.CRM.{entity}' {reason}."
    )]
    PropertyMisuse {
        /// The property as written.
        property: String,
        /// Its type, e.g. `Edm.String`.
        edm_type: String,
        /// The entity's logical name.
        entity: String,
        /// What is wrong, e.g. `cannot be used with 'LastXDays', which needs a date`.
        reason: String,
    },
    /// `not` applied to a Dataverse query function (Dataverse's own message).
    #[error("Not operator along with the Custom Named Condition operators is not allowed.")]
    NotWithQueryFunction,
    /// A function that is neither canonical nor a known Dataverse query function.
    #[error("Unknown function '{0}'.")]
    UnknownFunction(String),
    /// The expression, with its parameter aliases expanded, is deeper or larger than the
    /// binder's budget (aliases that use each other can grow it exponentially).
    #[error("{0}")]
    TooComplex(String),
}

mod dataverse;
pub mod typed;

use std::cell::{Cell, RefCell};

/// Most nesting of the bound tree, parameter aliases expanded (the parser allows 100 before
/// expansion; everything downstream of the binder recurses over this tree).
pub const MAX_BOUND_DEPTH: u32 = 100;

/// Most nodes of the bound tree, parameter aliases expanded: room for an `in` list of every
/// GUID a 64 KB URL can hold, far below what aliases that use each other twice reach.
pub const MAX_BOUND_NODES: u32 = 10_000;

/// What binding one expression may spend: depth, nodes, and the aliases being expanded
/// (an alias inside its own value is a loop, however indirect).
#[derive(Default)]
pub(crate) struct Budget {
    depth: Cell<u32>,
    nodes: Cell<u32>,
    pub(crate) expanding: RefCell<Vec<String>>,
}

/// Gives back one level of depth when a node is bound.
pub(crate) struct DepthGuard<'a>(&'a Budget);

impl Drop for DepthGuard<'_> {
    fn drop(&mut self) {
        self.0.depth.set(self.0.depth.get() - 1);
    }
}

impl Budget {
    pub(crate) fn enter(&self) -> Result<DepthGuard<'_>, BindError> {
        let nodes = self.nodes.get() + 1;
        self.nodes.set(nodes);
        if nodes > MAX_BOUND_NODES {
            return Err(BindError::TooComplex(format!(
                "The $filter has more than {MAX_BOUND_NODES} nodes once its parameter aliases are expanded."
            )));
        }
        let depth = self.depth.get() + 1;
        if depth > MAX_BOUND_DEPTH {
            return Err(BindError::TooComplex(format!(
                "The $filter is nested more than {MAX_BOUND_DEPTH} levels deep once its parameter aliases are expanded."
            )));
        }
        self.depth.set(depth);
        Ok(DepthGuard(self))
    }
}

/// A property reference, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundProperty {
    /// The logical name.
    pub name: String,
    /// Its type.
    pub edm_type: EdmType,
    /// Decimal places, for decimals.
    pub scale: Option<u8>,
}

impl BoundProperty {
    fn of(p: &Property) -> Self {
        Self {
            name: p.name.clone(),
            edm_type: p.edm_type,
            scale: p.scale,
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
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
}

impl CompareOp {
    fn kind_name(self) -> &'static str {
        match self {
            CompareOp::Eq => "Equal",
            CompareOp::Ne => "NotEqual",
            CompareOp::Gt => "GreaterThan",
            CompareOp::Ge => "GreaterThanOrEqual",
            CompareOp::Lt => "LessThan",
            CompareOp::Le => "LessThanOrEqual",
        }
    }
}

/// String matching functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringMatch {
    /// `contains(p,'x')`
    Contains,
    /// `startswith(p,'x')`
    StartsWith,
    /// `endswith(p,'x')`
    EndsWith,
}

/// A typed operand of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A column.
    Property(BoundProperty),
    /// A literal converted to the type it is compared with.
    Value(Literal, EdmType),
    /// `null`.
    Null,
}

/// A typed boolean expression.
#[derive(Debug, Clone, PartialEq)]
pub enum BoundFilter {
    /// A comparison.
    Compare {
        /// The operator.
        op: CompareOp,
        /// Left side.
        lhs: Operand,
        /// Right side.
        rhs: Operand,
    },
    /// `contains`, `startswith`, `endswith` on a string column.
    Match {
        /// Which function.
        kind: StringMatch,
        /// The column.
        property: BoundProperty,
        /// The text to find (SQL LIKE wildcards in it keep their meaning, as in Dataverse).
        pattern: String,
    },
    /// Both.
    And(Box<BoundFilter>, Box<BoundFilter>),
    /// Either.
    Or(Box<BoundFilter>, Box<BoundFilter>),
    /// Negation.
    Not(Box<BoundFilter>),
}

/// A typed `$orderby` item.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundOrder {
    /// The column.
    pub property: BoundProperty,
    /// `desc`.
    pub descending: bool,
}

/// Binds a `$filter` expression against `entity`, resolving `@alias` values from `aliases`.
pub fn bind_filter(
    entity: &EntityType,
    expr: &Expr,
    aliases: &[(String, Expr)],
) -> Result<BoundFilter, BindError> {
    Binder {
        entity,
        aliases,
        budget: Budget::default(),
    }
    .filter(expr)
}

/// Binds `$orderby` items: each must be a property of `entity`.
pub fn bind_orderby(entity: &EntityType, items: &[OrderBy]) -> Result<Vec<BoundOrder>, BindError> {
    let binder = Binder {
        entity,
        aliases: &[],
        budget: Budget::default(),
    };
    items
        .iter()
        .map(|item| match &item.expr.kind {
            ExprKind::Member(path) => Ok(BoundOrder {
                property: binder.property(path)?,
                descending: item.descending,
            }),
            _ => Err(BindError::Unsupported("Ordering by an expression".into())),
        })
        .collect()
}

/// Checks `$select` names against `entity` (`*` selects everything).
pub fn bind_select<'a>(
    entity: &'a EntityType,
    names: &[&str],
) -> Result<Vec<&'a Property>, BindError> {
    if names.contains(&"*") {
        return Ok(entity.properties.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            entity
                .property(n)
                .ok_or_else(|| BindError::UnknownProperty {
                    property: (*n).to_owned(),
                    entity: entity.name.clone(),
                })
        })
        .collect()
}

struct Binder<'a> {
    entity: &'a EntityType,
    aliases: &'a [(String, Expr)],
    budget: Budget,
}

impl Binder<'_> {
    fn property(&self, path: &[String]) -> Result<BoundProperty, BindError> {
        match path {
            [name] => self
                .entity
                .property(name)
                .map(BoundProperty::of)
                .ok_or_else(|| BindError::UnknownProperty {
                    property: name.clone(),
                    entity: self.entity.name.clone(),
                }),
            [first, ..] if self.entity.navigation(first).is_some() => Err(BindError::Unsupported(
                format!("Filtering through the navigation property '{first}'"),
            )),
            _ => Err(BindError::UnknownProperty {
                property: path.join("/"),
                entity: self.entity.name.clone(),
            }),
        }
    }

    /// Follows parameter aliases (`@p1`, possibly through other aliases); an alias with no
    /// value is `null`, as OData and Dataverse define it.
    fn resolve<'e>(&'e self, mut expr: &'e Expr) -> Result<&'e Expr, BindError> {
        for _ in 0..8 {
            let ExprKind::Alias(name) = &expr.kind else {
                return Ok(expr);
            };
            match self.aliases.iter().find(|(n, _)| n == name) {
                Some((_, value)) => expr = value,
                None => return Ok(&crate::bind::NULL_EXPR),
            }
        }
        Err(BindError::InvalidArgument(
            "Parameter aliases refer to each other in a loop.".into(),
        ))
    }

    fn filter(&self, expr: &Expr) -> Result<BoundFilter, BindError> {
        let _depth = self.budget.enter()?;
        let expr = self.resolve(expr)?;
        match &expr.kind {
            ExprKind::Binary { op: BinaryOp::And, lhs, rhs } => {
                Ok(BoundFilter::And(Box::new(self.filter(lhs)?), Box::new(self.filter(rhs)?)))
            }
            ExprKind::Binary { op: BinaryOp::Or, lhs, rhs } => {
                Ok(BoundFilter::Or(Box::new(self.filter(lhs)?), Box::new(self.filter(rhs)?)))
            }
            ExprKind::Unary { op: UnaryOp::Not, operand } => Ok(BoundFilter::Not(Box::new(self.filter(operand)?))),
            ExprKind::Binary { op, lhs, rhs } => {
                let op = match op {
                    BinaryOp::Eq => CompareOp::Eq,
                    BinaryOp::Ne => CompareOp::Ne,
                    BinaryOp::Gt => CompareOp::Gt,
                    BinaryOp::Ge => CompareOp::Ge,
                    BinaryOp::Lt => CompareOp::Lt,
                    BinaryOp::Le => CompareOp::Le,
                    other => return Err(BindError::Unsupported(format!("The '{}' operator", other.keyword()))),
                };
                self.compare(op, lhs, rhs)
            }
            ExprKind::Member(path) => {
                // A Boolean column on its own is a condition: `creditonhold` means `eq true`.
                let property = self.property(path)?;
                if property.edm_type != EdmType::Boolean {
                    return Err(BindError::InvalidArgument(format!(
                        "The property '{}' of type '{}' cannot be used as a condition; compare it with a value.",
                        property.name, property.edm_type
                    )));
                }
                Ok(BoundFilter::Compare {
                    op: CompareOp::Eq,
                    lhs: Operand::Property(property),
                    rhs: Operand::Value(Literal::Bool(true), EdmType::Boolean),
                })
            }
            ExprKind::Call { name, args } => self.call(name, args),
            ExprKind::Literal(Literal::Bool(_)) => Err(BindError::Unsupported("A constant condition".into())),
            _ => Err(BindError::InvalidArgument("The $filter expression must be a condition (a comparison, a function such as contains, or and/or/not of those).".into())),
        }
    }

    fn call(&self, name: &str, args: &[Arg]) -> Result<BoundFilter, BindError> {
        if let Some(function) = name.strip_prefix("Microsoft.Dynamics.CRM.") {
            return self.query_function(function, args);
        }
        let kind = match name {
            "contains" => StringMatch::Contains,
            "startswith" => StringMatch::StartsWith,
            "endswith" => StringMatch::EndsWith,
            _ => return Err(BindError::Unsupported(format!("The function '{name}'"))),
        };
        let [Arg::Positional(target), Arg::Positional(pattern)] = args else {
            return Err(BindError::InvalidArgument(format!(
                "The function '{name}' takes two arguments: a string property and a string."
            )));
        };
        let ExprKind::Member(path) = &self.resolve(target)?.kind else {
            return Err(BindError::Unsupported(format!(
                "'{name}' on an expression other than a property"
            )));
        };
        let property = self.property(path)?;
        if property.edm_type != EdmType::String {
            return Err(BindError::InvalidArgument(format!(
                "The function '{name}' needs a string property, but '{}' is '{}'.",
                property.name, property.edm_type
            )));
        }
        match &self.resolve(pattern)?.kind {
            ExprKind::Literal(Literal::String(s)) => Ok(BoundFilter::Match {
                kind,
                property,
                pattern: s.clone(),
            }),
            _ => Err(BindError::InvalidArgument(format!(
                "The second argument of '{name}' must be a string literal."
            ))),
        }
    }

    fn operand(&self, expr: &Expr) -> Result<RawOperand, BindError> {
        match &self.resolve(expr)?.kind {
            ExprKind::Member(path) => Ok(RawOperand::Property(self.property(path)?)),
            ExprKind::Literal(Literal::Null) => Ok(RawOperand::Null),
            ExprKind::Literal(lit) => Ok(RawOperand::Literal(lit.clone())),
            ExprKind::Unary {
                op: UnaryOp::Neg,
                operand,
            } => match &self.resolve(operand)?.kind {
                ExprKind::Literal(Literal::Int(i)) => i
                    .checked_neg()
                    .map(|n| RawOperand::Literal(Literal::Int(n)))
                    .ok_or_else(|| {
                        BindError::InvalidArgument(format!("-({i}) is out of range for Edm.Int64."))
                    }),
                ExprKind::Literal(Literal::Double(d)) => {
                    Ok(RawOperand::Literal(Literal::Double(-d)))
                }
                // Toggle the sign: `-(-0.5)` is 0.5, not "--0.5".
                ExprKind::Literal(Literal::Decimal(d)) => Ok(RawOperand::Literal(
                    Literal::Decimal(match d.strip_prefix('-') {
                        Some(positive) => positive.to_owned(),
                        None => format!("-{d}"),
                    }),
                )),
                _ => Err(BindError::Unsupported(
                    "Arithmetic negation of an expression".into(),
                )),
            },
            _ => Err(BindError::Unsupported(
                "Comparing computed expressions".into(),
            )),
        }
    }

    fn compare(&self, op: CompareOp, lhs: &Expr, rhs: &Expr) -> Result<BoundFilter, BindError> {
        let (l, r) = (self.operand(lhs)?, self.operand(rhs)?);
        let incompatible = |l: &RawOperand, r: &RawOperand| BindError::IncompatibleTypes {
            left: l.type_name(),
            right: r.type_name(),
            operator: op.kind_name(),
        };
        let (lhs, rhs) = match (&l, &r) {
            (RawOperand::Property(a), RawOperand::Property(b)) => {
                if !same_family(a.edm_type, b.edm_type) {
                    return Err(incompatible(&l, &r));
                }
                (Operand::Property(a.clone()), Operand::Property(b.clone()))
            }
            (RawOperand::Property(p), RawOperand::Literal(lit)) => {
                let v = coerce(lit, p.edm_type).ok_or_else(|| incompatible(&l, &r))?;
                (Operand::Property(p.clone()), v)
            }
            (RawOperand::Literal(lit), RawOperand::Property(p)) => {
                let v = coerce(lit, p.edm_type).ok_or_else(|| incompatible(&l, &r))?;
                (v, Operand::Property(p.clone()))
            }
            (RawOperand::Property(p), RawOperand::Null)
            | (RawOperand::Null, RawOperand::Property(p)) => {
                if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
                    return Err(incompatible(&l, &r));
                }
                (Operand::Property(p.clone()), Operand::Null)
            }
            _ => return Err(BindError::Unsupported("Comparing two constants".into())),
        };
        Ok(BoundFilter::Compare { op, lhs, rhs })
    }
}

enum RawOperand {
    Property(BoundProperty),
    Literal(Literal),
    Null,
}

impl RawOperand {
    fn type_name(&self) -> String {
        match self {
            RawOperand::Property(p) => p.edm_type.name().to_owned(),
            RawOperand::Null => "null".to_owned(),
            RawOperand::Literal(l) => literal_type(l).to_owned(),
        }
    }
}

fn literal_type(l: &Literal) -> &'static str {
    match l {
        Literal::Null => "null",
        Literal::Bool(_) => "Edm.Boolean",
        Literal::Int(i) if i32::try_from(*i).is_ok() => "Edm.Int32",
        Literal::Int(_) => "Edm.Int64",
        Literal::Decimal(_) => "Edm.Decimal",
        Literal::Double(_) => "Edm.Double",
        Literal::String(_) => "Edm.String",
        Literal::Guid(_) => "Edm.Guid",
        Literal::Date(_) => "Edm.Date",
        Literal::DateTimeOffset(_) => "Edm.DateTimeOffset",
        Literal::TimeOfDay(_) => "Edm.TimeOfDay",
        Literal::Duration(_) => "Edm.Duration",
        Literal::Enum { .. } => "Edm.Enum",
        Literal::Array(_) => "Collection",
    }
}

fn same_family(a: EdmType, b: EdmType) -> bool {
    a == b || (a.is_numeric() && b.is_numeric())
}

/// Converts a literal to the type of the property it is compared with, or `None` if the
/// types do not fit. Dataverse accepts quoted GUIDs and date literals against date-times.
fn coerce(lit: &Literal, to: EdmType) -> Option<Operand> {
    let ok = match (lit, to) {
        (Literal::Int(_) | Literal::Decimal(_) | Literal::Double(_), t) if t.is_numeric() => true,
        (Literal::String(_), EdmType::String) => true,
        (Literal::String(s), EdmType::Guid) => {
            return uuid::Uuid::parse_str(s.trim_matches(['{', '}']))
                .ok()
                .map(|g| Operand::Value(Literal::Guid(g), to));
        }
        (Literal::Guid(_), EdmType::Guid) => true,
        (Literal::Bool(_), EdmType::Boolean) => true,
        (Literal::DateTimeOffset(_), EdmType::DateTimeOffset) => true,
        (Literal::Date(_), EdmType::Date) => true,
        (Literal::Date(d), EdmType::DateTimeOffset) => {
            return Some(Operand::Value(
                Literal::DateTimeOffset(d.midnight().assume_utc()),
                to,
            ));
        }
        _ => false,
    };
    ok.then(|| Operand::Value(lit.clone(), to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{parse_filter, parse_orderby};

    fn account() -> EntityType {
        EntityType {
            name: "account".into(),
            entity_set: "accounts".into(),
            key: "accountid".into(),
            primary_name: Some("name".into()),
            properties: vec![
                Property::new("accountid", EdmType::Guid),
                Property::new("name", EdmType::String),
                Property::new("revenue", EdmType::Decimal).scale(4),
                Property::new("numberofemployees", EdmType::Int32),
                Property::new("creditonhold", EdmType::Boolean),
                Property::new("createdon", EdmType::DateTimeOffset),
            ],
            navigation: vec![],
            alternate_keys: vec![],
        }
    }

    fn bind(text: &str) -> Result<BoundFilter, BindError> {
        bind_filter(&account(), &parse_filter(text).unwrap(), &[])
    }

    #[test]
    fn types_are_checked() {
        assert!(bind("name eq 'x' and revenue gt 1000").is_ok());
        assert!(bind("revenue ge 10.5 or numberofemployees lt 3").is_ok());
        assert!(bind("createdon gt 2024-01-01T00:00:00Z").is_ok());
        assert!(bind("createdon gt 2024-01-01").is_ok());
        assert!(bind("accountid eq '3f2504e0-4f89-11d3-9a0c-0305e82c3301'").is_ok());
        assert!(bind("not contains(name,'x')").is_ok());
        assert!(bind("creditonhold").is_ok());
        assert!(bind("name eq null").is_ok());
        let err = bind("name eq 1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "A binary operator with incompatible types was detected. Found operand types 'Edm.String' and 'Edm.Int32' for operator kind 'Equal'."
        );
        let err = bind("Name eq 'x'").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Could not find a property named 'Name' on type 'Microsoft.Dynamics.CRM.account'."
        );
        assert!(matches!(
            bind("contains(revenue,'1')"),
            Err(BindError::InvalidArgument(_))
        ));
        assert!(matches!(
            bind("revenue gt null"),
            Err(BindError::IncompatibleTypes { .. })
        ));
        // An unassigned alias is null, as OData defines it.
        assert!(matches!(
            bind("name eq @p1"),
            Ok(BoundFilter::Compare {
                rhs: Operand::Null,
                ..
            })
        ));
        assert!(
            matches!(bind("revenue gt -(-0.5)"), Ok(BoundFilter::Compare { rhs: Operand::Value(Literal::Decimal(ref d), _), .. }) if d == "0.5")
        );
        assert!(bind("revenue gt -(-9223372036854775808)").is_err());
    }

    #[test]
    fn dataverse_in_and_between_are_comparisons() {
        assert_eq!(
            bind(r#"Microsoft.Dynamics.CRM.In(PropertyName='numberofemployees',PropertyValues=["7","20"])"#).unwrap(),
            bind("numberofemployees eq 7 or numberofemployees eq 20").unwrap()
        );
        assert_eq!(
            bind(r#"Microsoft.Dynamics.CRM.NotIn(PropertyName='name',PropertyValues=["A","B"])"#)
                .unwrap(),
            bind("not (name eq 'A' or name eq 'B')").unwrap()
        );
        assert_eq!(
            bind(r#"Microsoft.Dynamics.CRM.Between(PropertyName='createdon',PropertyValues=["2024-01-01","2024-12-31T00:00:00Z"])"#).unwrap(),
            bind("createdon ge 2024-01-01 and createdon le 2024-12-31T00:00:00Z").unwrap()
        );
        for bad in [
            r#"Microsoft.Dynamics.CRM.In(PropertyName='numberofemployees',PropertyValues=["many"])"#,
            r#"Microsoft.Dynamics.CRM.In(PropertyName='nosuch',PropertyValues=["1"])"#,
            r#"Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=[])"#,
            r#"Microsoft.Dynamics.CRM.Between(PropertyName='numberofemployees',PropertyValues=["1"])"#,
            r#"Microsoft.Dynamics.CRM.In(PropertyValues=["1"])"#,
        ] {
            assert!(bind(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            bind("Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=3)"),
            Err(BindError::Unsupported(_))
        ));
    }

    #[test]
    fn aliases_resolve() {
        let aliases = vec![("p1".to_owned(), parse_filter("'Contoso'").unwrap())];
        let f = bind_filter(&account(), &parse_filter("name eq @p1").unwrap(), &aliases).unwrap();
        assert!(matches!(
            f,
            BoundFilter::Compare {
                rhs: Operand::Value(Literal::String(_), EdmType::String),
                ..
            }
        ));
    }

    #[test]
    fn orderby_and_select() {
        let o = bind_orderby(&account(), &parse_orderby("revenue desc,name").unwrap()).unwrap();
        assert_eq!(o.len(), 2);
        assert!(o[0].descending && !o[1].descending);
        assert!(bind_orderby(&account(), &parse_orderby("nope").unwrap()).is_err());
        assert_eq!(
            bind_select(&account(), &["name", "revenue"]).unwrap().len(),
            2
        );
        assert!(bind_select(&account(), &["Name"]).is_err());
    }
}
