//! `d365 codegen`: Rust types for Dataverse tables (`d365-codegen` does the generating).
//! The model comes from a `$metadata` file (`--metadata`), or from the environment: its
//! `$metadata`, plus the choice values CSDL leaves out, from `EntityDefinitions`
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api>).
//!
//! The two metadata reads go through `d365-http` here rather than `d365_webapi::Client`:
//! `$metadata` must be asked for as XML, and the client's requests always accept JSON.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use d365_auth::TokenCredential;
use d365_codegen::option_sets::{
    ATTRIBUTE_CASTS, attributes_path, read_attributes, with_option_sets,
};
use d365_http::{HttpClient, RetryConfig, parse_retry_after, reqwest, send_with_retry};
use d365_odata::model::Model;

use crate::flags::CodegenArgs;

/// The Web API version the metadata is read from (the client's default).
const API_VERSION: &str = "v9.2";

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
    let settings = crate::auth::Settings::resolve(&args.auth, profile)?;
    let environment = settings.environment()?;
    let environment = environment.trim_end_matches('/').to_owned();
    let credential = settings.credential(&environment).await?;
    let reader = Reader {
        http: settings.http()?,
        credential: credential.as_ref(),
        environment: &environment,
        api: format!("{environment}/api/data/{API_VERSION}"),
    };
    let xml = reader.get("$metadata", "application/xml").await?;
    let model = d365_odata::csdl::read_csdl_from(xml.as_slice())
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
            let body = reader
                .get(&attributes_path(&table, cast), "application/json")
                .await?;
            let json: serde_json::Value = serde_json::from_slice(&body)
                .with_context(|| format!("reading the {cast} attributes of {table}"))?;
            columns.extend(read_attributes(&table, &json)?);
        }
        sets.insert(table, columns);
    }
    Ok((with_option_sets(&model, &sets), environment))
}

/// GETs metadata documents with a token, retrying as the client does.
struct Reader<'a> {
    http: HttpClient,
    credential: &'a dyn TokenCredential,
    environment: &'a str,
    api: String,
}

impl std::fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("api", &self.api).finish()
    }
}

impl Reader<'_> {
    /// `GET {api}/{path}`; a non-2xx answer is a `d365_webapi` API error, so the exit code
    /// and message match the other commands'.
    async fn get(&self, path: &str, accept: &str) -> anyhow::Result<Vec<u8>> {
        let url = url::Url::parse(&format!("{}/{path}", self.api))
            .with_context(|| format!("bad URL for {path}"))?;
        let response = send_with_retry(&RetryConfig::default(), true, || {
            let url = url.clone();
            async move {
                let token = self.credential.get_token(self.environment).await?;
                Ok::<_, anyhow::Error>(
                    self.http
                        .secure_request(reqwest::Method::GET, url)?
                        .bearer_auth(token.secret())
                        .header("accept", accept)
                        .header("odata-maxversion", "4.0")
                        .header("odata-version", "4.0"),
                )
            }
        })
        .await?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header("x-ms-service-request-id").or_else(|| header("req_id"));
        let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v));
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("reading {}", url.path()))?;
        if !(200..300).contains(&status) {
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let error = d365_webapi::ApiError {
                status,
                code: body["error"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                message: body["error"]["message"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| {
                        String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned()
                    }),
                request_id,
                retry_after,
            };
            return Err(anyhow::Error::new(d365_webapi::Error::Api(error)))
                .with_context(|| format!("GET {}", url.path()));
        }
        Ok(bytes.to_vec())
    }
}
