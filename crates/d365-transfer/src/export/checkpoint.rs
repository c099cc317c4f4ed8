//! The checkpoint beside an export's output (`OUT.checkpoint.json`): what is being exported,
//! and per range how far its part file (`OUT.part-NNN`) is complete and which page comes next.
//! Written at every durability point (`DURABILITY_INTERVAL`), atomically (temp file, fsync,
//! rename), after the part's rows are on disk: a crash leaves at most rows past `bytes`, which
//! a resume cuts off.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Format;
use crate::error::{Error, Result};

/// The checkpoint file's layout version. Layout 1 had no `parts`: its part files are NDJSON
/// whatever the output's format (this version resumes them).
const VERSION: u32 = 2;

/// One range of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeState {
    /// The range's condition (`createdon ge … and createdon lt …`), `None` for the whole table.
    pub condition: Option<String>,
    /// The page to read next; `None` before the first page and after the last.
    pub next_link: Option<String>,
    /// Bytes of the part file that hold whole, checkpointed pages.
    pub bytes: u64,
    /// Rows in those bytes.
    pub rows: u64,
    /// Every page is in the part file.
    pub done: bool,
}

/// The whole export's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The file's layout version.
    pub version: u32,
    /// The table's entity set.
    pub entity_set: String,
    /// The columns read (`$select`), in the output's order.
    pub columns: Vec<String>,
    /// The export's `$filter`, if any.
    pub filter: Option<String>,
    /// The `$orderby` every range is read in.
    pub order: String,
    /// The output's format.
    pub format: Format,
    /// The part files' format: the output's own for NDJSON and for a CSV export with its
    /// columns known (the output is then the parts joined), NDJSON otherwise.
    #[serde(default = "ndjson")]
    pub parts: Format,
    /// The ranges, in output order.
    pub ranges: Vec<RangeState>,
}

impl Checkpoint {
    /// A fresh checkpoint.
    pub fn new(
        entity_set: &str,
        columns: Vec<String>,
        filter: Option<String>,
        order: String,
        format: Format,
        conditions: Vec<Option<String>>,
    ) -> Self {
        let parts = parts_for(format, &columns);
        Self {
            version: VERSION,
            entity_set: entity_set.to_owned(),
            columns,
            filter,
            order,
            format,
            parts,
            ranges: conditions
                .into_iter()
                .map(|condition| RangeState {
                    condition,
                    next_link: None,
                    bytes: 0,
                    rows: 0,
                    done: false,
                })
                .collect(),
        }
    }

    /// `OUT.checkpoint.json`.
    pub fn path(out: &Path) -> PathBuf {
        suffixed(out, ".checkpoint.json")
    }

    /// `OUT.part-NNN`: range `i`'s rows (NDJSON lines or CSV rows: [`Checkpoint::parts`]).
    pub fn part_path(out: &Path, i: usize) -> PathBuf {
        suffixed(out, &format!(".part-{i:03}"))
    }

    /// Reads a checkpoint.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(Error::file(format!(
            "nothing to resume: cannot read {}",
            path.display()
        )))?;
        let cp: Self = serde_json::from_str(&text).map_err(|source| Error::JsonIn {
            doing: format!("{} is not an export checkpoint", path.display()),
            source,
        })?;
        if !(1..=VERSION).contains(&cp.version) {
            return Err(Error::refused(format!(
                "{} was written by another version of d365 (layout {}, this one reads 1 to {VERSION})",
                path.display(),
                cp.version
            )));
        }
        // NDJSON parts (layout 1's, whatever the output), or this version's for the output.
        if cp.parts != Format::Ndjson && cp.parts != parts_for(cp.format, &cp.columns) {
            return Err(Error::refused(format!(
                "{} is not an export checkpoint: {:?} parts for a {:?} output",
                path.display(),
                cp.parts,
                cp.format
            )));
        }
        Ok(cp)
    }

    /// Writes it atomically: a crash leaves the old or the new checkpoint, never half of one.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(Error::file(format!(
            "writing a checkpoint in {}",
            dir.display()
        )))?;
        // One write (serde_json writes a token at a time: a syscall each, unbuffered).
        let mut text = serde_json::to_vec_pretty(self)?;
        text.push(b'\n');
        tmp.write_all(&text)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path)
            .map_err(|e| Error::file(format!("saving {}", path.display()))(e.error))?;
        Ok(())
    }

    /// Rows checkpointed so far.
    pub fn rows(&self) -> u64 {
        self.ranges.iter().map(|r| r.rows).sum()
    }
}

/// The parts' format of an export to `format` with these columns: CSV rows for CSV (its
/// header from the columns), else NDJSON (Parquet is written from NDJSON parts; a CSV export
/// without columns takes its header from its first record, at the end).
fn parts_for(format: Format, columns: &[String]) -> Format {
    match format {
        Format::Csv if !columns.is_empty() => Format::Csv,
        _ => Format::Ndjson,
    }
}

/// Layout 1's parts.
fn ndjson() -> Format {
    Format::Ndjson
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("accounts.ndjson");
        let cp = Checkpoint::new(
            "accounts",
            vec!["accountid".into(), "name".into()],
            None,
            "accountid asc".into(),
            Format::Ndjson,
            vec![None],
        );
        let path = Checkpoint::path(&out);
        assert!(path.ends_with("accounts.ndjson.checkpoint.json"));
        assert!(Checkpoint::part_path(&out, 2).ends_with("accounts.ndjson.part-002"));
        cp.save(&path).unwrap();
        assert_eq!(Checkpoint::load(&path).unwrap(), cp);
        std::fs::write(&path, "{}").unwrap();
        assert!(Checkpoint::load(&path).is_err());
        assert!(
            Checkpoint::load(&dir.path().join("none"))
                .unwrap_err()
                .to_string()
                .contains("nothing to resume")
        );
    }

    /// A CSV export's parts are CSV rows; a layout-1 checkpoint (no `parts`) still resumes, its
    /// parts NDJSON; parts that cannot be the output's are refused.
    #[test]
    fn parts_are_csv_rows_for_csv_and_ndjson_in_layout_1() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv.checkpoint.json");
        let columns = vec!["accountid".to_owned(), "name".to_owned()];
        let csv = |columns: Vec<String>| {
            Checkpoint::new(
                "accounts",
                columns,
                None,
                "accountid asc".into(),
                Format::Csv,
                vec![None],
            )
        };
        assert_eq!(csv(columns.clone()).parts, Format::Csv);
        assert_eq!(
            csv(Vec::new()).parts,
            Format::Ndjson,
            "header from the first record"
        );
        let mut cp = csv(columns);
        cp.save(&path).unwrap();
        let mut layout_1: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        layout_1["version"] = 1.into();
        layout_1.as_object_mut().unwrap().remove("parts");
        std::fs::write(&path, layout_1.to_string()).unwrap();
        let loaded = Checkpoint::load(&path).unwrap();
        assert_eq!((loaded.version, loaded.parts), (1, Format::Ndjson));
        cp.format = Format::Ndjson;
        cp.save(&path).unwrap();
        let refused = Checkpoint::load(&path).unwrap_err().to_string();
        assert!(
            refused.contains("Csv parts for a Ndjson output"),
            "{refused}"
        );
        cp.version = VERSION + 1;
        cp.save(&path).unwrap();
        assert!(
            Checkpoint::load(&path)
                .unwrap_err()
                .to_string()
                .contains("another version")
        );
    }
}
