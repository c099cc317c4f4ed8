//! `$apply` on a collection: `filter(…)` steps, then `groupby((…),aggregate(…))` or
//! `aggregate(…)`, over at most 50,000 input rows as Dataverse allows
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/aggregate-data>).

use axum::http::HeaderMap;
use axum::response::Response;
use d365_odata::model::EntityType;
use d365_odata::{QueryOptions, Transformation, parse_apply};

use super::headers::json_response;
use super::response::{first_line, prefer};
use crate::error::DataverseError;
use crate::query::aggregate::Output;
use crate::query::plan::SqlFilter;
use crate::state::AppState;

/// Dataverse's cap on the rows an aggregation reads.
pub(crate) const AGGREGATE_LIMIT: usize = 50_000;

fn unsupported(what: &str) -> DataverseError {
    DataverseError::bad_query(format!(
        "{what} in $apply is not supported by the emulator yet."
    ))
}

/// `GET {set}?$apply=…`.
pub(crate) async fn apply(
    st: &AppState,
    entity: &EntityType,
    options: &QueryOptions,
    headers: &HeaderMap,
) -> Result<Response, DataverseError> {
    let text = options.apply.as_deref().unwrap_or_default();
    let steps =
        parse_apply(text).map_err(|e| DataverseError::bad_query(first_line(&e.to_string())))?;
    let mut filters: Vec<SqlFilter> = Vec::new();
    if let Some(f) = &options.filter {
        filters.push(super::filter::filter_sql(st, entity, f, &options.aliases)?);
    }
    let mut outputs: Option<Vec<Output>> = None;
    for step in &steps {
        if outputs.is_some() {
            return Err(unsupported("A transformation after groupby or aggregate"));
        }
        match step {
            Transformation::Filter(expr) => filters.push(super::filter::filter_sql(
                st,
                entity,
                expr,
                &options.aliases,
            )?),
            Transformation::GroupBy {
                properties,
                aggregate,
            } => {
                let mut out = Vec::new();
                for path in properties {
                    let [name] = path.as_slice() else {
                        return Err(unsupported("Grouping by a navigation path"));
                    };
                    let p = entity
                        .property(name)
                        .ok_or_else(|| DataverseError::unknown_property(name, &entity.name))?;
                    out.push(Output::Group(p.clone()));
                }
                out.extend(aggregates(entity, aggregate)?);
                outputs = Some(out);
            }
            Transformation::Aggregate(list) => outputs = Some(aggregates(entity, list)?),
        }
    }
    let outputs = outputs.ok_or_else(|| unsupported("$apply without groupby or aggregate"))?;
    let filter = SqlFilter::all(filters);
    let prefer = prefer(headers);
    let formatted = prefer.annotation_requested("OData.Community.Display.V1.FormattedValue");
    let rows = st
        .store
        .aggregate(
            &st.model.model.shared(entity),
            outputs.clone(),
            filter,
            formatted,
            AGGREGATE_LIMIT,
        )
        .await
        .map_err(|e| DataverseError::store(e, "aggregate"))?
        .ok_or_else(DataverseError::aggregate_limit)?;
    let names: Vec<&str> = outputs
        .iter()
        .map(|o| match o {
            Output::Group(p) => p.name.as_str(),
            Output::Count(a) | Output::Aggregate { alias: a, .. } => a.as_str(),
        })
        .collect();
    let context = format!(
        "{}/$metadata#{}({})",
        st.api_root(),
        entity.entity_set,
        names.join(",")
    );
    Ok(json_response(format!(
        "{{\"@odata.context\":{},\"value\":[{}]}}",
        serde_json::Value::String(context),
        rows.join(",")
    )))
}

fn aggregates(
    entity: &EntityType,
    list: &[d365_odata::Aggregate],
) -> Result<Vec<Output>, DataverseError> {
    list.iter()
        .map(|a| match (&a.property, a.method) {
            (None, _) => Ok(Output::Count(a.alias.clone())),
            (Some(path), Some(method)) => {
                let [name] = path.as_slice() else {
                    return Err(unsupported("Aggregating a navigation path"));
                };
                let p = entity
                    .property(name)
                    .ok_or_else(|| DataverseError::unknown_property(name, &entity.name))?;
                Ok(Output::Aggregate {
                    property: p.clone(),
                    method,
                    alias: a.alias.clone(),
                })
            }
            (Some(_), None) => Err(unsupported("An aggregate without a method")),
        })
        .collect()
}
