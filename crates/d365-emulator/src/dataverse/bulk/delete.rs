//! `BulkDelete`: deletes every record matched by a set of QueryExpressions, as a system job
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/bulkdelete>).
//!
//! The action answers at once with the job's id; the job runs in the background, as
//! Dataverse's asynchronous service does: it waits for `StartDateTime` (on the emulator's
//! clock), deletes matching records in chunks (each chunk one transaction, each delete
//! leaving a change-tracking tombstone), and keeps `asyncoperation` (state, status, message)
//! and `bulkdeleteoperation` (`successcount`, `failurecount`) up to date. A job scheduled
//! later is Suspended/Waiting (1/10) until then; a due one is Ready/Waiting For Resources
//! (0/0), then Locked/In Progress (2/20), then Completed (3) with Succeeded, Failed or
//! Canceled (30/31/32). Setting `statuscode` 22 or 32 cancels it: every chunk's transaction
//! checks first, and every state change is refused once it is canceled. Each chunk deletes
//! only the records that still match when it runs. Unlike the
//! bulk messages, a bulk delete is not all or nothing: what was deleted stays deleted.
//! Jobs left unfinished when a persisted emulator stopped resume when it starts again.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::response::Response;
use d365_odata::model::EntityType;
use serde_json::{Map, Value as Json, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::dataverse::headers::json_response;
use crate::dataverse::model::OPERATION_BULK_DELETE;
use crate::dataverse::modify::stamp;
use crate::dataverse::record::required;
use crate::entra::validate::Principal;
use crate::error::DataverseError;
use crate::fetchxml::{Fetch, from_query_expression};
use crate::query::fetch::{FetchContext, plan};
use crate::query::plan::SqlFilter;
use crate::state::{AppState, Inner};
use crate::store::write::Stamp;
use crate::store::{StoreError, Value as Sql, guid};

/// Records deleted per transaction: small enough that other writers are not held up long.
const CHUNK: usize = 500;
/// How often a job waiting for its start time looks at the clock.
const WAIT_STEP: Duration = Duration::from_millis(100);

const STATE_READY: i64 = 0;
const STATE_SUSPENDED: i64 = 1;
const STATE_LOCKED: i64 = 2;
const STATE_COMPLETED: i64 = 3;
const STATUS_WAITING_FOR_RESOURCES: i64 = 0;
const STATUS_WAITING: i64 = 10;
const STATUS_IN_PROGRESS: i64 = 20;
const STATUS_CANCELING: i64 = 22;
const STATUS_SUCCEEDED: i64 = 30;
const STATUS_FAILED: i64 = 31;
const STATUS_CANCELED: i64 = 32;

/// One query of the job and its table. It is planned when the job is submitted (to refuse
/// a bad one) and again when the job runs, so relative dates (`Today`, `LastXDays`) mean the
/// run's day, not the submission's.
struct Target {
    entity: EntityType,
    fetch: Fetch,
}

/// A job ready to run.
struct Job {
    id: uuid::Uuid,
    bulk_id: uuid::Uuid,
    start: i64,
    targets: Vec<Target>,
    stamp: Stamp,
    /// Records a previous run of this job deleted (a resumed job counts on from there).
    deleted_before: i64,
}

fn table<'a>(st: &'a AppState, name: &str) -> Result<&'a EntityType, DataverseError> {
    st.model
        .model
        .entity_type(name)
        .ok_or_else(|| DataverseError::not_in_metadata_cache(name))
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
            if fetch.top.is_some() {
                return Err(DataverseError::bad_query(format!(
                    "QuerySet[{i}]: TopCount cannot be used with BulkDelete: a bulk delete deletes every record its query matches."
                )));
            }
            let entity = table(st, &fetch.entity)?;
            plan(&st.model.model, entity, &fetch, ctx)
                .map_err(DataverseError::from)
                .map_err(|mut e| {
                e.message = format!("QuerySet[{i}]: {}", e.message);
                e
            })?;
            Ok(Target {
                entity: entity.clone(),
                fetch,
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
    let query_set = required(params, "QuerySet", Json::as_array)?;
    let job_name = required(params, "JobName", Json::as_str)?;
    required(params, "SendEmailNotification", Json::as_bool)?;
    for list in ["ToRecipients", "CCRecipients"] {
        required(params, list, Json::as_array)?;
    }
    let recurrence = required(params, "RecurrencePattern", Json::as_str)?;
    if !recurrence.trim().is_empty() {
        return Err(DataverseError::bad_query(format!(
            "Recurring bulk delete jobs (RecurrencePattern '{recurrence}') are not supported by the emulator; pass \"\" to run the job once."
        )));
    }
    let start = required(params, "StartDateTime", Json::as_str)?;
    let start = instant(start).ok_or_else(|| {
        DataverseError::bad_query(format!(
            "StartDateTime '{start}' is not a date and time such as 2026-11-29T08:00:00Z."
        ))
    })?;
    let stamp = stamp(st, principal);
    let targets = targets(st, query_set, &context(&stamp))?;
    let job = Job {
        id: uuid::Uuid::new_v4(),
        bulk_id: uuid::Uuid::new_v4(),
        start,
        targets,
        stamp,
        deleted_before: 0,
    };
    let (asyncop, bulkop) = (
        table(st, "asyncoperation")?.clone(),
        table(st, "bulkdeleteoperation")?.clone(),
    );
    let (id, bulk_id, name) = (job.id, job.bulk_id, job_name.to_owned());
    let data = Json::Array(query_set.clone()).to_string();
    let (state, waiting) = if start > stamp.now {
        (STATE_SUSPENDED, STATUS_WAITING)
    } else {
        (STATE_READY, STATUS_WAITING_FOR_RESOURCES)
    };
    st.store
        .transaction(move |tx| {
            tx.insert(
                &asyncop,
                vec![
                    ("asyncoperationid".into(), guid(id)),
                    ("name".into(), Sql::Text(name.clone())),
                    ("operationtype".into(), Sql::Integer(OPERATION_BULK_DELETE)),
                    ("messagename".into(), Sql::Text("BulkDelete".into())),
                    ("statecode".into(), Sql::Integer(state)),
                    ("statuscode".into(), Sql::Integer(waiting)),
                    ("postponeuntil".into(), Sql::Integer(start)),
                    ("data".into(), Sql::Text(data)),
                ],
                &stamp,
            )?;
            tx.insert(
                &bulkop,
                vec![
                    ("bulkdeleteoperationid".into(), guid(bulk_id)),
                    ("name".into(), Sql::Text(name)),
                    ("statecode".into(), Sql::Integer(state)),
                    ("statuscode".into(), Sql::Integer(waiting)),
                    ("successcount".into(), Sql::Integer(0)),
                    ("failurecount".into(), Sql::Integer(0)),
                    ("isrecurring".into(), Sql::Integer(0)),
                    ("processingqeindex".into(), Sql::Integer(0)),
                    ("_asyncoperationid_value".into(), guid(id)),
                ],
                &stamp,
            )?;
            Ok(Ok::<_, DataverseError>(()))
        })
        .await
        .map_err(|e| DataverseError::store(e, "submitting the bulk delete job"))??;
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
/// waiting when it stopped); each runs its queries again, which finds only what is left, and
/// counts on from what it had deleted.
pub(crate) async fn resume_jobs(st: &AppState) {
    let (Ok(asyncop), Ok(bulkop)) = (
        table(st, "asyncoperation").cloned(),
        table(st, "bulkdeleteoperation").cloned(),
    ) else {
        return;
    };
    let pending = st
        .store
        .unfinished_jobs(&asyncop, &bulkop, OPERATION_BULK_DELETE, STATE_COMPLETED)
        .await;
    let pending = match pending {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "reading unfinished bulk delete jobs failed");
            return;
        }
    };
    for pending in pending {
        let owner = pending.owner.unwrap_or_default();
        let principal = Principal {
            systemuser_id: owner.to_string(),
            object_id: String::new(),
            app_id: String::new(),
            is_app: false,
            on_behalf_of: None,
        };
        let stamp = stamp(st, &principal);
        let ctx = context(&stamp);
        let query_set: Vec<Json> = pending
            .data
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or_default();
        let job = Job {
            id: pending.id,
            bulk_id: pending.bulk_id,
            start: pending.start.unwrap_or(0),
            targets: Vec::new(),
            stamp,
            deleted_before: pending.deleted.unwrap_or(0),
        };
        match targets(st, &query_set, &ctx) {
            Ok(targets) => {
                tokio::spawn(run(Arc::downgrade(&st.0), Job { targets, ..job }));
            }
            Err(e) => {
                let message = format!("The job's queries no longer plan: {}", e.message);
                let done = (job.deleted_before, 0);
                let _ = finish(st, &job, STATUS_FAILED, Some(message), done, true).await;
            }
        }
    }
}

fn context(stamp: &Stamp) -> FetchContext {
    FetchContext {
        user: stamp.user,
        business_unit: stamp.business_unit,
        now: stamp.now,
    }
}

/// Whether a job's `statuscode` (or its absence: the row was deleted) means "stop".
fn canceled(status: Option<i64>) -> bool {
    matches!(status, None | Some(STATUS_CANCELING | STATUS_CANCELED))
}

/// Writes the job's state to both of its rows, in one transaction. With `guard`, nothing is
/// written if the job was canceled meanwhile, and the answer is `false`.
async fn set_state(
    st: &AppState,
    job: &Job,
    columns: Vec<(&'static str, Sql)>,
    counts: Option<(i64, i64, i64)>,
    guard: bool,
) -> Result<bool, StoreError> {
    let (asyncop, bulkop) = (
        st.model.model.entity_type("asyncoperation").cloned(),
        st.model.model.entity_type("bulkdeleteoperation").cloned(),
    );
    let (Some(asyncop), Some(bulkop)) = (asyncop, bulkop) else {
        return Ok(false);
    };
    let (id, bulk_id) = (job.id, job.bulk_id);
    let stamp = Stamp {
        now: st.clock.now(),
        ..job.stamp
    };
    let written = st
        .store
        .transaction(move |tx| {
            if guard && canceled(tx.job_status(id)?) {
                return Ok(Err(()));
            }
            let mut bulk: Vec<(String, Sql)> = columns
                .iter()
                .filter(|(c, _)| matches!(*c, "statecode" | "statuscode"))
                .map(|(c, v)| ((*c).to_owned(), v.clone()))
                .collect();
            if let Some((success, failure, index)) = counts {
                bulk.extend([
                    ("successcount".into(), Sql::Integer(success)),
                    ("failurecount".into(), Sql::Integer(failure)),
                    ("processingqeindex".into(), Sql::Integer(index)),
                ]);
            }
            if !bulk.is_empty() && tx.exists(&bulkop, &bulk_id)? {
                tx.update(&bulkop, &bulk_id, bulk, &stamp)?;
            }
            if !columns.is_empty() && tx.exists(&asyncop, &id)? {
                let all = columns
                    .into_iter()
                    .map(|(c, v)| (c.to_owned(), v))
                    .collect();
                tx.update(&asyncop, &id, all, &stamp)?;
            }
            Ok(Ok(()))
        })
        .await?;
    Ok(written.is_ok())
}

/// Ends the job with `status` (`guard` as for [`set_state`]); `counts` are (deleted, failed).
async fn finish(
    st: &AppState,
    job: &Job,
    status: i64,
    message: Option<String>,
    (success, failure): (i64, i64),
    guard: bool,
) -> Result<bool, StoreError> {
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
    set_state(st, job, columns, Some((success, failure, index)), guard).await
}

/// Ends a job that was asked to stop: Canceled, with what it had done.
async fn finish_canceled(st: &AppState, job: &Job, counts: (i64, i64)) -> Result<(), StoreError> {
    let message = format!("The job was canceled after deleting {} records.", counts.0);
    finish(st, job, STATUS_CANCELED, Some(message), counts, false)
        .await
        .map(|_| ())
}

/// Runs a job to its end; gives up quietly when the emulator is gone or stopping (a
/// persisted job then resumes at the next start).
async fn run(state: Weak<Inner>, job: Job) {
    // Wait for the start time without keeping the emulator alive.
    loop {
        let Some(inner) = state.upgrade() else { return };
        let st = AppState(inner);
        if st.stopping.load(Ordering::SeqCst) {
            return;
        }
        match st.store.job_status(job.id).await {
            Ok(None) => return, // the job's row was deleted
            Ok(s) if canceled(s) => {
                let _ = finish_canceled(&st, &job, (job.deleted_before, 0)).await;
                return;
            }
            Ok(_) if st.clock.now() >= job.start => break,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, job = %job.id, "reading a waiting job's status failed")
            }
        }
        drop(st);
        tokio::time::sleep(WAIT_STEP).await;
    }
    let Some(inner) = state.upgrade() else { return };
    let st = AppState(inner);
    let mut counts = (job.deleted_before, 0);
    if let Err(e) = work(&st, &job, &mut counts).await {
        if st.stopping.load(Ordering::SeqCst) {
            return;
        }
        tracing::error!(error = %e, job = %job.id, "bulk delete job failed");
        let message = format!("The bulk delete job failed: {e}");
        let _ = finish(&st, &job, STATUS_FAILED, Some(message), counts, true).await;
    }
}

/// Deletes what the job's queries match, chunk by chunk; `counts` (deleted, failed) grow as
/// it goes, so a failure reports what was done.
async fn work(st: &AppState, job: &Job, counts: &mut (i64, i64)) -> Result<(), StoreError> {
    let started = set_state(
        st,
        job,
        vec![
            ("statecode", Sql::Integer(STATE_LOCKED)),
            ("statuscode", Sql::Integer(STATUS_IN_PROGRESS)),
            ("startedon", Sql::Integer(st.clock.now())),
        ],
        None,
        true,
    )
    .await?;
    if !started {
        return finish_canceled(st, job, *counts).await;
    }
    let ctx = context(&Stamp {
        now: st.clock.now(),
        ..job.stamp
    });
    for (index, target) in job.targets.iter().enumerate() {
        let filter = match plan(&st.model.model, &target.entity, &target.fetch, &ctx) {
            Ok(p) => p.filter,
            Err(e) => {
                let message = format!("QuerySet[{index}] no longer plans: {e}");
                return finish(st, job, STATUS_FAILED, Some(message), *counts, true)
                    .await
                    .map(|_| ());
            }
        };
        let ids = st.store.matching(&target.entity, filter.as_ref()).await?;
        for chunk in ids.chunks(CHUNK) {
            if st.stopping.load(Ordering::SeqCst) {
                return Ok(()); // left unfinished: a persisted emulator resumes it
            }
            match delete_chunk(st, job.id, &target.entity, filter.clone(), chunk.to_vec()).await {
                Ok(Some(n)) => counts.0 += n,
                Ok(None) => return finish_canceled(st, job, *counts).await,
                Err(e) => {
                    tracing::warn!(error = %e, job = %job.id, "a bulk delete chunk failed");
                    counts.1 += chunk.len() as i64;
                }
            }
            let progress = (counts.0, counts.1, index as i64);
            if !set_state(st, job, Vec::new(), Some(progress), true).await? {
                return finish_canceled(st, job, *counts).await;
            }
            tokio::task::yield_now().await;
        }
    }
    let (status, message) = match counts.1 {
        0 => (STATUS_SUCCEEDED, None),
        n => (
            STATUS_FAILED,
            Some(format!("{n} records could not be deleted.")),
        ),
    };
    if !finish(st, job, status, message, *counts, true).await? {
        return finish_canceled(st, job, *counts).await;
    }
    Ok(())
}

/// Deletes one chunk in one transaction: only if the job is still running, and only the
/// records that still match (one edited meanwhile so that it no longer matches is spared).
/// `None` if the job was canceled.
async fn delete_chunk(
    st: &AppState,
    job: uuid::Uuid,
    entity: &EntityType,
    filter: Option<SqlFilter>,
    chunk: Vec<uuid::Uuid>,
) -> Result<Option<i64>, StoreError> {
    let entity = entity.clone();
    let clock = crate::dataverse::changes::change_clock(st);
    let deleted = st
        .store
        .transaction(move |tx| {
            if canceled(tx.job_status(job)?) {
                return Ok(Err(()));
            }
            let mut n = 0i64;
            for id in tx.matching_among(&entity, &chunk, filter.as_ref())? {
                if tx.delete(&entity, &id, clock)? {
                    n += 1;
                }
            }
            Ok(Ok(n))
        })
        .await?;
    Ok(deleted.ok())
}
