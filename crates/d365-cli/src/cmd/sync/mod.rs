//! `d365 sync <set>... --to sqlite:PATH|postgres://…`: a mirror of Dataverse tables in a local
//! database, through [`d365_transfer::sync`]; `--watch` repeats it. One line per table says
//! what changed.

use std::process::ExitCode;

use d365_transfer::Progress;
use d365_transfer::sync::{self, TableSpec};

use crate::flags::SyncArgs;

/// The line each table's sync prints.
fn report(event: Progress<'_>) {
    match event {
        Progress::Changed {
            entity_set,
            upserted,
            deleted,
        } => eprintln!("{entity_set}: {upserted} changed, {deleted} deleted"),
        Progress::DeltaExpired { entity_set } => {
            eprintln!("{entity_set}: the delta link expired; loading every row again")
        }
        Progress::Loaded { entity_set, rows } => eprintln!("{entity_set}: {rows} rows loaded"),
        _ => {}
    }
}

pub(crate) async fn run(args: SyncArgs, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    let every = args
        .watch
        .as_deref()
        .map(|w| super::interval("--watch", w))
        .transpose()?;
    let mut sink = sync::open(&args.to).await?;
    let client = super::web_client(&args.auth, profile).await?;
    let mut specs = Vec::new();
    for set in &args.entity_sets {
        specs.push(TableSpec::read(&client, set).await?);
    }
    loop {
        for spec in &specs {
            sync::sync_table(&client, sink.as_mut(), spec, args.page_size, &report).await?;
        }
        let Some(every) = every else {
            return Ok(ExitCode::SUCCESS);
        };
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        }
    }
}
