//! Reading the input rows: NDJSON objects, or CSV rows keyed by the header and typed from the
//! table's metadata (CSV has only text). Line numbers count from 1 (the CSV header is line 1,
//! so its first row is line 2), as an editor shows them, for the reject file and the journal.

use std::io::BufRead;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// One input row.
#[derive(Debug, Clone)]
pub struct Row {
    /// The line number (from 1, as an editor shows it).
    pub line: u64,
    /// Its fields, or why the line is not a record.
    pub fields: Result<Map<String, Value>, String>,
}

/// The rows of a file, lazily.
pub type Rows = Box<dyn Iterator<Item = Result<Row>> + Send>;

/// Opens `path` by its extension.
pub fn open(
    path: &Path,
    csv_type: impl Fn(&str) -> Option<String> + Send + 'static,
) -> Result<Rows> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let file =
        std::fs::File::open(path).map_err(Error::file(format!("opening {}", path.display())))?;
    match ext.as_deref() {
        Some("ndjson" | "jsonl") => {
            let lines = std::io::BufReader::new(file).lines();
            Ok(Box::new(lines.enumerate().filter_map(|(i, line)| {
                let line_no = i as u64 + 1;
                match line {
                    Err(e) => Some(Err(Error::file(format!("reading line {line_no}"))(e))),
                    Ok(text) if text.trim().is_empty() => None,
                    Ok(text) => Some(Ok(Row {
                        line: line_no,
                        fields: match serde_json::from_str::<Value>(&text) {
                            Ok(Value::Object(m)) => Ok(m),
                            Ok(_) => Err("the line is not a JSON object".into()),
                            Err(e) => Err(format!("the line is not valid JSON: {e}")),
                        },
                    })),
                }
            })))
        }
        Some("csv") => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(true)
                .from_reader(file);
            let header: Vec<String> = reader
                .headers()
                .map_err(|source| Error::Csv {
                    doing: format!("reading the header of {}", path.display()),
                    source,
                })?
                .iter()
                .map(str::to_owned)
                .collect();
            Ok(Box::new(reader.into_records().map(move |record| {
                let record = record.map_err(|source| Error::Csv {
                    doing: "reading CSV".into(),
                    source,
                })?;
                let line = record.position().map_or(0, |p| p.line());
                let mut fields = Map::new();
                for (name, text) in header.iter().zip(record.iter()) {
                    // A cell that is not of its column's type stays text: the shaping says
                    // which column and line, and refuses a column where no cell converts.
                    let value = typed(text, csv_type(name).as_deref())
                        .unwrap_or_else(|_| Value::String(text.to_owned()));
                    fields.insert(name.clone(), value);
                }
                Ok(Row {
                    line,
                    fields: Ok(fields),
                })
            })))
        }
        _ => Err(Error::refused(format!(
            "cannot tell the format of {} from its extension: use .ndjson, .jsonl or .csv",
            path.display()
        ))),
    }
}

/// A CSV cell as JSON for a column of this Dataverse type (empty is null).
fn typed(text: &str, attribute_type: Option<&str>) -> Result<Value, String> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    match attribute_type {
        Some("Integer" | "BigInt" | "Picklist" | "State" | "Status") => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("'{text}' is not a whole number")),
        Some("Decimal" | "Money" | "Double") => {
            serde_json::from_str::<serde_json::Number>(text.trim())
                .map(Value::Number)
                .map_err(|_| format!("'{text}' is not a number"))
        }
        Some("Boolean") => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Value::Bool(true)),
            "false" | "0" | "no" => Ok(Value::Bool(false)),
            _ => Err(format!("'{text}' is not true or false")),
        },
        _ => Ok(Value::String(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_take_their_column_types() {
        assert_eq!(typed("", Some("Integer")), Ok(Value::Null));
        assert_eq!(typed("42", Some("Integer")), Ok(Value::from(42)));
        assert_eq!(typed("12.50", Some("Money")).unwrap().to_string(), "12.50");
        assert_eq!(typed("yes", Some("Boolean")), Ok(Value::Bool(true)));
        assert!(typed("x", Some("Integer")).is_err());
        assert_eq!(typed("007", None), Ok(Value::from("007")));
    }
}
