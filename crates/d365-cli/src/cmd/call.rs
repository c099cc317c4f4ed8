//! `d365 call <name>`: a function (GET, parameters as URL aliases) or, with `--action`, an
//! action (POST, parameters as a JSON body); unbound, or bound with `--bound set(key)` or to
//! an entity set with `--bound set`. The answer is printed as JSON (nothing for a 204).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use d365_webapi::{ParamValue, RecordKey};
use serde_json::Value;

use crate::flags::CallArgs;

/// A `--param` value as the user typed it, read as JSON, a GUID, or text.
#[derive(Debug, Clone, PartialEq)]
enum Typed {
    Json(Value),
    Guid(uuid::Uuid),
    Text(String),
}

fn param(text: &str) -> anyhow::Result<(String, Typed)> {
    let Some((name, value)) = text.split_once('=') else {
        bail!("--param '{text}' is not Name=value");
    };
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("--param '{text}': '{name}' is not a parameter name");
    }
    let typed = if let Ok(id) = uuid::Uuid::parse_str(value) {
        Typed::Guid(id)
    } else if let Ok(json) = serde_json::from_str::<Value>(value) {
        Typed::Json(json)
    } else {
        Typed::Text(value.to_owned())
    };
    Ok((name.to_owned(), typed))
}

/// How a function writes the value in its URL.
fn function_value(typed: Typed) -> ParamValue {
    match typed {
        Typed::Guid(id) => ParamValue::Guid(id),
        Typed::Text(s) | Typed::Json(Value::String(s)) => ParamValue::String(s),
        Typed::Json(Value::Null) => ParamValue::Null,
        Typed::Json(Value::Bool(b)) => ParamValue::Bool(b),
        Typed::Json(Value::Number(n)) => match n.as_i64() {
            Some(i) => ParamValue::Int(i),
            None => ParamValue::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Typed::Json(other) => ParamValue::Json(other),
    }
}

/// How an action writes it in its body.
fn action_value(typed: Typed) -> Value {
    match typed {
        Typed::Guid(id) => Value::String(id.to_string()),
        Typed::Text(s) => Value::String(s),
        Typed::Json(v) => v,
    }
}

/// `leads(<guid>)` → a record; `accounts` → the entity set.
fn binding(text: &str) -> anyhow::Result<(String, Option<RecordKey>)> {
    match text.split_once('(') {
        None => Ok((text.to_owned(), None)),
        Some((set, rest)) => {
            let inner = rest.strip_suffix(')').with_context(|| {
                format!("--bound '{text}' should look like leads(<guid>) or accounts(accountnumber='A-1')")
            })?;
            Ok((set.to_owned(), Some(super::write::key(inner)?)))
        }
    }
}

pub(crate) async fn run(args: CallArgs, profile: Option<&str>) -> anyhow::Result<ExitCode> {
    let params = args
        .params
        .iter()
        .map(|p| param(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bound = args.bound.as_deref().map(binding).transpose()?;
    if args.body.is_some() && !args.action {
        bail!("--body is for actions (add --action); a function takes --param");
    }
    let client = super::web_client(&args.auth, profile).await?;
    let answer = if args.action {
        let mut request = client.action(&args.name);
        match bound {
            Some((set, Some(key))) => request = request.bound(&set, key),
            Some((set, None)) => request = request.bound_to_collection(&set),
            None => {}
        }
        if let Some(body) = &args.body {
            let Value::Object(fields) = super::write::record(Some(body))? else {
                unreachable!("record() returns objects");
            };
            for (k, v) in fields {
                request = request.param(&k, v);
            }
        }
        for (k, v) in params {
            request = request.param(&k, action_value(v));
        }
        tracing::info!(url = %request.url(), "action");
        request.send().await?
    } else {
        let mut request = client.function(&args.name);
        match bound {
            Some((set, Some(key))) => request = request.bound(&set, key),
            Some((set, None)) => request = request.bound_to_collection(&set),
            None => {}
        }
        for (k, v) in params {
            request = request.param(&k, function_value(v));
        }
        request.send().await?
    };
    if !answer.is_null() {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &answer).context("writing JSON")?;
        writeln!(out)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_typed_from_their_text() {
        let id = uuid::Uuid::from_u128(3);
        assert_eq!(
            param(&format!("Id={id}")).unwrap(),
            ("Id".into(), Typed::Guid(id))
        );
        assert_eq!(
            param("EntityNames=[\"account\"]").unwrap().1,
            Typed::Json(serde_json::json!(["account"]))
        );
        assert_eq!(param("N=5").unwrap().1, Typed::Json(5.into()));
        assert_eq!(
            param("City=Redmond").unwrap().1,
            Typed::Text("Redmond".into())
        );
        assert_eq!(param("Line1=a=b").unwrap().1, Typed::Text("a=b".into()));
        assert!(param("novalue").is_err());
        assert!(param("bad name=1").is_err());
        assert_eq!(function_value(Typed::Json(5.into())), ParamValue::Int(5));
        assert_eq!(
            function_value(Typed::Json("x".into())),
            ParamValue::String("x".into())
        );
        assert_eq!(action_value(Typed::Guid(id)), Value::String(id.to_string()));
    }

    #[test]
    fn bindings() {
        let id = uuid::Uuid::from_u128(4);
        assert_eq!(
            binding(&format!("leads({id})")).unwrap(),
            ("leads".into(), Some(RecordKey::Id(id)))
        );
        assert_eq!(binding("accounts").unwrap(), ("accounts".into(), None));
        assert!(binding("leads(abc").is_err());
    }
}
