//! `d365 query <entity-set> --fetchxml FILE`: a FetchXML query, every page followed by the
//! paging cookie, printed as a table, JSON, NDJSON or CSV (the last two stream with flat
//! memory).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use futures_util::TryStreamExt;
use serde_json::Value;

use crate::flags::{Output, QueryArgs};
use crate::output;

pub(crate) async fn run(args: QueryArgs, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    let xml = match args.fetchxml.to_str() {
        Some("-") => {
            std::io::read_to_string(std::io::stdin()).context("reading FetchXML from stdin")?
        }
        _ => std::fs::read_to_string(&args.fetchxml)
            .with_context(|| format!("reading {}", args.fetchxml.display()))?,
    };
    let client = super::web_client(&args.auth, profile).await?;
    let stream = client
        .fetch_xml(&args.entity_set, &xml)
        .into_stream(Some(args.page_size));
    let format = output::default_format(args.output);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let progress = output::progress("records");
    let stream = stream.inspect_ok(|_| progress.inc(1));
    if let Some(mut writer) = output::StreamWriter::new(format, &[]) {
        let mut stream = std::pin::pin!(stream);
        while let Some(record) = stream.try_next().await? {
            writer.write(&mut out, &record)?;
        }
        progress.finish_and_clear();
        writer.finish(&mut out)?;
    } else {
        let records: Vec<Value> = stream.try_collect().await?;
        progress.finish_and_clear();
        if format == Output::Table {
            let columns = output::columns(&records, &[]);
            writeln!(out, "{}", output::table(&records, &columns))?;
        } else {
            serde_json::to_writer_pretty(&mut out, &records).context("writing JSON")?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
