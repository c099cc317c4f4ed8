//! Change tracking's operations (`Prefer: odata.track-changes`, `$deltatoken`) over the change
//! log of [`crate::store::changes`]: the version a new delta token is at, and one page of a delta.

use d365_odata::model::{EdmType, EntityType, Model};
use rusqlite::types::Value;

use crate::query::exec::{self, PageSpec};
use crate::query::paging::Boundary;
use crate::query::plan::{Column, SqlFilter};
use crate::store::changes::{ChangeClock, current_version, deleted_since, prune};
use crate::store::{Store, StoreError};

/// Where a delta response's paging is.
#[derive(Debug, Clone, PartialEq)]
pub enum DeltaCursor {
    /// Changed rows, after these boundaries (none: from the start).
    Rows(Option<Vec<Boundary>>),
    /// Deleted rows, after this version.
    Deleted(i64),
}

/// One page of a delta.
#[derive(Debug, Clone)]
pub struct DeltaPage {
    /// The changed rows (JSON objects).
    pub rows: Vec<String>,
    /// The deleted rows' ids, with the version of their delete.
    pub deleted: Vec<(uuid::Uuid, i64)>,
    /// Where the next page starts, when one follows.
    pub next: Option<DeltaCursor>,
}

impl Store {
    /// The version a new delta token is at ([`current_version`]); tombstones past the token
    /// lifetime go meanwhile, as no token can ask for them.
    pub fn change_version(
        &self,
        model: Model,
        clock: ChangeClock,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send {
        // The store's future itself: see `reads.rs` on the size of read futures.
        self.run(move |c| {
            let version = current_version(c, &model)?;
            prune(c, clock)?;
            Ok(version)
        })
    }

    /// One page of the changes to `entity` in versions `(since, upto]`, from `cursor`: the
    /// rows changed (`spec`'s columns and limit, by version then key), then the rows deleted.
    pub fn delta_page(
        &self,
        entity: &EntityType,
        mut spec: PageSpec,
        (since, upto): (i64, i64),
        cursor: DeltaCursor,
    ) -> impl Future<Output = Result<DeltaPage, StoreError>> + Send {
        let version = Column {
            name: "versionnumber".into(),
            edm_type: EdmType::Int64,
            scale: None,
            expr: None,
        };
        spec.filter = Some(SqlFilter {
            sql: "\"versionnumber\" > ? AND \"versionnumber\" <= ?".into(),
            params: vec![Value::Integer(since), Value::Integer(upto)],
        });
        spec.order.insert(0, (version, false));
        if let DeltaCursor::Rows(after) = &cursor {
            spec.after.clone_from(after);
        }
        let (entity, limit) = (entity.clone(), spec.limit);
        self.read(move |c| -> Result<_, StoreError> {
            let (rows, deleted_after) = match cursor {
                DeltaCursor::Rows(_) => {
                    let page = exec::query_page(c, &entity, &spec)?;
                    if page.more {
                        return Ok(DeltaPage {
                            rows: page.rows,
                            deleted: Vec::new(),
                            next: Some(DeltaCursor::Rows(Some(page.boundaries))),
                        });
                    }
                    (page.rows, since)
                }
                DeltaCursor::Deleted(after) => (Vec::new(), after),
            };
            let room = limit - rows.len();
            let mut deleted = deleted_since(c, &entity, since, upto, deleted_after, room + 1)?;
            let next = (deleted.len() > room).then(|| {
                deleted.truncate(room);
                DeltaCursor::Deleted(deleted.last().map_or(deleted_after, |(_, v)| *v))
            });
            Ok(DeltaPage {
                rows,
                deleted,
                next,
            })
        })
    }
}
