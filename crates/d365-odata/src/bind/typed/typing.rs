//! The typing rules the binder applies: the type of a literal, which types compare, and
//! numeric promotion.

use super::{Type, TypedExpr, TypedKind};
use crate::expr::BinaryOp;
use crate::literal::Literal;
use crate::model::EdmType;

pub(super) fn bool_ty() -> Type {
    Type::Edm(EdmType::Boolean)
}

pub(super) fn literal_type(lit: &Literal) -> Type {
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
pub(super) fn comparable(a: &Type, b: &Type) -> bool {
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

/// A string literal compared with a GUID must be a GUID (Dataverse accepts quoted ones).
pub(super) fn guid_text_fits(a: &TypedExpr, b: &TypedExpr) -> bool {
    match (&a.kind, &b.ty) {
        (TypedKind::Literal(Literal::String(s)), Type::Edm(EdmType::Guid)) => {
            uuid::Uuid::parse_str(s.trim_matches(['{', '}'])).is_ok()
        }
        _ => true,
    }
}

pub(super) fn operator_kind(op: BinaryOp) -> &'static str {
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
pub(super) fn promote(a: &Type, b: &Type) -> Type {
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
