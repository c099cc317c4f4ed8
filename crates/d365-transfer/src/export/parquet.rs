//! The Parquet output (feature `parquet`): the parts' rows through `d365-parquet`, with each
//! column typed from the table's metadata (a `--select` column the metadata does not know is
//! text).

use std::path::PathBuf;

use d365_parquet::{Column, ColumnKind, ParquetSink};
use d365_webapi::Client;

use super::Checkpoint;
use super::assemble::part_records;
use crate::{Error, Result};

/// Writes the parts' rows to `file` as Parquet; the number of rows.
pub(super) async fn write(
    file: &mut std::fs::File,
    parts: &[PathBuf],
    cp: &Checkpoint,
    client: &Client,
) -> Result<u64> {
    let table = crate::table::describe(client, &cp.entity_set).await?;
    let kind_of = |name: &str| {
        table
            .columns
            .iter()
            .find(|c| c.property == name)
            .map_or(ColumnKind::Text, |c| {
                ColumnKind::from_attribute_type(&c.attribute_type, c.precision)
            })
    };
    let columns: Vec<Column> = cp
        .columns
        .iter()
        .map(|c| Column::new(c, kind_of(c)))
        .collect();
    let parquet = |e: d365_parquet::ParquetError| Error::Parquet(e.to_string());
    let mut sink = ParquetSink::new(std::io::BufWriter::new(file), columns).map_err(parquet)?;
    for part in parts {
        for record in part_records(part) {
            sink.write(&record?).map_err(parquet)?;
        }
    }
    sink.finish().map_err(parquet)
}
