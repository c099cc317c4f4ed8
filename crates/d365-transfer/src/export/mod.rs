//! Every row of a table into part files, resumable, for one NDJSON, CSV or Parquet output.
//!
//! * [`plan`] splits the table in ranges of `createdon` (for `parallel` readers) and orders
//!   every range the same way, so the output is the same for any number of ranges.
//! * [`read_ranges`] pages each unfinished range into its own part file
//!   ([`Checkpoint::part_path`]), concurrently under the client's concurrency controller.
//!   At a durability point (every `DURABILITY_INTERVAL`, a quarter second, and after the last page) the part
//!   file is synced and the checkpoint saved; a resume cuts each part back to its checkpoint
//!   and goes on from the saved next link: no duplicate, no gap.
//! * Memory stays flat: one page per range being written and the next one's request running
//!   ahead, rows streamed to disk. Each record's bytes go from the page to the part file as
//!   received, without its annotations (`record.rs`), or as its CSV row for a CSV export
//!   (`lines.rs`), never through a `serde_json::Value`.
//!
//! Joining the parts into the output file, in range order, is [`assemble()`]'s, called by the
//! CLI once every range is read.

mod assemble;
mod checkpoint;
mod lines;
mod page;
#[cfg(feature = "parquet")]
mod parquet;
mod record;

use std::io::{Seek, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use d365_webapi::Client;
use futures_util::TryStreamExt;
use futures_util::future::{Either, try_join_all};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Error, Result};
use crate::private_file::{self, Create};
use crate::progress::{OnProgress, Progress};
use lines::{CsvRows, PartLines};

pub use assemble::{assemble, check_supported};
pub use checkpoint::{Checkpoint, RangeState};

/// An output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object per line.
    Ndjson,
    /// Comma-separated values with a header row.
    Csv,
    /// Apache Parquet, typed columns.
    Parquet,
}

/// What to export.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// The table's entity set.
    pub entity_set: &'a str,
    /// Columns to read; empty is every readable column ([`crate::table::describe`]).
    pub select: &'a [String],
    /// A `$filter`, if any.
    pub filter: Option<&'a str>,
    /// The output's format (kept in the checkpoint).
    pub format: Format,
    /// Ranges read at once; `None` is the server's recommended parallelism (`x-ms-dop-hint`).
    pub parallel: Option<usize>,
}

/// How often a range makes its durability point: its part file synced, then the checkpoint
/// saved with how far the part is whole. A crash loses at most this much reading (and the
/// last page is always one); a point per page cost more than the reading (an fsync, a file
/// created, synced and renamed, 40 times for 200,000 rows).
const DURABILITY_INTERVAL: Duration = Duration::from_millis(250);

/// Columns, order and ranges for a new export.
pub async fn plan(client: &Client, plan: &Plan<'_>) -> Result<Checkpoint> {
    let table = crate::table::describe(client, plan.entity_set).await?;
    let key = table.key.clone();
    let has_createdon = table.has("createdon");
    let columns = if plan.select.is_empty() {
        table.columns.iter().map(|c| c.property.clone()).collect()
    } else {
        plan.select.to_vec()
    };
    let parallel = match plan.parallel {
        Some(n) => n,
        // The server's recommended parallelism, read from x-ms-dop-hint by the controller.
        None => client.concurrency_stats().limit.clamp(1, 16),
    };
    // One order for any number of ranges, so the file is the same whatever --parallel says.
    let (order, conditions) = if !has_createdon {
        if parallel != 1 {
            return Err(Error::refused(format!(
                "{} has no createdon column to split into ranges: use --parallel 1",
                table.logical_name
            )));
        }
        (format!("{key} asc"), vec![None])
    } else if parallel == 1 {
        (format!("createdon asc,{key} asc"), vec![None])
    } else {
        let conditions = createdon_ranges(client, plan, parallel).await?;
        (format!("createdon asc,{key} asc"), conditions)
    };
    Ok(Checkpoint::new(
        plan.entity_set,
        columns,
        plan.filter.map(str::to_owned),
        order,
        plan.format,
        conditions,
    ))
}

/// `n` slices of `createdon` between the oldest and the newest row: the first open below, the
/// last open above, so rows created while the export runs are not lost.
async fn createdon_ranges(
    client: &Client,
    plan: &Plan<'_>,
    n: usize,
) -> Result<Vec<Option<String>>> {
    let edge = |direction: &'static str| async move {
        let mut q = client
            .query(plan.entity_set)
            .select(["createdon"])
            .order_by_text(&format!("createdon {direction}"))?
            .top(1);
        if let Some(f) = plan.filter {
            q = q.filter_text(f)?;
        }
        let page = q.send().await?;
        let at = page
            .items
            .first()
            .and_then(|r| r["createdon"].as_str())
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
        Ok::<_, Error>(at)
    };
    let (Some(first), Some(last)) = (edge("asc").await?, edge("desc").await?) else {
        return Ok(vec![None]); // an empty table: one range
    };
    Ok(slices(first, last, n))
}

/// The conditions of `n` ranges between `first` and `last` (one range when the span is
/// shorter than `n` seconds).
fn slices(first: OffsetDateTime, last: OffsetDateTime, n: usize) -> Vec<Option<String>> {
    let span = (last - first).whole_seconds();
    if span < n as i64 {
        return vec![None];
    }
    let cut = |i: usize| {
        (first + time::Duration::seconds(span * i as i64 / n as i64))
            .format(&Rfc3339)
            .unwrap_or_default()
    };
    (0..n)
        .map(|i| {
            Some(match (i, i + 1 == n) {
                (0, _) => format!("createdon lt {}", cut(1)),
                (_, true) => format!("createdon ge {}", cut(i)),
                _ => format!("createdon ge {} and createdon lt {}", cut(i), cut(i + 1)),
            })
        })
        .collect()
}

/// The table's row count, when it can be had cheaply (no filter).
pub async fn total_rows(client: &Client, cp: &Checkpoint) -> Option<u64> {
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

/// Reads every unfinished range of `checkpoint` into its part file beside `out`, saving the
/// checkpoint (at [`Checkpoint::path`]) at every durability point; returns the final checkpoint.
/// On an error, what was read stays, checkpointed, for a resume.
pub async fn read_ranges(
    client: &Client,
    out: &Path,
    checkpoint: Checkpoint,
    page_size: u32,
    progress: OnProgress<'_>,
) -> Result<Checkpoint> {
    let cp_path = Checkpoint::path(out);
    let todo: Vec<usize> = (0..checkpoint.ranges.len())
        .filter(|i| !checkpoint.ranges[*i].done)
        .collect();
    let shared = Mutex::new(checkpoint);
    let range = Range {
        client,
        out,
        cp_path: &cp_path,
        shared: &shared,
        page_size,
        progress,
    };
    try_join_all(todo.into_iter().map(|i| range.read(i))).await?;
    Ok(shared.into_inner().unwrap_or_else(|e| e.into_inner()))
}

/// Removes the part files of an export (after its output is written).
pub fn remove_parts(out: &Path, checkpoint: &Checkpoint) {
    for i in 0..checkpoint.ranges.len() {
        let _ = std::fs::remove_file(Checkpoint::part_path(out, i));
    }
}

/// What every range's reader shares.
struct Range<'a> {
    client: &'a Client,
    out: &'a Path,
    cp_path: &'a Path,
    shared: &'a Mutex<Checkpoint>,
    page_size: u32,
    progress: OnProgress<'a>,
}

impl Range<'_> {
    /// Pages range `i` into its part file from where its checkpoint says.
    async fn read(&self, i: usize) -> Result<()> {
        let (state, columns, order, filter, entity_set, parts) = {
            let cp = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            (
                cp.ranges[i].clone(),
                cp.columns.clone(),
                cp.order.clone(),
                cp.filter.clone(),
                cp.entity_set.clone(),
                cp.parts,
            )
        };
        let mut lines = match parts {
            Format::Csv => PartLines::Csv(CsvRows::new(&columns)),
            _ => PartLines::Ndjson,
        };
        // The first part of a CSV export starts with the header (with its first page, so the
        // checkpoint counts it): the parts joined are the output.
        let mut header = i == 0 && state.bytes == 0;
        let part = Checkpoint::part_path(self.out, i);
        // A fresh range starts a fresh file: a regular part left behind may be a hard link to
        // an earlier export's finished output (`assemble`), which must not be emptied. (Any
        // other kind of file stays, for `private_file::open` to refuse.)
        if state.bytes == 0 && std::fs::symlink_metadata(&part).is_ok_and(|m| m.is_file()) {
            std::fs::remove_file(&part)
                .map_err(Error::file(format!("removing {}", part.display())))?;
        }
        let mut file = private_file::open(&part, Create::Either, false)?;
        // Whatever a crash left past the checkpoint is not trusted: cut it off.
        file.set_len(state.bytes)?;
        file.seek(std::io::SeekFrom::Start(state.bytes))?;
        let mut bytes = state.bytes;
        let mut rows = state.rows;
        let mut next = state.next_link.clone();
        let condition = match (&filter, &state.condition) {
            (Some(f), Some(c)) => Some(format!("({f}) and ({c})")),
            (Some(f), None) => Some(f.clone()),
            (None, c) => c.clone(),
        };
        // From the first page, or on from the saved next link; one request runs ahead.
        let pages = match &next {
            None => {
                let mut q = self
                    .client
                    .query(&entity_set)
                    .select(&columns)
                    .order_by_text(&order)?
                    .max_page_size(self.page_size);
                if let Some(c) = &condition {
                    q = q.filter_text(c)?;
                }
                Either::Left(q.raw_pages())
            }
            Some(link) => Either::Right(self.client.raw_pages_from(link, Some(self.page_size))),
        };
        let mut pages = std::pin::pin!(pages);
        let mut scan = record::Scan::default();
        // The part file's lines of a page, kept from page to page (one allocation, not one
        // a page: a fresh one is mapped and faulted in page by page).
        let mut buffer = Vec::new();
        let mut last_point = Instant::now();
        while let Some(page) = pages.try_next().await? {
            // Each record's line (its bytes as received minus its annotations, or its CSV row:
            // lines.rs) in one walk over a compact page (page.rs); any other page decoded by
            // serde_json.
            buffer.clear();
            if std::mem::take(&mut header) {
                lines.header(&mut buffer);
            }
            let count = match page::write_lines(page.bytes(), &mut scan, &mut lines, &mut buffer) {
                Some(count) => count,
                None => {
                    let records: Vec<&RawValue> = page.items()?;
                    for r in &records {
                        lines.write_record(&mut scan, r.get(), &mut buffer)?;
                    }
                    records.len() as u64
                }
            };
            file.write_all(&buffer)
                .map_err(Error::file(format!("writing {}", part.display())))?;
            bytes += buffer.len() as u64;
            rows += count;
            next = page.next_link.clone();
            let done = next.is_none();
            if done || last_point.elapsed() >= DURABILITY_INTERVAL {
                file.sync_data()
                    .map_err(Error::file(format!("syncing {}", part.display())))?;
                let mut cp = self.shared.lock().unwrap_or_else(|e| e.into_inner());
                cp.ranges[i] = RangeState {
                    condition: state.condition.clone(),
                    next_link: next.clone(),
                    bytes,
                    rows,
                    done,
                };
                cp.save(self.cp_path)?;
                last_point = Instant::now();
            }
            (self.progress)(Progress::Rows(count));
            let throttled = self.client.concurrency_stats().throttled;
            if throttled > 0 {
                (self.progress)(Progress::Throttled(throttled));
            }
            if done {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cut_the_span_evenly_and_stay_open_at_both_ends() {
        let at = |t: &str| OffsetDateTime::parse(t, &Rfc3339).unwrap();
        let (first, last) = (at("2024-01-01T00:00:00Z"), at("2024-01-01T00:00:30Z"));
        assert_eq!(
            slices(first, last, 3),
            [
                Some("createdon lt 2024-01-01T00:00:10Z".to_owned()),
                Some(
                    "createdon ge 2024-01-01T00:00:10Z and createdon lt 2024-01-01T00:00:20Z"
                        .to_owned()
                ),
                Some("createdon ge 2024-01-01T00:00:20Z".to_owned()),
            ]
        );
        // Fewer seconds than ranges: one range, the whole table.
        assert_eq!(slices(first, at("2024-01-01T00:00:02Z"), 3), [None]);
    }
}
