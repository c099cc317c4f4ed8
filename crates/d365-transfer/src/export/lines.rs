//! A record's line in a part file, in the part's format: an NDJSON line ([`record::write_scanned`])
//! or, for a CSV export, its CSV row. A CSV export writes its rows straight from the page (its
//! part files are the output's rows, the first with the header), so the output is the parts
//! joined, or the one part itself, with no second pass over the records. Either way each cell
//! is read from the record's JSON text ([`Scan`]), without a `Value` per record; a record not in
//! `serde_json`'s form goes through a `Value`, and the bytes are the same.

use std::borrow::Cow;
use std::collections::HashMap;

use super::record::{self, Scan};
use crate::csv::CsvWriter;

/// How a part file holds its records.
#[derive(Debug)]
pub(crate) enum PartLines {
    /// One JSON object a line, without the record's annotations.
    Ndjson,
    /// CSV rows for these columns.
    Csv(CsvRows),
}

impl PartLines {
    /// Appends the line of the record `text` to `out`. `scan.members` are the record's members
    /// when `canonical` (it is an object in `serde_json`'s form, [`Scan::members`]).
    pub(crate) fn write(
        &mut self,
        scan: &mut Scan,
        canonical: bool,
        text: &str,
        out: &mut Vec<u8>,
    ) -> serde_json::Result<()> {
        match self {
            PartLines::Ndjson => record::write_scanned(scan, canonical, text, out),
            PartLines::Csv(rows) => rows.write(scan, canonical, text, out),
        }
    }

    /// The part's header, before the first part's first row: a CSV export's header row.
    pub(crate) fn header(&self, out: &mut Vec<u8>) {
        if let PartLines::Csv(rows) = self {
            rows.header(out);
        }
    }

    /// [`PartLines::write`] for a record not scanned yet.
    pub(crate) fn write_record(
        &mut self,
        scan: &mut Scan,
        text: &str,
        out: &mut Vec<u8>,
    ) -> serde_json::Result<()> {
        let canonical = scan.members(text).is_some();
        self.write(scan, canonical, text, out)
    }
}

/// A record's CSV row: one cell per column (empty when the record lacks it), as
/// [`CsvWriter::write`] writes the record with its annotations removed.
#[derive(Debug)]
pub(crate) struct CsvRows {
    columns: Vec<String>,
    /// Each name's places among the columns (a column may be selected twice).
    index: HashMap<String, Vec<usize>>,
    /// For each column, which member of the last record of these names holds it.
    at: Vec<Option<usize>>,
    /// The names of the last record (see [`record::same_names`]): a record with the same ones
    /// has the same `at`.
    names: Vec<u8>,
    /// The `Value` path's writer (rows only).
    by_value: CsvWriter,
}

impl CsvRows {
    /// Rows for `columns` (never empty: a CSV export without columns takes its header from its
    /// first record, so its parts are NDJSON).
    pub(crate) fn new(columns: &[String]) -> Self {
        let mut index: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, c) in columns.iter().enumerate() {
            index.entry(c.clone()).or_default().push(i);
        }
        // The header is the caller's ([`CsvRows::header`]).
        let by_value = CsvWriter::rows_only(columns);
        Self {
            columns: columns.to_vec(),
            index,
            at: vec![None; columns.len()],
            names: Vec::new(),
            by_value,
        }
    }

    /// The header row.
    fn header(&self, out: &mut Vec<u8>) {
        // Writing to a Vec cannot fail.
        let _ = CsvWriter::new(&self.columns).finish(out);
    }

    fn write(
        &mut self,
        scan: &Scan,
        canonical: bool,
        text: &str,
        out: &mut Vec<u8>,
    ) -> serde_json::Result<()> {
        if !canonical {
            let record = record::without_annotations(text)?;
            return self
                .by_value
                .write(out, &record)
                .map_err(serde_json::Error::io);
        }
        let members = &scan.members[..];
        if !record::same_names(members, text, &mut self.names) {
            self.at.fill(None);
            // The last of a repeated name wins, as in a `Value`; annotations are no column's.
            for (k, m) in members.iter().enumerate() {
                if m.is_annotation(text) {
                    continue;
                }
                for &c in self.index.get(&*m.name(text)).into_iter().flatten() {
                    self.at[c] = Some(k);
                }
            }
        }
        let cells = self.at.iter().map(|k| match k {
            Some(k) => record::cell(members[*k].value(text)),
            None => Cow::Borrowed(""),
        });
        self.by_value
            .write_cells(out, cells)
            .map_err(serde_json::Error::io)
    }
}
