//! FetchXML → SQL: the table's conditions as a WHERE fragment with bound parameters, linked
//! tables as `EXISTS` subqueries, and the columns of many-to-one links read per page.
//!
//! SQL of the main table names its columns unqualified or as `"table"."column"`; a linked
//! table is always aliased (with an alias of ours) and qualified, so a link back to the same
//! table stays unambiguous. Identifiers come from the model; values are bound parameters.

use d365_odata::model::{EdmType, EntityType, Model, Property};
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::conditions::{Argument, MAX_COUNT, Operator, day_start};
use super::error::{FetchPlanError, PlanError};
use super::plan::{Column, SqlFilter};
use super::values::scaled_decimal;
use crate::fetchxml::{Attributes, Condition, Fetch, Filter, Link};
use crate::store::schema::ident;

type R<T> = Result<T, FetchPlanError>;

/// The clock and the caller, as FetchXML's `today` and `eq-userid` see them.
pub use super::conditions::QueryContext as FetchContext;

/// A many-to-one link whose columns are returned as `alias_x002e_column`.
#[derive(Debug, Clone)]
pub struct LinkColumns {
    /// The alias prefix.
    pub alias: String,
    /// The linked table.
    pub target: EntityType,
    /// The main table's column holding the linked key.
    pub to: String,
    /// The linked columns.
    pub columns: Vec<Column>,
    /// The link's own filter, on the linked row (aliased `l`): a row that fails it reads as
    /// no linked row.
    pub filter: Option<SqlFilter>,
}

/// A planned FetchXML query.
#[derive(Debug, Clone)]
pub struct FetchPlan {
    /// Output columns of the main table (the key last).
    pub columns: Vec<Column>,
    /// The WHERE fragment.
    pub filter: Option<SqlFilter>,
    /// ORDER BY, the key last.
    pub order: Vec<(Column, bool)>,
    /// Linked columns to add to each row.
    pub links: Vec<LinkColumns>,
}

fn column(p: &Property) -> Column {
    Column {
        name: p.name.clone(),
        edm_type: p.edm_type,
        scale: p.scale,
        expr: None,
    }
}

/// A FetchXML attribute name: a column, or a lookup by its logical name (`primarycontactid`
/// for `_primarycontactid_value`).
fn resolve<'e>(entity: &'e EntityType, name: &str) -> R<&'e Property> {
    entity
        .property(name)
        .or_else(|| {
            entity
                .property(&format!("_{name}_value"))
                .filter(|p| !p.lookup_targets.is_empty())
        })
        .ok_or_else(|| FetchPlanError::UnknownAttribute {
            entity: entity.name.clone(),
            attribute: name.to_owned(),
        })
}

fn columns(entity: &EntityType, attributes: &Attributes) -> R<Vec<Column>> {
    let mut out: Vec<Column> = match attributes {
        Attributes::All => entity.properties.iter().map(column).collect(),
        Attributes::None => Vec::new(),
        Attributes::Named(names) => {
            let mut out: Vec<Column> = Vec::new();
            for n in names {
                let c = column(resolve(entity, n)?);
                if !out.contains(&c) {
                    out.push(c);
                }
            }
            out
        }
    };
    out.retain(|c| c.name != entity.key);
    if let Some(key) = entity.property(&entity.key) {
        out.push(column(key));
    }
    Ok(out)
}

/// Plans a FetchXML query against `entity`.
pub fn plan(
    model: &Model,
    entity: &EntityType,
    fetch: &Fetch,
    ctx: &FetchContext,
) -> Result<FetchPlan, PlanError> {
    Ok(plan_fetch(model, entity, fetch, ctx)?)
}

fn plan_fetch(
    model: &Model,
    entity: &EntityType,
    fetch: &Fetch,
    ctx: &FetchContext,
) -> R<FetchPlan> {
    if fetch.entity != entity.name {
        return Err(FetchPlanError::EntityMismatch {
            fetch: fetch.entity.clone(),
            table: entity.name.clone(),
        });
    }
    let main = Scope {
        entity,
        qualifier: ident(&entity.name),
    };
    let mut wheres: Vec<SqlFilter> = Vec::new();
    if let Some(f) = &fetch.filter {
        wheres.push(filter_sql(&main, f, &fetch.links, model, ctx)?);
    }
    let mut links = Vec::new();
    for (i, link) in fetch.links.iter().enumerate() {
        let target = link_target(model, link)?;
        let alias = link
            .alias
            .clone()
            .unwrap_or_else(|| format!("{}{}", link.name, i + 1));
        if !link.links.is_empty() || !link.orders.is_empty() {
            return Err(FetchPlanError::NestedLinks);
        }
        if !link.outer {
            // An inner link keeps only rows with a match (that passes the link's filter).
            wheres.push(exists(&main, link, &link_sql_alias(i), model, ctx, None)?);
        }
        let linked = columns(target, &link.attributes)?;
        if matches!(link.attributes, Attributes::None) {
            continue;
        }
        if link.from != target.key {
            return Err(FetchPlanError::OneToManyColumns(link.name.clone()));
        }
        let filter = match &link.filter {
            Some(f) => {
                let scope = Scope {
                    entity: target,
                    qualifier: ident("l"),
                };
                Some(filter_sql(&scope, f, &[], model, ctx)?)
            }
            None => None,
        };
        links.push(LinkColumns {
            alias,
            target: target.clone(),
            to: resolve(entity, &link.to)?.name.clone(),
            columns: linked,
            filter,
        });
    }
    let mut order: Vec<(Column, bool)> = Vec::new();
    for o in &fetch.orders {
        let by = column(resolve(entity, &o.attribute)?);
        order.extend(super::plan::sorted_by(model, entity, by, o.descending));
    }
    let order = super::plan::with_key_last(entity, order);
    let filter = SqlFilter::all(wheres);
    Ok(FetchPlan {
        columns: columns(entity, &fetch.attributes)?,
        filter,
        order,
        links,
    })
}

/// The SQL alias of the i-th link: ours, not the document's, so a link alias can never
/// shadow the main table (`alias='account'`); the document's alias only names output columns.
fn link_sql_alias(i: usize) -> String {
    format!("__link{}", i + 1)
}

/// A table in a query and how its columns are written.
struct Scope<'e> {
    entity: &'e EntityType,
    qualifier: String,
}

impl Scope<'_> {
    fn col(&self, p: &Property) -> String {
        format!("{}.{}", self.qualifier, ident(&p.name))
    }
}

fn link_target<'m>(model: &'m Model, link: &Link) -> R<&'m EntityType> {
    model
        .entity_type(&link.name)
        .ok_or_else(|| FetchPlanError::UnknownTable(link.name.clone()))
}

/// `EXISTS (a row of the linked table that matches [and passes its filter] [and `extra`])`.
fn exists(
    parent: &Scope<'_>,
    link: &Link,
    alias: &str,
    model: &Model,
    ctx: &FetchContext,
    extra: Option<&Condition>,
) -> R<SqlFilter> {
    let target = link_target(model, link)?;
    let inner = Scope {
        entity: target,
        qualifier: ident(alias),
    };
    let from = resolve(target, &link.from)?;
    let to = resolve(parent.entity, &link.to)?;
    let mut out = SqlFilter {
        sql: format!(
            "EXISTS (SELECT 1 FROM {} AS {} WHERE {} = {}",
            ident(&target.name),
            inner.qualifier,
            inner.col(from),
            parent.col(to)
        ),
        params: Vec::new(),
    };
    let mut parts = Vec::new();
    if let Some(f) = &link.filter {
        parts.push(filter_sql(&inner, f, &[], model, ctx)?);
    }
    if let Some(c) = extra {
        parts.push(condition_sql(&inner, c, ctx)?);
    }
    for p in parts {
        out.sql.push_str(&format!(" AND ({})", p.sql));
        out.params.extend(p.params);
    }
    out.sql.push(')');
    Ok(out)
}

fn filter_sql(
    scope: &Scope<'_>,
    filter: &Filter,
    links: &[Link],
    model: &Model,
    ctx: &FetchContext,
) -> R<SqlFilter> {
    let mut parts = Vec::new();
    for c in &filter.conditions {
        parts.push(match &c.entity_name {
            None => condition_sql(scope, c, ctx)?,
            Some(alias) => {
                // A condition on a linked table's row; with an outer link, no row at all
                // reads as nulls, which only `null` accepts.
                let (i, link) = links
                    .iter()
                    .enumerate()
                    .find(|(i, l)| {
                        l.alias
                            .as_deref()
                            .unwrap_or(&format!("{}{}", l.name, i + 1))
                            == alias
                    })
                    .ok_or_else(|| FetchPlanError::UnknownAlias(alias.clone()))?;
                let sql_alias = link_sql_alias(i);
                let matching = exists(scope, link, &sql_alias, model, ctx, Some(c))?;
                if c.operator == "null" {
                    let any = exists(scope, link, &sql_alias, model, ctx, None)?;
                    SqlFilter {
                        sql: format!("{} OR NOT {}", matching.sql, any.sql),
                        params: matching.params.into_iter().chain(any.params).collect(),
                    }
                } else {
                    matching
                }
            }
        });
    }
    for f in &filter.filters {
        parts.push(filter_sql(scope, f, links, model, ctx)?);
    }
    if parts.is_empty() {
        return Ok(SqlFilter {
            sql: "1".into(),
            params: Vec::new(),
        });
    }
    let glue = if filter.or { " OR " } else { " AND " };
    Ok(SqlFilter::joined(parts, glue))
}

/// A condition value as the column stores it.
fn value(p: &Property, text: &str) -> R<Value> {
    let bad = || FetchPlanError::BadValue {
        value: text.to_owned(),
        attribute: p.name.clone(),
        edm_type: p.edm_type,
    };
    let t = text.trim();
    Ok(match p.edm_type {
        EdmType::String => Value::Text(text.to_owned()),
        EdmType::Guid => Value::Blob(
            uuid::Uuid::parse_str(t.trim_matches(['{', '}']))
                .map_err(|_| bad())?
                .as_bytes()
                .to_vec(),
        ),
        EdmType::Int32 | EdmType::Int64 => Value::Integer(t.parse().map_err(|_| bad())?),
        EdmType::Boolean => Value::Integer(match t {
            "1" | "true" | "True" => 1,
            "0" | "false" | "False" => 0,
            _ => return Err(bad()),
        }),
        EdmType::Decimal => {
            Value::Integer(scaled_decimal(t, p.scale.unwrap_or(0)).ok_or_else(bad)?)
        }
        EdmType::Double => Value::Real(t.parse().map_err(|_| bad())?),
        EdmType::DateTimeOffset => Value::Integer(instant(t).ok_or_else(bad)?),
        EdmType::Date => Value::Text(
            instant(t)
                .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
                .map(|d| d.date().to_string())
                .ok_or_else(bad)?,
        ),
    })
}

/// `2024-05-01T10:00:00Z`, `2024-05-01T10:00:00` (UTC) or `2024-05-01` (midnight UTC).
fn instant(t: &str) -> Option<i64> {
    if let Ok(d) = OffsetDateTime::parse(t, &Rfc3339) {
        return Some(d.unix_timestamp());
    }
    let date_time =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    if let Ok(d) = PrimitiveDateTime::parse(t, &date_time) {
        return Some(d.assume_utc().unix_timestamp());
    }
    let date = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(t, &date)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp())
}

fn condition_sql(scope: &Scope<'_>, c: &Condition, ctx: &FetchContext) -> R<SqlFilter> {
    let p = resolve(scope.entity, &c.attribute)?;
    let col = scope.col(p);
    let op = c.operator.as_str();
    let count = |attribute: bool, expected: &'static str| FetchPlanError::ValueCount {
        operator: op.to_owned(),
        attribute: attribute.then(|| c.attribute.clone()),
        expected,
    };
    let one = || -> R<Value> {
        match c.values.as_slice() {
            [v] => value(p, v),
            _ => Err(count(true, "takes exactly one value")),
        }
    };
    if let Some(operator) = Operator::from_fetch_xml(op) {
        let argument = match operator.argument() {
            Argument::None => 0,
            Argument::Count => match c.values.as_slice() {
                [v] => v
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (0..=MAX_COUNT).contains(n))
                    .ok_or_else(|| FetchPlanError::BadCount {
                        operator: op.to_owned(),
                        value: v.clone(),
                        max: MAX_COUNT,
                    })?,
                _ => return Err(count(false, "takes one value")),
            },
            Argument::Day => {
                let [v] = c.values.as_slice() else {
                    return Err(count(false, "takes one date"));
                };
                day_start(instant(v.trim()).ok_or_else(|| FetchPlanError::NotADate(v.clone()))?)
            }
        };
        return operator
            .sql(argument, &col, p.edm_type, ctx)
            .ok_or_else(|| FetchPlanError::NotADateColumn {
                operator: op.to_owned(),
                attribute: c.attribute.clone(),
            });
    }
    let sql = |sql: String, params: Vec<Value>| Ok(SqlFilter { sql, params });
    // `form(not)` writes the condition with `not` ("" or "NOT "); the negative operator also
    // matches nulls, as Dataverse's does.
    let negatable = |negative: bool, form: &dyn Fn(&str) -> String| {
        if negative {
            super::plan::negated_or_null(&col, &form("NOT "))
        } else {
            form("")
        }
    };
    match op {
        "eq" => sql(format!("{col} = ?"), vec![one()?]),
        "ne" | "neq" => sql(super::plan::not_equal_sql(&col, "?"), vec![one()?]),
        "gt" => sql(format!("{col} > ?"), vec![one()?]),
        "ge" => sql(format!("{col} >= ?"), vec![one()?]),
        "lt" => sql(format!("{col} < ?"), vec![one()?]),
        "le" => sql(format!("{col} <= ?"), vec![one()?]),
        "like" | "not-like" => {
            let pattern = one()?;
            if let Value::Text(t) = &pattern {
                super::plan::check_like_pattern(t)?;
            }
            sql(
                negatable(op == "not-like", &|not| format!("{col} {not}LIKE ?")),
                vec![pattern],
            )
        }
        "begins-with" | "not-begin-with" | "ends-with" | "not-end-with" => {
            let [v] = c.values.as_slice() else {
                return Err(count(false, "takes exactly one value"));
            };
            // Wildcards in the value keep their meaning, as Dataverse documents.
            super::plan::check_like_pattern(v)?;
            let negative = op.starts_with("not");
            if op.contains("begin") && p.edm_type == EdmType::String {
                let (range, params) = super::plan::starts_with_sql(&col, v);
                return sql(negatable(negative, &|not| format!("{not}{range}")), params);
            }
            let pattern = if op.contains("begin") {
                format!("{v}%")
            } else {
                format!("%{v}")
            };
            sql(
                negatable(negative, &|not| format!("{col} {not}LIKE ?")),
                vec![Value::Text(pattern)],
            )
        }
        "in" | "not-in" => {
            if c.values.is_empty() {
                return Err(count(true, "needs at least one <value>"));
            }
            let values = c
                .values
                .iter()
                .map(|v| value(p, v))
                .collect::<Result<Vec<_>, _>>()?;
            let list = vec!["?"; values.len()].join(", ");
            sql(
                negatable(op == "not-in", &|not| format!("{col} {not}IN ({list})")),
                values,
            )
        }
        "null" => sql(format!("{col} IS NULL"), Vec::new()),
        "not-null" => sql(format!("{col} IS NOT NULL"), Vec::new()),
        "between" | "not-between" => {
            let [lo, hi] = c.values.as_slice() else {
                return Err(count(false, "takes two <value> elements"));
            };
            sql(
                negatable(op == "not-between", &|not| {
                    format!("{col} {not}BETWEEN ? AND ?")
                }),
                vec![value(p, lo)?, value(p, hi)?],
            )
        }
        other => Err(FetchPlanError::UnsupportedOperator(other.to_owned())),
    }
}

/// A main-table key and its linked columns, each as (output name, value).
pub type LinkedRow = (uuid::Uuid, Vec<(String, Value)>);

/// The linked columns for the given main-table keys: `(main key, [(output name, value)])`,
/// each output name `alias_x002e_column` as the Web API writes it.
pub fn link_values(
    conn: &Connection,
    entity: &EntityType,
    link: &LinkColumns,
    keys: &[uuid::Uuid],
) -> rusqlite::Result<Vec<LinkedRow>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let alias = ident("l");
    let link_filter = link
        .filter
        .as_ref()
        .map_or(String::new(), |f| format!(" AND ({})", f.sql));
    let sql = format!(
        "SELECT m.{}, {} FROM {} AS m JOIN {} AS {alias} ON {alias}.{} = m.{}{link_filter} WHERE m.{} IN ({})",
        ident(&entity.key),
        link.columns
            .iter()
            .map(|c| format!("{alias}.{}", ident(&c.name)))
            .collect::<Vec<_>>()
            .join(", "),
        ident(&entity.name),
        ident(&link.target.name),
        ident(&link.target.key),
        ident(&link.to),
        ident(&entity.key),
        vec!["?"; keys.len()].join(", ")
    );
    let params: Vec<Value> = link
        .filter
        .iter()
        .flat_map(|f| f.params.iter().cloned())
        .chain(keys.iter().map(|k| Value::Blob(k.as_bytes().to_vec())))
        .collect();
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let key: Vec<u8> = row.get(0)?;
        let Ok(key) = uuid::Uuid::from_slice(&key) else {
            continue;
        };
        let mut values = Vec::new();
        for (i, c) in link.columns.iter().enumerate() {
            values.push((
                format!("{}_x002e_{}", link.alias, c.name),
                row.get::<_, Value>(i + 1)?,
            ));
        }
        out.push((key, values));
    }
    Ok(out)
}
