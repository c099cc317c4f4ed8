//! Record output: a table for people, JSON, NDJSON or CSV for programs. Results go to stdout;
//! progress and logs go to stderr.

use std::io::{IsTerminal, Write};

use comfy_table::{ContentArrangement, Table, presets};
use serde_json::Value;

use crate::flags::Output;

/// The format to use when none was asked for: a table on a terminal, JSON when piped.
pub(crate) fn default_format(asked: Option<Output>) -> Output {
    asked.unwrap_or(if std::io::stdout().is_terminal() {
        Output::Table
    } else {
        Output::Json
    })
}

/// Columns for a set of records: the given ones, else the first record's keys (wire order),
/// never OData control annotations.
pub(crate) fn columns(records: &[Value], select: &[String]) -> Vec<String> {
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

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Text from a server, made safe for a terminal: control characters (ESC, CR, newlines, …) and
/// the bidirectional overrides are shown escaped (`\u{1b}`, `\n`) instead of acting, so an
/// error message cannot clear the screen, forge a line or hide what follows.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A table of the records.
pub(crate) fn table(records: &[Value], columns: &[String]) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header(columns);
    for r in records {
        table.add_row(
            columns
                .iter()
                .map(|c| printable(&cell(r.get(c))).into_owned()),
        );
    }
    table.to_string()
}

/// `--select` columns with the annotation columns the record has after each
/// (`statuscode`, `statuscode_Formatted`), for `--annotations`.
pub(crate) fn annotated_columns(select: &[String], first: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    for c in select {
        out.push(c.clone());
        for suffix in ["_Formatted", "_LogicalName", "_NavigationProperty"] {
            let name = format!("{c}{suffix}");
            if first.is_some_and(|r| r.get(&name).is_some()) {
                out.push(name);
            }
        }
    }
    out
}

/// A progress line on stderr for long reads (`12,000 records, 3,100/s`); indicatif hides it
/// when stderr is not a terminal, so pipes and CI logs stay clean.
pub(crate) fn progress(what: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {{human_pos}} {what} ({{per_sec}}, {{elapsed}})"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Writes one record in a streaming format.
pub(crate) fn write_ndjson(out: &mut impl Write, record: &Value) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    out.write_all(b"\n")
}

/// CSV, streamed: the header comes from `--select`, else from the first record (in wire order,
/// without annotations), and every row follows it.
#[derive(Debug, Default)]
pub(crate) struct CsvWriter {
    columns: Option<Vec<String>>,
    header_written: bool,
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

impl CsvWriter {
    /// A writer with these columns (from the first record when empty).
    pub(crate) fn new(select: &[String]) -> Self {
        Self {
            columns: (!select.is_empty()).then(|| select.to_vec()),
            header_written: false,
        }
    }

    fn header(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        if !self.header_written
            && let Some(c) = &self.columns
        {
            let header: Vec<String> = c.iter().map(|n| csv_field(n)).collect();
            writeln!(out, "{}", header.join(","))?;
            self.header_written = true;
        }
        Ok(())
    }

    /// Writes one record (and the header before the first).
    pub(crate) fn write(&mut self, out: &mut impl Write, record: &Value) -> std::io::Result<()> {
        if self.columns.is_none() {
            let mut c = columns(std::slice::from_ref(record), &[]);
            c.retain(|name| !name.contains('@'));
            self.columns = Some(c);
        }
        self.header(out)?;
        let row: Vec<String> = self
            .columns
            .iter()
            .flatten()
            .map(|c| csv_field(&cell(record.get(c))))
            .collect();
        writeln!(out, "{}", row.join(","))
    }

    /// Writes the header if no record came (so an empty result is still a valid file).
    pub(crate) fn finish(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        self.header(out)
    }
}

/// A streaming format: NDJSON or CSV, one record at a time.
#[derive(Debug)]
pub(crate) enum StreamWriter {
    /// One JSON object per line.
    Ndjson,
    /// CSV with a header.
    Csv(CsvWriter),
}

impl StreamWriter {
    /// For a streaming `format` (NDJSON or CSV), with the `--select` columns.
    pub(crate) fn new(format: Output, select: &[String]) -> Option<Self> {
        match format {
            Output::Ndjson => Some(StreamWriter::Ndjson),
            Output::Csv => Some(StreamWriter::Csv(CsvWriter::new(select))),
            Output::Table | Output::Json => None,
        }
    }

    /// Writes one record.
    pub(crate) fn write(&mut self, out: &mut impl Write, record: &Value) -> std::io::Result<()> {
        match self {
            StreamWriter::Ndjson => write_ndjson(out, record),
            StreamWriter::Csv(csv) => csv.write(out, record),
        }
    }

    /// Ends the output (a CSV header when nothing came).
    pub(crate) fn finish(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        match self {
            StreamWriter::Ndjson => Ok(()),
            StreamWriter::Csv(csv) => csv.finish(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_cannot_drive_the_terminal() {
        assert_eq!(printable("plain é"), "plain é");
        assert_eq!(
            printable("a\u{1b}[2J\nb\tc\r\u{7}\u{202e}d"),
            "a\\u{1b}[2J\\nb\\tc\\r\\u{7}\\u{202e}d"
        );
        let table = table(
            &[serde_json::json!({"name": "x\u{1b}]0;owned\u{7}"})],
            &["name".to_owned()],
        );
        assert!(
            !table.contains('\u{1b}') && table.contains("\\u{1b}"),
            "{table}"
        );
    }

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
