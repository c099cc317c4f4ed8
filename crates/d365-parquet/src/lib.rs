//! Dataverse records, as the Web API sends them (JSON objects), written to Parquet with typed
//! columns: text, integers and choices, decimals and money as `Decimal128` (exact, no float
//! rounding), dates as UTC timestamps, GUIDs and lookups as 16-byte `FixedSizeBinary` (Parquet's
//! UUID layout), yes/no as booleans.
//!
//! Rows are buffered into record batches of [`BATCH_ROWS`], so memory stays flat however many
//! rows are written.
//!
//! ```
//! use d365_parquet::{Column, ColumnKind, ParquetSink};
//! let file = tempfile::tempfile().unwrap();
//! let columns = vec![
//!     Column::new("accountid", ColumnKind::Guid),
//!     Column::new("name", ColumnKind::Text),
//!     Column::new("revenue", ColumnKind::Decimal { scale: 4 }),
//! ];
//! let mut sink = ParquetSink::new(file, columns).unwrap();
//! sink.write(&serde_json::json!({
//!     "accountid": "5e1f0000-0000-4000-8000-000000000001",
//!     "name": "Contoso",
//!     "revenue": 1234.5,
//! })).unwrap();
//! assert_eq!(sink.finish().unwrap(), 1);
//! ```

use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Decimal128Builder, FixedSizeBinaryBuilder, Float64Builder, Int32Builder,
    Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::Value;

/// Rows per record batch (and so per row group slice) held in memory.
pub const BATCH_ROWS: usize = 8192;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Text (`String`, `Memo`, anything else unknown: written as its JSON text).
    Text,
    /// 32-bit integers and choices (`Integer`, `Picklist`, `State`, `Status`).
    Int32,
    /// 64-bit integers (`BigInt`).
    Int64,
    /// Floating point (`Double`).
    Double,
    /// Exact decimals with this many places (`Decimal`, `Money`).
    Decimal {
        /// Digits after the point.
        scale: i8,
    },
    /// Yes/no.
    Boolean,
    /// A date and time, stored as microseconds since the epoch, UTC.
    DateTime,
    /// A GUID: the key, a lookup's `_x_value`.
    Guid,
}

impl ColumnKind {
    /// The kind for a Dataverse `AttributeType` (`String`, `Money`, `Lookup`, …); `precision`
    /// is the column's decimal places when the metadata gives them.
    pub fn from_attribute_type(attribute_type: &str, precision: Option<u32>) -> Self {
        match attribute_type {
            "Integer" | "Picklist" | "State" | "Status" => ColumnKind::Int32,
            "BigInt" => ColumnKind::Int64,
            "Double" => ColumnKind::Double,
            "Decimal" => ColumnKind::Decimal {
                scale: precision.map_or(10, |p| p.min(18) as i8),
            },
            "Money" => ColumnKind::Decimal {
                scale: precision.map_or(4, |p| p.min(18) as i8),
            },
            "Boolean" => ColumnKind::Boolean,
            "DateTime" => ColumnKind::DateTime,
            "Uniqueidentifier" | "Lookup" | "Owner" | "Customer" => ColumnKind::Guid,
            _ => ColumnKind::Text,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            ColumnKind::Text => DataType::Utf8,
            ColumnKind::Int32 => DataType::Int32,
            ColumnKind::Int64 => DataType::Int64,
            ColumnKind::Double => DataType::Float64,
            ColumnKind::Decimal { scale } => DataType::Decimal128(38, scale),
            ColumnKind::Boolean => DataType::Boolean,
            ColumnKind::DateTime => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ColumnKind::Guid => DataType::FixedSizeBinary(16),
        }
    }
}

/// One output column: the record's property and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The property name (`name`, `_parentaccountid_value`).
    pub name: String,
    /// What it holds.
    pub kind: ColumnKind,
}

impl Column {
    /// A column.
    pub fn new(name: &str, kind: ColumnKind) -> Self {
        Self {
            name: name.to_owned(),
            kind,
        }
    }
}

/// What went wrong writing Parquet.
#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    /// A value does not fit its column (`row` counts from 0).
    #[error("row {row}, column {column}: {message}")]
    Value {
        /// The row.
        row: u64,
        /// The column.
        column: String,
        /// What was wrong.
        message: String,
    },
    /// The Parquet or Arrow library failed (I/O included).
    #[error("writing Parquet: {0}")]
    Write(String),
}

impl From<parquet::errors::ParquetError> for ParquetError {
    fn from(e: parquet::errors::ParquetError) -> Self {
        ParquetError::Write(e.to_string())
    }
}

impl From<arrow_schema::ArrowError> for ParquetError {
    fn from(e: arrow_schema::ArrowError) -> Self {
        ParquetError::Write(e.to_string())
    }
}

/// Column builders for the rows of the batch being filled.
enum Builder {
    Text(StringBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Double(Float64Builder),
    Decimal(Decimal128Builder, i8),
    Boolean(BooleanBuilder),
    DateTime(TimestampMicrosecondBuilder),
    Guid(FixedSizeBinaryBuilder),
}

impl Builder {
    fn new(kind: ColumnKind) -> Result<Self, ParquetError> {
        Ok(match kind {
            ColumnKind::Text => Builder::Text(StringBuilder::new()),
            ColumnKind::Int32 => Builder::Int32(Int32Builder::new()),
            ColumnKind::Int64 => Builder::Int64(Int64Builder::new()),
            ColumnKind::Double => Builder::Double(Float64Builder::new()),
            ColumnKind::Decimal { scale } => Builder::Decimal(
                Decimal128Builder::new().with_precision_and_scale(38, scale)?,
                scale,
            ),
            ColumnKind::Boolean => Builder::Boolean(BooleanBuilder::new()),
            ColumnKind::DateTime => {
                Builder::DateTime(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
            }
            ColumnKind::Guid => Builder::Guid(FixedSizeBinaryBuilder::new(16)),
        })
    }

    /// Appends `value` (null when absent or JSON null).
    fn append(&mut self, value: Option<&Value>) -> Result<(), String> {
        let value = value.filter(|v| !v.is_null());
        match (self, value) {
            (Builder::Text(b), None) => b.append_null(),
            (Builder::Text(b), Some(Value::String(s))) => b.append_value(s),
            (Builder::Text(b), Some(v)) => b.append_value(v.to_string()),
            (Builder::Int32(b), v) => b.append_option(
                v.map(|v| {
                    v.as_i64()
                        .and_then(|i| i32::try_from(i).ok())
                        .ok_or_else(|| format!("{v} is not a 32-bit integer"))
                })
                .transpose()?,
            ),
            (Builder::Int64(b), v) => b.append_option(
                v.map(|v| v.as_i64().ok_or_else(|| format!("{v} is not an integer")))
                    .transpose()?,
            ),
            (Builder::Double(b), v) => b.append_option(
                v.map(|v| v.as_f64().ok_or_else(|| format!("{v} is not a number")))
                    .transpose()?,
            ),
            (Builder::Decimal(b, scale), v) => {
                let scale = *scale;
                b.append_option(v.map(|v| scaled(v, scale)).transpose()?)
            }
            (Builder::Boolean(b), v) => b.append_option(
                v.map(|v| {
                    v.as_bool()
                        .ok_or_else(|| format!("{v} is not true or false"))
                })
                .transpose()?,
            ),
            (Builder::DateTime(b), v) => b.append_option(
                v.map(|v| {
                    let text = v.as_str().ok_or_else(|| format!("{v} is not a date"))?;
                    let at = time::OffsetDateTime::parse(
                        text,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .map_err(|e| format!("'{text}' is not an ISO 8601 date-time: {e}"))?;
                    Ok::<_, String>((at.unix_timestamp_nanos() / 1000) as i64)
                })
                .transpose()?,
            ),
            (Builder::Guid(b), None) => b.append_null(),
            (Builder::Guid(b), Some(v)) => {
                let id = v
                    .as_str()
                    .and_then(|s| uuid::Uuid::parse_str(s).ok())
                    .ok_or_else(|| format!("{v} is not a GUID"))?;
                b.append_value(id.as_bytes()).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Int32(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Double(b) => Arc::new(b.finish()),
            Builder::Decimal(b, _) => Arc::new(b.finish()),
            Builder::Boolean(b) => Arc::new(b.finish()),
            Builder::DateTime(b) => Arc::new(b.finish()),
            Builder::Guid(b) => Arc::new(b.finish()),
        }
    }
}

/// A JSON number (kept exact by serde_json's `arbitrary_precision`) as an integer scaled by
/// 10^scale, rounding half away from zero past the scale.
fn scaled(v: &Value, scale: i8) -> Result<i128, String> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return Err(format!("{v} is not a number")),
    };
    let bad = || format!("{text} is not a decimal number");
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    if digits.contains(['e', 'E']) {
        let f: f64 = text.parse().map_err(|_| bad())?;
        return Ok((f * 10f64.powi(scale.into())).round() as i128);
    }
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole
            .chars()
            .chain(frac.chars())
            .all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let scale = scale.max(0) as usize;
    let mut kept: String = frac.chars().take(scale).collect();
    while kept.len() < scale {
        kept.push('0');
    }
    let mut n: i128 = format!("{whole}{kept}").parse().map_err(|_| bad())?;
    if frac.chars().nth(scale).is_some_and(|c| c >= '5') {
        n += 1;
    }
    Ok(if negative { -n } else { n })
}

/// Writes records to a Parquet file, batch by batch.
pub struct ParquetSink<W: Write + Send> {
    columns: Vec<Column>,
    schema: Arc<Schema>,
    builders: Vec<Builder>,
    buffered: usize,
    rows: u64,
    writer: ArrowWriter<W>,
}

impl<W: Write + Send> std::fmt::Debug for ParquetSink<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetSink")
            .field("columns", &self.columns)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl<W: Write + Send> ParquetSink<W> {
    /// A sink writing these columns (Snappy-compressed).
    pub fn new(out: W, columns: Vec<Column>) -> Result<Self, ParquetError> {
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(&c.name, c.kind.data_type(), true))
                .collect::<Vec<_>>(),
        ));
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props))?;
        let builders = columns
            .iter()
            .map(|c| Builder::new(c.kind))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            columns,
            schema,
            builders,
            buffered: 0,
            rows: 0,
            writer,
        })
    }

    /// Adds one record (a JSON object; missing properties are nulls).
    pub fn write(&mut self, record: &Value) -> Result<(), ParquetError> {
        for (column, builder) in self.columns.iter().zip(&mut self.builders) {
            builder
                .append(record.get(&column.name))
                .map_err(|message| ParquetError::Value {
                    row: self.rows,
                    column: column.name.clone(),
                    message,
                })?;
        }
        self.rows += 1;
        self.buffered += 1;
        if self.buffered == BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<(), ParquetError> {
        if self.buffered == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        self.writer.write(&batch)?;
        self.buffered = 0;
        Ok(())
    }

    /// Writes what is buffered and the footer; returns the number of rows.
    pub fn finish(mut self) -> Result<u64, ParquetError> {
        self.flush_batch()?;
        self.writer.close()?;
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decimals_scale_exactly() {
        let n = |t: &str| serde_json::from_str::<Value>(t).unwrap();
        assert_eq!(scaled(&n("1234.5"), 4), Ok(12_345_000));
        assert_eq!(scaled(&n("-0.00005"), 4), Ok(-1));
        assert_eq!(
            scaled(&n("12345678901234567890.1234"), 4),
            Ok(123_456_789_012_345_678_901_234)
        );
        assert_eq!(scaled(&n("7"), 2), Ok(700));
        assert_eq!(scaled(&json!("1.239"), 2), Ok(124));
        assert!(scaled(&json!("x"), 2).is_err());
        assert!(scaled(&json!(true), 2).is_err());
    }

    #[test]
    fn kinds_from_attribute_types() {
        assert_eq!(
            ColumnKind::from_attribute_type("Lookup", None),
            ColumnKind::Guid
        );
        assert_eq!(
            ColumnKind::from_attribute_type("Money", Some(2)),
            ColumnKind::Decimal { scale: 2 }
        );
        assert_eq!(
            ColumnKind::from_attribute_type("Status", None),
            ColumnKind::Int32
        );
        assert_eq!(
            ColumnKind::from_attribute_type("Memo", None),
            ColumnKind::Text
        );
    }
}
