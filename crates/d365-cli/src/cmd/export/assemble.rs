//! Joining the part files, in range order, into the output: NDJSON as is, CSV with a header
//! from the export's columns. The output is written to a temporary file beside it and renamed
//! into place, so a reader never sees half a file.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use d365_webapi::Client;

use d365_transfer::export::{Checkpoint, Format};

use crate::output::CsvWriter;

/// Refuses a format this build cannot write, before any work is done.
pub(super) fn check_supported(format: Format) -> anyhow::Result<()> {
    if format == Format::Parquet && !cfg!(feature = "parquet") {
        anyhow::bail!(
            "this d365 was built without Parquet support: build it with `--features parquet`, or export to .ndjson or .csv"
        );
    }
    Ok(())
}

/// Writes the output from the parts; returns the number of rows.
pub(super) async fn assemble(out: &Path, cp: &Checkpoint, client: &Client) -> anyhow::Result<u64> {
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating the output in {}", dir.display()))?;
    let parts: Vec<_> = (0..cp.ranges.len())
        .map(|i| Checkpoint::part_path(out, i))
        .collect();
    let rows = match cp.format {
        Format::Ndjson => {
            let mut w = BufWriter::new(tmp.as_file_mut());
            let mut rows = 0;
            for (part, range) in parts.iter().zip(&cp.ranges) {
                let mut f = std::fs::File::open(part)
                    .with_context(|| format!("reading {}", part.display()))?;
                std::io::copy(&mut f, &mut w)?;
                rows += range.rows;
            }
            w.flush()?;
            rows
        }
        Format::Csv => {
            let mut w = BufWriter::new(tmp.as_file_mut());
            let mut csv = CsvWriter::new(&cp.columns);
            let mut rows = 0;
            for part in &parts {
                let f = std::fs::File::open(part)
                    .with_context(|| format!("reading {}", part.display()))?;
                for line in std::io::BufReader::new(f).lines() {
                    let record: serde_json::Value = serde_json::from_str(&line?)?;
                    csv.write(&mut w, &record)?;
                    rows += 1;
                }
            }
            csv.finish(&mut w)?;
            w.flush()?;
            rows
        }
        Format::Parquet => parquet_output(tmp.as_file_mut(), &parts, cp, client).await?,
    };
    tmp.as_file().sync_all()?;
    tmp.persist(out)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(rows)
}

#[cfg(not(feature = "parquet"))]
async fn parquet_output(
    _file: &mut std::fs::File,
    _parts: &[std::path::PathBuf],
    _cp: &Checkpoint,
    _client: &Client,
) -> anyhow::Result<u64> {
    check_supported(Format::Parquet).map(|_| 0)
}

#[cfg(feature = "parquet")]
async fn parquet_output(
    file: &mut std::fs::File,
    parts: &[std::path::PathBuf],
    cp: &Checkpoint,
    client: &Client,
) -> anyhow::Result<u64> {
    super::parquet::write(file, parts, cp, client).await
}
