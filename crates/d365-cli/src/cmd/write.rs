//! `d365 create|update|upsert|delete`: one record, from a JSON argument, `@file`, or stdin
//! (`-` or nothing), addressed by a GUID or an alternate key (`accountnumber=A-1`).

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use d365_odata::Literal;
use d365_webapi::{Client, RecordKey, UpsertMode};
use serde_json::Value;

use crate::flags::{AuthArgs, WriteCommand};

async fn client(auth: &AuthArgs, profile: Option<&str>) -> anyhow::Result<Client> {
    super::web_client(auth, profile).await
}

/// The record: JSON text, `@file`, or stdin for `-` or nothing. It must be an object.
pub(crate) fn record(source: Option<&str>) -> anyhow::Result<Value> {
    let (text, from) = match source {
        None | Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the record from stdin")?;
            (text, "stdin".to_owned())
        }
        Some(s) if s.starts_with('@') => (
            std::fs::read_to_string(&s[1..]).with_context(|| format!("reading {}", &s[1..]))?,
            s[1..].to_owned(),
        ),
        Some(s) => (s.to_owned(), "the argument".to_owned()),
    };
    let value: Value = serde_json::from_str(&text)
        .with_context(|| format!("the record in {from} is not valid JSON"))?;
    if !value.is_object() {
        bail!("the record in {from} must be a JSON object, like {{\"name\": \"Contoso\"}}");
    }
    Ok(value)
}

/// A GUID, or `column=value[,column=value]` for an alternate key (`'text'`, numbers and
/// GUIDs as OData literals; anything else is text).
pub(crate) fn key(text: &str) -> anyhow::Result<RecordKey> {
    if let Ok(id) = uuid::Uuid::parse_str(text.trim_matches(['{', '}'])) {
        return Ok(RecordKey::Id(id));
    }
    let mut pairs = Vec::new();
    for part in text.split(',') {
        let Some((column, value)) = part.split_once('=') else {
            bail!("'{text}' is neither a GUID nor an alternate key like accountnumber=A-1");
        };
        let literal = match d365_odata::parse_literal(value) {
            Ok(
                l @ (Literal::String(_) | Literal::Int(_) | Literal::Guid(_) | Literal::Decimal(_)),
            ) => l,
            _ => Literal::String(value.to_owned()),
        };
        pairs.push((column.trim().to_owned(), literal));
    }
    Ok(RecordKey::Alternate(pairs))
}

/// Not found is exit 1, as for the other commands where "nothing there" is meaningful.
fn not_found(e: &d365_webapi::Error) -> bool {
    e.api().is_some_and(|a| a.status == 404)
}

pub(crate) async fn run(command: WriteCommand, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    let result = match &command {
        WriteCommand::Create(a) => {
            let record = record(a.record.as_deref())?;
            let c = client(&a.auth, profile).await?;
            let request = c.create(&a.entity_set, record);
            if a.return_record {
                let stored = request.send_representation(&a.select).await?;
                println!("{}", serde_json::to_string_pretty(&stored)?);
            } else {
                println!("{}", request.send().await?);
            }
            Ok(())
        }
        WriteCommand::Update(a) | WriteCommand::Upsert(a) => {
            let record = record(a.record.as_deref())?;
            let key = key(&a.key)?;
            let c = client(&a.auth, profile).await?;
            let mut request = match &command {
                WriteCommand::Update(_) => c.update(&a.entity_set, key, record),
                _ => c.upsert(&a.entity_set, key, record).mode(
                    match (a.create_only, a.update_only) {
                        (true, _) => UpsertMode::CreateOnly,
                        (_, true) => UpsertMode::UpdateOnly,
                        _ => UpsertMode::CreateOrUpdate,
                    },
                ),
            };
            if let Some(tag) = &a.if_match {
                request = request.if_match(tag);
            }
            request.send().await
        }
        WriteCommand::Delete(a) => {
            let key = key(&a.key)?;
            let c = client(&a.auth, profile).await?;
            let mut request = c.delete(&a.entity_set, key);
            if let Some(tag) = &a.if_match {
                request = request.if_match(tag);
            }
            request.send().await
        }
    };
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if not_found(&e) => {
            eprintln!("d365: {}", crate::output::printable(&e.to_string()));
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}
