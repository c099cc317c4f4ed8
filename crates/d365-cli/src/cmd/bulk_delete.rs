//! `d365 bulk-delete SET --filter …|--ids FILE|--all`: deletes many records as Dataverse
//! wants it done on standard tables, with a `BulkDelete` system job, then follows the job to
//! its end and prints what it did. `d365 job ID` shows, waits for or cancels a job.
//!
//! The summary is one JSON object on stdout (`job_id`, `status`, `deleted`, `failed`,
//! `message`); the exit code is 0 when the job succeeded and 1 when it failed or was
//! canceled.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use d365_webapi::{Client, QueryExpression, SystemJob};
use serde_json::{Value, json};

use crate::flags::{BulkDeleteArgs, JobArgs};

/// Ids per QueryExpression: an `In` condition of this many values stays far from any limit on
/// query parameters; a long list becomes several queries of one job.
const IDS_PER_QUERY: usize = 1_000;

pub(crate) async fn run(args: BulkDeleteArgs, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    let timeout = super::interval("--timeout", &args.timeout)?;
    let client = super::web_client(&args.auth, profile).await?;
    let tables = client.tables().await?;
    let table = tables
        .iter()
        .find(|t| t.entity_set_name.as_deref() == Some(args.entity_set.as_str()))
        .with_context(|| format!("no table has the entity set '{}'", args.entity_set))?;
    let key = table
        .primary_id_attribute
        .clone()
        .with_context(|| format!("{} has no primary key in its metadata", table.logical_name))?;
    let logical = table.logical_name.clone();

    let (queries, matching) = if let Some(filter) = &args.filter {
        let query = QueryExpression::from_filter(&logical, filter)?;
        let parsed = d365_odata::Filter::from_expr(d365_odata::parse_filter(filter)?);
        let n = client
            .count(&args.entity_set)
            .filter(&parsed)
            .send()
            .await?;
        (vec![query], n)
    } else if let Some(path) = &args.ids {
        let ids = read_ids(path, &key)?;
        let n = ids.len() as u64;
        let queries = ids
            .chunks(IDS_PER_QUERY)
            .map(|chunk| QueryExpression::ids(&logical, &key, chunk))
            .collect();
        (queries, n)
    } else {
        let n = client.count(&args.entity_set).send().await?;
        (vec![QueryExpression::all(&logical)], n)
    };
    let what = if args.ids.is_some() {
        "ids listed"
    } else {
        "records matching"
    };
    if args.dry_run {
        eprintln!(
            "{}: {matching} {what}; nothing deleted (--dry-run)",
            args.entity_set
        );
        let set: Vec<Value> = queries.iter().map(QueryExpression::to_json).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "QuerySet": set }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if matching == 0 {
        eprintln!("{}: no {what}; no job started", args.entity_set);
        println!("{}", json!({"job_id": null, "deleted": 0, "failed": 0}));
        return Ok(ExitCode::SUCCESS);
    }
    let name = args
        .job_name
        .clone()
        .unwrap_or_else(|| format!("d365 bulk-delete {}", args.entity_set));
    let job = client.bulk_delete(&name, queries).send().await?;
    eprintln!(
        "{}: {matching} {what}; bulk delete job {job} started",
        args.entity_set
    );
    if args.no_wait {
        println!("{job}");
        return Ok(ExitCode::SUCCESS);
    }
    finish(&client, job, timeout).await
}

pub(crate) async fn job(args: JobArgs, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    let timeout = super::interval("--timeout", &args.timeout)?;
    let client = super::web_client(&args.auth, profile).await?;
    if args.cancel {
        client.cancel_job(args.job_id).await?;
        eprintln!("job {}: cancel requested", args.job_id);
    }
    if args.wait {
        return finish(&client, args.job_id, timeout).await;
    }
    let job = client.system_job(args.job_id).await?;
    println!("{}", summary(&job));
    Ok(ExitCode::SUCCESS)
}

/// Waits for the job, printing progress on a terminal, then the summary.
async fn finish(client: &Client, id: uuid::Uuid, timeout: Duration) -> anyhow::Result<ExitCode> {
    let progress = std::io::stderr().is_terminal();
    let mut shown = None;
    let waited = client
        .wait_for_job_with(id, timeout, |job| {
            if progress && job.deleted != shown {
                eprint!("\r{} deleted…", job.deleted.unwrap_or(0));
                shown = job.deleted;
            }
        })
        .await;
    if progress {
        eprintln!();
    }
    let job = match waited {
        Ok(job) => job,
        Err(d365_webapi::Error::Timeout(_)) => bail!(
            "job {id} has not ended after {timeout:?}; it goes on in the service: follow it with `d365 job {id} --wait`"
        ),
        Err(e) => return Err(e.into()),
    };
    println!("{}", summary(&job));
    if !job.succeeded() {
        eprintln!(
            "job {id} ended {}{}",
            job.status_label.as_deref().unwrap_or("without success"),
            job.message
                .as_deref()
                .map(|m| format!(": {}", crate::output::printable(m)))
                .unwrap_or_default()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn summary(job: &SystemJob) -> Value {
    json!({
        "job_id": job.id,
        "name": job.name,
        "status": job.status_label,
        "statuscode": job.status,
        "completed": job.is_completed(),
        "deleted": job.deleted,
        "failed": job.failed,
        "message": job.message,
    })
}

/// Ids from a file (or `-`, stdin): a GUID per line, or NDJSON objects with the key column;
/// blank lines and a header line naming the key are skipped. A line that is neither is an
/// error naming it, so a typo never deletes the wrong records.
fn read_ids(path: &std::path::Path, key: &str) -> anyhow::Result<Vec<uuid::Uuid>> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        ))
    };
    let mut ids = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let text = line.trim();
        if text.is_empty() || text.eq_ignore_ascii_case(key) {
            continue;
        }
        let id = if text.starts_with('{') {
            let row: Value = serde_json::from_str(text)
                .with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
            row.get(key)
                .and_then(Value::as_str)
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
                .with_context(|| format!("{}:{}: no GUID in '{key}'", path.display(), i + 1))?
        } else {
            uuid::Uuid::parse_str(text.trim_matches(['{', '}', '"']))
                .with_context(|| format!("{}:{}: '{text}' is not a GUID", path.display(), i + 1))?
        };
        ids.push(id);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}
