//! `d365 get <entity-set>`: a query with the usual options, printed as a table, JSON or NDJSON.
//! `--all` streams every page with flat memory in the streaming formats.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use futures_util::TryStreamExt;
use serde_json::Value;

use crate::flags::{GetArgs, Output};
use crate::output;

pub(crate) async fn run(args: GetArgs, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    let client = super::web_client(&args.auth, profile).await?;
    let mut query = client.query(&args.entity_set);
    if !args.select.is_empty() {
        query = query.select(&args.select);
    }
    if let Some(filter) = &args.filter {
        query = query.filter_text(filter)?;
    }
    if let Some(order) = &args.orderby {
        query = query.order_by_text(order)?;
    }
    if let (Some(top), false) = (args.top, args.all) {
        query = query.top(top);
    }
    let format = output::default_format(args.output);
    tracing::info!(url = %query.url(), "query");
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.all
        && let Some(mut writer) = output::StreamWriter::new(format, &args.select)
    {
        // Streams page by page: memory stays flat however large the table is.
        let mut stream = std::pin::pin!(query.max_page_size(args.page_size).into_stream());
        while let Some(record) = stream.try_next().await? {
            writer.write(&mut out, &record)?;
        }
        writer.finish(&mut out)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let records: Vec<Value> = if args.all {
        query
            .max_page_size(args.page_size)
            .into_stream()
            .try_collect()
            .await?
    } else {
        query.send().await?.items
    };
    match format {
        Output::Table => {
            let columns = output::columns(&records, &args.select);
            writeln!(out, "{}", output::table(&records, &columns))?;
        }
        Output::Json => {
            serde_json::to_writer_pretty(&mut out, &records).context("writing JSON")?;
            writeln!(out)?;
        }
        Output::Ndjson | Output::Csv => {
            if let Some(mut writer) = output::StreamWriter::new(format, &args.select) {
                for r in &records {
                    writer.write(&mut out, r)?;
                }
                writer.finish(&mut out)?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
