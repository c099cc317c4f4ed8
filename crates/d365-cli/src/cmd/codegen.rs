//! `d365 codegen`: Rust types for Dataverse tables (`d365-codegen` does the generating).
//! The model comes from a `$metadata` file (`--metadata`), or from the environment: its
//! `$metadata`, plus the choice values CSDL leaves out, from `EntityDefinitions`
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api>).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use d365_codegen::option_sets::{ATTRIBUTE_CASTS, read_attributes, with_option_sets};
use d365_odata::model::Model;

use crate::flags::CodegenArgs;

pub(crate) async fn run(args: CodegenArgs, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    let tables: Vec<&str> = args
        .tables
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .collect();
    let (model, source) = match &args.metadata {
        Some(path) => (read_file(path)?, file_label(path)),
        None => live(&args, profile, &tables).await?,
    };
    // Text that is not CSDL at all (an error page, JSON) reads as an empty model.
    if model.entity_types().is_empty() {
        anyhow::bail!("{source} has no entity types: is it a CSDL $metadata document?");
    }
    let code = d365_codegen::generate(&model, &tables, &source)
        .with_context(|| format!("generating from {source}"))?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, code).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            use std::io::Write;
            std::io::stdout().lock().write_all(code.as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The file name only: the header of the output does not depend on where the file was.
fn file_label(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn read_file(path: &Path) -> anyhow::Result<Model> {
    // Streamed: a real $metadata is tens of megabytes.
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    d365_odata::csdl::read_csdl_from(std::io::BufReader::new(file))
        .with_context(|| format!("reading CSDL {}", path.display()))
}

/// The environment's model: `$metadata`, with the choices of the requested tables from
/// `EntityDefinitions` (a table that is not in the model is reported by the generator).
async fn live(
    args: &CodegenArgs,
    profile: Option<&str>,
    tables: &[&str],
) -> anyhow::Result<(Model, String)> {
    let client = super::web_client(&args.auth, profile).await?;
    let environment = client.environment().to_owned();
    let xml = client.metadata().send_xml().await?;
    let model = d365_odata::csdl::read_csdl_from(xml.as_ref())
        .with_context(|| format!("reading the $metadata of {environment}"))?;
    let mut sets = BTreeMap::new();
    for name in tables {
        let Some(table) = model
            .entity_type(name)
            .or_else(|| model.by_entity_set(name))
            .map(|t| t.name.clone())
        else {
            continue;
        };
        let mut columns = BTreeMap::new();
        for cast in ATTRIBUTE_CASTS {
            let json = client
                .entity_definitions()
                .table(&table)
                .attributes(Some(cast))
                .select(["LogicalName"])
                .expand("OptionSet")
                .send()
                .await
                .with_context(|| format!("reading the {cast} attributes of {table}"))?;
            columns.extend(read_attributes(&table, &json)?);
        }
        sets.insert(table, columns);
    }
    Ok((with_option_sets(&model, &sets), environment))
}
