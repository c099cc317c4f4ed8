//! `$filter` for every query path (collections, `/$count`, nested `$expand` options): bound by
//! `d365-odata`'s typed binder against the model, planned to SQL by `query::typed`, with the
//! caller and the clock for Dataverse's query functions (`EqualUserId`, `LastXDays`, …).

use d365_odata::Expr;
use d365_odata::bind::typed::bind_typed_filter;
use d365_odata::model::EntityType;

use crate::error::DataverseError;
use crate::query::fetch::FetchContext;
use crate::query::plan::SqlFilter;
use crate::query::typed::typed_filter_sql;
use crate::state::AppState;

tokio::task_local! {
    /// The caller of the request being served: (`systemuserid`, business unit).
    pub(crate) static CALLER: (uuid::Uuid, uuid::Uuid);
}

/// A `$filter` on `entity` as SQL.
pub(crate) fn filter_sql(
    st: &AppState,
    entity: &EntityType,
    expr: &Expr,
    aliases: &[(String, Expr)],
) -> Result<SqlFilter, DataverseError> {
    let typed = bind_typed_filter(&st.model.model, entity, expr, aliases)
        .map_err(|e| DataverseError::bad_query(e.to_string()))?;
    let (user, business_unit) = CALLER.try_with(|c| *c).unwrap_or_default();
    let ctx = FetchContext {
        user,
        business_unit,
        now: st.clock.now(),
    };
    typed_filter_sql(&st.model.model, entity, &typed, ctx)
        .map_err(|e| DataverseError::bad_query(e.to_string()))
}
