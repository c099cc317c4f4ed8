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
    let mut builder = super::web_client_builder(&args.auth, profile).await?;
    if args.annotations {
        builder = builder.include_annotations("*");
    }
    let client = builder.build()?;
    let annotate = |mut record: Value| {
        if args.annotations {
            d365_webapi::surface_annotations(&mut record);
        }
        record
    };
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
    if args.all && matches!(format, Output::Ndjson | Output::Csv) {
        // Streams page by page: memory stays flat however large the table is.
        let progress = output::progress("records");
        let mut stream = std::pin::pin!(query.max_page_size(args.page_size).into_stream());
        let first = stream.try_next().await?.map(annotate);
        let columns = if args.annotations {
            output::annotated_columns(&args.select, first.as_ref())
        } else {
            args.select.clone()
        };
        let mut writer =
            output::StreamWriter::new(format, &columns).context("a streaming format")?;
        if let Some(record) = first {
            writer.write(&mut out, &record)?;
            progress.inc(1);
        }
        while let Some(record) = stream.try_next().await? {
            writer.write(&mut out, &annotate(record))?;
            progress.inc(1);
        }
        progress.finish_and_clear();
        writer.finish(&mut out)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let records: Vec<Value> = if args.all {
        let progress = output::progress("records");
        let records = query
            .max_page_size(args.page_size)
            .into_stream()
            .map_ok(|r| {
                progress.inc(1);
                annotate(r)
            })
            .try_collect()
            .await?;
        progress.finish_and_clear();
        records
    } else {
        query
            .send()
            .await?
            .items
            .into_iter()
            .map(annotate)
            .collect()
    };
    let select = if args.annotations {
        output::annotated_columns(&args.select, records.first())
    } else {
        args.select.clone()
    };
    match format {
        Output::Table => {
            let columns = output::columns(&records, &select);
            writeln!(out, "{}", output::table(&records, &columns))?;
        }
        Output::Json => {
            serde_json::to_writer_pretty(&mut out, &records).context("writing JSON")?;
            writeln!(out)?;
        }
        Output::Ndjson | Output::Csv => {
            if let Some(mut writer) = output::StreamWriter::new(format, &select) {
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
