//! The whole `$filter` language, typed by `d365-odata`'s typed binder, as SQL: arithmetic,
//! the canonical functions, `in`, member paths through single-valued navigation properties
//! (scalar subqueries), `any`/`all` over collection-valued ones (`EXISTS`), and Dataverse's
//! query functions (`LastXDays`, `EqualUserId`, `In`, …) against the emulator's clock and the
//! caller. Every value is a bound parameter; identifiers come only from the model.
//!
//! Storage: decimals are integers scaled by 10^scale, so a decimal column compared with a
//! literal scales the literal (exact, index-friendly); elsewhere it is divided back. Instants
//! are Unix seconds; dates are `YYYY-MM-DD` text.

use d365_odata::Literal;
use d365_odata::bind::typed::{Canonical, NavStep, Type, TypedExpr, TypedKind};
use d365_odata::model::{EdmType, EntityType, Model};
use d365_odata::{BinaryOp, LambdaOp, UnaryOp};
use rusqlite::types::Value;

mod query_functions;

use super::conditions::QueryContext;
use super::error::FilterError::{self, Unsupported};
use super::error::PlanError;
use super::plan::SqlFilter;
use super::values::literal_to_sql;
use crate::store::schema::ident;

type R<T> = Result<T, FilterError>;

struct Scope<'m> {
    variable: Option<String>,
    entity: &'m EntityType,
    alias: String,
}

struct Planner<'m> {
    model: &'m Model,
    ctx: QueryContext,
    scopes: Vec<Scope<'m>>,
    params: Vec<Value>,
    aliases: usize,
}

/// Plans a typed filter on `root` (the main table, written unaliased as its own name).
pub fn typed_filter_sql(
    model: &Model,
    root: &EntityType,
    filter: &TypedExpr,
    ctx: QueryContext,
) -> Result<SqlFilter, PlanError> {
    let mut p = Planner {
        model,
        ctx,
        scopes: vec![Scope {
            variable: None,
            entity: root,
            alias: ident(&root.name),
        }],
        params: Vec::new(),
        aliases: 0,
    };
    let sql = p.condition(filter)?;
    Ok(SqlFilter {
        sql,
        params: p.params,
    })
}

fn pow10(scale: u8) -> f64 {
    10f64.powi(i32::from(scale))
}

impl<'m> Planner<'m> {
    fn param(&mut self, v: Value) -> String {
        self.params.push(v);
        "?".into()
    }

    fn scope(&self, variable: Option<&str>) -> R<&Scope<'m>> {
        match variable {
            None | Some("$it") => Ok(&self.scopes[0]),
            Some(v) => self
                .scopes
                .iter()
                .rev()
                .find(|s| s.variable.as_deref() == Some(v))
                .ok_or_else(|| Unsupported(format!("The range variable '{v}'"))),
        }
    }

    fn fresh_alias(&mut self) -> String {
        self.aliases += 1;
        ident(&format!("t{}", self.aliases))
    }

    /// The SQL of `column` on the row reached from `variable`'s row through single-valued
    /// navigation properties: each hop a scalar subquery on the previous hop's lookup column.
    fn path(&mut self, variable: Option<&str>, through: &[NavStep], column: &str) -> R<String> {
        const HOLE: &str = "{col}";
        let scope = self.scope(variable)?;
        let (mut entity, mut sql) = (scope.entity, format!("{}.{HOLE}", scope.alias));
        for step in through {
            let nav = entity
                .navigation(&step.navigation)
                .filter(|n| !n.collection)
                .ok_or_else(|| Unsupported(format!("The path through '{}'", step.navigation)))?;
            sql = sql.replace(HOLE, &ident(&nav.foreign_key));
            let target = self
                .model
                .entity_type(&nav.target)
                .ok_or_else(|| Unsupported(format!("The table '{}'", nav.target)))?;
            let alias = self.fresh_alias();
            sql = format!(
                "(SELECT {alias}.{HOLE} FROM {} AS {alias} WHERE {alias}.{} = {sql})",
                ident(&target.name),
                ident(&target.key)
            );
            entity = target;
        }
        Ok(sql.replace(HOLE, &ident(column)))
    }

    /// A boolean expression as a SQL condition.
    fn condition(&mut self, e: &TypedExpr) -> R<String> {
        self.expr(e)
    }

    fn literal(&mut self, lit: &Literal, ty: &Type, scale: Option<u8>) -> String {
        let edm = match ty {
            Type::Edm(t) => *t,
            _ => EdmType::String,
        };
        if matches!(lit, Literal::Null) {
            return "NULL".into();
        }
        // Dataverse takes quoted GUIDs (`accountid eq '…'`), as the Python SDK sends them.
        if edm == EdmType::Guid
            && let Literal::String(s) = lit
            && let Ok(g) = uuid::Uuid::parse_str(s.trim_matches(['{', '}']))
        {
            return self.param(Value::Blob(g.as_bytes().to_vec()));
        }
        self.param(literal_to_sql(lit, edm, scale))
    }

    /// A decimal column's raw SQL when compared with a literal; its value otherwise.
    fn value(&mut self, e: &TypedExpr) -> R<String> {
        if let TypedKind::Property { property, .. } = &e.kind
            && property.edm_type == EdmType::Decimal
        {
            let raw = self.expr(e)?;
            return Ok(format!(
                "({raw} / {:?})",
                pow10(property.scale.unwrap_or(0))
            ));
        }
        self.expr(e)
    }

    fn comparison(&mut self, op: BinaryOp, lhs: &TypedExpr, rhs: &TypedExpr) -> R<String> {
        let is_null = |e: &TypedExpr| matches!(e.kind, TypedKind::Literal(Literal::Null));
        // `lookupnav eq null`: the lookup column.
        let side = |p: &mut Self, e: &TypedExpr, other: &TypedExpr| -> R<String> {
            match (&e.kind, &other.kind) {
                (TypedKind::Entity { variable, through }, _) => {
                    let (last, before) = through
                        .split_last()
                        .ok_or_else(|| Unsupported("Comparing the record itself".into()))?;
                    let scope_entity = p.entity_after(variable.as_deref(), before)?;
                    let nav = scope_entity
                        .navigation(&last.navigation)
                        .ok_or_else(|| Unsupported(format!("'{}'", last.navigation)))?;
                    let fk = nav.foreign_key.clone();
                    p.path(variable.as_deref(), before, &fk)
                }
                // Scaled column against a literal: scale the literal instead.
                (TypedKind::Property { property, .. }, TypedKind::Literal(_))
                    if property.edm_type == EdmType::Decimal =>
                {
                    p.expr(e)
                }
                (TypedKind::Literal(lit), TypedKind::Property { property, .. }) => {
                    let ty = Type::Edm(property.edm_type);
                    Ok(p.literal(lit, &ty, property.scale))
                }
                _ => p.value(e),
            }
        };
        let l = side(self, lhs, rhs)?;
        let r = side(self, rhs, lhs)?;
        Ok(match op {
            BinaryOp::Eq if is_null(lhs) || is_null(rhs) => format!("({l} IS {r})"),
            BinaryOp::Eq => format!("({l} = {r})"),
            BinaryOp::Ne => super::plan::not_equal_sql(&l, &r),
            BinaryOp::Gt => format!("({l} > {r})"),
            BinaryOp::Ge => format!("({l} >= {r})"),
            BinaryOp::Lt => format!("({l} < {r})"),
            _ => format!("({l} <= {r})"),
        })
    }

    fn entity_after(&self, variable: Option<&str>, through: &[NavStep]) -> R<&'m EntityType> {
        let mut entity = self.scope(variable)?.entity;
        for step in through {
            entity = self
                .model
                .entity_type(&step.target)
                .ok_or_else(|| Unsupported(format!("The table '{}'", step.target)))?;
        }
        Ok(entity)
    }

    fn expr(&mut self, e: &TypedExpr) -> R<String> {
        match &e.kind {
            TypedKind::Literal(lit) => Ok(self.literal(lit, &e.ty, None)),
            TypedKind::Property {
                variable,
                through,
                property,
            } => self.path(variable.as_deref(), through, &property.name),
            TypedKind::Entity { .. } => Err(Unsupported("A record used as a value".into())),
            TypedKind::Unary { op, operand } => {
                let inner = self.value(operand)?;
                Ok(match op {
                    UnaryOp::Not => format!("(NOT coalesce({inner}, 0))"),
                    UnaryOp::Neg => format!("(-{inner})"),
                })
            }
            TypedKind::Binary { op, lhs, rhs } => match op {
                BinaryOp::And | BinaryOp::Or => {
                    let (l, r) = (self.expr(lhs)?, self.expr(rhs)?);
                    let glue = if *op == BinaryOp::And { "AND" } else { "OR" };
                    Ok(format!("({l} {glue} {r})"))
                }
                BinaryOp::Eq
                | BinaryOp::Ne
                | BinaryOp::Gt
                | BinaryOp::Ge
                | BinaryOp::Lt
                | BinaryOp::Le => self.comparison(*op, lhs, rhs),
                BinaryOp::Add
                | BinaryOp::Sub
                | BinaryOp::Mul
                | BinaryOp::Div
                | BinaryOp::DivBy
                | BinaryOp::Mod => {
                    if !e.ty.is_numeric_type() {
                        return Err(Unsupported("Date and duration arithmetic".into()));
                    }
                    let (l, r) = (self.value(lhs)?, self.value(rhs)?);
                    let sym = match op {
                        BinaryOp::Add => "+",
                        BinaryOp::Sub => "-",
                        BinaryOp::Mul => "*",
                        BinaryOp::Mod => "%",
                        _ => "/",
                    };
                    // `div` on integers truncates, `divby` and decimals do not.
                    if *op == BinaryOp::DivBy || (*op == BinaryOp::Div && !e.ty.is_integer_type()) {
                        return Ok(format!("(CAST({l} AS REAL) / {r})"));
                    }
                    Ok(format!("({l} {sym} {r})"))
                }
                other => Err(Unsupported(format!("The '{}' operator", other.keyword()))),
            },
            TypedKind::In { lhs, list } => {
                let l = self.value(lhs)?;
                let scale = match &lhs.kind {
                    TypedKind::Property { property, .. } => property.scale,
                    _ => None,
                };
                let lhs_raw = match &lhs.kind {
                    TypedKind::Property { property, .. }
                        if property.edm_type == EdmType::Decimal =>
                    {
                        self.expr(lhs)?
                    }
                    _ => l,
                };
                let mut items = Vec::new();
                for item in list {
                    items.push(match &item.kind {
                        TypedKind::Literal(lit) => self.literal(lit, &lhs.ty, scale),
                        _ => self.value(item)?,
                    });
                }
                Ok(format!("({lhs_raw} IN ({}))", items.join(", ")))
            }
            TypedKind::Call { function, args } => self.call(*function, args, &e.ty),
            TypedKind::Lambda {
                op,
                variable,
                through,
                navigation,
                target,
                var,
                body,
            } => {
                if !through.is_empty() {
                    return Err(Unsupported("A lambda after a navigation path".into()));
                }
                let outer = self.scope(variable.as_deref())?;
                let nav = outer
                    .entity
                    .navigation(navigation)
                    .filter(|n| n.collection)
                    .ok_or_else(|| Unsupported(format!("'{navigation}'")))?
                    .clone();
                let (outer_alias, outer_key) = (outer.alias.clone(), outer.entity.key.clone());
                let target = self
                    .model
                    .entity_type(target)
                    .ok_or_else(|| Unsupported(format!("The table '{target}'")))?;
                let alias = self.fresh_alias();
                let join = format!(
                    "SELECT 1 FROM {} AS {alias} WHERE {alias}.{} = {outer_alias}.{}",
                    ident(&target.name),
                    ident(&nav.foreign_key),
                    ident(&outer_key)
                );
                self.scopes.push(Scope {
                    variable: var.clone(),
                    entity: target,
                    alias,
                });
                let body = body.as_ref().map(|b| self.condition(b)).transpose();
                self.scopes.pop();
                let body = body?;
                Ok(match (op, body) {
                    (LambdaOp::Any, None) => format!("EXISTS ({join})"),
                    (LambdaOp::Any, Some(b)) => format!("EXISTS ({join} AND {b})"),
                    (LambdaOp::All, None) => "1".into(),
                    (LambdaOp::All, Some(b)) => {
                        format!("NOT EXISTS ({join} AND NOT coalesce({b}, 0))")
                    }
                })
            }
            TypedKind::QueryFunction {
                name,
                property,
                values,
            } => self.query_function(name, property, values),
        }
    }

    fn call(&mut self, f: Canonical, args: &[TypedExpr], ty: &Type) -> R<String> {
        let arg = |p: &mut Self, i: usize| -> R<String> {
            args.get(i)
                .ok_or_else(|| Unsupported("A call with missing arguments".into()))
                .and_then(|a| p.value(a))
        };
        // A string-matching call with a literal pattern: LIKE, wildcards keeping their
        // meaning as in Dataverse.
        let like = |p: &mut Self, prefix: &str, suffix: &str| -> R<String> {
            let target = arg(p, 0)?;
            match args.get(1).map(|a| &a.kind) {
                Some(TypedKind::Literal(Literal::String(s))) => {
                    if s.contains('[') {
                        return Err(Unsupported(
                            "LIKE character classes ([a-c]) in contains/startswith/endswith".into(),
                        ));
                    }
                    crate::query::plan::check_like_pattern(s)?;
                    let pattern = p.param(Value::Text(format!("{prefix}{s}{suffix}")));
                    Ok(format!("({target} LIKE {pattern})"))
                }
                _ => {
                    let other = arg(p, 1)?;
                    Ok(format!(
                        "({target} LIKE '{prefix}' || {other} || '{suffix}')"
                    ))
                }
            }
        };
        let is_instant = args
            .first()
            .is_some_and(|a| a.ty == Type::Edm(EdmType::DateTimeOffset));
        let part = |p: &mut Self, fmt: &str| -> R<String> {
            let a = arg(p, 0)?;
            let modifier = if is_instant { ", 'unixepoch'" } else { "" };
            Ok(format!("CAST(strftime('{fmt}', {a}{modifier}) AS INTEGER)"))
        };
        match f {
            Canonical::Contains => like(self, "%", "%"),
            Canonical::StartsWith => match (&args.first(), args.get(1).map(|a| &a.kind)) {
                // A column of this table or a range variable's (not a path through a
                // navigation, whose subquery has no collation) against a literal.
                (
                    Some(TypedExpr {
                        kind: TypedKind::Property { through, .. },
                        ty: Type::Edm(EdmType::String),
                        ..
                    }),
                    Some(TypedKind::Literal(Literal::String(s))),
                ) if through.is_empty() && !s.contains('[') => {
                    crate::query::plan::check_like_pattern(s)?;
                    let target = arg(self, 0)?;
                    let (sql, params) = crate::query::plan::starts_with_sql(&target, s);
                    self.params.extend(params);
                    Ok(sql)
                }
                _ => like(self, "", "%"),
            },
            Canonical::EndsWith => like(self, "%", ""),
            Canonical::Length => Ok(format!("length({})", arg(self, 0)?)),
            Canonical::IndexOf => Ok(format!("(instr({}, {}) - 1)", arg(self, 0)?, arg(self, 1)?)),
            Canonical::Substring => {
                let s = arg(self, 0)?;
                let from = arg(self, 1)?;
                Ok(match args.get(2) {
                    Some(_) => format!("substr({s}, {from} + 1, {})", arg(self, 2)?),
                    None => format!("substr({s}, {from} + 1)"),
                })
            }
            Canonical::ToLower => Ok(format!("lower({})", arg(self, 0)?)),
            Canonical::ToUpper => Ok(format!("upper({})", arg(self, 0)?)),
            Canonical::Trim => Ok(format!("trim({})", arg(self, 0)?)),
            Canonical::Concat => Ok(format!("({} || {})", arg(self, 0)?, arg(self, 1)?)),
            Canonical::Year => part(self, "%Y"),
            Canonical::Month => part(self, "%m"),
            Canonical::Day => part(self, "%d"),
            Canonical::Hour => part(self, "%H"),
            Canonical::Minute => part(self, "%M"),
            Canonical::Second => part(self, "%S"),
            Canonical::Date => {
                let a = arg(self, 0)?;
                Ok(if is_instant {
                    format!("date({a}, 'unixepoch')")
                } else {
                    a
                })
            }
            Canonical::Now => Ok(self.param(Value::Integer(self.ctx.now))),
            Canonical::Round => Ok(format!("round({})", arg(self, 0)?)),
            Canonical::Floor | Canonical::Ceiling => {
                let a = arg(self, 0)?;
                let t = format!("CAST({a} AS INTEGER)");
                Ok(if f == Canonical::Floor {
                    format!("({t} - ({a} < {t}))")
                } else {
                    format!("({t} + ({a} > {t}))")
                })
            }
            other => {
                let _ = ty;
                Err(Unsupported(format!("The function '{}'", other.name())))
            }
        }
    }
}

trait TypeExt {
    fn is_numeric_type(&self) -> bool;
    fn is_integer_type(&self) -> bool;
}

impl TypeExt for Type {
    fn is_numeric_type(&self) -> bool {
        matches!(self, Type::Edm(t) if t.is_numeric())
    }
    fn is_integer_type(&self) -> bool {
        matches!(self, Type::Edm(EdmType::Int32 | EdmType::Int64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use d365_odata::bind::typed::bind_typed_filter;
    use d365_odata::parse_filter;

    fn sql(text: &str) -> SqlFilter {
        let model = crate::dataverse::model::DataverseModel::default().model;
        let account = model.entity_type("account").unwrap();
        let typed = bind_typed_filter(&model, account, &parse_filter(text).unwrap(), &[]).unwrap();
        let ctx = QueryContext {
            user: uuid::Uuid::nil(),
            business_unit: uuid::Uuid::nil(),
            now: 0,
        };
        typed_filter_sql(&model, account, &typed, ctx).unwrap()
    }

    #[test]
    fn translations() {
        // OData is two-valued, SQL three-valued: `not` coalesces, `ne` is `IS NOT`.
        let f = sql("name eq 'x' and revenue gt 1000.5");
        assert_eq!(
            f.sql,
            r#"(("account"."name" = ?) AND ("account"."revenue" > ?))"#
        );
        assert_eq!(
            f.params,
            vec![Value::Text("x".into()), Value::Integer(10_005_000)],
            "the literal is scaled, not the column"
        );
        assert_eq!(
            sql("not (name ne null)").sql,
            r#"(NOT coalesce(("account"."name" IS NOT NULL), 0))"#
        );
        assert_eq!(
            sql("1000 lt revenue").params,
            vec![Value::Integer(10_000_000)]
        );
        assert_eq!(
            sql("revenue gt numberofemployees").sql,
            r#"(("account"."revenue" / 10000.0) > "account"."numberofemployees")"#
        );
        let f = sql("startswith(name,'Con')");
        assert_eq!(
            (f.sql.as_str(), f.params.as_slice()),
            (
                r#"("account"."name" >= ? AND "account"."name" < ?)"#,
                &[Value::Text("Con".into()), Value::Text("coo".into())][..]
            ),
            "a range, prepared once for every prefix"
        );
        let f = sql("startswith(name,'C_n')");
        assert_eq!(
            (f.sql.as_str(), &f.params[0]),
            (r#"("account"."name" LIKE ?)"#, &Value::Text("C_n%".into())),
            "a wildcard keeps its LIKE meaning"
        );
        assert_eq!(
            sql("startswith(tolower(name),'con')").sql,
            r#"(lower("account"."name") LIKE ?)"#,
            "an expression has no NOCASE collation to range over"
        );
        assert_eq!(
            sql("primarycontactid/fullname eq 'A'").sql,
            r#"((SELECT "t1"."fullname" FROM "contact" AS "t1" WHERE "t1"."contactid" = "account"."_primarycontactid_value") = ?)"#
        );
        assert_eq!(
            sql("contact_customer_accounts/any(c:c/lastname eq 'B')").sql,
            r#"EXISTS (SELECT 1 FROM "contact" AS "t1" WHERE "t1"."_parentcustomerid_value" = "account"."accountid" AND ("t1"."lastname" = ?))"#
        );
    }
}
