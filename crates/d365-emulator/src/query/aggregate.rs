//! `$apply` aggregation as SQL: `groupby` columns and `aggregate` functions over the filtered
//! rows, one JSON object per group. Decimal sums stay exact (sums of scaled integers).

use d365_odata::AggregateMethod;
use d365_odata::model::{EdmType, EntityType, Property};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, params_from_iter};

use super::plan::SqlFilter;
use super::values::{formatted, write_json};
use crate::store::schema::ident;

/// One output column of an aggregation.
#[derive(Debug, Clone)]
pub enum Output {
    /// A grouping column.
    Group(Property),
    /// `$count as alias`.
    Count(String),
    /// `prop with method as alias`.
    Aggregate {
        /// The column aggregated.
        property: Property,
        /// How.
        method: AggregateMethod,
        /// The name it is returned under.
        alias: String,
    },
}

/// Rows the filter matches (the input of an aggregation), up to `cap + 1`.
pub fn input_rows(
    conn: &Connection,
    entity: &EntityType,
    filter: Option<&SqlFilter>,
    cap: usize,
) -> rusqlite::Result<usize> {
    let where_sql = filter.map_or(String::new(), |f| format!(" WHERE {}", f.sql));
    let sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM {}{where_sql} LIMIT {})",
        ident(&entity.name),
        cap + 1
    );
    let params: &[Value] = filter.map_or(&[], |f| &f.params);
    conn.prepare_cached(&sql)?
        .query_row(params_from_iter(params.iter()), |r| {
            r.get::<_, i64>(0).map(|n| n as usize)
        })
}

/// Runs the aggregation; each group as a JSON object (formatted values of grouping columns
/// when `formatted`).
pub fn aggregate(
    conn: &Connection,
    entity: &EntityType,
    outputs: &[Output],
    filter: Option<&SqlFilter>,
    formatted_values: bool,
) -> rusqlite::Result<Vec<String>> {
    let select: Vec<String> = outputs
        .iter()
        .map(|o| match o {
            Output::Group(p) => ident(&p.name),
            Output::Count(_) => "count(*)".into(),
            Output::Aggregate {
                property, method, ..
            } => {
                let c = ident(&property.name);
                match method {
                    AggregateMethod::Sum => format!("sum({c})"),
                    AggregateMethod::Min => format!("min({c})"),
                    AggregateMethod::Max => format!("max({c})"),
                    AggregateMethod::Average => format!("avg({c})"),
                    AggregateMethod::CountDistinct => format!("count(DISTINCT {c})"),
                }
            }
        })
        .collect();
    let groups: Vec<String> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Group(p) => Some(ident(&p.name)),
            _ => None,
        })
        .collect();
    let where_sql = filter.map_or(String::new(), |f| format!(" WHERE {}", f.sql));
    let group_sql = if groups.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {0} ORDER BY {0}", groups.join(", "))
    };
    let sql = format!(
        "SELECT {} FROM {}{where_sql}{group_sql}",
        select.join(", "),
        ident(&entity.name)
    );
    let params: &[Value] = filter.map_or(&[], |f| &f.params);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut json = String::from("{");
        for (i, o) in outputs.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            let v = row.get_ref(i)?;
            let (name, ty, scale, property) = match o {
                Output::Group(p) => (p.name.as_str(), p.edm_type, p.scale, Some(p)),
                Output::Count(alias) => (alias.as_str(), EdmType::Int64, None, None),
                Output::Aggregate {
                    property,
                    method,
                    alias,
                } => match method {
                    AggregateMethod::CountDistinct => (alias.as_str(), EdmType::Int64, None, None),
                    // The average of scaled integers, scaled back.
                    AggregateMethod::Average => (alias.as_str(), EdmType::Double, None, None),
                    _ => (alias.as_str(), property.edm_type, property.scale, None),
                },
            };
            if formatted_values
                && let Some(p) = property
                && let Some(text) = formatted(v, p)
            {
                json.push_str(
                    &serde_json::to_string(&format!(
                        "{name}@OData.Community.Display.V1.FormattedValue"
                    ))
                    .unwrap_or_default(),
                );
                json.push(':');
                json.push_str(&serde_json::to_string(&text).unwrap_or_default());
                json.push(',');
            }
            json.push_str(&serde_json::to_string(name).unwrap_or_default());
            json.push(':');
            match (o, v) {
                (
                    Output::Aggregate {
                        property,
                        method: AggregateMethod::Average,
                        ..
                    },
                    ValueRef::Real(f),
                ) => {
                    let unscaled = if property.edm_type == EdmType::Decimal {
                        f / 10f64.powi(i32::from(property.scale.unwrap_or(0)))
                    } else {
                        f
                    };
                    json.push_str(
                        &serde_json::Number::from_f64(unscaled)
                            .map_or("null".into(), |n| n.to_string()),
                    );
                }
                _ => write_json(&mut json, v, ty, scale),
            }
        }
        json.push('}');
        out.push(json);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_counted_up_to_one_past_the_cap() {
        let model = crate::dataverse::model::DataverseModel::default().model;
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::create_tables(&conn, &model).unwrap();
        let (o, b) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        crate::store::seed::seed(&mut conn, &model, 5, 1, o, b).unwrap();
        let account = model.entity_type("account").unwrap();
        // Over the cap is "cap + 1": the caller refuses without counting everything.
        assert_eq!(input_rows(&conn, account, None, 3).unwrap(), 4);
        assert_eq!(input_rows(&conn, account, None, 50_000).unwrap(), 5);
    }
}
