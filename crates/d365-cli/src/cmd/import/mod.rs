//! `d365 import <set> --in FILE`: rows from NDJSON or CSV into a table through
//! [`d365_transfer::import`] (bulk messages, all or nothing per chunk, bisection of refused
//! chunks, a journal for `--resume`). This module checks the flags and files, draws the
//! progress bar and prints the summary.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use d365_transfer::Progress;
use d365_transfer::import::{self, Journal, Options, Shape, Stats};
use d365_transfer::private_file::{self, Create};

use crate::flags::{ImportArgs, ImportMode};

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
    let journal_path = import::journal_path(&args.input);
    let rejects_path = args.rejects.clone().unwrap_or_else(|| {
        let mut name = args.input.as_os_str().to_owned();
        name.push(".rejects.ndjson");
        name.into()
    });
    check_rejects(&args, &rejects_path, &journal_path)?;
    let client = super::web_client(&args.auth, profile).await?;
    let tables = client.tables().await?;
    let table = d365_transfer::table::find(&tables, &args.entity_set)?.clone();
    let columns = client.columns(&table.logical_name).await?;
    if !args.resume && journal_path.exists() {
        bail!(
            "an unfinished import of {} exists ({}): add --resume to continue it, or delete the journal to start over",
            args.input.display(),
            journal_path.display()
        );
    }
    let mode = args.mode.into();
    let shape = Shape::new(
        &table,
        &columns,
        &tables,
        mode,
        args.key.clone(),
        &args.map,
        &args.drop,
    )?;
    // Columns the table lacks, or of a type no value converts to: refused before any write.
    shape.survey(import::open(&args.input, shape.type_lookup())?, &args.input)?;
    let journal = if args.resume {
        Journal::open(&journal_path, &args.entity_set, mode)?
    } else {
        Journal::create(&journal_path, &args.entity_set, mode)?
    };
    let rows = import::open(&args.input, shape.type_lookup())?;
    let rejects = private_file::open(&rejects_path, Create::Either, true)?;
    if !args.resume {
        // Only empty, or replaced on purpose (--overwrite-rejects): see check_rejects.
        rejects
            .set_len(0)
            .with_context(|| format!("emptying {}", rejects_path.display()))?;
    }
    let entity_set = shape.entity_set.clone();
    let progress = crate::output::progress("rows");
    let bar = progress.clone();
    let on_progress = Arc::new(move |event: Progress<'_>| {
        if let Progress::Rows(n) = event {
            bar.inc(n);
        }
    });
    let options = Options {
        mode,
        via: args.via.into(),
        chunk_size: args.chunk_size,
        parallel: args.parallel,
        resend: import::resend_policy(),
    };
    let rejects = Box::new(std::io::BufWriter::new(rejects));
    let outcome = import::run(
        client.clone(),
        shape,
        rows,
        journal,
        rejects,
        options,
        on_progress,
    )
    .await;
    progress.finish_and_clear();
    let stats = outcome.with_context(|| {
        format!(
            "the import stopped; what was committed is in the journal: run the same command with --resume to go on ({})",
            journal_path.display()
        )
    })?;
    std::fs::remove_file(&journal_path)
        .with_context(|| format!("removing {}", journal_path.display()))?;
    let throttled = client.concurrency_stats().throttled;
    summary(&stats, &entity_set, throttled, &args, &rejects_path)
}

fn summary(
    stats: &Stats,
    entity_set: &str,
    throttled: u64,
    args: &ImportArgs,
    rejects_path: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let verb = match args.mode {
        ImportMode::Create => "created",
        ImportMode::Update => "updated",
        ImportMode::Upsert => "upserted",
    };
    eprintln!(
        "imported into {entity_set}: {verb} {}, rejected {}, already done {}, chunks split {}, sent again {}, throttled {throttled}",
        stats.written, stats.rejected, stats.already, stats.splits, stats.resent,
    );
    if stats.rejected > 0 {
        eprintln!(
            "d365: {} rows rejected: see {}",
            stats.rejected,
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
    use private_file::same_file;
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
