//! `d365 export <set> --out FILE`: every row of a table into one NDJSON, CSV or Parquet file.
//!
//! * The table is read by [`d365_transfer::export`]: in ranges of `createdon` (with
//!   `--parallel N`), each paged in key order into its own part file; the parts are then
//!   joined in range order into the output ([`d365_transfer::export::assemble`]), so the file is ordered and the
//!   same for any `N`.
//! * Every quarter second and after the last page the part file is synced and the checkpoint
//!   saved; `--resume` cuts each part back to its checkpoint and goes on from the saved next
//!   link: no duplicate, no gap.

use std::process::ExitCode;

use anyhow::{Context, bail};
use d365_transfer::Progress;
use d365_transfer::export::{self, Checkpoint, Format, Plan};

use crate::flags::{ExportArgs, ExportFormat};

fn format_of(args: &ExportArgs) -> anyhow::Result<Format> {
    if let Some(f) = args.format {
        return Ok(f.into());
    }
    let ext = args
        .out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("ndjson" | "jsonl") => Ok(ExportFormat::Ndjson.into()),
        Some("csv") => Ok(ExportFormat::Csv.into()),
        Some("parquet") => Ok(ExportFormat::Parquet.into()),
        _ => bail!(
            "cannot tell the format of {} from its extension: use .ndjson, .csv or .parquet, or --format",
            args.out.display()
        ),
    }
}

pub(crate) async fn run(args: ExportArgs, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    let format = format_of(&args)?;
    d365_transfer::export::check_supported(format)?;
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
        let plan = Plan {
            entity_set: &args.entity_set,
            select: &args.select,
            filter: args.filter.as_deref(),
            format,
            parallel,
        };
        let cp = export::plan(&client, &plan).await?;
        cp.save(&cp_path)?;
        cp
    };
    let progress = progress_bar(checkpoint.rows());
    let on_progress = |event: Progress<'_>| match event {
        Progress::Rows(n) => progress.inc(n),
        Progress::Throttled(n) => progress.set_message(format!("({n} throttled)")),
        _ => {}
    };
    // The row count is for the progress bar only: asked for while the first pages are read.
    let counting = {
        let (client, checkpoint, progress) = (&client, checkpoint.clone(), &progress);
        async move {
            if let Some(total) = export::total_rows(client, &checkpoint).await {
                counted(progress, total);
            }
        }
    };
    let reading = export::read_ranges(&client, &args.out, checkpoint, args.page_size, &on_progress);
    // Reading never waits for the count: once it ends (done or failed), the count is dropped.
    tokio::pin!(reading);
    let outcome = tokio::select! {
        outcome = &mut reading => outcome,
        () = counting => reading.await,
    };
    progress.finish_and_clear();
    let checkpoint = outcome.with_context(|| {
        format!(
            "the export stopped; what was read is kept: run the same command with --resume to go on (checkpoint {})",
            cp_path.display()
        )
    })?;
    let rows = d365_transfer::export::assemble(&args.out, &checkpoint, &client).await?;
    export::remove_parts(&args.out, &checkpoint);
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

/// A spinner until the row count is known ([`counted`]).
fn progress_bar(done: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(style("{spinner} {human_pos} rows, {per_sec} {msg}"));
    bar.set_position(done);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// The bar with its length, once the row count is known.
fn counted(bar: &indicatif::ProgressBar, total: u64) {
    bar.set_length(total);
    bar.set_style(style(
        "{bar:30} {human_pos}/{human_len} rows, {per_sec}, ETA {eta} {msg}",
    ));
}

fn style(template: &str) -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
}
