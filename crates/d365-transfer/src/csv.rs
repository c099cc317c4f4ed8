//! Records as CSV cells and rows: the export's CSV output and the CLI's `--output csv` write
//! them the same way.

use std::io::Write;

use serde_json::Value;

/// Columns for a set of records: the given ones, else the first record's keys (wire order),
/// never OData control annotations.
pub fn columns(records: &[Value], select: &[String]) -> Vec<String> {
    let mut cols: Vec<String> = if select.is_empty() {
        records
            .first()
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    } else {
        select.to_vec()
    };
    cols.retain(|c| !c.starts_with("@odata."));
    cols
}

/// A record's value as CSV and table text: empty for null or absent, a string as it is.
pub fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// CSV, streamed: the header comes from `--select`, else from the first record (in wire order,
/// without annotations), and every row follows it.
#[derive(Debug, Default)]
pub struct CsvWriter {
    columns: Option<Vec<String>>,
    header_written: bool,
}

/// One field, quoted when it holds a comma, a quote or a line break.
fn write_field(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    if text.contains([',', '"', '\n', '\r']) {
        out.write_all(b"\"")?;
        out.write_all(text.replace('"', "\"\"").as_bytes())?;
        out.write_all(b"\"")
    } else {
        out.write_all(text.as_bytes())
    }
}

/// One row: the fields, comma-separated, and a line break.
fn write_row<T: AsRef<str>>(
    out: &mut impl Write,
    fields: impl IntoIterator<Item = T>,
) -> std::io::Result<()> {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write_field(out, field.as_ref())?;
    }
    out.write_all(b"\n")
}

impl CsvWriter {
    /// A writer with these columns (from the first record when empty).
    pub fn new(select: &[String]) -> Self {
        Self {
            columns: (!select.is_empty()).then(|| select.to_vec()),
            header_written: false,
        }
    }

    fn header(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        if !self.header_written
            && let Some(c) = &self.columns
        {
            write_row(out, c)?;
            self.header_written = true;
        }
        Ok(())
    }

    /// Writes one record (and the header before the first).
    pub fn write(&mut self, out: &mut impl Write, record: &Value) -> std::io::Result<()> {
        if self.columns.is_none() {
            let mut c = columns(std::slice::from_ref(record), &[]);
            c.retain(|name| !name.contains('@'));
            self.columns = Some(c);
        }
        self.header(out)?;
        let columns = self.columns.iter().flatten();
        write_row(out, columns.map(|c| cell(record.get(c))))
    }

    /// A writer of rows only, for `select` (not empty): its caller writes the header
    /// ([`CsvWriter::finish`] of a [`CsvWriter::new`] writes it alone).
    pub fn rows_only(select: &[String]) -> Self {
        Self {
            columns: Some(select.to_vec()),
            header_written: true,
        }
    }

    /// The columns, when known (given, or taken from the first record written).
    pub fn columns(&self) -> Option<&[String]> {
        self.columns.as_deref()
    }

    /// Writes one row of cell texts, one per column of [`CsvWriter::columns`] (and the header
    /// before the first): for a caller that reads the cells itself, such as the export from
    /// its records' JSON text. Writes the same bytes as [`CsvWriter::write`] for the same cells.
    pub fn write_cells<T: AsRef<str>>(
        &mut self,
        out: &mut impl Write,
        cells: impl IntoIterator<Item = T>,
    ) -> std::io::Result<()> {
        self.header(out)?;
        write_row(out, cells)
    }

    /// Writes the header if no record came (so an empty result is still a valid file).
    pub fn finish(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        self.header(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_header() {
        let mut out = Vec::new();
        let mut w = CsvWriter::default();
        for r in [
            serde_json::json!({"@odata.etag": "W/1", "name": "A, \"B\"", "n@OData.Community.Display.V1.FormattedValue": "1", "n": 1}),
            serde_json::json!({"name": "line\nbreak", "n": null}),
        ] {
            w.write(&mut out, &r).unwrap();
        }
        w.finish(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "name,n\n\"A, \"\"B\"\"\",1\n\"line\nbreak\",\n"
        );
        let mut empty = Vec::new();
        let mut w = CsvWriter::new(&["name".to_owned()]);
        w.finish(&mut empty).unwrap();
        assert_eq!(String::from_utf8(empty).unwrap(), "name\n");
    }
}
