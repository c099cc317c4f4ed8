//! Functions (`GET`, parameters in the URL as aliases) and actions (`POST`, parameters in a JSON
//! body), unbound or bound to a record
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/use-web-api-functions>).

use d365_http::reqwest::Method;
use d365_odata::encode_query_value;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::write::record_url;
use crate::client::Client;
use crate::error::Error;
use crate::request::RecordKey;

const NAMESPACE: &str = "Microsoft.Dynamics.CRM.";

/// A typed function parameter: how it is written decides how Dataverse reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// `null`.
    Null,
    /// `true`/`false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number (must be finite).
    Double(f64),
    /// A string, written `'…'` with quotes doubled.
    String(String),
    /// A GUID, written bare.
    Guid(uuid::Uuid),
    /// A date or date-time as written (`2024-01-31`, `2024-01-31T10:00:00Z`).
    DateTime(String),
    /// An enum value: `Microsoft.Dynamics.CRM.EntityFilters'Entity,Attributes'`.
    Enum {
        /// The enum type, qualified or not (`EntityFilters`).
        type_name: String,
        /// Member names (several for flags enums).
        members: Vec<String>,
    },
    /// A record reference, `{"@odata.id":"accounts(<id>)"}`.
    Record {
        /// The entity set.
        entity_set: String,
        /// The record id.
        id: uuid::Uuid,
    },
    /// Any JSON value, written as JSON (collections, complex values).
    Json(Value),
}

impl ParamValue {
    /// An enum value of a `Microsoft.Dynamics.CRM` enum type.
    pub fn enum_value<I, S>(type_name: &str, members: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ParamValue::Enum {
            type_name: type_name.to_owned(),
            members: members.into_iter().map(Into::into).collect(),
        }
    }

    /// A reference to a record.
    pub fn record(entity_set: &str, id: uuid::Uuid) -> Self {
        ParamValue::Record {
            entity_set: entity_set.to_owned(),
            id,
        }
    }

    /// The value as it goes after `@p1=` (before percent-encoding).
    fn literal(&self) -> Result<String, Error> {
        Ok(match self {
            ParamValue::Null => "null".into(),
            ParamValue::Bool(b) => b.to_string(),
            ParamValue::Int(i) => i.to_string(),
            ParamValue::Double(f) if f.is_finite() => {
                let text = f.to_string();
                if text.contains(['.', 'e', 'E']) {
                    text
                } else {
                    format!("{text}.0")
                }
            }
            ParamValue::Double(f) => {
                return Err(Error::InvalidQuery(format!(
                    "parameter value {f} is not a finite number"
                )));
            }
            ParamValue::String(s) => format!("'{}'", s.replace('\'', "''")),
            ParamValue::Guid(g) => g.to_string(),
            ParamValue::DateTime(d) => d.clone(),
            ParamValue::Enum { type_name, members } => {
                let qualified = if type_name.contains('.') {
                    type_name.clone()
                } else {
                    format!("{NAMESPACE}{type_name}")
                };
                format!("{qualified}'{}'", members.join(","))
            }
            ParamValue::Record { entity_set, id } => {
                serde_json::json!({"@odata.id": format!("{entity_set}({id})")}).to_string()
            }
            ParamValue::Json(v) => v.to_string(),
        })
    }
}

macro_rules! from_param {
    ($($t:ty => $v:expr),* $(,)?) => {
        $(impl From<$t> for ParamValue {
            fn from(x: $t) -> Self {
                #[allow(clippy::redundant_closure_call)]
                ($v)(x)
            }
        })*
    };
}

from_param! {
    bool => ParamValue::Bool,
    i32 => |x: i32| ParamValue::Int(x.into()),
    i64 => ParamValue::Int,
    u32 => |x: u32| ParamValue::Int(x.into()),
    f64 => ParamValue::Double,
    &str => |x: &str| ParamValue::String(x.to_owned()),
    String => ParamValue::String,
    uuid::Uuid => ParamValue::Guid,
    Value => ParamValue::Json,
}

/// Where an operation is called: unbound, or on one record.
#[derive(Debug, Clone)]
enum Binding {
    Unbound,
    Record(String, RecordKey),
    Collection(String),
}

fn operation_url(client: &Client, binding: &Binding, name: &str) -> String {
    let qualified = |n: &str| {
        if n.contains('.') {
            n.to_owned()
        } else {
            format!("{NAMESPACE}{n}")
        }
    };
    match binding {
        Binding::Unbound => format!("{}/{name}", client.api_root()),
        Binding::Record(set, key) => {
            format!("{}/{}", record_url(client, set, key), qualified(name))
        }
        Binding::Collection(set) => format!("{}/{set}/{}", client.api_root(), qualified(name)),
    }
}

fn decode<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, Error> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| Error::Decode {
            url: path.to_owned(),
            message: e.to_string(),
        })?
    };
    serde_json::from_value(value).map_err(|e| Error::Decode {
        url: path.to_owned(),
        message: format!("the answer does not fit the expected type: {e}"),
    })
}

/// `GET {api}/Name(P=@p1)?@p1=…`: a function.
#[derive(Debug, Clone)]
pub struct FunctionRequest {
    client: Client,
    name: String,
    binding: Binding,
    params: Vec<(String, ParamValue)>,
}

impl FunctionRequest {
    pub(crate) fn new(client: Client, name: &str) -> Self {
        Self {
            client,
            name: name.to_owned(),
            binding: Binding::Unbound,
            params: Vec::new(),
        }
    }

    /// Binds it to a record (`accounts(<id>)/Microsoft.Dynamics.CRM.Name(…)`).
    pub fn bound(mut self, entity_set: &str, key: impl Into<RecordKey>) -> Self {
        self.binding = Binding::Record(entity_set.to_owned(), key.into());
        self
    }

    /// Binds it to an entity set (`accounts/Microsoft.Dynamics.CRM.Name(…)`).
    pub fn bound_to_collection(mut self, entity_set: &str) -> Self {
        self.binding = Binding::Collection(entity_set.to_owned());
        self
    }

    /// Adds a parameter (a string, number, bool, GUID, JSON, or a [`ParamValue`]).
    pub fn param(mut self, name: &str, value: impl Into<ParamValue>) -> Self {
        self.params.push((name.to_owned(), value.into()));
        self
    }

    /// The request URL: every parameter passed as an alias, so any value type fits.
    pub fn url(&self) -> Result<String, Error> {
        let base = operation_url(&self.client, &self.binding, &self.name);
        let refs: Vec<String> = (1..=self.params.len())
            .zip(&self.params)
            .map(|(i, (name, _))| format!("{name}=@p{i}"))
            .collect();
        let mut url = format!("{base}({})", refs.join(","));
        for (i, (_, value)) in (1..).zip(&self.params) {
            let sep = if i == 1 { '?' } else { '&' };
            let literal = value.literal()?;
            url.push_str(&format!("{sep}@p{i}={}", encode_query_value(&literal)));
        }
        Ok(url)
    }

    /// Calls it; the answer as JSON.
    pub async fn send(self) -> Result<Value, Error> {
        self.send_as().await
    }

    /// Calls it; the answer deserialized into `T` (a response type with the function's
    /// output parameters as fields).
    pub async fn send_as<T: DeserializeOwned>(self) -> Result<T, Error> {
        let url = self.url()?;
        let answer = self.client.send(Method::GET, &url, None, &[]).await?;
        decode(&answer.path, &answer.body)
    }
}

/// `POST {api}/Name` with the parameters as a JSON body: an action.
#[derive(Debug, Clone)]
pub struct ActionRequest {
    client: Client,
    name: String,
    binding: Binding,
    params: Map<String, Value>,
    error: Option<String>,
}

impl ActionRequest {
    pub(crate) fn new(client: Client, name: &str) -> Self {
        Self {
            client,
            name: name.to_owned(),
            binding: Binding::Unbound,
            params: Map::new(),
            error: None,
        }
    }

    /// Binds it to a record (`leads(<id>)/Microsoft.Dynamics.CRM.QualifyLead`).
    pub fn bound(mut self, entity_set: &str, key: impl Into<RecordKey>) -> Self {
        self.binding = Binding::Record(entity_set.to_owned(), key.into());
        self
    }

    /// Binds it to an entity set (`accounts/Microsoft.Dynamics.CRM.CreateMultiple`).
    pub fn bound_to_collection(mut self, entity_set: &str) -> Self {
        self.binding = Binding::Collection(entity_set.to_owned());
        self
    }

    /// Adds a parameter: anything serde can write.
    pub fn param(mut self, name: &str, value: impl Serialize) -> Self {
        match serde_json::to_value(value) {
            Ok(v) => {
                self.params.insert(name.to_owned(), v);
            }
            Err(e) => self.error = Some(format!("parameter {name}: {e}")),
        }
        self
    }

    /// Adds an entity-typed parameter: `record` with `@odata.type` set to the table's type.
    pub fn entity_param(mut self, name: &str, logical_name: &str, mut record: Value) -> Self {
        match record.as_object_mut() {
            Some(fields) => {
                fields.insert(
                    "@odata.type".into(),
                    Value::String(format!("{NAMESPACE}{logical_name}")),
                );
                self.params.insert(name.to_owned(), record);
            }
            None => self.error = Some(format!("parameter {name}: a record must be a JSON object")),
        }
        self
    }

    /// The request URL.
    pub fn url(&self) -> String {
        operation_url(&self.client, &self.binding, &self.name)
    }

    /// Calls it; the answer as JSON (`null` for actions without output).
    pub async fn send(self) -> Result<Value, Error> {
        self.send_as().await
    }

    /// Calls it; the answer deserialized into `T`.
    pub async fn send_as<T: DeserializeOwned>(self) -> Result<T, Error> {
        if let Some(e) = self.error {
            return Err(Error::InvalidQuery(e));
        }
        let url = self.url();
        let body = Value::Object(self.params);
        let answer = self
            .client
            .send(Method::POST, &url, Some(&body), &[])
            .await?;
        decode(&answer.path, &answer.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn client() -> Client {
        Client::builder()
            .environment("https://contoso.crm.dynamics.com")
            .credential(Arc::new(d365_auth::StaticTokenCredential::new(
                d365_auth::AccessToken::new("t"),
            )))
            .build()
            .unwrap()
    }

    #[test]
    fn function_parameters_go_as_aliases() {
        let id = uuid::Uuid::from_u128(1);
        let url = client()
            .function("RetrieveTotalRecordCount")
            .param("EntityNames", serde_json::json!(["account", "contact"]))
            .param("Name", "O'Neil & co")
            .param("Id", id)
            .param("Count", 5)
            .param(
                "Filters",
                ParamValue::enum_value("EntityFilters", ["Entity", "Attributes"]),
            )
            .param("Target", ParamValue::record("accounts", id))
            .url()
            .unwrap();
        assert_eq!(
            url,
            format!(
                "https://contoso.crm.dynamics.com/api/data/v9.2/RetrieveTotalRecordCount(EntityNames=@p1,Name=@p2,Id=@p3,Count=@p4,Filters=@p5,Target=@p6)\
                 ?@p1=%5B%22account%22,%22contact%22%5D&@p2='O''Neil%20%26%20co'&@p3={id}&@p4=5\
                 &@p5=Microsoft.Dynamics.CRM.EntityFilters'Entity,Attributes'\
                 &@p6=%7B%22@odata.id%22:%22accounts({id})%22%7D"
            )
        );
        assert_eq!(
            client().function("WhoAmI").url().unwrap(),
            "https://contoso.crm.dynamics.com/api/data/v9.2/WhoAmI()"
        );
        let bound = client()
            .function("CalculateRollupField")
            .bound("accounts", id);
        assert_eq!(
            bound.url().unwrap(),
            format!(
                "https://contoso.crm.dynamics.com/api/data/v9.2/accounts({id})/Microsoft.Dynamics.CRM.CalculateRollupField()"
            )
        );
        assert!(client().function("F").param("x", f64::NAN).url().is_err());
    }

    #[test]
    fn action_urls() {
        let id = uuid::Uuid::from_u128(2);
        assert_eq!(
            client().action("QualifyLead").bound("leads", id).url(),
            format!(
                "https://contoso.crm.dynamics.com/api/data/v9.2/leads({id})/Microsoft.Dynamics.CRM.QualifyLead"
            )
        );
        assert_eq!(
            client().action("WinOpportunity").url(),
            "https://contoso.crm.dynamics.com/api/data/v9.2/WinOpportunity"
        );
    }
}
