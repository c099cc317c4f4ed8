//! The typed binder for the whole `$filter` language: the one the emulator plans SQL from
//! and the CLI lints with.
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

use super::{BindError, Budget};
use crate::expr::{Arg, BinaryOp, Expr, ExprKind, LambdaOp, Span, UnaryOp};
use crate::literal::Literal;
use crate::model::{EdmType, EntityType, Model, Property};
use typing::{bool_ty, comparable, guid_text_fits, literal_type, operator_kind, promote};

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

mod calls;
mod functions;
mod rules;
#[cfg(test)]
mod tests;
mod typing;

pub use functions::{
    CRM_NAMESPACE, Canonical, QUERY_FUNCTIONS, QueryFunctionShape, QueryFunctionTarget,
};
pub use rules::{Diagnostic, MAX_EXPANDS, MAX_PAGE_SIZE, Severity, Validation, validate_dataverse};

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
    let budget = Budget::default();
    let binder = TypedBinder {
        model,
        root: entity,
        aliases,
        scopes: Vec::new(),
        budget: &budget,
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
    /// Shared with the binders of lambda bodies: one budget for the whole expression.
    budget: &'a Budget,
}

impl<'a> TypedBinder<'a> {
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

    fn node(kind: TypedKind, ty: Type, span: Span) -> TypedExpr {
        TypedExpr { kind, ty, span }
    }

    /// An alias's value is bound in its place, each alias at most once on the way down.
    fn bind_alias(&self, name: &str, span: Span) -> Result<TypedExpr, BindError> {
        let Some((_, value)) = self.aliases.iter().find(|(n, _)| n == name) else {
            return self
                .bind(&crate::bind::NULL_EXPR)
                .map(|t| TypedExpr { span, ..t });
        };
        if self.budget.expanding.borrow().iter().any(|n| n == name) {
            return Err(BindError::InvalidArgument(
                "Parameter aliases refer to each other in a loop.".into(),
            ));
        }
        self.budget.expanding.borrow_mut().push(name.to_owned());
        let bound = self.bind(value);
        self.budget.expanding.borrow_mut().pop();
        bound.map(|t| TypedExpr { span, ..t })
    }

    fn bind(&self, expr: &Expr) -> Result<TypedExpr, BindError> {
        let span = expr.span;
        if let ExprKind::Alias(name) = &expr.kind {
            return self.bind_alias(name, span);
        }
        let _depth = self.budget.enter()?;
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
                if !comparable(&l.ty, &r.ty) || !guid_text_fits(&l, &r) || !guid_text_fits(&r, &l) {
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
                // `x has Ns.Type'Member'`: flags of the same enum on both sides.
                if !matches!(r.ty, Type::Enum(_)) || l.ty != r.ty {
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
                    budget: self.budget,
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
}
