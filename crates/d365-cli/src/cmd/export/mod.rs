//! `d365 export <set> --out FILE`: every row of a table into one NDJSON, CSV or Parquet file.
//!
//! * The table is read in ranges of `createdon` (with `--parallel N`), each paged in key order
//!   into its own part file, concurrently under the client's concurrency controller; the parts
//!   are then joined in range order into the output, so the file is ordered and the same for
//!   any `N`.
//! * After every page the part file is synced and the checkpoint saved; `--resume` cuts each
//!   part back to its checkpoint and goes on from the saved next link: no duplicate, no gap.
//! * Memory stays flat: one page per range in flight, rows streamed to disk.

mod assemble;
mod checkpoint;
#[cfg(feature = "parquet")]
mod parquet;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use d365_webapi::Client;
use futures_util::future::try_join_all;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::flags::{ExportArgs, ExportFormat};
use checkpoint::Checkpoint;

fn format_of(args: &ExportArgs) -> anyhow::Result<ExportFormat> {
    if let Some(f) = args.format {
        return Ok(f);
    }
    let ext = args
        .out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("ndjson" | "jsonl") => Ok(ExportFormat::Ndjson),
        Some("csv") => Ok(ExportFormat::Csv),
        Some("parquet") => Ok(ExportFormat::Parquet),
        _ => bail!(
            "cannot tell the format of {} from its extension: use .ndjson, .csv or .parquet, or --format",
            args.out.display()
        ),
    }
}

pub(crate) async fn run(args: ExportArgs, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    let format = format_of(&args)?;
    assemble::check_supported(format)?;
    let parallel = match args.parallel.as_str() {
        "auto" => None,
        n => Some(
            n.parse::<usize>()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .with_context(|| format!("--parallel takes 1 to 64 or auto, not '{n}'"))?,
        ),
    };
    if let Some(f) = &args.filter {
        d365_odata::parse_filter(f).map_err(|e| anyhow::anyhow!("--filter: {e}"))?;
    }
    let client = super::web_client(&args.auth, profile).await?;
    let cp_path = Checkpoint::path(&args.out);
    let checkpoint = if args.resume {
        let cp = Checkpoint::load(&cp_path)?;
        anyhow::ensure!(
            cp.entity_set == args.entity_set && cp.format == format && cp.filter == args.filter,
            "{} is the checkpoint of another export ({} to {:?}); start this one without --resume",
            cp_path.display(),
            cp.entity_set,
            cp.format
        );
        cp
    } else {
        if cp_path.exists() {
            bail!(
                "an unfinished export to {} exists ({}): add --resume to continue it, or delete the checkpoint to start over",
                args.out.display(),
                cp_path.display()
            );
        }
        let cp = plan(&client, &args, format, parallel).await?;
        cp.save(&cp_path)?;
        cp
    };
    let total = total_rows(&client, &checkpoint).await;
    let progress = progress_bar(total, checkpoint.rows());
    let shared = Arc::new(Mutex::new(checkpoint.clone()));
    let jobs = checkpoint
        .ranges
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.done)
        .map(|(i, _)| export_range(&client, &args, i, &shared, &cp_path, &progress));
    let outcome = try_join_all(jobs).await;
    progress.finish_and_clear();
    if let Err(e) = outcome {
        return Err(e.context(format!(
            "the export stopped; what was read is kept: run the same command with --resume to go on (checkpoint {})",
            cp_path.display()
        )));
    }
    let checkpoint = shared.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let rows = assemble::assemble(&args.out, &checkpoint, &client).await?;
    for i in 0..checkpoint.ranges.len() {
        let _ = std::fs::remove_file(Checkpoint::part_path(&args.out, i));
    }
    std::fs::remove_file(&cp_path).with_context(|| format!("removing {}", cp_path.display()))?;
    let stats = client.concurrency_stats();
    eprintln!(
        "exported {rows} rows of {} to {} ({} ranges, {} throttled answers)",
        args.entity_set,
        args.out.display(),
        checkpoint.ranges.len(),
        stats.throttled
    );
    Ok(ExitCode::SUCCESS)
}

/// Columns, order and ranges for a new export.
async fn plan(
    client: &Client,
    args: &ExportArgs,
    format: ExportFormat,
    parallel: Option<usize>,
) -> anyhow::Result<Checkpoint> {
    let table = d365_transfer::table::describe(client, &args.entity_set).await?;
    let key = table.key.clone();
    let has_createdon = table.has("createdon");
    let columns = if args.select.is_empty() {
        table.columns.iter().map(|c| c.property.clone()).collect()
    } else {
        args.select.clone()
    };
    let parallel = match parallel {
        Some(n) => n,
        // The server's recommended parallelism, read from x-ms-dop-hint by the controller.
        None => client.concurrency_stats().limit.clamp(1, 16),
    };
    // One order for any number of ranges, so the file is the same whatever --parallel says.
    let (order, conditions) = if !has_createdon {
        anyhow::ensure!(
            parallel == 1,
            "{} has no createdon column to split into ranges: use --parallel 1",
            table.logical_name
        );
        (format!("{key} asc"), vec![None])
    } else if parallel == 1 {
        (format!("createdon asc,{key} asc"), vec![None])
    } else {
        let conditions = createdon_ranges(client, args, parallel).await?;
        (format!("createdon asc,{key} asc"), conditions)
    };
    Ok(Checkpoint::new(
        &args.entity_set,
        columns,
        args.filter.clone(),
        order,
        format,
        conditions,
    ))
}

/// `n` slices of `createdon` between the oldest and the newest row: the first open below, the
/// last open above, so rows created while the export runs are not lost.
async fn createdon_ranges(
    client: &Client,
    args: &ExportArgs,
    n: usize,
) -> anyhow::Result<Vec<Option<String>>> {
    let edge = |direction: &'static str| async move {
        let mut q = client
            .query(&args.entity_set)
            .select(["createdon"])
            .order_by_text(&format!("createdon {direction}"))?
            .top(1);
        if let Some(f) = &args.filter {
            q = q.filter_text(f)?;
        }
        let page = q.send().await?;
        let at = page
            .items
            .first()
            .and_then(|r| r["createdon"].as_str())
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
        Ok::<_, anyhow::Error>(at)
    };
    let (Some(first), Some(last)) = (edge("asc").await?, edge("desc").await?) else {
        return Ok(vec![None]); // an empty table: one range
    };
    let span = (last - first).whole_seconds();
    if span < n as i64 {
        return Ok(vec![None]);
    }
    let cut = |i: usize| {
        (first + time::Duration::seconds(span * i as i64 / n as i64))
            .format(&Rfc3339)
            .unwrap_or_default()
    };
    Ok((0..n)
        .map(|i| {
            Some(match (i, i + 1 == n) {
                (0, _) => format!("createdon lt {}", cut(1)),
                (_, true) => format!("createdon ge {}", cut(i)),
                _ => format!("createdon ge {} and createdon lt {}", cut(i), cut(i + 1)),
            })
        })
        .collect())
}

/// The table's row count for the progress bar, when it can be had cheaply (no filter).
async fn total_rows(client: &Client, cp: &Checkpoint) -> Option<u64> {
    if cp.filter.is_some() {
        return None;
    }
    let logical = client
        .tables()
        .await
        .ok()?
        .into_iter()
        .find(|t| t.entity_set_name.as_deref() == Some(cp.entity_set.as_str()))?
        .logical_name;
    let answer = client
        .function("RetrieveTotalRecordCount")
        .param("EntityNames", serde_json::json!([logical]))
        .send()
        .await
        .ok()?;
    answer["EntityRecordCountCollection"]["Values"][0].as_u64()
}

fn progress_bar(total: Option<u64>, done: u64) -> indicatif::ProgressBar {
    let bar = match total {
        Some(t) => indicatif::ProgressBar::new(t),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let template = if total.is_some() {
        "{bar:30} {human_pos}/{human_len} rows, {per_sec}, ETA {eta} {msg}"
    } else {
        "{spinner} {human_pos} rows, {per_sec} {msg}"
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_position(done);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// Pages range `i` into its part file from where its checkpoint says.
async fn export_range(
    client: &Client,
    args: &ExportArgs,
    i: usize,
    shared: &Arc<Mutex<Checkpoint>>,
    cp_path: &Path,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<()> {
    let (state, columns, order, filter) = {
        let cp = shared.lock().unwrap_or_else(|e| e.into_inner());
        (
            cp.ranges[i].clone(),
            cp.columns.clone(),
            cp.order.clone(),
            cp.filter.clone(),
        )
    };
    let part = Checkpoint::part_path(&args.out, i);
    let mut file = crate::private_file::open(&part, crate::private_file::Create::Either, false)?;
    // Whatever a crash left past the checkpoint is not trusted: cut it off.
    file.set_len(state.bytes)?;
    let mut bytes = state.bytes;
    let mut rows = state.rows;
    let mut next = state.next_link.clone();
    let first = next.is_none();
    let condition = match (&filter, &state.condition) {
        (Some(f), Some(c)) => Some(format!("({f}) and ({c})")),
        (Some(f), None) => Some(f.clone()),
        (None, c) => c.clone(),
    };
    let mut pending_first = first;
    loop {
        let page = if pending_first {
            pending_first = false;
            let mut q = client
                .query(&args.entity_set)
                .select(&columns)
                .order_by_text(&order)?
                .max_page_size(args.page_size);
            if let Some(c) = &condition {
                q = q.filter_text(c)?;
            }
            q.send().await?
        } else {
            match &next {
                Some(link) => client.next_page(link, Some(args.page_size)).await?,
                None => break,
            }
        };
        let (count, next_link) = (page.items.len() as u64, page.next_link);
        let mut buffer = Vec::with_capacity(count as usize * 256);
        for mut record in page.items {
            if let Some(fields) = record.as_object_mut() {
                fields.retain(|k, _| !k.starts_with('@'));
            }
            serde_json::to_writer(&mut buffer, &record)?;
            buffer.push(b'\n');
        }
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(bytes))?;
        file.write_all(&buffer)
            .with_context(|| format!("writing {}", part.display()))?;
        file.sync_data()
            .with_context(|| format!("syncing {}", part.display()))?;
        bytes += buffer.len() as u64;
        rows += count;
        next = next_link;
        let done = next.is_none();
        {
            let mut cp = shared.lock().unwrap_or_else(|e| e.into_inner());
            cp.ranges[i] = checkpoint::RangeState {
                condition: state.condition.clone(),
                next_link: next.clone(),
                bytes,
                rows,
                done,
            };
            cp.save(cp_path)?;
        }
        progress.inc(count);
        let throttled = client.concurrency_stats().throttled;
        if throttled > 0 {
            progress.set_message(format!("({throttled} throttled)"));
        }
        if done {
            break;
        }
    }
    Ok(())
}
