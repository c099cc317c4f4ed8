//! The import loop: rows cut into chunks as they are needed, at the size in force then, sent
//! `parallel` at a time; each chunk's answer decides what follows (committed, halved, sent
//! again, rejected row by row).

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use std::time::Duration;

use d365_http::{Backoff, RetryConfig};
use d365_webapi::Error as ApiError;
use futures_util::{StreamExt, TryStreamExt, future::BoxFuture, stream};
use serde_json::{Value, json};

use super::input::Rows;
use super::send::{RowWrite, Sender};
use super::shape::{Shape, alternate_key};
use super::{ELASTIC_CHUNK, Journal, Mode, STANDARD_CHUNK, Via};
use crate::error::{Error, Result};
use crate::progress::Progress;

/// How an import runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// How each row is written.
    pub mode: Mode,
    /// How rows are sent.
    pub via: Via,
    /// The first chunk size; `None` is [`STANDARD_CHUNK`], or [`ELASTIC_CHUNK`] on elastic
    /// tables.
    pub chunk_size: Option<usize>,
    /// Chunks in flight at once.
    pub parallel: usize,
    /// Sending a chunk again when its answer was lost ([`super::resend_policy`]).
    pub resend: RetryConfig,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Rows written.
    pub written: u64,
    /// Rows rejected (in the reject file).
    pub rejected: u64,
    /// Rows found done: in the journal of the run resumed, or already in the table after a
    /// chunk was sent again.
    pub already: u64,
    /// Chunks split in two.
    pub splits: u64,
    /// Chunks sent again after their answer was lost.
    pub resent: u64,
}

type Chunk = Vec<(u64, Value)>;

/// What the chunks share.
struct Ctx<S> {
    sender: S,
    mode: Mode,
    /// Bulk messages (false once the table turned out to have none: `$batch` then).
    bulk: AtomicBool,
    via: Via,
    entity_set: String,
    logical_name: String,
    key: String,
    alternate_key: Vec<String>,
    journal: Mutex<Journal>,
    rejects: Mutex<Box<dyn Write + Send>>,
    chunk_size: AtomicUsize,
    /// An elastic table: a failing bulk chunk keeps its other rows (partial success).
    elastic: bool,
    resend: RetryConfig,
    written: AtomicU64,
    rejected: AtomicU64,
    already: AtomicU64,
    splits: AtomicU64,
    resent: AtomicU64,
    progress: Arc<dyn Fn(Progress<'_>) + Send + Sync>,
}

/// Imports `rows` as `shape` shapes them, skipping the lines `journal` has done and recording
/// the rest in it; rejected rows go to `rejects` as JSON lines
/// (`{"line", "error", "record"}`). On an error, what was committed is in the journal.
pub async fn run<S: Sender>(
    sender: S,
    mut shape: Shape,
    rows: Rows,
    journal: Journal,
    rejects: Box<dyn Write + Send>,
    options: Options,
    progress: Arc<dyn Fn(Progress<'_>) + Send + Sync>,
) -> Result<Stats> {
    shape.run = journal.run;
    shape.ids = journal.ids;
    let done = journal.done.clone();
    let chunk_size = options.chunk_size.unwrap_or(if shape.elastic {
        ELASTIC_CHUNK
    } else {
        STANDARD_CHUNK
    });
    let ctx = Arc::new(Ctx {
        sender,
        mode: options.mode,
        bulk: AtomicBool::new(matches!(options.via, Via::Auto | Via::Bulk)),
        via: options.via,
        entity_set: shape.entity_set.clone(),
        logical_name: shape.logical_name.clone(),
        key: shape.key.clone(),
        alternate_key: shape.alternate_key.clone(),
        journal: Mutex::new(journal),
        rejects: Mutex::new(rejects),
        chunk_size: AtomicUsize::new(chunk_size),
        elastic: shape.elastic,
        resend: options.resend,
        written: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        already: AtomicU64::new(done.len() as u64),
        splits: AtomicU64::new(0),
        resent: AtomicU64::new(0),
        progress,
    });

    // Chunks are cut as they are needed, at the size in force then.
    let mut rows = rows.filter(move |r| !matches!(r, Ok(row) if done.contains(&row.line)));
    let ctx_chunks = ctx.clone();
    let chunks = stream::iter(
        std::iter::from_fn(move || {
            let size = ctx_chunks.chunk_size.load(Ordering::Relaxed);
            let mut chunk: Chunk = Vec::with_capacity(size);
            while chunk.len() < size {
                // At the end of the input, the last (short) chunk still goes.
                let Some(next) = rows.next() else {
                    break;
                };
                match next {
                    Err(e) => return Some(Err(e)),
                    Ok(row) => match row.fields.and_then(|f| shape.record(row.line, f)) {
                        Ok(record) => chunk.push((row.line, record)),
                        Err(message) => {
                            let error = json!({"message": message});
                            if let Err(e) = reject(&ctx_chunks, row.line, &Value::Null, error) {
                                return Some(Err(e));
                            }
                        }
                    },
                }
            }
            Some(Ok(chunk))
        })
        .take_while(|c| !matches!(c, Ok(c) if c.is_empty())),
    )
    .map(|chunk| {
        let ctx = ctx.clone();
        async move {
            let resend = Resend::new(&ctx.resend);
            process(ctx, chunk?, 0, resend).await
        }
    })
    .buffer_unordered(options.parallel.max(1));
    let outcome: Result<()> = chunks.try_collect().await;
    ctx.rejects
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .flush()?;
    outcome?;
    Ok(Stats {
        written: ctx.written.load(Ordering::Relaxed),
        rejected: ctx.rejected.load(Ordering::Relaxed),
        already: ctx.already.load(Ordering::Relaxed),
        splits: ctx.splits.load(Ordering::Relaxed),
        resent: ctx.resent.load(Ordering::Relaxed),
    })
}

/// Writes a rejected row (and journals it).
fn reject<S>(ctx: &Ctx<S>, line: u64, record: &Value, error: Value) -> Result<()> {
    {
        let mut out = ctx.rejects.lock().unwrap_or_else(|e| e.into_inner());
        serde_json::to_writer(
            &mut *out,
            &json!({"line": line, "error": error, "record": record}),
        )?;
        out.write_all(b"\n")?;
        out.flush()?;
    }
    ctx.journal
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .rejected(&[line])?;
    ctx.rejected.fetch_add(1, Ordering::Relaxed);
    (ctx.progress)(Progress::Rows(1));
    Ok(())
}

fn committed<S>(ctx: &Ctx<S>, lines: &[u64], written: bool) -> Result<()> {
    ctx.journal
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .committed(lines)?;
    let counter = if written { &ctx.written } else { &ctx.already };
    counter.fetch_add(lines.len() as u64, Ordering::Relaxed);
    (ctx.progress)(Progress::Rows(lines.len() as u64));
    Ok(())
}

async fn send<S: Sender>(ctx: &Ctx<S>, chunk: &Chunk) -> Result<(), ApiError> {
    if ctx.bulk.load(Ordering::Relaxed) {
        let records: Vec<Value> = chunk.iter().map(|(_, r)| r.clone()).collect();
        let (set, logical) = (&ctx.entity_set, &ctx.logical_name);
        match ctx.sender.bulk(ctx.mode, set, logical, records).await {
            // The table has no bulk message: Dataverse answers 404 for the segment.
            Err(e)
                if ctx.via == Via::Auto
                    && e.api().is_some_and(|a| {
                        a.status == 404
                            && a.bulk_outcomes.is_empty()
                            && a.message.contains("Microsoft.Dynamics.CRM.")
                    }) =>
            {
                tracing::info!("no bulk messages for {}: using $batch", ctx.entity_set);
                ctx.bulk.store(false, Ordering::Relaxed);
            }
            other => return other,
        }
    }
    // The chunk as one `$batch` change set: all or nothing too.
    let writes = chunk
        .iter()
        .map(|(_, r)| write_of(ctx, r))
        .collect::<Result<Vec<_>, _>>()?;
    ctx.sender.change_set(&ctx.entity_set, writes).await
}

/// What one shaped record asks for outside a bulk message.
fn write_of<S>(ctx: &Ctx<S>, record: &Value) -> Result<RowWrite, ApiError> {
    let mut body = record.clone();
    if ctx.mode == Mode::Create {
        return Ok(RowWrite::Create(body));
    }
    let by_alternate_key = body
        .as_object_mut()
        .and_then(|f| f.remove("@odata.id"))
        .is_some();
    let key = if by_alternate_key {
        let fields = body.as_object().cloned().unwrap_or_default();
        alternate_key(&ctx.alternate_key, &fields).map_err(ApiError::InvalidQuery)?
    } else {
        d365_webapi::RecordKey::Id(
            id_of(ctx, record)
                .ok_or_else(|| ApiError::InvalidQuery("a row without its key".into()))?,
        )
    };
    if let Some(fields) = body.as_object_mut() {
        fields.remove(&ctx.key);
    }
    Ok(match ctx.mode {
        Mode::Update => RowWrite::Update(key, body),
        _ => RowWrite::Upsert(key, body),
    })
}

/// The primary key of a shaped record.
fn id_of<S>(ctx: &Ctx<S>, record: &Value) -> Option<uuid::Uuid> {
    record[&ctx.key].as_str().and_then(|s| s.parse().ok())
}

fn split(chunk: Chunk) -> (Chunk, Chunk) {
    let mut first = chunk;
    let second = first.split_off(first.len() / 2);
    (first, second)
}

/// The resends of one chunk whose answer was lost: paced by `d365-http`'s backoff, and
/// counted in time as well as in number ([`super::RESEND_AT_LEAST`]).
struct Resend {
    backoff: Backoff,
    waited: Duration,
}

impl Resend {
    fn new(policy: &RetryConfig) -> Self {
        Self {
            backoff: Backoff::new(policy.backoff),
            waited: Duration::ZERO,
        }
    }

    /// Whether a chunk sent `attempt` times without an answer is given up: after the policy's
    /// resends and [`super::RESEND_AT_LEAST`] of pauses, or after [`super::MAX_RESENDS`].
    fn exhausted(&self, attempt: u32, policy: &RetryConfig) -> bool {
        attempt >= super::MAX_RESENDS
            || (attempt >= policy.max_retries && self.waited >= super::RESEND_AT_LEAST)
    }

    fn next_wait(&mut self) -> Duration {
        let wait = self.backoff.next_wait();
        self.waited += wait;
        wait
    }
}

/// Sends a chunk, splitting, resending or rejecting as its answer says. `attempt` counts the
/// sends of this chunk whose answer was lost; `resend` paces them.
fn process<S: Sender>(
    ctx: Arc<Ctx<S>>,
    chunk: Chunk,
    attempt: u32,
    mut resend: Resend,
) -> BoxFuture<'static, Result<()>> {
    Box::pin(async move {
        if chunk.is_empty() {
            return Ok(());
        }
        let fresh = || Resend::new(&ctx.resend);
        if ctx.via == Via::Single && chunk.len() > 1 {
            for row in chunk {
                process(ctx.clone(), vec![row], 0, fresh()).await?;
            }
            return Ok(());
        }
        let lines: Vec<u64> = chunk.iter().map(|(l, _)| *l).collect();
        let sent = match ctx.via {
            Via::Single => match write_of(&ctx, &chunk[0].1) {
                Ok(write) => ctx.sender.single(&ctx.entity_set, write).await,
                Err(e) => Err(e),
            },
            _ => send(&ctx, &chunk).await,
        };
        let err = match sent {
            Ok(()) => return committed(&ctx, &lines, true),
            Err(e) => e,
        };
        // Elastic tables write what they can: the details say which rows went in. Those are
        // done; every other row is sent alone, so it gets its own error (or goes in on a
        // retry). Checked before anything else: the failure's status is only the first
        // row's, and a duplicate there may be a row this very request created.
        if ctx.elastic
            && chunk.len() > 1
            && let Some(api) = err.api()
            && !api.bulk_outcomes.is_empty()
        {
            let ok: HashSet<usize> = api
                .bulk_outcomes
                .iter()
                .filter(|o| o.succeeded())
                // An id that is not the row's (always known when creating) is not trusted.
                .filter(|o| {
                    chunk.get(o.request_index).is_some_and(|(_, row)| {
                        match (o.id, id_of(&ctx, row)) {
                            (Some(said), Some(own)) => said == own,
                            _ => true,
                        }
                    })
                })
                .map(|o| o.request_index)
                .collect();
            let (done, failed): (Vec<_>, Vec<_>) = chunk
                .into_iter()
                .enumerate()
                .partition(|(i, _)| ok.contains(i));
            let done_lines: Vec<u64> = done.iter().map(|(_, (l, _))| *l).collect();
            committed(&ctx, &done_lines, true)?;
            for (_, row) in failed {
                process(ctx.clone(), vec![row], 0, fresh()).await?;
            }
            return Ok(());
        }
        let api = err.api().cloned();
        let status = api.as_ref().map(|a| a.status);
        // Too big or too slow for the server: smaller chunks from now on.
        if matches!(status, Some(408 | 413 | 504)) && chunk.len() > 1 {
            ctx.chunk_size
                .fetch_min((chunk.len() / 2).max(1), Ordering::Relaxed);
            ctx.splits.fetch_add(1, Ordering::Relaxed);
            let (a, b) = split(chunk);
            process(ctx.clone(), a, 0, fresh()).await?;
            return process(ctx.clone(), b, 0, fresh()).await;
        }
        // The answer was lost: the chunk may or may not be in. Send it again (creates carry
        // their ids, so a committed chunk shows up as duplicates below).
        if api.is_none() || matches!(status, Some(500 | 502 | 503)) {
            if resend.exhausted(attempt, &ctx.resend) {
                return Err(Error::Unanswered {
                    first: lines[0],
                    last: lines[lines.len() - 1],
                    times: attempt + 1,
                    source: Box::new(err),
                });
            }
            ctx.resent.fetch_add(1, Ordering::Relaxed);
            let pause = resend.next_wait();
            tracing::info!(
                attempt = attempt + 1,
                ?pause,
                first_line = lines[0],
                "the answer to a chunk was lost; sending it again"
            );
            tokio::time::sleep(pause).await;
            return process(ctx, chunk, attempt + 1, resend).await;
        }
        let api = api.unwrap_or_else(|| unreachable!("handled above"));
        if ctx.mode == Mode::Create && api.is_duplicate_record() {
            let ids: Vec<uuid::Uuid> = chunk.iter().filter_map(|(_, r)| id_of(&ctx, r)).collect();
            let there = ctx.sender.existing(&ctx.entity_set, &ctx.key, &ids).await?;
            if !there.is_empty() {
                let (done, rest): (Chunk, Chunk) = chunk
                    .into_iter()
                    .partition(|(_, r)| id_of(&ctx, r).is_some_and(|id| there.contains(&id)));
                let done_lines: Vec<u64> = done.iter().map(|(l, _)| *l).collect();
                committed(&ctx, &done_lines, false)?;
                return process(ctx.clone(), rest, 0, fresh()).await;
            }
        }
        if chunk.len() == 1 {
            let (line, record) = &chunk[0];
            let error = json!({
                "status": api.status,
                "code": api.code,
                "message": api.message,
                "request_id": api.request_id,
            });
            return reject(&ctx, *line, record, error);
        }
        // All or nothing: one bad row failed the chunk. Halve until it stands alone.
        ctx.splits.fetch_add(1, Ordering::Relaxed);
        let (a, b) = split(chunk);
        process(ctx.clone(), a, 0, fresh()).await?;
        process(ctx.clone(), b, 0, fresh()).await
    })
}
