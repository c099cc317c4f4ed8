//! The typed binder for the whole `$filter` language, alongside [`bind_filter`](super::bind_filter)
//! (which keeps the subset the emulator's SQL planner executes).
//!
//! Every node of a [`TypedExpr`] has a [`Type`]: arithmetic, `has`, `in`, the canonical
//! functions with their signatures, member paths through single-valued navigation
//! properties, `any`/`all` over collection-valued navigation properties with range
//! variables, and Dataverse's query functions (`Microsoft.Dynamics.CRM.LastXDays(...)`)
//! with their named parameters and parameter aliases
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows>).
//!
//! [`validate_dataverse`] checks a parsed query against Dataverse's limits and returns
//! errors and warnings separately (the CLI lints with the warnings).

use std::fmt;

use super::BindError;
use crate::expr::{Arg, BinaryOp, Expr, ExprKind, LambdaOp, Span, UnaryOp};
use crate::literal::Literal;
use crate::model::{EdmType, EntityType, Model, Property};
use crate::prefer::Prefer;
use crate::query::{ExpandItem, QueryOptions};

/// The type of a bound node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// A primitive type of the model.
    Edm(EdmType),
    /// `Edm.TimeOfDay` (from `time()` and time literals).
    TimeOfDay,
    /// `Edm.Duration`.
    Duration,
    /// An enum type, by qualified name.
    Enum(String),
    /// `null`, which fits any nullable type.
    Null,
    /// An entity (a navigation target or range variable), by logical name.
    Entity(String),
    /// A collection of the inner type (JSON arrays, `in` lists).
    Collection(Box<Type>),
}

impl Type {
    fn is_numeric(&self) -> bool {
        matches!(self, Type::Edm(t) if t.is_numeric())
    }

    fn is(&self, t: EdmType) -> bool {
        *self == Type::Edm(t)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Edm(t) => f.write_str(t.name()),
            Type::TimeOfDay => f.write_str("Edm.TimeOfDay"),
            Type::Duration => f.write_str("Edm.Duration"),
            Type::Enum(name) => f.write_str(name),
            Type::Null => f.write_str("null"),
            Type::Entity(name) => write!(f, "Microsoft.Dynamics.CRM.{name}"),
            Type::Collection(inner) => write!(f, "Collection({inner})"),
        }
    }
}

/// A canonical OData function
/// (<https://docs.oasis-open.org/odata/odata/v4.01/odata-v4.01-part2-url-conventions.html#sec_BuiltinQueryFunctions>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Canonical {
    Contains,
    StartsWith,
    EndsWith,
    Length,
    IndexOf,
    Substring,
    ToLower,
    ToUpper,
    Trim,
    Concat,
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Date,
    Time,
    Now,
    Round,
    Floor,
    Ceiling,
    Cast,
    IsOf,
}

impl Canonical {
    /// Every canonical function with its URL name.
    pub const ALL: [(&'static str, Canonical); 24] = [
        ("contains", Canonical::Contains),
        ("startswith", Canonical::StartsWith),
        ("endswith", Canonical::EndsWith),
        ("length", Canonical::Length),
        ("indexof", Canonical::IndexOf),
        ("substring", Canonical::Substring),
        ("tolower", Canonical::ToLower),
        ("toupper", Canonical::ToUpper),
        ("trim", Canonical::Trim),
        ("concat", Canonical::Concat),
        ("year", Canonical::Year),
        ("month", Canonical::Month),
        ("day", Canonical::Day),
        ("hour", Canonical::Hour),
        ("minute", Canonical::Minute),
        ("second", Canonical::Second),
        ("date", Canonical::Date),
        ("time", Canonical::Time),
        ("now", Canonical::Now),
        ("round", Canonical::Round),
        ("floor", Canonical::Floor),
        ("ceiling", Canonical::Ceiling),
        ("cast", Canonical::Cast),
        ("isof", Canonical::IsOf),
    ];

    /// The function for a URL name.
    pub fn from_name(name: &str) -> Option<Canonical> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// The URL name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("", |(n, _)| n)
    }

    /// Whether Dataverse's Web API accepts it in `$filter` (only the string matchers).
    pub fn supported_by_dataverse(self) -> bool {
        matches!(
            self,
            Canonical::Contains | Canonical::StartsWith | Canonical::EndsWith
        )
    }
}

/// What a Dataverse query function's parameters look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryFunctionShape {
    /// `PropertyName` only (`Today`, `EqualUserId`).
    NoValue,
    /// `PropertyName` and an integer `PropertyValue` (`LastXDays`).
    Count,
    /// `PropertyName` and a date `PropertyValue` (`On`, `OnOrAfter`).
    Date,
    /// `PropertyName` and a `PropertyValue` of the property's type (`Above`, `Under`).
    Value,
    /// `PropertyName` and exactly two `PropertyValues` (`Between`).
    Range,
    /// `PropertyName` and one or more `PropertyValues` (`In`, `ContainValues`).
    Values,
}

/// Which property types a query function applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryFunctionTarget {
    /// `Edm.DateTimeOffset` or `Edm.Date`.
    DateTime,
    /// `Edm.Guid` (user, business unit, hierarchy ids and lookups).
    Id,
    /// A choice or multi-select choice column (`Edm.Int32` or `Edm.String`).
    Choice,
    /// Any primitive column.
    Any,
}

/// The Dataverse query functions this binder knows: `(name, shape, target)`.
pub const QUERY_FUNCTIONS: &[(&str, QueryFunctionShape, QueryFunctionTarget)] = {
    use QueryFunctionShape as S;
    use QueryFunctionTarget as T;
    &[
        ("Today", S::NoValue, T::DateTime),
        ("Yesterday", S::NoValue, T::DateTime),
        ("Tomorrow", S::NoValue, T::DateTime),
        ("Last7Days", S::NoValue, T::DateTime),
        ("Next7Days", S::NoValue, T::DateTime),
        ("ThisWeek", S::NoValue, T::DateTime),
        ("ThisMonth", S::NoValue, T::DateTime),
        ("ThisYear", S::NoValue, T::DateTime),
        ("LastWeek", S::NoValue, T::DateTime),
        ("LastMonth", S::NoValue, T::DateTime),
        ("LastYear", S::NoValue, T::DateTime),
        ("NextWeek", S::NoValue, T::DateTime),
        ("NextMonth", S::NoValue, T::DateTime),
        ("NextYear", S::NoValue, T::DateTime),
        ("ThisFiscalYear", S::NoValue, T::DateTime),
        ("ThisFiscalPeriod", S::NoValue, T::DateTime),
        ("LastFiscalYear", S::NoValue, T::DateTime),
        ("LastFiscalPeriod", S::NoValue, T::DateTime),
        ("NextFiscalYear", S::NoValue, T::DateTime),
        ("NextFiscalPeriod", S::NoValue, T::DateTime),
        ("LastXMinutes", S::Count, T::DateTime),
        ("LastXHours", S::Count, T::DateTime),
        ("LastXDays", S::Count, T::DateTime),
        ("LastXWeeks", S::Count, T::DateTime),
        ("LastXMonths", S::Count, T::DateTime),
        ("LastXYears", S::Count, T::DateTime),
        ("LastXFiscalYears", S::Count, T::DateTime),
        ("LastXFiscalPeriods", S::Count, T::DateTime),
        ("NextXMinutes", S::Count, T::DateTime),
        ("NextXHours", S::Count, T::DateTime),
        ("NextXDays", S::Count, T::DateTime),
        ("NextXWeeks", S::Count, T::DateTime),
        ("NextXMonths", S::Count, T::DateTime),
        ("NextXYears", S::Count, T::DateTime),
        ("NextXFiscalYears", S::Count, T::DateTime),
        ("NextXFiscalPeriods", S::Count, T::DateTime),
        ("OlderThanXMinutes", S::Count, T::DateTime),
        ("OlderThanXHours", S::Count, T::DateTime),
        ("OlderThanXDays", S::Count, T::DateTime),
        ("OlderThanXWeeks", S::Count, T::DateTime),
        ("OlderThanXMonths", S::Count, T::DateTime),
        ("OlderThanXYears", S::Count, T::DateTime),
        ("InFiscalYear", S::Count, T::DateTime),
        ("InFiscalPeriod", S::Count, T::DateTime),
        ("On", S::Date, T::DateTime),
        ("NotOn", S::Date, T::DateTime),
        ("OnOrAfter", S::Date, T::DateTime),
        ("OnOrBefore", S::Date, T::DateTime),
        ("EqualUserId", S::NoValue, T::Id),
        ("NotEqualUserId", S::NoValue, T::Id),
        ("EqualBusinessId", S::NoValue, T::Id),
        ("NotEqualBusinessId", S::NoValue, T::Id),
        ("EqualUserOrUserHierarchy", S::NoValue, T::Id),
        ("EqualUserOrUserHierarchyAndTeams", S::NoValue, T::Id),
        ("EqualUserOrUserTeams", S::NoValue, T::Id),
        ("EqualUserTeams", S::NoValue, T::Id),
        ("EqualUserLanguage", S::NoValue, T::Any),
        ("Above", S::Value, T::Id),
        ("AboveOrEqual", S::Value, T::Id),
        ("Under", S::Value, T::Id),
        ("UnderOrEqual", S::Value, T::Id),
        ("NotUnder", S::Value, T::Id),
        ("Between", S::Range, T::Any),
        ("NotBetween", S::Range, T::Any),
        ("In", S::Values, T::Any),
        ("NotIn", S::Values, T::Any),
        ("ContainValues", S::Values, T::Choice),
        ("DoesNotContainValues", S::Values, T::Choice),
    ]
};

/// The namespace of Dataverse's query functions.
pub const CRM_NAMESPACE: &str = "Microsoft.Dynamics.CRM.";

/// One step through a single-valued navigation property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavStep {
    /// The navigation property (`primarycontactid`).
    pub navigation: String,
    /// The entity it leads to (`contact`).
    pub target: String,
}

/// A typed expression node.
#[derive(Debug, Clone, PartialEq)]
pub struct TypedExpr {
    /// What the node is.
    pub kind: TypedKind,
    /// Its type.
    pub ty: Type,
    /// Where it came from.
    pub span: Span,
}

/// The kinds of typed nodes.
#[derive(Debug, Clone, PartialEq)]
pub enum TypedKind {
    /// A literal (aliases are resolved to their value).
    Literal(Literal),
    /// A column, reached through zero or more single-valued navigation properties.
    Property {
        /// Range variable the path starts from (`None`: the queried entity, `$it`).
        variable: Option<String>,
        /// Navigation steps before the property.
        through: Vec<NavStep>,
        /// The column.
        property: super::BoundProperty,
    },
    /// A range variable or a single-valued navigation used as a whole entity (`t`, `$it`).
    Entity {
        /// Range variable (`None`: `$it`).
        variable: Option<String>,
        /// Navigation steps.
        through: Vec<NavStep>,
    },
    /// `not x` or `-x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        operand: Box<TypedExpr>,
    },
    /// `lhs op rhs`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left.
        lhs: Box<TypedExpr>,
        /// Right.
        rhs: Box<TypedExpr>,
    },
    /// `lhs in (...)`.
    In {
        /// The tested value.
        lhs: Box<TypedExpr>,
        /// The candidates.
        list: Vec<TypedExpr>,
    },
    /// A canonical function call.
    Call {
        /// Which function.
        function: Canonical,
        /// Arguments (for `cast`/`isof`, the type name is in `ty`, not here).
        args: Vec<TypedExpr>,
    },
    /// `nav/any(v:body)` or `nav/all(v:body)`.
    Lambda {
        /// `any` or `all`.
        op: LambdaOp,
        /// Range variable the collection is reached from (`None`: `$it`).
        variable: Option<String>,
        /// Single-valued steps before the collection.
        through: Vec<NavStep>,
        /// The collection-valued navigation property.
        navigation: String,
        /// The entity the collection holds.
        target: String,
        /// The range variable; `None` for a bare `any()`.
        var: Option<String>,
        /// The predicate; `None` for a bare `any()`.
        body: Option<Box<TypedExpr>>,
    },
    /// A Dataverse query function such as `Microsoft.Dynamics.CRM.LastXDays`.
    QueryFunction {
        /// The unqualified name, e.g. `LastXDays`.
        name: String,
        /// The column it applies to.
        property: super::BoundProperty,
        /// `PropertyValue` / `PropertyValues`, converted to the column's type where they
        /// are of that type (counts stay `Int`, dates `Date`).
        values: Vec<Literal>,
    },
}

/// Binds a `$filter` expression of `entity` (an entity type of `model`) to a typed tree;
/// the result has type `Edm.Boolean`. `aliases` are the query's `@p=value` pairs.
///
/// ```
/// use d365_odata::bind::typed::{bind_typed_filter, Type};
/// use d365_odata::model::{EdmType, EntityType, Model, Property};
/// use d365_odata::parse_filter;
///
/// let account = EntityType {
///     name: "account".into(), entity_set: "accounts".into(), key: "accountid".into(),
///     primary_name: Some("name".into()),
///     properties: vec![Property::new("name", EdmType::String), Property::new("createdon", EdmType::DateTimeOffset)],
///     navigation: vec![], alternate_keys: vec![],
/// };
/// let model = Model::new(vec![account]);
/// let entity = model.entity_type("account").unwrap();
/// let f = parse_filter("length(name) gt 3 and Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)")?;
/// assert_eq!(bind_typed_filter(&model, entity, &f, &[]).unwrap().ty, Type::Edm(EdmType::Boolean));
/// let bad = parse_filter("not Microsoft.Dynamics.CRM.Today(PropertyName='createdon')")?;
/// assert_eq!(
///     bind_typed_filter(&model, entity, &bad, &[]).unwrap_err().to_string(),
///     "Not operator along with the Custom Named Condition operators is not allowed."
/// );
/// # Ok::<(), d365_odata::ParseError>(())
/// ```
pub fn bind_typed_filter(
    model: &Model,
    entity: &EntityType,
    expr: &Expr,
    aliases: &[(String, Expr)],
) -> Result<TypedExpr, BindError> {
    let binder = TypedBinder {
        model,
        root: entity,
        aliases,
        scopes: Vec::new(),
    };
    let bound = binder.bind(expr)?;
    if !bound.ty.is(EdmType::Boolean) && bound.ty != Type::Null {
        return Err(BindError::InvalidArgument(format!(
            "The $filter expression must be of type 'Edm.Boolean', not '{}'.",
            bound.ty
        )));
    }
    Ok(bound)
}

/// A walked path: range variable, the entity reached, the steps, and how many segments
/// were used.
type Walked<'a> = (Option<String>, &'a EntityType, Vec<NavStep>, usize);

struct TypedBinder<'a> {
    model: &'a Model,
    root: &'a EntityType,
    aliases: &'a [(String, Expr)],
    /// Lambda range variables in scope: (name, entity).
    scopes: Vec<(String, &'a EntityType)>,
}

fn bool_ty() -> Type {
    Type::Edm(EdmType::Boolean)
}

fn literal_type(lit: &Literal) -> Type {
    match lit {
        Literal::Null => Type::Null,
        Literal::Bool(_) => Type::Edm(EdmType::Boolean),
        Literal::Int(i) if i32::try_from(*i).is_ok() => Type::Edm(EdmType::Int32),
        Literal::Int(_) => Type::Edm(EdmType::Int64),
        Literal::Decimal(_) => Type::Edm(EdmType::Decimal),
        Literal::Double(_) => Type::Edm(EdmType::Double),
        Literal::String(_) => Type::Edm(EdmType::String),
        Literal::Guid(_) => Type::Edm(EdmType::Guid),
        Literal::Date(_) => Type::Edm(EdmType::Date),
        Literal::DateTimeOffset(_) => Type::Edm(EdmType::DateTimeOffset),
        Literal::TimeOfDay(_) => Type::TimeOfDay,
        Literal::Duration(_) => Type::Duration,
        Literal::Enum { type_name, .. } => Type::Enum(type_name.clone()),
        Literal::Array(items) => {
            Type::Collection(Box::new(items.first().map_or(Type::Null, literal_type)))
        }
    }
}

/// Whether values of types `a` and `b` can be compared. Strings compare with GUIDs and
/// dates with date-times, as Dataverse allows (quoted GUIDs, date literals).
fn comparable(a: &Type, b: &Type) -> bool {
    use EdmType as E;
    a == b
        || *a == Type::Null
        || *b == Type::Null
        || (a.is_numeric() && b.is_numeric())
        || matches!(
            (a, b),
            (Type::Edm(E::String), Type::Edm(E::Guid))
                | (Type::Edm(E::Guid), Type::Edm(E::String))
                | (Type::Edm(E::Date), Type::Edm(E::DateTimeOffset))
                | (Type::Edm(E::DateTimeOffset), Type::Edm(E::Date))
                | (Type::Enum(_), Type::Edm(E::String))
                | (Type::Edm(E::String), Type::Enum(_))
        )
}

fn operator_kind(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Eq => "Equal",
        BinaryOp::Ne => "NotEqual",
        BinaryOp::Gt => "GreaterThan",
        BinaryOp::Ge => "GreaterThanOrEqual",
        BinaryOp::Lt => "LessThan",
        BinaryOp::Le => "LessThanOrEqual",
        BinaryOp::Has => "Has",
        BinaryOp::And => "And",
        BinaryOp::Or => "Or",
        BinaryOp::Add => "Add",
        BinaryOp::Sub => "Subtract",
        BinaryOp::Mul => "Multiply",
        BinaryOp::Div => "Divide",
        BinaryOp::DivBy => "DivideBy",
        BinaryOp::Mod => "Modulo",
    }
}

/// The wider of two numeric types.
fn promote(a: &Type, b: &Type) -> Type {
    use EdmType as E;
    let rank = |t: &Type| match t {
        Type::Edm(E::Int32) => 0,
        Type::Edm(E::Int64) => 1,
        Type::Edm(E::Decimal) => 2,
        _ => 3,
    };
    if rank(a) >= rank(b) {
        a.clone()
    } else {
        b.clone()
    }
}

impl<'a> TypedBinder<'a> {
    fn resolve<'e>(&'e self, expr: &'e Expr) -> Result<&'e Expr, BindError> {
        match &expr.kind {
            ExprKind::Alias(name) => self
                .aliases
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v)
                .ok_or_else(|| BindError::UndefinedAlias(name.clone())),
            _ => Ok(expr),
        }
    }

    fn node(kind: TypedKind, ty: Type, span: Span) -> TypedExpr {
        TypedExpr { kind, ty, span }
    }

    fn bind(&self, expr: &Expr) -> Result<TypedExpr, BindError> {
        let span = expr.span;
        let expr = self.resolve(expr)?;
        match &expr.kind {
            ExprKind::Literal(lit) => Ok(Self::node(
                TypedKind::Literal(lit.clone()),
                literal_type(lit),
                span,
            )),
            ExprKind::Alias(name) => Err(BindError::UndefinedAlias(name.clone())),
            ExprKind::It => Ok(Self::node(
                TypedKind::Entity {
                    variable: None,
                    through: Vec::new(),
                },
                Type::Entity(self.root.name.clone()),
                span,
            )),
            ExprKind::Member(path) => self.member(path, span),
            ExprKind::Unary { op, operand } => {
                if *op == UnaryOp::Not && self.is_query_function(operand)? {
                    return Err(BindError::NotWithQueryFunction);
                }
                let inner = self.bind(operand)?;
                let ok = match op {
                    UnaryOp::Not => inner.ty.is(EdmType::Boolean) || inner.ty == Type::Null,
                    UnaryOp::Neg => inner.ty.is_numeric() || inner.ty == Type::Duration,
                };
                if !ok {
                    return Err(BindError::InvalidArgument(format!(
                        "The operand of '{}' has type '{}'.",
                        if *op == UnaryOp::Not { "not" } else { "-" },
                        inner.ty
                    )));
                }
                let ty = inner.ty.clone();
                Ok(Self::node(
                    TypedKind::Unary {
                        op: *op,
                        operand: Box::new(inner),
                    },
                    ty,
                    span,
                ))
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, span),
            ExprKind::In { lhs, list } => {
                let lhs = self.bind(lhs)?;
                let list = list
                    .iter()
                    .map(|e| self.bind(e))
                    .collect::<Result<Vec<_>, _>>()?;
                for item in &list {
                    let item_ty = match &item.ty {
                        Type::Collection(inner) => inner.as_ref().clone(),
                        t => t.clone(),
                    };
                    if !comparable(&lhs.ty, &item_ty) {
                        return Err(self.incompatible(&lhs.ty, &item_ty, "In"));
                    }
                }
                Ok(Self::node(
                    TypedKind::In {
                        lhs: Box::new(lhs),
                        list,
                    },
                    bool_ty(),
                    span,
                ))
            }
            ExprKind::Call { name, args } => self.call(name, args, span),
            ExprKind::Lambda {
                path,
                op,
                var,
                body,
            } => self.lambda(path, *op, var.as_deref(), body.as_deref(), span),
        }
    }

    fn is_query_function(&self, expr: &Expr) -> Result<bool, BindError> {
        Ok(
            matches!(&self.resolve(expr)?.kind, ExprKind::Call { name, .. } if name.starts_with(CRM_NAMESPACE)),
        )
    }

    fn incompatible(&self, l: &Type, r: &Type, operator: &'static str) -> BindError {
        BindError::IncompatibleTypes {
            left: l.to_string(),
            right: r.to_string(),
            operator,
        }
    }

    fn binary(
        &self,
        op: BinaryOp,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
    ) -> Result<TypedExpr, BindError> {
        let (l, r) = (self.bind(lhs)?, self.bind(rhs)?);
        let bad = || self.incompatible(&l.ty, &r.ty, operator_kind(op));
        let ty = match op {
            BinaryOp::And | BinaryOp::Or => {
                let boolish = |t: &Type| t.is(EdmType::Boolean) || *t == Type::Null;
                if !boolish(&l.ty) || !boolish(&r.ty) {
                    return Err(bad());
                }
                bool_ty()
            }
            BinaryOp::Eq | BinaryOp::Ne => {
                if !comparable(&l.ty, &r.ty) {
                    return Err(bad());
                }
                bool_ty()
            }
            BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Le => {
                let orderable =
                    |t: &Type| !matches!(t, Type::Entity(_) | Type::Collection(_) | Type::Null);
                if !comparable(&l.ty, &r.ty) || !orderable(&l.ty) || !orderable(&r.ty) {
                    return Err(bad());
                }
                bool_ty()
            }
            BinaryOp::Has => {
                if !matches!(r.ty, Type::Enum(_)) {
                    return Err(bad());
                }
                bool_ty()
            }
            BinaryOp::Add | BinaryOp::Sub => match (&l.ty, &r.ty) {
                (a, b) if a.is_numeric() && b.is_numeric() => promote(a, b),
                (Type::Edm(EdmType::DateTimeOffset | EdmType::Date), Type::Duration) => {
                    l.ty.clone()
                }
                (Type::Duration, Type::Duration) => Type::Duration,
                (Type::Edm(EdmType::DateTimeOffset), Type::Edm(EdmType::DateTimeOffset))
                | (Type::Edm(EdmType::Date), Type::Edm(EdmType::Date))
                    if op == BinaryOp::Sub =>
                {
                    Type::Duration
                }
                _ => return Err(bad()),
            },
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => {
                if !(l.ty.is_numeric() && r.ty.is_numeric()) {
                    return Err(bad());
                }
                promote(&l.ty, &r.ty)
            }
            BinaryOp::DivBy => {
                if !(l.ty.is_numeric() && r.ty.is_numeric()) {
                    return Err(bad());
                }
                promote(&promote(&l.ty, &r.ty), &Type::Edm(EdmType::Decimal))
            }
        };
        Ok(Self::node(
            TypedKind::Binary {
                op,
                lhs: Box::new(l),
                rhs: Box::new(r),
            },
            ty,
            span,
        ))
    }

    /// Resolves a path: an optional range variable (or `$it`), single-valued navigation
    /// steps, then a property or nothing (the entity itself).
    fn walk(&self, path: &[String]) -> Result<Walked<'a>, BindError> {
        let (variable, mut entity, mut at) = match path.first().map(String::as_str) {
            Some("$it") => (None, self.root, 1),
            Some(first) => match self.scopes.iter().rev().find(|(n, _)| n == first) {
                Some((name, e)) => (Some(name.clone()), *e, 1),
                None => (None, self.root, 0),
            },
            None => (None, self.root, 0),
        };
        let mut through = Vec::new();
        while at + 1 < path.len() {
            let name = &path[at];
            let Some(nav) = entity.navigation(name) else {
                break;
            };
            if nav.collection {
                return Err(BindError::InvalidArgument(format!(
                    "The navigation property '{name}' of 'Microsoft.Dynamics.CRM.{}' is a collection; use any() or all() to filter through it.",
                    entity.name
                )));
            }
            entity = self.target(&nav.target)?;
            through.push(NavStep {
                navigation: name.clone(),
                target: nav.target.clone(),
            });
            at += 1;
        }
        Ok((variable, entity, through, at))
    }

    fn target(&self, name: &str) -> Result<&'a EntityType, BindError> {
        self.model.entity_type(name).ok_or_else(|| {
            BindError::Unsupported(format!("The entity type '{name}' (not in the model)"))
        })
    }

    fn member(&self, path: &[String], span: Span) -> Result<TypedExpr, BindError> {
        let (variable, entity, through, at) = self.walk(path)?;
        let rest = &path[at..];
        match rest {
            [] => Ok(Self::node(
                TypedKind::Entity { variable, through },
                Type::Entity(entity.name.clone()),
                span,
            )),
            [name] => {
                if let Some(p) = entity.property(name) {
                    return Ok(Self::node(
                        TypedKind::Property {
                            variable,
                            through,
                            property: super::BoundProperty::of(p),
                        },
                        Type::Edm(p.edm_type),
                        span,
                    ));
                }
                if let Some(nav) = entity.navigation(name) {
                    if nav.collection {
                        return Err(BindError::InvalidArgument(format!(
                            "The collection navigation property '{name}' of 'Microsoft.Dynamics.CRM.{}' can only be used with any() or all().",
                            entity.name
                        )));
                    }
                    let mut through = through;
                    through.push(NavStep {
                        navigation: name.clone(),
                        target: nav.target.clone(),
                    });
                    return Ok(Self::node(
                        TypedKind::Entity { variable, through },
                        Type::Entity(nav.target.clone()),
                        span,
                    ));
                }
                Err(BindError::UnknownProperty {
                    property: name.clone(),
                    entity: entity.name.clone(),
                })
            }
            [first, ..] => Err(BindError::UnknownProperty {
                property: first.clone(),
                entity: entity.name.clone(),
            }),
        }
    }

    fn lambda(
        &self,
        path: &[String],
        op: LambdaOp,
        var: Option<&str>,
        body: Option<&Expr>,
        span: Span,
    ) -> Result<TypedExpr, BindError> {
        let (variable, entity, through, at) = self.walk(path)?;
        let [name] = &path[at..] else {
            return Err(BindError::UnknownProperty {
                property: path.join("/"),
                entity: entity.name.clone(),
            });
        };
        let Some(nav) = entity.navigation(name) else {
            return Err(BindError::UnknownProperty {
                property: name.clone(),
                entity: entity.name.clone(),
            });
        };
        if !nav.collection {
            return Err(BindError::InvalidArgument(format!(
                "The navigation property '{name}' of 'Microsoft.Dynamics.CRM.{}' is single-valued; {}() needs a collection.",
                entity.name,
                op.keyword()
            )));
        }
        if !through.is_empty() {
            // Dataverse: "not on a collection nested under a lookup" (B5.3).
            return Err(BindError::Unsupported(format!(
                "{}() on the collection '{name}' reached through a lookup",
                op.keyword()
            )));
        }
        let target = self.target(&nav.target)?;
        let body = match (var, body) {
            (Some(v), Some(b)) => {
                let mut inner = TypedBinder {
                    model: self.model,
                    root: self.root,
                    aliases: self.aliases,
                    scopes: self.scopes.clone(),
                };
                inner.scopes.push((v.to_owned(), target));
                let b = inner.bind(b)?;
                if !b.ty.is(EdmType::Boolean) {
                    return Err(BindError::InvalidArgument(format!(
                        "The body of {}() must be a condition, not '{}'.",
                        op.keyword(),
                        b.ty
                    )));
                }
                Some(Box::new(b))
            }
            _ => None,
        };
        Ok(Self::node(
            TypedKind::Lambda {
                op,
                variable,
                through,
                navigation: name.clone(),
                target: nav.target.clone(),
                var: var.map(str::to_owned),
                body,
            },
            bool_ty(),
            span,
        ))
    }

    fn call(&self, name: &str, args: &[Arg], span: Span) -> Result<TypedExpr, BindError> {
        if let Some(short) = name.strip_prefix(CRM_NAMESPACE) {
            return self.query_function(short, args, span);
        }
        let Some(function) = Canonical::from_name(name) else {
            return Err(BindError::UnknownFunction(name.to_owned()));
        };
        let positional = args
            .iter()
            .map(|a| match a {
                Arg::Positional(e) => Ok(e),
                Arg::Named { name: n, .. } => Err(BindError::InvalidArgument(format!(
                    "The function '{name}' takes no named parameter '{n}'."
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if matches!(function, Canonical::Cast | Canonical::IsOf) {
            return self.cast(function, &positional, span);
        }
        let bound = positional
            .iter()
            .map(|e| self.bind(e))
            .collect::<Result<Vec<_>, _>>()?;
        use Canonical as C;
        use EdmType as E;
        let s = Type::Edm(E::String);
        let int = Type::Edm(E::Int32);
        let dto = Type::Edm(E::DateTimeOffset);
        let date = Type::Edm(E::Date);
        // (accepted argument types per position, result type)
        let fits = |i: usize, allowed: &[&Type]| {
            bound.get(i).is_some_and(|a| {
                a.ty == Type::Null
                    || allowed.contains(&&a.ty)
                    || (allowed.iter().any(|t| t.is_numeric()) && a.ty.is_numeric())
            })
        };
        let (arity, ok, ty): ((usize, usize), bool, Type) = match function {
            C::Contains | C::StartsWith | C::EndsWith => {
                ((2, 2), fits(0, &[&s]) && fits(1, &[&s]), bool_ty())
            }
            C::Length => ((1, 1), fits(0, &[&s]), int.clone()),
            C::IndexOf => ((2, 2), fits(0, &[&s]) && fits(1, &[&s]), int.clone()),
            C::Substring => (
                (2, 3),
                fits(0, &[&s]) && fits(1, &[&int]) && (bound.len() < 3 || fits(2, &[&int])),
                s.clone(),
            ),
            C::ToLower | C::ToUpper | C::Trim => ((1, 1), fits(0, &[&s]), s.clone()),
            C::Concat => ((2, 2), fits(0, &[&s]) && fits(1, &[&s]), s.clone()),
            C::Year | C::Month | C::Day => ((1, 1), fits(0, &[&dto, &date]), int.clone()),
            C::Hour | C::Minute | C::Second => {
                ((1, 1), fits(0, &[&dto, &Type::TimeOfDay]), int.clone())
            }
            C::Date => ((1, 1), fits(0, &[&dto]), date.clone()),
            C::Time => ((1, 1), fits(0, &[&dto]), Type::TimeOfDay),
            C::Now => ((0, 0), true, dto.clone()),
            C::Round | C::Floor | C::Ceiling => (
                (1, 1),
                bound.first().is_some_and(|a| a.ty.is_numeric()),
                bound
                    .first()
                    .map_or(Type::Edm(E::Decimal), |a| a.ty.clone()),
            ),
            C::Cast | C::IsOf => unreachable!("handled above"),
        };
        if bound.len() < arity.0 || bound.len() > arity.1 {
            return Err(BindError::InvalidArgument(format!(
                "The function '{name}' takes {} argument(s), not {}.",
                if arity.0 == arity.1 {
                    arity.0.to_string()
                } else {
                    format!("{} to {}", arity.0, arity.1)
                },
                bound.len()
            )));
        }
        if !ok {
            // Name the property, its type and the entity when a column is the culprit.
            for arg in &bound {
                if let TypedKind::Property {
                    property, through, ..
                } = &arg.kind
                {
                    let entity = through
                        .last()
                        .map_or(self.root.name.clone(), |s| s.target.clone());
                    return Err(BindError::PropertyMisuse {
                        property: property.name.clone(),
                        edm_type: property.edm_type.to_string(),
                        entity,
                        reason: format!("cannot be an argument of '{name}' here"),
                    });
                }
            }
            let types: Vec<String> = bound.iter().map(|a| a.ty.to_string()).collect();
            return Err(BindError::InvalidArgument(format!(
                "The function '{name}' does not accept arguments of type ({}).",
                types.join(", ")
            )));
        }
        Ok(Self::node(
            TypedKind::Call {
                function,
                args: bound,
            },
            ty,
            span,
        ))
    }

    /// `cast(T)`, `cast(x,T)`, `isof(T)`, `isof(x,T)`.
    fn cast(
        &self,
        function: Canonical,
        args: &[&Expr],
        span: Span,
    ) -> Result<TypedExpr, BindError> {
        let (value, type_expr) = match args {
            [t] => (None, *t),
            [v, t] => (Some(*v), *t),
            _ => {
                return Err(BindError::InvalidArgument(format!(
                    "The function '{}' takes a type name, optionally after a value.",
                    function.name()
                )));
            }
        };
        let ExprKind::Member(type_path) = &type_expr.kind else {
            return Err(BindError::InvalidArgument(format!(
                "The last argument of '{}' must be a type name.",
                function.name()
            )));
        };
        let type_name = type_path.join("/");
        let target = match type_name.as_str() {
            "Edm.String" => Type::Edm(EdmType::String),
            "Edm.Int32" => Type::Edm(EdmType::Int32),
            "Edm.Int64" => Type::Edm(EdmType::Int64),
            "Edm.Decimal" => Type::Edm(EdmType::Decimal),
            "Edm.Double" => Type::Edm(EdmType::Double),
            "Edm.Boolean" => Type::Edm(EdmType::Boolean),
            "Edm.Guid" => Type::Edm(EdmType::Guid),
            "Edm.Date" => Type::Edm(EdmType::Date),
            "Edm.DateTimeOffset" => Type::Edm(EdmType::DateTimeOffset),
            "Edm.TimeOfDay" => Type::TimeOfDay,
            "Edm.Duration" => Type::Duration,
            other => {
                let short = other.strip_prefix(CRM_NAMESPACE).unwrap_or(other);
                match self.model.entity_type(short) {
                    Some(e) => Type::Entity(e.name.clone()),
                    None => {
                        return Err(BindError::InvalidArgument(format!(
                            "Unknown type '{other}'."
                        )));
                    }
                }
            }
        };
        let value = match value {
            Some(v) => self.bind(v)?,
            None => Self::node(
                TypedKind::Entity {
                    variable: None,
                    through: Vec::new(),
                },
                Type::Entity(self.root.name.clone()),
                type_expr.span,
            ),
        };
        let ty = if function == Canonical::IsOf {
            bool_ty()
        } else {
            target
        };
        Ok(Self::node(
            TypedKind::Call {
                function,
                args: vec![value],
            },
            ty,
            span,
        ))
    }

    fn query_function(
        &self,
        short: &str,
        args: &[Arg],
        span: Span,
    ) -> Result<TypedExpr, BindError> {
        let Some(&(name, shape, target)) = QUERY_FUNCTIONS.iter().find(|(n, ..)| *n == short)
        else {
            return Err(BindError::UnknownFunction(format!(
                "{CRM_NAMESPACE}{short}"
            )));
        };
        let mut property_name = None;
        let mut value = None;
        let mut values = None;
        for arg in args {
            let Arg::Named {
                name: param,
                value: v,
            } = arg
            else {
                return Err(BindError::InvalidArgument(format!(
                    "The query function '{name}' takes named parameters (PropertyName=..., PropertyValue=...)."
                )));
            };
            let v = self.resolve(v)?;
            let ExprKind::Literal(lit) = &v.kind else {
                return Err(BindError::InvalidArgument(format!(
                    "The parameter '{param}' of '{name}' must be a literal or a parameter alias."
                )));
            };
            match param.as_str() {
                "PropertyName" => property_name = Some(lit.clone()),
                "PropertyValue" => value = Some(lit.clone()),
                "PropertyValues" => values = Some(lit.clone()),
                other => {
                    return Err(BindError::InvalidArgument(format!(
                        "The query function '{name}' has no parameter '{other}'."
                    )));
                }
            }
        }
        let Some(Literal::String(column)) = property_name else {
            return Err(BindError::InvalidArgument(format!(
                "The query function '{name}' needs PropertyName='<column>'."
            )));
        };
        let property = self
            .root
            .property(&column)
            .ok_or_else(|| BindError::UnknownProperty {
                property: column.clone(),
                entity: self.root.name.clone(),
            })?;
        let misuse = |reason: String| BindError::PropertyMisuse {
            property: property.name.clone(),
            edm_type: property.edm_type.to_string(),
            entity: self.root.name.clone(),
            reason,
        };
        let fits = match target {
            QueryFunctionTarget::DateTime => {
                matches!(property.edm_type, EdmType::DateTimeOffset | EdmType::Date)
            }
            QueryFunctionTarget::Id => property.edm_type == EdmType::Guid,
            QueryFunctionTarget::Choice => {
                matches!(property.edm_type, EdmType::Int32 | EdmType::String)
            }
            QueryFunctionTarget::Any => true,
        };
        if !fits {
            let needs = match target {
                QueryFunctionTarget::DateTime => "a date or date-time column",
                QueryFunctionTarget::Id => "an id (Edm.Guid) column",
                QueryFunctionTarget::Choice => "a choice column",
                QueryFunctionTarget::Any => "a column",
            };
            return Err(misuse(format!(
                "cannot be used with '{name}', which needs {needs}"
            )));
        }
        let convert = |lit: &Literal| -> Result<Literal, BindError> {
            convert_value(lit, property).ok_or_else(|| {
                misuse(format!(
                    "cannot be compared with the value '{lit}' in '{name}'"
                ))
            })
        };
        let bound_values = match shape {
            QueryFunctionShape::NoValue => {
                if value.is_some() || values.is_some() {
                    return Err(BindError::InvalidArgument(format!(
                        "The query function '{name}' takes only PropertyName."
                    )));
                }
                Vec::new()
            }
            QueryFunctionShape::Count => match value {
                Some(Literal::Int(n)) if n >= 0 => vec![Literal::Int(n)],
                Some(Literal::String(s)) if s.parse::<u32>().is_ok() => {
                    vec![Literal::Int(s.parse::<i64>().unwrap_or(0))]
                }
                _ => {
                    return Err(BindError::InvalidArgument(format!(
                        "The query function '{name}' needs a non-negative integer PropertyValue."
                    )));
                }
            },
            QueryFunctionShape::Date => match value {
                Some(Literal::Date(d)) => vec![Literal::Date(d)],
                Some(Literal::DateTimeOffset(d)) => vec![Literal::DateTimeOffset(d)],
                Some(Literal::String(s)) => match crate::expr::parse_literal(&s) {
                    Ok(lit @ (Literal::Date(_) | Literal::DateTimeOffset(_))) => vec![lit],
                    _ => {
                        return Err(BindError::InvalidArgument(format!(
                            "The query function '{name}' needs a date PropertyValue."
                        )));
                    }
                },
                _ => {
                    return Err(BindError::InvalidArgument(format!(
                        "The query function '{name}' needs a date PropertyValue."
                    )));
                }
            },
            QueryFunctionShape::Value => match value {
                Some(lit) => vec![convert(&lit)?],
                None => {
                    return Err(BindError::InvalidArgument(format!(
                        "The query function '{name}' needs PropertyValue."
                    )));
                }
            },
            QueryFunctionShape::Range | QueryFunctionShape::Values => {
                let Some(Literal::Array(items)) = values else {
                    return Err(BindError::InvalidArgument(format!(
                        "The query function '{name}' needs PropertyValues=[...]."
                    )));
                };
                if shape == QueryFunctionShape::Range && items.len() != 2 {
                    return Err(BindError::InvalidArgument(format!(
                        "The query function '{name}' needs exactly two PropertyValues."
                    )));
                }
                if items.is_empty() {
                    return Err(BindError::InvalidArgument(format!(
                        "The query function '{name}' needs at least one PropertyValue."
                    )));
                }
                items.iter().map(convert).collect::<Result<Vec<_>, _>>()?
            }
        };
        Ok(Self::node(
            TypedKind::QueryFunction {
                name: name.to_owned(),
                property: super::BoundProperty::of(property),
                values: bound_values,
            },
            bool_ty(),
            span,
        ))
    }
}

/// Converts a query-function value (Dataverse sends them as strings: `["5","2000"]`) to the
/// column's type, or `None` if it does not fit.
fn convert_value(lit: &Literal, property: &Property) -> Option<Literal> {
    use EdmType as E;
    let text = match lit {
        Literal::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(match property.edm_type {
        E::String => Literal::String(text),
        E::Int32 | E::Int64 => Literal::Int(text.parse().ok()?),
        E::Decimal => {
            text.parse::<f64>().ok()?;
            Literal::Decimal(text)
        }
        E::Double => Literal::Double(text.parse().ok()?),
        E::Boolean => Literal::Bool(text.parse().ok()?),
        E::Guid => Literal::Guid(uuid::Uuid::parse_str(text.trim_matches(['{', '}'])).ok()?),
        E::Date | E::DateTimeOffset => match crate::expr::parse_literal(&text).ok()? {
            lit @ (Literal::Date(_) | Literal::DateTimeOffset(_)) => lit,
            _ => return None,
        },
    })
}

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

/// Most `$expand` options per query (B5.6).
pub const MAX_EXPANDS: usize = 15;
/// Largest `odata.maxpagesize` and `@odata.count` (B5.5, B5.7).
pub const MAX_PAGE_SIZE: u32 = 5000;

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
        if size > MAX_PAGE_SIZE {
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
            format!("@odata.count stops at {MAX_PAGE_SIZE}; use the RetrieveTotalRecordCount function for larger tables"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NavigationProperty;
    use crate::parse_filter;

    fn model() -> Model {
        let account = EntityType {
            name: "account".into(),
            entity_set: "accounts".into(),
            key: "accountid".into(),
            primary_name: Some("name".into()),
            properties: vec![
                Property::new("accountid", EdmType::Guid),
                Property::new("name", EdmType::String),
                Property::new("revenue", EdmType::Decimal).scale(4),
                Property::new("numberofemployees", EdmType::Int32),
                Property::new("createdon", EdmType::DateTimeOffset),
                Property::new("_ownerid_value", EdmType::Guid),
                Property::new("_primarycontactid_value", EdmType::Guid).lookup(&["contact"]),
            ],
            navigation: vec![
                NavigationProperty {
                    name: "primarycontactid".into(),
                    target: "contact".into(),
                    collection: false,
                    partner: None,
                    foreign_key: "_primarycontactid_value".into(),
                },
                NavigationProperty {
                    name: "Account_Tasks".into(),
                    target: "task".into(),
                    collection: true,
                    partner: None,
                    foreign_key: "_regardingobjectid_value".into(),
                },
            ],
            alternate_keys: vec![],
        };
        let contact = EntityType {
            name: "contact".into(),
            entity_set: "contacts".into(),
            key: "contactid".into(),
            primary_name: Some("fullname".into()),
            properties: vec![
                Property::new("contactid", EdmType::Guid),
                Property::new("fullname", EdmType::String),
            ],
            navigation: vec![],
            alternate_keys: vec![],
        };
        let task = EntityType {
            name: "task".into(),
            entity_set: "tasks".into(),
            key: "activityid".into(),
            primary_name: Some("subject".into()),
            properties: vec![
                Property::new("subject", EdmType::String),
                Property::new("statecode", EdmType::Int32),
            ],
            navigation: vec![],
            alternate_keys: vec![],
        };
        Model::new(vec![account, contact, task])
    }

    fn bind(text: &str) -> Result<TypedExpr, BindError> {
        let m = model();
        let e = m.entity_type("account").unwrap().clone();
        let aliases = vec![
            ("p1".to_owned(), parse_filter("'createdon'").unwrap()),
            ("p2".to_owned(), parse_filter("12").unwrap()),
        ];
        bind_typed_filter(&m, &e, &parse_filter(text).unwrap(), &aliases)
    }

    #[test]
    fn the_whole_language_types() {
        for ok in [
            "revenue add 10 gt numberofemployees mul 2",
            "revenue divby 3 lt 1.5 and numberofemployees mod 2 eq 0",
            "-revenue lt 0",
            "primarycontactid/fullname eq 'X'",
            "Account_Tasks/any(t:t/statecode eq 1 and contains(t/subject,'x'))",
            "Account_Tasks/all(t:t/statecode eq 1)",
            "Account_Tasks/any()",
            "length(name) gt 3 and indexof(name,'a') ge 0",
            "substring(name,1,2) eq 'ab' and tolower(toupper(trim(name))) eq concat('a','b')",
            "year(createdon) eq 2024 and month(createdon) eq 1 and day(createdon) eq 2",
            "hour(createdon) eq 1 and minute(createdon) eq 2 and second(createdon) eq 3",
            "date(createdon) eq 2024-01-01 and time(createdon) lt 12:00 and createdon lt now()",
            "round(revenue) eq 1 and floor(revenue) eq 1 and ceiling(revenue) eq 2",
            "cast(numberofemployees,Edm.Decimal) gt 1.5 and isof(Microsoft.Dynamics.CRM.account)",
            "numberofemployees in (1,2,3) and name in ('a','b')",
            "accountid eq '3f2504e0-4f89-11d3-9a0c-0305e82c3301'",
            "Microsoft.Dynamics.CRM.LastXHours(PropertyName=@p1,PropertyValue=@p2)",
            "Microsoft.Dynamics.CRM.Today(PropertyName='createdon')",
            "Microsoft.Dynamics.CRM.On(PropertyName='createdon',PropertyValue='2024-01-31')",
            "Microsoft.Dynamics.CRM.Between(PropertyName='numberofemployees',PropertyValues=[\"5\",\"2000\"])",
            "Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=[\"OBrian\",\"O'Brian\"])",
            "Microsoft.Dynamics.CRM.EqualUserId(PropertyName='_ownerid_value')",
            "Microsoft.Dynamics.CRM.Under(PropertyName='accountid',PropertyValue='3f2504e0-4f89-11d3-9a0c-0305e82c3301')",
            "Microsoft.Dynamics.CRM.ContainValues(PropertyName='numberofemployees',PropertyValues=[\"1\",\"2\"])",
        ] {
            let bound = bind(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(bound.ty, bool_ty(), "{ok}");
        }
    }

    #[test]
    fn errors_name_the_property_type_and_entity() {
        let err = bind("Microsoft.Dynamics.CRM.LastXDays(PropertyName='name',PropertyValue=3)")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "The property 'name' of type 'Edm.String' on 'Microsoft.Dynamics.CRM.account' cannot be used with 'LastXDays', which needs a date or date-time column."
        );
        let err = bind("length(revenue) gt 1").unwrap_err();
        assert!(
            err.to_string().starts_with(
                "The property 'revenue' of type 'Edm.Decimal' on 'Microsoft.Dynamics.CRM.account'"
            ),
            "{err}"
        );
        assert!(matches!(
            bind("name add 1 eq 2"),
            Err(BindError::IncompatibleTypes { .. })
        ));
        assert!(
            matches!(bind("primarycontactid/nope eq 1"), Err(BindError::UnknownProperty { entity, .. }) if entity == "contact")
        );
        assert!(matches!(
            bind("frob(name)"),
            Err(BindError::UnknownFunction(_))
        ));
        assert!(matches!(
            bind("Account_Tasks/subject eq 'x'"),
            Err(BindError::InvalidArgument(_))
        ));
        assert!(matches!(
            bind("primarycontactid/any(c:true)"),
            Err(BindError::InvalidArgument(_))
        ));
        assert!(matches!(
            bind("length(name)"),
            Err(BindError::InvalidArgument(_))
        ));
        assert_eq!(
            bind("not Microsoft.Dynamics.CRM.Yesterday(PropertyName='createdon')").unwrap_err(),
            BindError::NotWithQueryFunction
        );
        assert!(bind("Microsoft.Dynamics.CRM.Between(PropertyName='numberofemployees',PropertyValues=[\"5\"])").is_err());
        assert!(
            bind(
                "Microsoft.Dynamics.CRM.In(PropertyName='numberofemployees',PropertyValues=[\"x\"])"
            )
            .is_err()
        );
    }

    #[test]
    fn dataverse_rules() {
        let q = QueryOptions::parse(
            "$expand=a($expand=b($top=1)),c($skip=1)&$count=true&$search=x&$filter=Microsoft.Dynamics.CRM.Foo(PropertyName='a')",
        )
        .unwrap();
        let v = validate_dataverse(&q, &Prefer::parse(["odata.maxpagesize=6000"]));
        let codes: Vec<&str> = v.errors.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            [
                "search-unsupported",
                "maxpagesize-too-large",
                "function-unsupported",
                "expand-nested-top-orderby",
                "expand-option-unsupported"
            ]
        );
        assert_eq!(v.warnings[0].code, "count-capped");
        let many: Vec<String> = (0..16).map(|i| format!("n{i}")).collect();
        let q = QueryOptions::parse(&format!("$expand={}", many.join(","))).unwrap();
        assert_eq!(
            validate_dataverse(&q, &Prefer::default()).errors[0].code,
            "too-many-expands"
        );
    }
}
