//! Joining the part files, in range order, into the output. Parts in the output's format
//! (NDJSON; CSV rows, the first part starting with the header) are joined as they are; NDJSON
//! parts of a CSV export (one from an earlier d365, or one whose columns come from its first
//! record) become CSV rows here, and Parquet is written from NDJSON parts. The output is written
//! to a temporary file beside it and renamed into place, so a reader never sees half a file.
//! An export of one range in its part's format is its part file: that is linked (a second name
//! for the same, synced, owner-only file) and the link renamed into place, without copying a
//! byte.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use d365_webapi::Client;

use super::lines::{CsvRows, PartLines};
use super::page;
use super::record::Scan;
use super::{Checkpoint, Format};
use crate::csv::CsvWriter;
use crate::private_file::{self, Create};
use crate::{Error, Result};

/// Refuses a format this build cannot write, before any work is done.
pub fn check_supported(format: Format) -> Result<()> {
    if format == Format::Parquet && !cfg!(feature = "parquet") {
        return Err(Error::Refused(
            "this d365 was built without Parquet support: build it with `--features parquet`, or export to .ndjson or .csv".into(),
        ));
    }
    Ok(())
}

/// Writes the output `out` from the part files of a finished export ([`super::run`]); returns
/// the number of rows. The parts stay (the caller removes them with the checkpoint).
pub async fn assemble(out: &Path, cp: &Checkpoint, client: &Client) -> Result<u64> {
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(Error::file(format!(
        "creating the output in {}",
        dir.display()
    )))?;
    let parts: Vec<_> = (0..cp.ranges.len())
        .map(|i| Checkpoint::part_path(out, i))
        .collect();
    // Bytes past a finished part's checkpoint are not the export's (a crash cannot leave any:
    // its last durability point comes after its last write): cut off, never passed on.
    for (part, range) in parts.iter().zip(&cp.ranges) {
        let file = private_file::open(part, Create::Existing, false)?;
        if file.metadata().map_err(writing(part))?.len() > range.bytes {
            file.set_len(range.bytes).map_err(writing(part))?;
        }
    }
    let joined = cp.parts == cp.format;
    if let ([part], [range], true) = (&parts[..], &cp.ranges[..], joined)
        && link_into_place(part, out, dir).is_ok()
    {
        return Ok(range.rows);
    }
    let rows = match cp.format {
        _ if joined => {
            let mut w = BufWriter::new(tmp.as_file_mut());
            let mut rows = 0;
            for (part, range) in parts.iter().zip(&cp.ranges) {
                let mut f = std::fs::File::open(part)
                    .map_err(Error::file(format!("reading {}", part.display())))?;
                std::io::copy(&mut f, &mut w).map_err(writing(out))?;
                rows += range.rows;
            }
            w.flush().map_err(writing(out))?;
            rows
        }
        Format::Csv => {
            let mut w = BufWriter::new(tmp.as_file_mut());
            let rows = csv_output(&mut w, &parts, &cp.columns, out)?;
            w.flush().map_err(writing(out))?;
            rows
        }
        Format::Parquet => parquet_output(tmp.as_file_mut(), &parts, cp, client).await?,
        Format::Ndjson => {
            return Err(Error::refused("an NDJSON export's parts are NDJSON"));
        }
    };
    tmp.as_file().sync_all().map_err(writing(out))?;
    tmp.persist(out).map_err(|e| writing(out)(e.error))?;
    Ok(rows)
}

/// Puts `part` at `out` under a second name: a hard link beside `out`, renamed into place
/// (atomic, as the copy is). The part stays, so a crash before the checkpoint is removed
/// leaves a resume what it needs. Fails where hard links do not (another file system, one
/// without links): the caller copies then.
fn link_into_place(part: &Path, out: &Path, dir: &Path) -> std::io::Result<()> {
    // Linked already (a crash came before the parts were removed): renaming a second link
    // onto it would do nothing and leave that link behind.
    if private_file::same_file(part, out) {
        return Ok(());
    }
    // Synced after its last page already; cheap, and the output's promise does not rest on it.
    std::fs::File::open(part)?.sync_all()?;
    let link = tempfile::Builder::new().make_in(dir, |path| std::fs::hard_link(part, path))?;
    link.persist(out).map_err(|e| e.error)?;
    Ok(())
}

/// The records of NDJSON parts as CSV rows (with the header), each line's cells read from its
/// JSON text ([`CsvRows`]); every line through a `Value` when no columns are known (the header
/// is then the first record's names).
fn csv_output(
    w: &mut impl Write,
    parts: &[PathBuf],
    columns: &[String],
    out: &Path,
) -> Result<u64> {
    let mut by_value = CsvWriter::new(columns);
    let mut lines = (!columns.is_empty()).then(|| PartLines::Csv(CsvRows::new(columns)));
    let (mut scan, mut rows, mut line, mut row) = (Scan::default(), 0, Vec::new(), Vec::new());
    if let Some(lines) = &lines {
        lines.header(&mut row);
    }
    for part in parts {
        let reading = || Error::file(format!("reading {}", part.display()));
        let mut f = std::io::BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(part).map_err(reading())?,
        );
        loop {
            line.clear();
            if f.read_until(b'\n', &mut line).map_err(|e| reading()(e))? == 0 {
                break;
            }
            let text = std::str::from_utf8(line.strip_suffix(b"\n").unwrap_or(&line))
                .map_err(|e| reading()(invalid(e)))?;
            match &mut lines {
                Some(lines) => {
                    let canonical = page::members(text, &mut scan).is_some();
                    lines.write(&mut scan, canonical, text, &mut row)?;
                }
                None => {
                    let record: serde_json::Value = serde_json::from_str(text)?;
                    by_value.write(&mut row, &record).map_err(writing(out))?;
                }
            }
            w.write_all(&row).map_err(writing(out))?;
            row.clear();
            rows += 1;
        }
    }
    // Still to write: the header when no record came (from `CsvRows`, or the `Value` path's
    // when its columns are known).
    if lines.is_none() {
        by_value.finish(&mut row).map_err(writing(out))?;
    }
    w.write_all(&row).map_err(writing(out))?;
    Ok(rows)
}

fn invalid(e: std::str::Utf8Error) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}

fn writing(out: &Path) -> impl FnOnce(std::io::Error) -> Error {
    Error::file(format!("writing {}", out.display()))
}

/// The records of a part file, one JSON object a line (for the Parquet output, which still
/// builds a `Value` per record).
#[cfg(feature = "parquet")]
pub(super) fn part_records(part: &Path) -> impl Iterator<Item = Result<serde_json::Value>> {
    let opened =
        std::fs::File::open(part).map_err(Error::file(format!("reading {}", part.display())));
    let part = part.to_owned();
    let lines: Box<dyn Iterator<Item = Result<String>>> = match opened {
        Ok(f) => Box::new(
            std::io::BufReader::new(f)
                .lines()
                .map(move |l| l.map_err(Error::file(format!("reading {}", part.display())))),
        ),
        Err(e) => Box::new(std::iter::once(Err(e))),
    };
    lines.map(|line| Ok(serde_json::from_str(&line?)?))
}

#[cfg(not(feature = "parquet"))]
async fn parquet_output(
    _file: &mut std::fs::File,
    _parts: &[std::path::PathBuf],
    _cp: &Checkpoint,
    _client: &Client,
) -> Result<u64> {
    check_supported(Format::Parquet).map(|_| 0)
}

#[cfg(feature = "parquet")]
async fn parquet_output(
    file: &mut std::fs::File,
    parts: &[std::path::PathBuf],
    cp: &Checkpoint,
    client: &Client,
) -> Result<u64> {
    super::parquet::write(file, parts, cp, client).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CSV of `lines` through a `Value` each.
    fn by_value(lines: &[&str], columns: &[String]) -> String {
        let mut out = Vec::new();
        let mut csv = CsvWriter::new(columns);
        for line in lines {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            csv.write(&mut out, &record).unwrap();
        }
        csv.finish(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// `lines` as one part, written as CSV with `columns` by the fast path and by the `Value`
    /// path: both texts, and the rows the fast path counted.
    fn both_paths(lines: &[&str], columns: &[&str]) -> (String, String, u64) {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("part-0.ndjson");
        std::fs::write(&part, lines.join("\n") + "\n").unwrap();
        let columns: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        let mut fast = Vec::new();
        let rows = csv_output(&mut fast, &[part], &columns, dir.path()).unwrap();
        (
            String::from_utf8(fast).unwrap(),
            by_value(lines, &columns),
            rows,
        )
    }

    /// Lines of one shape, of others, with a repeated name, and one not in `serde_json`'s form:
    /// each row as the `Value` path writes it, whatever line came before.
    #[test]
    fn rows_of_changing_shapes_are_what_values_would_write() {
        let lines = [
            r#"{"name":"A","revenue":1.50,"statecode":0}"#,
            r#"{"name":"B","revenue":2.50,"statecode":1}"#,
            r#"{"revenue":3,"name":"C, \"c\""}"#,
            r#"{"name":"D","revenue":4,"name":"D2"}"#,
            r#"{"name":"E","revenue":5,"statecode":0}"#,
            r#"{"name": "F","revenue":6}"#,
            r#"{"name":"G","revenue":7,"statecode":0}"#,
            r#"{}"#,
            r#"{"name":"\u00e9\/","revenue":1E5}"#,
        ];
        let (fast, by_value, rows) = both_paths(&lines, &["name", "revenue", "statecode"]);
        assert_eq!(rows, lines.len() as u64);
        assert_eq!(fast, by_value);
    }

    /// Empty parts still give the header (one line, the columns).
    #[test]
    fn no_record_is_a_header_alone() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("part-0.ndjson");
        std::fs::write(&part, "").unwrap();
        let columns = vec!["name".to_owned(), "revenue".to_owned()];
        let mut out = Vec::new();
        let rows = csv_output(&mut out, &[part], &columns, dir.path()).unwrap();
        assert_eq!(
            (rows, String::from_utf8(out).unwrap()),
            (0, "name,revenue\n".to_owned())
        );
    }

    /// A column selected twice is written twice, as the `Value` path writes it.
    #[test]
    fn a_column_selected_twice_fills_both_cells() {
        let lines = [
            r#"{"name":"Contoso","revenue":12.50,"statecode":0}"#,
            r#"{"name":"A \"quoted\", name","revenue":null}"#,
        ];
        let (fast, by_value, rows) = both_paths(&lines, &["name", "revenue", "name", "statecode"]);
        assert_eq!(rows, 2);
        assert_eq!(fast, by_value);
    }
}
