//! Record output: a table for people, JSON or NDJSON for programs. Results go to stdout;
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

/// A table of the records.
pub(crate) fn table(records: &[Value], columns: &[String]) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header(columns);
    for r in records {
        table.add_row(columns.iter().map(|c| cell(r.get(c))));
    }
    table.to_string()
}

/// Writes one record in a streaming format.
pub(crate) fn write_ndjson(out: &mut impl Write, record: &Value) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    out.write_all(b"\n")
}
