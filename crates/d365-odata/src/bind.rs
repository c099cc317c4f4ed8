//! Binding: a parsed expression plus the model gives a typed tree, or an error a user can act
//! on. Type checks happen here, before any SQL exists: no comparing a string to a number, no
//! unknown property (Azurite compares untyped; we do not, see STYLE.md §9).

use crate::expr::{Expr, ExprKind, OrderBy};
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

/// A typed `$orderby` item.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundOrder {
    /// The column.
    pub property: BoundProperty,
    /// `desc`.
    pub descending: bool,
}

/// Binds `$orderby` items: each must be a property of `entity`.
pub fn bind_orderby(entity: &EntityType, items: &[OrderBy]) -> Result<Vec<BoundOrder>, BindError> {
    items
        .iter()
        .map(|item| match &item.expr.kind {
            ExprKind::Member(path) => Ok(BoundOrder {
                property: property(entity, path)?,
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

/// A property of `entity` named by a one-segment path; a path through a navigation
/// property is not a column of `entity`.
fn property(entity: &EntityType, path: &[String]) -> Result<BoundProperty, BindError> {
    match path {
        [name] => {
            entity
                .property(name)
                .map(BoundProperty::of)
                .ok_or_else(|| BindError::UnknownProperty {
                    property: name.clone(),
                    entity: entity.name.clone(),
                })
        }
        [first, ..] if entity.navigation(first).is_some() => Err(BindError::Unsupported(format!(
            "Filtering through the navigation property '{first}'"
        ))),
        _ => Err(BindError::UnknownProperty {
            property: path.join("/"),
            entity: entity.name.clone(),
        }),
    }
}
