//! System jobs (`asyncoperation`) as the store keeps them: what a job's background task reads
//! to know whether to go on, and the jobs a persisted emulator left unfinished.

use d365_odata::model::EntityType;
use rusqlite::{Connection, OptionalExtension, params};

use super::records::Transaction;
use super::schema::ident;
use super::{Store, StoreError, guid};

/// A bulk delete job a stopped emulator left unfinished: its `asyncoperation` row and its
/// `bulkdeleteoperation` row.
#[derive(Debug, Clone)]
pub struct UnfinishedJob {
    /// `asyncoperationid`.
    pub id: uuid::Uuid,
    /// `postponeuntil`: when it may start (Unix seconds).
    pub start: Option<i64>,
    /// `data`: the job's queries, as submitted.
    pub data: Option<String>,
    /// `_ownerid_value`: who submitted it.
    pub owner: Option<uuid::Uuid>,
    /// `bulkdeleteoperationid`.
    pub bulk_id: uuid::Uuid,
    /// `successcount`: records deleted so far.
    pub deleted: Option<i64>,
}

fn uuid_of(bytes: &[u8]) -> uuid::Uuid {
    uuid::Uuid::from_slice(bytes).unwrap_or_default()
}

/// A job's `statuscode`: `None` when the row is gone.
fn status_in(c: &Connection, id: uuid::Uuid) -> rusqlite::Result<Option<i64>> {
    c.query_row(
        "SELECT statuscode FROM asyncoperation WHERE asyncoperationid = ?1",
        params![guid(id)],
        |r| r.get::<_, Option<i64>>(0),
    )
    .optional()
    .map(Option::flatten)
}

impl Transaction<'_> {
    /// The job's `statuscode`, as this transaction sees it (`None`: the row is gone).
    pub fn job_status(&self, id: uuid::Uuid) -> Result<Option<i64>, StoreError> {
        Ok(status_in(self.conn, id)?)
    }
}

impl Store {
    /// The job's `statuscode` now (`None`: the row is gone).
    pub async fn job_status(&self, id: uuid::Uuid) -> Result<Option<i64>, StoreError> {
        Ok(self.read(move |c| status_in(c, id)).await?)
    }

    /// The bulk delete jobs (`operationtype` `operation`) not in state `completed`, each
    /// with its `bulkdeleteoperation` row.
    pub async fn unfinished_jobs(
        &self,
        asyncop: &EntityType,
        bulkop: &EntityType,
        operation: i64,
        completed: i64,
    ) -> Result<Vec<UnfinishedJob>, StoreError> {
        let sql = format!(
            "SELECT a.asyncoperationid, a.postponeuntil, a.data, a._ownerid_value, \
             b.bulkdeleteoperationid, b.successcount \
             FROM {} a JOIN {} b ON b._asyncoperationid_value = a.asyncoperationid \
             WHERE a.operationtype = ?1 AND a.statecode <> ?2",
            ident(&asyncop.name),
            ident(&bulkop.name)
        );
        Ok(self
            .read(move |c| {
                let mut q = c.prepare(&sql)?;
                q.query_map(params![operation, completed], |r| {
                    Ok(UnfinishedJob {
                        id: uuid_of(&r.get::<_, Vec<u8>>(0)?),
                        start: r.get(1)?,
                        data: r.get(2)?,
                        owner: r.get::<_, Option<Vec<u8>>>(3)?.map(|o| uuid_of(&o)),
                        bulk_id: uuid_of(&r.get::<_, Vec<u8>>(4)?),
                        deleted: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?)
    }
}
