//! The import journal (`INPUT.import-journal`): one JSON object per line, fsynced after each
//! write. The first line names the run (its id seeds the ids of created records, so a chunk
//! sent again after a crash finds its records instead of duplicating them); then every
//! committed or rejected input line, as ranges.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Mode;
use super::ids::{self, IdScheme};
use crate::error::{Error, Result};
use crate::private_file::{self, Create};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Entry {
    Run {
        id: uuid::Uuid,
        entity_set: String,
        mode: Mode,
        /// Absent in the journals of earlier versions: [`IdScheme::Named`].
        #[serde(default)]
        ids: IdScheme,
    },
    /// Input lines `[from, to]` that are in Dataverse.
    Committed { from: u64, to: u64 },
    /// Input lines that went to the reject file.
    Rejected { from: u64, to: u64 },
}

/// The journal of one import.
#[derive(Debug)]
pub struct Journal {
    /// The run's id, which seeds the ids of created records.
    pub run: uuid::Uuid,
    /// How the run makes its records' ids.
    pub ids: IdScheme,
    /// Input lines already handled (committed or rejected).
    pub done: BTreeSet<u64>,
    file: std::fs::File,
}

/// `INPUT.import-journal`.
pub fn path(input: &Path) -> PathBuf {
    let mut name = input.as_os_str().to_owned();
    name.push(".import-journal");
    PathBuf::from(name)
}

/// Consecutive runs of `lines` as `(from, to)`.
fn runs(lines: &[u64]) -> Vec<(u64, u64)> {
    let mut sorted = lines.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for l in sorted {
        match out.last_mut() {
            Some((_, to)) if *to + 1 == l => *to = l,
            _ => out.push((l, l)),
        }
    }
    out
}

impl Journal {
    /// A new journal for a run.
    pub fn create(path: &Path, entity_set: &str, mode: Mode) -> Result<Self> {
        let file = private_file::open(path, Create::New, true).map_err(|e| Error::While {
            doing: format!("creating the journal {}", path.display()),
            source: Box::new(e),
        })?;
        let mut j = Self {
            run: ids::new_run(),
            ids: IdScheme::Sequential,
            done: BTreeSet::new(),
            file,
        };
        j.write(&Entry::Run {
            id: j.run,
            entity_set: entity_set.to_owned(),
            mode,
            ids: j.ids,
        })?;
        Ok(j)
    }

    /// Reopens a journal to resume its run.
    pub fn open(path: &Path, entity_set: &str, mode: Mode) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(Error::file(format!(
            "nothing to resume: cannot read {}",
            path.display()
        )))?;
        let mut run = None;
        let mut scheme = IdScheme::Named;
        let mut done = BTreeSet::new();
        for line in std::io::BufReader::new(file).lines() {
            let line = line?;
            // A crash can cut the last line short: it was not acknowledged, so it does not count.
            let Ok(entry) = serde_json::from_str::<Entry>(&line) else {
                continue;
            };
            match entry {
                Entry::Run {
                    id,
                    entity_set: set,
                    mode: m,
                    ids,
                } => {
                    if set != entity_set || m != mode {
                        return Err(Error::refused(format!(
                            "{} belongs to an import into {set} ({m:?}); start this one without --resume",
                            path.display()
                        )));
                    }
                    run = Some(id);
                    scheme = ids;
                }
                Entry::Committed { from, to } | Entry::Rejected { from, to } => {
                    done.extend(from..=to);
                }
            }
        }
        let run = run.ok_or_else(|| {
            Error::refused(format!("{} is not an import journal", path.display()))
        })?;
        let file = private_file::open(path, Create::Existing, true)?;
        Ok(Self {
            run,
            ids: scheme,
            done,
            file,
        })
    }

    fn write(&mut self, entry: &Entry) -> Result<()> {
        let mut line = serde_json::to_vec(entry)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file
            .sync_data()
            .map_err(Error::file("syncing the import journal".to_owned()))?;
        Ok(())
    }

    /// Records lines as committed.
    pub fn committed(&mut self, lines: &[u64]) -> Result<()> {
        for (from, to) in runs(lines) {
            self.write(&Entry::Committed { from, to })?;
        }
        self.done.extend(lines);
        Ok(())
    }

    /// Records lines as rejected.
    pub fn rejected(&mut self, lines: &[u64]) -> Result<()> {
        for (from, to) in runs(lines) {
            self.write(&Entry::Rejected { from, to })?;
        }
        self.done.extend(lines);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_with_what_was_done() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.ndjson.import-journal");
        let mut j = Journal::create(&p, "accounts", Mode::Create).unwrap();
        j.committed(&[3, 1, 2, 7]).unwrap();
        j.rejected(&[5]).unwrap();
        let run = j.run;
        drop(j);
        // A torn last line is ignored.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"committed\":{\"fr")
            .unwrap();
        let j = Journal::open(&p, "accounts", Mode::Create).unwrap();
        assert_eq!(j.run, run);
        assert_eq!(j.ids, IdScheme::Sequential);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "owner-only");
        }
        assert_eq!(j.done.iter().copied().collect::<Vec<_>>(), [1, 2, 3, 5, 7]);
        assert!(Journal::open(&p, "contacts", Mode::Create).is_err());
        assert!(
            Journal::create(&p, "accounts", Mode::Create).is_err(),
            "never overwritten"
        );
        assert_eq!(runs(&[4, 2, 3, 9]), [(2, 4), (9, 9)]);
    }

    /// A journal written by an earlier version names no id scheme: resuming it makes the
    /// name-based ids its first run sent, so nothing is created twice.
    #[test]
    fn an_earlier_versions_journal_resumes_with_its_ids() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("old.ndjson.import-journal");
        std::fs::write(
            &p,
            "{\"run\":{\"id\":\"00000000-0000-0000-0000-000000000007\",\"entity_set\":\"accounts\",\"mode\":\"create\"}}\n{\"committed\":{\"from\":1,\"to\":2}}\n",
        )
        .unwrap();
        let j = Journal::open(&p, "accounts", Mode::Create).unwrap();
        assert_eq!(j.ids, IdScheme::Named);
        assert_eq!(j.run, uuid::Uuid::from_u128(7));
        assert_eq!(j.done.iter().copied().collect::<Vec<_>>(), [1, 2]);
    }
}
