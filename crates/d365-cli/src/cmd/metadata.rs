//! `d365 metadata tables|columns <table>`: what the environment has, from EntityDefinitions.
//! An unknown table exits 1 (not found).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{Value, json};

use crate::flags::{MetadataCommand, Output};
use crate::output;

pub(crate) async fn run(
    command: MetadataCommand,
    profile: Option<&str>,
) -> anyhow::Result<ExitCode> {
    match command {
        MetadataCommand::Tables(args) => {
            let client = super::web_client(&args.auth, profile).await?;
            let rows: Vec<Value> = client
                .tables()
                .await?
                .into_iter()
                .map(|t| {
                    json!({
                        "logical_name": t.logical_name,
                        "entity_set": t.entity_set_name,
                        "primary_id": t.primary_id_attribute,
                        "primary_name": t.primary_name_attribute,
                        "custom": t.is_custom_entity,
                    })
                })
                .collect();
            print(&rows, args.output)?;
            Ok(ExitCode::SUCCESS)
        }
        MetadataCommand::Columns(args) => {
            let client = super::web_client(&args.auth, profile).await?;
            let columns = match client.columns(&args.table).await {
                Ok(c) => c,
                Err(e) if e.api().is_some_and(|a| a.is_not_found()) => {
                    // Perhaps an entity set name: find its table.
                    let tables = client.tables().await?;
                    match tables
                        .iter()
                        .find(|t| t.entity_set_name.as_deref() == Some(args.table.as_str()))
                    {
                        Some(t) => client.columns(&t.logical_name).await?,
                        None => {
                            eprintln!(
                                "d365: no table '{}' in {} (see `d365 metadata tables`)",
                                args.table,
                                client.environment()
                            );
                            return Ok(ExitCode::from(1));
                        }
                    }
                }
                Err(e) => return Err(e).context(format!("reading the columns of {}", args.table)),
            };
            let rows: Vec<Value> = columns
                .into_iter()
                .map(|c| {
                    json!({
                        "logical_name": c.logical_name,
                        "type": c.attribute_type,
                        "required": c.required_level,
                        "create": c.is_valid_for_create,
                        "update": c.is_valid_for_update,
                        "max_length": c.max_length,
                        "targets": c.targets.map(|t| t.join(",")),
                    })
                })
                .collect();
            print(&rows, args.output)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print(rows: &[Value], format: Option<Output>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match output::default_format(format) {
        Output::Table => {
            let columns = output::columns(rows, &[]);
            writeln!(out, "{}", output::table(rows, &columns))?;
        }
        Output::Json => {
            serde_json::to_writer_pretty(&mut out, rows)?;
            writeln!(out)?;
        }
        format => {
            if let Some(mut writer) = output::StreamWriter::new(format, &[]) {
                for r in rows {
                    writer.write(&mut out, r)?;
                }
                writer.finish(&mut out)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
