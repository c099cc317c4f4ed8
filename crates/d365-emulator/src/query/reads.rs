//! Reads: the planned queries run on the store's pooled readers, each
//! reader within the query deadline ([`Store::read`]). The read handlers call these and never
//! see a connection or SQL.

use std::sync::Arc;

use d365_odata::model::EntityType;
use rusqlite::Connection;

use crate::query::aggregate::{Output, aggregate, input_rows};
use crate::query::exec::{self, Annotations, PageOut, PageSpec};
use crate::query::fetch::{LinkColumns, LinkedRow, link_values};
use crate::query::paging::Boundary;
use crate::query::plan::{Column, SqlFilter};
use crate::store::sql::ident;
use crate::store::value::guid;
use crate::store::{Start, Store, StoreError};

/// The most rows of a page that starts on a fast reader. A larger one (an export's, a
/// Dataverse default page of 5,000) is known to be long: on a fast reader it would do up to
/// the budget's work and start again.
pub const FAST_PAGE_ROWS: usize = 1_000;

/// Ids per query of [`Store::query_by_ids`]: one `IN (…)` stays far below SQLite's 32,766
/// parameters.
const IDS_PER_QUERY: usize = 1_000;

/// `column IN (?, …)` over `ids`.
fn in_filter(column: &str, ids: &[uuid::Uuid]) -> SqlFilter {
    SqlFilter {
        sql: format!("{} IN ({})", ident(column), vec!["?"; ids.len()].join(", ")),
        params: ids.iter().copied().map(guid).collect(),
    }
}

/// The boundary of a page ordered by the GUID `column` alone, from its first and last values
/// (the paging cookie of a page the caller cut itself).
pub fn key_boundary(column: &str, first: &uuid::Uuid, last: &uuid::Uuid) -> Boundary {
    Boundary {
        column: column.to_owned(),
        first: guid(*first),
        last: guid(*last),
    }
}

/// Rows [`Store::query_by_ids`] read.
#[derive(Debug, Clone, Default)]
pub struct RowsByIds {
    /// Each row as a JSON object.
    pub rows: Vec<String>,
    /// Each row's key, when the key is among the columns (as [`PageOut::keys`]).
    pub keys: Vec<Option<uuid::Uuid>>,
    /// Each row's parent, when asked for (as [`PageOut::parents`]).
    pub parents: Vec<Option<uuid::Uuid>>,
    /// A query had more rows than the spec's limit: reading stopped there.
    pub cut: bool,
}

impl Store {
    /// Runs the read-only `f` on a pooled reader with `entity` (shared, not copied:
    /// [`d365_odata::model::Model::shared`]).
    ///
    /// The future is [`Store::read`]'s own, not one wrapped around it: a wrapper (an `async
    /// fn` or block) would hold `f` once more. Handlers keep these futures in their own, and in
    /// a debug build every byte of those sits on the request thread's stack, the stack a deeply
    /// nested `$filter` is bound on (`tests/hostile_inputs.rs`).
    fn read_on<R, F>(
        &self,
        entity: &Arc<EntityType>,
        start: Start,
        f: F,
    ) -> impl Future<Output = Result<R, StoreError>> + Send
    where
        F: Fn(&Connection, &EntityType) -> rusqlite::Result<R> + Send + Sync + 'static,
        R: Send + 'static,
    {
        let entity = Arc::clone(entity);
        self.read_from(start, move |c| f(c, &entity).map_err(StoreError::from))
    }

    /// One page of `entity`'s rows as `spec` plans it; a page of more than
    /// [`FAST_PAGE_ROWS`] rows starts on a slow reader.
    pub fn query_page(
        &self,
        entity: &Arc<EntityType>,
        spec: PageSpec,
    ) -> impl Future<Output = Result<PageOut, StoreError>> + Send {
        let start = match spec.limit > FAST_PAGE_ROWS {
            true => Start::Slow,
            false => Start::Fast,
        };
        self.read_on(entity, start, move |c, e| exec::query_page(c, e, &spec))
    }

    /// Rows of `entity` matching `filter`, counted up to one past [`exec::COUNT_CAP`].
    pub fn count(
        &self,
        entity: &Arc<EntityType>,
        filter: Option<SqlFilter>,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send {
        self.read_on(entity, Start::Fast, move |c, e| {
            exec::count(c, e, filter.as_ref())
        })
    }

    /// One record of `entity` by key as JSON with `columns`, or `None`.
    pub fn retrieve(
        &self,
        entity: &Arc<EntityType>,
        id: uuid::Uuid,
        columns: Vec<Column>,
        annotations: Option<Annotations>,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        self.read_on(entity, Start::Fast, move |c, e| {
            exec::retrieve(c, e, &id, &columns, annotations.clone())
        })
    }

    /// `(key, foreign key)` of the rows of `entity` with these keys.
    pub fn lookup_values(
        &self,
        entity: &Arc<EntityType>,
        foreign_key: &str,
        keys: &[uuid::Uuid],
    ) -> impl Future<Output = Result<Vec<(uuid::Uuid, Option<uuid::Uuid>)>, StoreError>> + Send
    {
        let (foreign_key, keys) = (foreign_key.to_owned(), keys.to_vec());
        self.read_on(entity, Start::Fast, move |c, e| {
            exec::lookup_values(c, e, &foreign_key, &keys)
        })
    }

    /// The rows `spec` selects among those of `entity` whose `column` is one of `ids`, read
    /// [`IDS_PER_QUERY`] ids per query; stops at the first query with more rows than
    /// `spec.limit` (`cut`).
    pub async fn query_by_ids(
        &self,
        entity: &Arc<EntityType>,
        column: &str,
        ids: &[uuid::Uuid],
        spec: &PageSpec,
    ) -> Result<RowsByIds, StoreError> {
        let mut out = RowsByIds::default();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let mut chunk_spec = spec.clone();
            chunk_spec.filter = SqlFilter::all(
                [Some(in_filter(column, chunk)), spec.filter.clone()]
                    .into_iter()
                    .flatten()
                    .collect(),
            );
            let page = self.query_page(entity, chunk_spec).await?;
            if page.more {
                out.cut = true;
                return Ok(out);
            }
            out.rows.extend(page.rows);
            out.keys.extend(page.keys);
            out.parents.extend(page.parents);
        }
        Ok(out)
    }

    /// The groups of an aggregation over the rows of `entity` matching `filter` (formatted
    /// values of grouping columns when `formatted`), or `None` when more than `limit` rows
    /// match.
    pub fn aggregate(
        &self,
        entity: &Arc<EntityType>,
        outputs: Vec<Output>,
        filter: Option<SqlFilter>,
        formatted: bool,
        limit: usize,
    ) -> impl Future<Output = Result<Option<Vec<String>>, StoreError>> + Send {
        self.read_on(entity, Start::Fast, move |c, e| {
            if input_rows(c, e, filter.as_ref(), limit)? > limit {
                return Ok(None);
            }
            aggregate(c, e, &outputs, filter.as_ref(), formatted).map(Some)
        })
    }

    /// The columns of a FetchXML `link-entity` for the rows of `entity` with these keys.
    pub fn link_values(
        &self,
        entity: &Arc<EntityType>,
        link: &LinkColumns,
        keys: &[uuid::Uuid],
    ) -> impl Future<Output = Result<Vec<LinkedRow>, StoreError>> + Send {
        let (link, keys) = (link.clone(), keys.to_vec());
        self.read_on(entity, Start::Fast, move |c, e| {
            link_values(c, e, &link, &keys)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_bound_not_written_into_the_sql() {
        let ids = [uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2)];
        let f = in_filter("accountid", &ids);
        assert_eq!(f.sql, "\"accountid\" IN (?, ?)");
        assert_eq!(f.params, vec![guid(ids[0]), guid(ids[1])]);
    }
}
