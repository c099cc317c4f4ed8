//! `BulkDelete`: deletes every record matched by a set of QueryExpressions, as a system job
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/bulkdelete>).
//!
//! The action answers at once with the job's id; the job runs in the background, as
//! Dataverse's asynchronous service does: it waits for `StartDateTime` (on the emulator's
//! clock), deletes matching records in chunks (each chunk one transaction, each delete
//! leaving a change-tracking tombstone), and keeps `asyncoperation` (state, status, message)
//! and `bulkdeleteoperation` (`successcount`, `failurecount`) up to date. Setting the job's
//! `statecode` to 3 and `statuscode` to 32 (Canceled) stops it between chunks. Unlike the
//! bulk messages, a bulk delete is not all or nothing: what was deleted stays deleted.
//! Jobs left unfinished when a persisted emulator stopped resume when it starts again.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::response::Response;
use d365_odata::model::EntityType;
use rusqlite::types::Value as Sql;
use rusqlite::{OptionalExtension, params};
use serde_json::{Map, Value as Json, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::headers::json_response;
use super::messages::missing;
use super::model::OPERATION_BULK_DELETE;
use super::modify::{internal, stamp};
use crate::entra::validate::Principal;
use crate::error::DataverseError;
use crate::fetchxml::from_query_expression;
use crate::query::fetch::{FetchContext, plan};
use crate::query::plan::SqlFilter;
use crate::state::{AppState, Inner};
use crate::store::schema::ident;
use crate::store::write::{self, Stamp};

/// Records deleted per transaction: small enough that other writers are not held up long.
const CHUNK: usize = 500;
/// How often a job waiting for its start time looks at the clock.
const WAIT_STEP: Duration = Duration::from_millis(100);

const STATE_READY: i64 = 0;
const STATE_LOCKED: i64 = 2;
const STATE_COMPLETED: i64 = 3;
const STATUS_WAITING_FOR_RESOURCES: i64 = 0;
const STATUS_WAITING: i64 = 10;
const STATUS_IN_PROGRESS: i64 = 20;
const STATUS_CANCELING: i64 = 22;
const STATUS_SUCCEEDED: i64 = 30;
const STATUS_FAILED: i64 = 31;
const STATUS_CANCELED: i64 = 32;

/// One query of the job, planned against its table.
struct Target {
    entity: EntityType,
    filter: Option<SqlFilter>,
}

/// A job ready to run.
struct Job {
    id: uuid::Uuid,
    bulk_id: uuid::Uuid,
    start: i64,
    targets: Vec<Target>,
    stamp: Stamp,
}

fn guid(id: uuid::Uuid) -> Sql {
    Sql::Blob(id.as_bytes().to_vec())
}

fn table<'a>(st: &'a AppState, name: &str) -> Result<&'a EntityType, DataverseError> {
    st.model.model.entity_type(name).ok_or_else(|| {
        DataverseError::not_found(
            "0x80040217",
            format!("The entity with a name = '{name}' was not found in the MetadataCache."),
        )
    })
}

/// Plans every query of a `QuerySet`, so a bad one is refused before any job exists.
fn targets(
    st: &AppState,
    query_set: &[Json],
    ctx: &FetchContext,
) -> Result<Vec<Target>, DataverseError> {
    if query_set.is_empty() {
        return Err(DataverseError::bad_query(
            "QuerySet must hold at least one QueryExpression.",
        ));
    }
    query_set
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let fetch = from_query_expression(q)
                .map_err(|e| DataverseError::bad_query(format!("QuerySet[{i}]: {e}")))?;
            let entity = table(st, &fetch.entity)?;
            let planned = plan(&st.model.model, entity, &fetch, ctx).map_err(|mut e| {
                e.message = format!("QuerySet[{i}]: {}", e.message);
                e
            })?;
            Ok(Target {
                entity: entity.clone(),
                filter: planned.filter,
            })
        })
        .collect()
}

fn instant(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text.trim(), &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// `POST {api}/BulkDelete`.
pub(crate) async fn bulk_delete(
    st: &AppState,
    principal: &Principal,
    params: &Map<String, Json>,
) -> Result<Response, DataverseError> {
    let query_set = params
        .get("QuerySet")
        .and_then(Json::as_array)
        .ok_or_else(|| missing("QuerySet"))?;
    let job_name = params
        .get("JobName")
        .and_then(Json::as_str)
        .ok_or_else(|| missing("JobName"))?;
    params
        .get("SendEmailNotification")
        .and_then(Json::as_bool)
        .ok_or_else(|| missing("SendEmailNotification"))?;
    for list in ["ToRecipients", "CCRecipients"] {
        params
            .get(list)
            .and_then(Json::as_array)
            .ok_or_else(|| missing(list))?;
    }
    let recurrence = params
        .get("RecurrencePattern")
        .and_then(Json::as_str)
        .ok_or_else(|| missing("RecurrencePattern"))?;
    if !recurrence.trim().is_empty() {
        return Err(DataverseError::bad_query(format!(
            "Recurring bulk delete jobs (RecurrencePattern '{recurrence}') are not supported by the emulator; pass \"\" to run the job once."
        )));
    }
    let start = params
        .get("StartDateTime")
        .and_then(Json::as_str)
        .ok_or_else(|| missing("StartDateTime"))?;
    let start = instant(start).ok_or_else(|| {
        DataverseError::bad_query(format!(
            "StartDateTime '{start}' is not a date and time such as 2026-11-29T08:00:00Z."
        ))
    })?;
    let stamp = stamp(st, principal);
    let ctx = FetchContext {
        user: stamp.user,
        business_unit: stamp.business_unit,
        now: stamp.now,
    };
    let targets = targets(st, query_set, &ctx)?;
    let job = Job {
        id: uuid::Uuid::new_v4(),
        bulk_id: uuid::Uuid::new_v4(),
        start,
        targets,
        stamp,
    };
    let (asyncop, bulkop) = (
        table(st, "asyncoperation")?.clone(),
        table(st, "bulkdeleteoperation")?.clone(),
    );
    let (id, bulk_id, name) = (job.id, job.bulk_id, job_name.to_owned());
    let data = Json::Array(query_set.clone()).to_string();
    let waiting = if start > stamp.now {
        STATUS_WAITING
    } else {
        STATUS_WAITING_FOR_RESOURCES
    };
    st.store
        .run(move |c| {
            let tx = c.savepoint()?;
            write::insert(
                &tx,
                &asyncop,
                vec![
                    ("asyncoperationid".into(), guid(id)),
                    ("name".into(), Sql::Text(name.clone())),
                    ("operationtype".into(), Sql::Integer(OPERATION_BULK_DELETE)),
                    ("messagename".into(), Sql::Text("BulkDelete".into())),
                    ("statecode".into(), Sql::Integer(STATE_READY)),
                    ("statuscode".into(), Sql::Integer(waiting)),
                    ("postponeuntil".into(), Sql::Integer(start)),
                    ("data".into(), Sql::Text(data)),
                ],
                &stamp,
            )?;
            write::insert(
                &tx,
                &bulkop,
                vec![
                    ("bulkdeleteoperationid".into(), guid(bulk_id)),
                    ("name".into(), Sql::Text(name)),
                    ("statecode".into(), Sql::Integer(STATE_READY)),
                    ("statuscode".into(), Sql::Integer(waiting)),
                    ("successcount".into(), Sql::Integer(0)),
                    ("failurecount".into(), Sql::Integer(0)),
                    ("isrecurring".into(), Sql::Integer(0)),
                    ("processingqeindex".into(), Sql::Integer(0)),
                    ("_asyncoperationid_value".into(), guid(id)),
                ],
                &stamp,
            )?;
            tx.commit()
        })
        .await
        .map_err(internal)?;
    tokio::spawn(run(Arc::downgrade(&st.0), job));
    Ok(json_response(
        json!({
            "@odata.context": format!("{}/$metadata#Microsoft.Dynamics.CRM.BulkDeleteResponse", st.api_root()),
            "JobId": id,
        })
        .to_string(),
    ))
}

/// Restarts the bulk delete jobs a persisted emulator left unfinished (they were running or
/// waiting when it stopped); each starts its queries over, which deletes only what is left.
pub(crate) async fn resume_jobs(st: &AppState) {
    let (Ok(asyncop), Ok(bulkop)) = (
        table(st, "asyncoperation").cloned(),
        table(st, "bulkdeleteoperation").cloned(),
    ) else {
        return;
    };
    let pending = st
        .store
        .read(move |c| {
            let mut q = c.prepare(&format!(
                "SELECT a.asyncoperationid, a.postponeuntil, a.data, a._ownerid_value, b.bulkdeleteoperationid \
                 FROM {} a JOIN {} b ON b._asyncoperationid_value = a.asyncoperationid \
                 WHERE a.operationtype = ?1 AND a.statecode <> ?2",
                ident(&asyncop.name),
                ident(&bulkop.name)
            ))?;
            q.query_map(params![OPERATION_BULK_DELETE, STATE_COMPLETED], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<Vec<u8>>>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await;
    let pending = match pending {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "reading unfinished bulk delete jobs failed");
            return;
        }
    };
    let uuid = |b: &[u8]| uuid::Uuid::from_slice(b).unwrap_or_default();
    for (id, start, data, owner, bulk_id) in pending {
        let owner = owner.map(|o| uuid(&o)).unwrap_or_default();
        let principal = Principal {
            systemuser_id: owner.to_string(),
            object_id: String::new(),
            app_id: String::new(),
            is_app: false,
        };
        let stamp = stamp(st, &principal);
        let ctx = FetchContext {
            user: stamp.user,
            business_unit: stamp.business_unit,
            now: stamp.now,
        };
        let query_set: Vec<Json> = data
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or_default();
        let job = Job {
            id: uuid(&id),
            bulk_id: uuid(&bulk_id),
            start: start.unwrap_or(0),
            targets: Vec::new(),
            stamp,
        };
        match targets(st, &query_set, &ctx) {
            Ok(targets) => {
                tokio::spawn(run(Arc::downgrade(&st.0), Job { targets, ..job }));
            }
            Err(e) => {
                let message = format!("The job's queries no longer plan: {}", e.message);
                let _ = finish(st, &job, STATUS_FAILED, Some(message), 0, 0).await;
            }
        }
    }
}

/// The job's `statuscode` now, if it still exists.
async fn status(st: &AppState, id: uuid::Uuid) -> Option<i64> {
    st.store
        .read(move |c| {
            c.query_row(
                "SELECT statuscode FROM asyncoperation WHERE asyncoperationid = ?1",
                params![id.as_bytes().to_vec()],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()
        })
        .await
        .ok()
        .flatten()
        .flatten()
}

fn canceled(status: Option<i64>) -> bool {
    matches!(status, None | Some(STATUS_CANCELING | STATUS_CANCELED))
}

/// Writes the job's state to both of its rows.
async fn set_state(
    st: &AppState,
    job: &Job,
    columns: Vec<(&'static str, Sql)>,
    counts: Option<(i64, i64, i64)>,
) -> rusqlite::Result<()> {
    let (asyncop, bulkop) = (
        st.model.model.entity_type("asyncoperation").cloned(),
        st.model.model.entity_type("bulkdeleteoperation").cloned(),
    );
    let (Some(asyncop), Some(bulkop)) = (asyncop, bulkop) else {
        return Ok(());
    };
    let (id, bulk_id) = (job.id, job.bulk_id);
    let stamp = Stamp {
        now: st.clock.now(),
        ..job.stamp
    };
    st.store
        .run(move |c| {
            let tx = c.savepoint()?;
            let shared: Vec<(String, Sql)> = columns
                .iter()
                .filter(|(c, _)| matches!(*c, "statecode" | "statuscode"))
                .map(|(c, v)| ((*c).to_owned(), v.clone()))
                .collect();
            let mut bulk = shared;
            if let Some((success, failure, index)) = counts {
                bulk.extend([
                    ("successcount".into(), Sql::Integer(success)),
                    ("failurecount".into(), Sql::Integer(failure)),
                    ("processingqeindex".into(), Sql::Integer(index)),
                ]);
            }
            if !bulk.is_empty() && write::exists(&tx, &bulkop, &bulk_id)? {
                write::update(&tx, &bulkop, &bulk_id, bulk, &stamp)?;
            }
            if write::exists(&tx, &asyncop, &id)? {
                let all = columns
                    .into_iter()
                    .map(|(c, v)| (c.to_owned(), v))
                    .collect();
                write::update(&tx, &asyncop, &id, all, &stamp)?;
            }
            tx.commit()
        })
        .await
}

async fn finish(
    st: &AppState,
    job: &Job,
    status: i64,
    message: Option<String>,
    success: i64,
    failure: i64,
) -> rusqlite::Result<()> {
    let mut columns = vec![
        ("statecode", Sql::Integer(STATE_COMPLETED)),
        ("statuscode", Sql::Integer(status)),
        ("completedon", Sql::Integer(st.clock.now())),
    ];
    if let Some(m) = message {
        columns.push(("message", Sql::Text(m.clone())));
        columns.push(("friendlymessage", Sql::Text(m)));
    }
    let index = job.targets.len().saturating_sub(1) as i64;
    set_state(st, job, columns, Some((success, failure, index))).await
}

/// Runs a job to its end; gives up quietly when the emulator is gone.
async fn run(state: Weak<Inner>, job: Job) {
    // Wait for the start time without keeping the emulator alive.
    loop {
        let Some(inner) = state.upgrade() else { return };
        let st = AppState(inner);
        if st.stopping.load(Ordering::SeqCst) || canceled(status(&st, job.id).await) {
            return;
        }
        if st.clock.now() >= job.start {
            break;
        }
        drop(st);
        tokio::time::sleep(WAIT_STEP).await;
    }
    let Some(inner) = state.upgrade() else { return };
    let st = AppState(inner);
    if let Err(e) = work(&st, &job).await {
        if st.stopping.load(Ordering::SeqCst) {
            return;
        }
        tracing::error!(error = %e, job = %job.id, "bulk delete job failed");
        let _ = finish(
            &st,
            &job,
            STATUS_FAILED,
            Some(format!("The bulk delete job failed: {e}")),
            0,
            0,
        )
        .await;
    }
}

async fn work(st: &AppState, job: &Job) -> rusqlite::Result<()> {
    set_state(
        st,
        job,
        vec![
            ("statecode", Sql::Integer(STATE_LOCKED)),
            ("statuscode", Sql::Integer(STATUS_IN_PROGRESS)),
            ("startedon", Sql::Integer(st.clock.now())),
        ],
        None,
    )
    .await?;
    let (mut success, mut failure) = (0i64, 0i64);
    for (index, target) in job.targets.iter().enumerate() {
        let ids = matching(st, target).await?;
        for chunk in ids.chunks(CHUNK) {
            if st.stopping.load(Ordering::SeqCst) {
                return Ok(()); // left unfinished: a persisted emulator resumes it
            }
            if canceled(status(st, job.id).await) {
                return finish(
                    st,
                    job,
                    STATUS_CANCELED,
                    Some(format!(
                        "The job was canceled after deleting {success} records."
                    )),
                    success,
                    failure,
                )
                .await;
            }
            let entity = target.entity.clone();
            let chunk = chunk.to_vec();
            let size = chunk.len() as i64;
            let deleted = st
                .store
                .run(move |c| {
                    let tx = c.savepoint()?;
                    let mut n = 0i64;
                    for id in &chunk {
                        // A record deleted meanwhile by someone else is neither a success
                        // nor a failure of this job.
                        if write::delete(&tx, &entity, id)? {
                            n += 1;
                        }
                    }
                    tx.commit().map(|_| n)
                })
                .await;
            match deleted {
                Ok(n) => success += n,
                Err(e) => {
                    tracing::warn!(error = %e, job = %job.id, "a bulk delete chunk failed");
                    failure += size;
                }
            }
            set_state(st, job, Vec::new(), Some((success, failure, index as i64))).await?;
            tokio::task::yield_now().await;
        }
    }
    let (status, message) = if failure == 0 {
        (STATUS_SUCCEEDED, None)
    } else {
        (
            STATUS_FAILED,
            Some(format!("{failure} records could not be deleted.")),
        )
    };
    finish(st, job, status, message, success, failure).await
}

/// The keys of the records a query matches now.
async fn matching(st: &AppState, target: &Target) -> rusqlite::Result<Vec<uuid::Uuid>> {
    let sql = format!(
        "SELECT {t}.{k} FROM {t}{w}",
        t = ident(&target.entity.name),
        k = ident(&target.entity.key),
        w = target
            .filter
            .as_ref()
            .map(|f| format!(" WHERE {}", f.sql))
            .unwrap_or_default()
    );
    let params = target
        .filter
        .as_ref()
        .map(|f| f.params.clone())
        .unwrap_or_default();
    st.store
        .read(move |c| {
            let mut q = c.prepare(&sql)?;
            q.query_map(rusqlite::params_from_iter(params), |r| {
                let bytes: Vec<u8> = r.get(0)?;
                Ok(uuid::Uuid::from_slice(&bytes).unwrap_or_default())
            })?
            .collect()
        })
        .await
}
