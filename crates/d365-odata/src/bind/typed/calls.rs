//! Binding calls: canonical functions, `cast`/`isof`, and Dataverse query functions.

use super::*;

impl<'a> TypedBinder<'a> {
    pub(super) fn call(
        &self,
        name: &str,
        args: &[Arg],
        span: Span,
    ) -> Result<TypedExpr, BindError> {
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
    pub(super) fn cast(
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

    pub(super) fn query_function(
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
        // A lookup goes by its logical name (`ownerid`) as well as by `_ownerid_value`.
        let property = self
            .root
            .property(&column)
            .or_else(|| {
                self.root
                    .property(&format!("_{column}_value"))
                    .filter(|p| !p.lookup_targets.is_empty())
            })
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
                property: crate::bind::BoundProperty::of(property),
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
