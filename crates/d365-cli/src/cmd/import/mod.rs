//! `d365 import <set> --in FILE`: rows from NDJSON or CSV into a table through the bulk
//! messages (CreateMultiple, UpdateMultiple, UpsertMultiple), all or nothing per chunk.
//!
//! * Chunks start at `--chunk-size` and halve on timeouts and size errors.
//! * A chunk the server refuses is bisected until the bad rows stand alone; they go to the
//!   reject file with the server's error, the rest is written. On elastic tables (chunks of
//!   100) a chunk is not all or nothing: the error details say which rows failed, the others
//!   are in, and only the failed rows are sent again, one by one.
//! * A chunk whose answer was lost (a dropped connection) is sent again: creates carry ids
//!   derived from the run and the line, so a chunk that had been committed comes back as
//!   duplicates, which are looked up and counted as done rather than written twice.
//! * The journal records every committed and rejected line; `--resume` skips them.

mod input;
mod journal;
mod shape;

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use d365_webapi::{Client, Error};
use futures_util::{StreamExt, TryStreamExt, future::BoxFuture, stream};
use serde_json::{Value, json};

use crate::flags::{ImportArgs, ImportMode, ImportVia};
use journal::Journal;
use shape::Shape;

/// Sends of one chunk whose answer was lost, before the import stops (to be resumed); the
/// pause before each grows from 250 ms to 4 s, so a network blip of seconds is ridden out.
const AMBIGUOUS_RETRIES: u32 = 6;
/// The first chunk size on standard tables, and on elastic tables (Microsoft's advice).
const STANDARD_CHUNK: usize = 1_000;
const ELASTIC_CHUNK: usize = 100;

/// What the chunks share.
struct Ctx {
    client: Client,
    mode: ImportMode,
    /// Bulk messages (false once the table turned out to have none: `$batch` then).
    bulk: std::sync::atomic::AtomicBool,
    via: ImportVia,
    entity_set: String,
    logical_name: String,
    key: String,
    journal: Mutex<Journal>,
    rejects: Mutex<std::io::BufWriter<std::fs::File>>,
    chunk_size: AtomicUsize,
    /// An elastic table: a failing bulk chunk keeps its other rows (partial success).
    elastic: bool,
    written: AtomicU64,
    rejected: AtomicU64,
    already: AtomicU64,
    splits: AtomicU64,
    resent: AtomicU64,
    progress: indicatif::ProgressBar,
}

type Chunk = Vec<(u64, Value)>;

pub(crate) async fn run(args: ImportArgs, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.chunk_size.is_none_or(|n| n >= 1),
        "--chunk-size must be at least 1"
    );
    anyhow::ensure!(
        (1..=32).contains(&args.parallel),
        "--parallel takes 1 to 32"
    );
    anyhow::ensure!(
        args.input.exists(),
        "{} does not exist",
        args.input.display()
    );
    let journal_path = journal::path(&args.input);
    let rejects_path = args.rejects.clone().unwrap_or_else(|| {
        let mut name = args.input.as_os_str().to_owned();
        name.push(".rejects.ndjson");
        name.into()
    });
    check_rejects(&args, &rejects_path, &journal_path)?;
    let client = super::web_client(&args.auth, profile).await?;
    let tables = client.tables().await?;
    let table = tables
        .iter()
        .find(|t| t.entity_set_name.as_deref() == Some(args.entity_set.as_str()))
        .with_context(|| format!("no table has the entity set '{}'", args.entity_set))?
        .clone();
    let columns = client.columns(&table.logical_name).await?;
    if !args.resume && journal_path.exists() {
        bail!(
            "an unfinished import of {} exists ({}): add --resume to continue it, or delete the journal to start over",
            args.input.display(),
            journal_path.display()
        );
    }
    let mut shape = Shape::new(
        &table,
        &columns,
        &tables,
        args.mode,
        args.key.clone(),
        &args.map,
        &args.drop,
    )?;
    // Columns the table lacks, or of a type no value converts to: refused before any write.
    shape.survey(input::open(&args.input, shape.type_lookup())?, &args.input)?;
    let journal = if args.resume {
        Journal::open(&journal_path, &args.entity_set, args.mode)?
    } else {
        Journal::create(&journal_path, &args.entity_set, args.mode)?
    };
    shape.run = journal.run;
    let rows = input::open(&args.input, shape.type_lookup())?;
    let rejects = d365_transfer::private_file::open(
        &rejects_path,
        d365_transfer::private_file::Create::Either,
        true,
    )?;
    if !args.resume {
        // Only empty, or replaced on purpose (--overwrite-rejects): see check_rejects.
        rejects
            .set_len(0)
            .with_context(|| format!("emptying {}", rejects_path.display()))?;
    }
    let done = journal.done.clone();
    let progress = crate::output::progress("rows");
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        mode: args.mode,
        bulk: std::sync::atomic::AtomicBool::new(matches!(
            args.via,
            ImportVia::Auto | ImportVia::Bulk
        )),
        via: args.via,
        entity_set: shape.entity_set.clone(),
        logical_name: shape.logical_name.clone(),
        key: shape.key.clone(),
        journal: Mutex::new(journal),
        rejects: Mutex::new(std::io::BufWriter::new(rejects)),
        chunk_size: AtomicUsize::new(args.chunk_size.unwrap_or(if table.is_elastic() {
            ELASTIC_CHUNK
        } else {
            STANDARD_CHUNK
        })),
        elastic: table.is_elastic(),
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
        async move { process(ctx, chunk?, 0).await }
    })
    .buffer_unordered(args.parallel);
    let outcome: anyhow::Result<()> = chunks.try_collect().await;
    ctx.progress.finish_and_clear();
    ctx.rejects
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .flush()?;
    if let Err(e) = outcome {
        return Err(e.context(format!(
            "the import stopped; what was committed is in the journal: run the same command with --resume to go on ({})",
            journal_path.display()
        )));
    }
    std::fs::remove_file(&journal_path)
        .with_context(|| format!("removing {}", journal_path.display()))?;
    summary(&ctx, &args, &rejects_path)
}

fn summary(
    ctx: &Ctx,
    args: &ImportArgs,
    rejects_path: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let written = ctx.written.load(Ordering::Relaxed);
    let rejected = ctx.rejected.load(Ordering::Relaxed);
    let verb = match args.mode {
        ImportMode::Create => "created",
        ImportMode::Update => "updated",
        ImportMode::Upsert => "upserted",
    };
    eprintln!(
        "imported into {}: {verb} {written}, rejected {rejected}, already done {}, chunks split {}, sent again {}, throttled {}",
        ctx.entity_set,
        ctx.already.load(Ordering::Relaxed),
        ctx.splits.load(Ordering::Relaxed),
        ctx.resent.load(Ordering::Relaxed),
        ctx.client.concurrency_stats().throttled,
    );
    if rejected > 0 {
        eprintln!(
            "d365: {rejected} rows rejected: see {}",
            rejects_path.display()
        );
        return Ok(ExitCode::from(2));
    }
    // An empty reject file is noise; one with rows of an earlier (resumed) run is kept.
    if std::fs::symlink_metadata(rejects_path).is_ok_and(|m| m.is_file() && m.len() == 0) {
        let _ = std::fs::remove_file(rejects_path);
    }
    Ok(ExitCode::SUCCESS)
}

/// The reject file is never the input or the journal, never a symbolic link, and one left
/// by an earlier run is not emptied unless `--overwrite-rejects` says so (`--resume` appends).
fn check_rejects(
    args: &ImportArgs,
    rejects: &std::path::Path,
    journal: &std::path::Path,
) -> anyhow::Result<()> {
    use d365_transfer::private_file::same_file;
    if rejects == args.input || same_file(rejects, &args.input) {
        bail!(
            "--rejects {} is the input file: rejected rows would overwrite it; give another path",
            rejects.display()
        );
    }
    if rejects == journal || same_file(rejects, journal) {
        bail!(
            "--rejects {} is the import's journal; give another path",
            rejects.display()
        );
    }
    match std::fs::symlink_metadata(rejects) {
        Ok(m) if m.file_type().is_symlink() => bail!(
            "{} is a symbolic link: d365 does not write through one",
            rejects.display()
        ),
        Ok(m) if m.len() > 0 && !args.resume && !args.overwrite_rejects => bail!(
            "{} holds rejected rows of an earlier run: move it away, or add --overwrite-rejects to replace it (--resume appends to it)",
            rejects.display()
        ),
        _ => Ok(()),
    }
}

/// Writes a rejected row (and journals it).
fn reject(ctx: &Ctx, line: u64, record: &Value, error: Value) -> anyhow::Result<()> {
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
    ctx.progress.inc(1);
    Ok(())
}

fn committed(ctx: &Ctx, lines: &[u64], written: bool) -> anyhow::Result<()> {
    ctx.journal
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .committed(lines)?;
    let counter = if written { &ctx.written } else { &ctx.already };
    counter.fetch_add(lines.len() as u64, Ordering::Relaxed);
    ctx.progress.inc(lines.len() as u64);
    Ok(())
}

async fn send(ctx: &Ctx, chunk: &Chunk) -> Result<(), Error> {
    if ctx.bulk.load(Ordering::Relaxed) {
        match send_bulk(ctx, chunk).await {
            // The table has no bulk message: Dataverse answers 404 for the segment.
            Err(e)
                if ctx.via == ImportVia::Auto
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
    send_batch(ctx, chunk).await
}

async fn send_bulk(ctx: &Ctx, chunk: &Chunk) -> Result<(), Error> {
    let records: Vec<Value> = chunk.iter().map(|(_, r)| r.clone()).collect();
    let (set, logical) = (&ctx.entity_set, &ctx.logical_name);
    let request = match ctx.mode {
        ImportMode::Create => ctx.client.create_multiple(set, logical, records),
        ImportMode::Update => ctx.client.update_multiple(set, logical, records),
        ImportMode::Upsert => ctx.client.upsert_multiple(set, logical, records),
    };
    request.send().await.map(|_| ())
}

/// What one shaped record asks for: a create, or a write to a keyed record.
enum RowWrite {
    Create(Value),
    Keyed(d365_webapi::RecordKey, Value),
}

fn write_of(ctx: &Ctx, record: &Value) -> Result<RowWrite, Error> {
    let mut body = record.clone();
    if ctx.mode == ImportMode::Create {
        return Ok(RowWrite::Create(body));
    }
    let odata_id = body
        .as_object_mut()
        .and_then(|f| f.remove("@odata.id"))
        .and_then(|v| v.as_str().map(str::to_owned));
    let key = match odata_id {
        // `accounts(accountnumber='K-1')`, as the shaping wrote it.
        Some(address) => {
            let inner = address
                .split_once('(')
                .map(|(_, rest)| rest.trim_end_matches(')'))
                .unwrap_or_default();
            let decoded = percent_encoding::percent_decode_str(inner).decode_utf8_lossy();
            super::write::key(&decoded).map_err(|e| Error::InvalidQuery(e.to_string()))?
        }
        None => d365_webapi::RecordKey::Id(
            id_of(ctx, record)
                .ok_or_else(|| Error::InvalidQuery("a row without its key".into()))?,
        ),
    };
    if let Some(fields) = body.as_object_mut() {
        fields.remove(&ctx.key);
    }
    Ok(RowWrite::Keyed(key, body))
}

/// The chunk as one `$batch` change set: all or nothing too.
async fn send_batch(ctx: &Ctx, chunk: &Chunk) -> Result<(), Error> {
    let writes = chunk
        .iter()
        .map(|(_, r)| write_of(ctx, r))
        .collect::<Result<Vec<_>, _>>()?;
    let set = ctx.entity_set.as_str();
    let results = ctx
        .client
        .batch()
        .change_set(|cs| {
            for write in writes {
                match (write, ctx.mode) {
                    (RowWrite::Create(body), _) => {
                        cs.create(set, body);
                    }
                    (RowWrite::Keyed(key, body), ImportMode::Update) => {
                        cs.update((set, key), body);
                    }
                    (RowWrite::Keyed(key, body), _) => {
                        cs.upsert((set, key), body);
                    }
                }
            }
        })
        .send()
        .await?;
    match results.into_iter().find_map(|r| r.error) {
        Some(e) => Err(Error::Api(e)),
        None => Ok(()),
    }
}

/// One request per row (`--via single`): no atomicity, so each row stands alone.
async fn send_single(ctx: &Ctx, record: &Value) -> Result<(), Error> {
    let set = ctx.entity_set.as_str();
    match (write_of(ctx, record)?, ctx.mode) {
        (RowWrite::Create(body), _) => ctx.client.create(set, body).send().await.map(|_| ()),
        (RowWrite::Keyed(key, body), ImportMode::Update) => {
            ctx.client.update(set, key, body).send().await.map(|_| ())
        }
        (RowWrite::Keyed(key, body), _) => {
            ctx.client.upsert(set, key, body).send().await.map(|_| ())
        }
    }
}

/// The ids among `ids` that exist already.
async fn existing(ctx: &Ctx, ids: &[uuid::Uuid]) -> anyhow::Result<Vec<uuid::Uuid>> {
    let mut found = Vec::new();
    for group in ids.chunks(50) {
        let values: Vec<String> = group.iter().map(|id| format!("'{id}'")).collect();
        let filter = format!(
            "Microsoft.Dynamics.CRM.In(PropertyName='{}',PropertyValues=[{}])",
            ctx.key,
            values.join(",")
        );
        let page = ctx
            .client
            .query(&ctx.entity_set)
            .select([ctx.key.as_str()])
            .filter_text(&filter)?
            .send()
            .await?;
        found.extend(page.items.iter().filter_map(|r| {
            r[&ctx.key]
                .as_str()
                .and_then(|s| s.parse::<uuid::Uuid>().ok())
        }));
    }
    Ok(found)
}

/// The primary key of a shaped record.
fn id_of(ctx: &Ctx, record: &Value) -> Option<uuid::Uuid> {
    record[&ctx.key].as_str().and_then(|s| s.parse().ok())
}

fn split(chunk: Chunk) -> (Chunk, Chunk) {
    let mut first = chunk;
    let second = first.split_off(first.len() / 2);
    (first, second)
}

/// Sends a chunk, splitting, resending or rejecting as its answer says.
fn process(ctx: Arc<Ctx>, chunk: Chunk, attempt: u32) -> BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(async move {
        if chunk.is_empty() {
            return Ok(());
        }
        if ctx.via == ImportVia::Single && chunk.len() > 1 {
            for row in chunk {
                process(ctx.clone(), vec![row], 0).await?;
            }
            return Ok(());
        }
        let lines: Vec<u64> = chunk.iter().map(|(l, _)| *l).collect();
        let sent = match ctx.via {
            ImportVia::Single => send_single(&ctx, &chunk[0].1).await,
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
            let ok: std::collections::HashSet<usize> = api
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
                process(ctx.clone(), vec![row], 0).await?;
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
            process(ctx.clone(), a, 0).await?;
            return process(ctx, b, 0).await;
        }
        // The answer was lost: the chunk may or may not be in. Send it again (creates carry
        // their ids, so a committed chunk shows up as duplicates below).
        if api.is_none() || matches!(status, Some(500 | 502 | 503)) {
            if attempt >= AMBIGUOUS_RETRIES {
                return Err(anyhow::Error::new(err).context(format!(
                    "lines {}–{} were sent {} times without an answer",
                    lines[0],
                    lines[lines.len() - 1],
                    attempt + 1
                )));
            }
            ctx.resent.fetch_add(1, Ordering::Relaxed);
            let pause = std::time::Duration::from_millis(250 << attempt.min(4));
            tokio::time::sleep(pause).await;
            return process(ctx, chunk, attempt + 1).await;
        }
        let api = api.unwrap_or_else(|| unreachable!("handled above"));
        if ctx.mode == ImportMode::Create && api.code.eq_ignore_ascii_case("0x80040237") {
            let ids: Vec<uuid::Uuid> = chunk.iter().filter_map(|(_, r)| id_of(&ctx, r)).collect();
            let there = existing(&ctx, &ids).await?;
            if !there.is_empty() {
                let (done, rest): (Chunk, Chunk) = chunk
                    .into_iter()
                    .partition(|(_, r)| id_of(&ctx, r).is_some_and(|id| there.contains(&id)));
                let done_lines: Vec<u64> = done.iter().map(|(l, _)| *l).collect();
                committed(&ctx, &done_lines, false)?;
                return process(ctx, rest, 0).await;
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
        process(ctx.clone(), a, 0).await?;
        process(ctx, b, 0).await
    })
}
