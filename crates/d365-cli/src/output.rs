//! Record output: a table for people, JSON, NDJSON or CSV for programs. Results go to stdout;
//! progress and logs go to stderr.

use std::io::{IsTerminal, Write};

use comfy_table::{ContentArrangement, Table, presets};
use d365_transfer::csv::cell;
pub(crate) use d365_transfer::csv::{CsvWriter, columns};
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
}
