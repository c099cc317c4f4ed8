//! The Parquet output (feature `parquet`): the parts' rows through `d365-parquet`, with each
//! column typed from the table's metadata (a `--select` column the metadata does not know is
//! text).

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use d365_parquet::{Column, ColumnKind, ParquetSink};
use d365_webapi::Client;

use d365_transfer::export::Checkpoint;

pub(super) async fn write(
    file: &mut std::fs::File,
    parts: &[PathBuf],
    cp: &Checkpoint,
    client: &Client,
) -> anyhow::Result<u64> {
    let table = d365_transfer::table::describe(client, &cp.entity_set).await?;
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
    let mut sink = ParquetSink::new(std::io::BufWriter::new(file), columns)?;
    for part in parts {
        let f = std::fs::File::open(part).with_context(|| format!("reading {}", part.display()))?;
        for line in std::io::BufReader::new(f).lines() {
            let record: serde_json::Value = serde_json::from_str(&line?)?;
            sink.write(&record)?;
        }
    }
    Ok(sink.finish()?)
}
