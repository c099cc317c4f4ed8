//! Metadata: the `$metadata` CSDL document, read into `d365-odata`'s model, and the
//! `EntityDefinitions` entity set (tables, their columns and choices)
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api>).

use d365_http::reqwest::Method;
use d365_odata::model::Model;
use percent_encoding::utf8_percent_encode;
use serde::Deserialize;
use serde_json::Value;

use super::write::SEGMENT;
use crate::client::Client;
use crate::error::Error;

/// `GET {api}/$metadata`.
#[derive(Debug, Clone)]
pub struct MetadataRequest {
    client: Client,
}

impl MetadataRequest {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// The CSDL document as sent (XML; tens of megabytes for a real org).
    pub async fn send_xml(self) -> Result<bytes::Bytes, Error> {
        let url = format!("{}/$metadata", self.client.api_root());
        let answer = self
            .client
            .send(
                Method::GET,
                &url,
                None,
                &[("accept", "application/xml".to_owned())],
            )
            .await?;
        Ok(answer.body)
    }

    /// The document read into the model (entity types, properties, navigation properties).
    pub async fn send(self) -> Result<Model, Error> {
        let xml = self.send_xml().await?;
        d365_odata::csdl::read_csdl_from(xml.as_ref()).map_err(|e| Error::Decode {
            url: "$metadata".into(),
            message: e.to_string(),
        })
    }
}

/// A table as `EntityDefinitions` describes it (the commonly used fields).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDefinition {
    /// `account`.
    pub logical_name: String,
    /// `accounts`.
    #[serde(default)]
    pub entity_set_name: Option<String>,
    /// `accountid`.
    #[serde(default)]
    pub primary_id_attribute: Option<String>,
    /// `name`.
    #[serde(default)]
    pub primary_name_attribute: Option<String>,
    /// Whether it is a custom table.
    #[serde(default)]
    pub is_custom_entity: Option<bool>,
    /// The metadata id.
    #[serde(default)]
    pub metadata_id: Option<uuid::Uuid>,
    /// `Standard`, `Elastic`, `Virtual`, …
    #[serde(default)]
    pub table_type: Option<String>,
}

impl TableDefinition {
    /// Whether it is an elastic table (bulk messages succeed partly; DeleteMultiple works).
    pub fn is_elastic(&self) -> bool {
        self.table_type.as_deref() == Some("Elastic")
    }
}

/// A column as `EntityDefinitions(...)/Attributes` describes it (the commonly used fields).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ColumnDefinition {
    /// `name`.
    pub logical_name: String,
    /// `String`, `Picklist`, `Lookup`, `Money`, …
    #[serde(default)]
    pub attribute_type: Option<String>,
    /// For text columns.
    #[serde(default)]
    pub max_length: Option<u32>,
    /// For decimal and money columns: digits after the point.
    #[serde(default)]
    pub precision: Option<u32>,
    /// Whether a create may set it.
    #[serde(default)]
    pub is_valid_for_create: Option<bool>,
    /// Whether an update may set it.
    #[serde(default)]
    pub is_valid_for_update: Option<bool>,
    /// For lookups: the tables it may point to.
    #[serde(default)]
    pub targets: Option<Vec<String>>,
    /// `RequiredLevel.Value`: `None`, `ApplicationRequired`, `SystemRequired`, `Recommended`.
    #[serde(default, deserialize_with = "managed_value")]
    pub required_level: Option<String>,
}

fn managed_value<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(v.and_then(|v| v.get("Value").and_then(Value::as_str).map(str::to_owned)))
}

/// `GET {api}/EntityDefinitions…`: every table, one table, or one table's columns.
#[derive(Debug, Clone)]
pub struct EntityDefinitionsRequest {
    client: Client,
    table: Option<String>,
    attributes: Option<Option<String>>,
    select: Vec<String>,
    filter: Option<String>,
    expand: Option<String>,
}

impl EntityDefinitionsRequest {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            table: None,
            attributes: None,
            select: Vec::new(),
            filter: None,
            expand: None,
        }
    }

    /// One table, by logical name (`EntityDefinitions(LogicalName='account')`).
    pub fn table(mut self, logical_name: &str) -> Self {
        self.table = Some(logical_name.to_owned());
        self
    }

    /// Its columns (`…/Attributes`), optionally of one type
    /// (`Microsoft.Dynamics.CRM.PicklistAttributeMetadata`).
    pub fn attributes(mut self, cast: Option<&str>) -> Self {
        self.attributes = Some(cast.map(str::to_owned));
        self
    }

    /// `$select`.
    pub fn select<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.select = fields.into_iter().map(|s| s.as_ref().to_owned()).collect();
        self
    }

    /// `$filter`, checked by `d365-odata`'s parser first.
    pub fn filter_text(mut self, text: &str) -> Result<Self, Error> {
        d365_odata::parse_filter(text).map_err(|e| Error::InvalidQuery(format!("$filter: {e}")))?;
        self.filter = Some(text.to_owned());
        Ok(self)
    }

    /// `$expand` (`OptionSet` for choices).
    pub fn expand(mut self, expand: &str) -> Self {
        self.expand = Some(expand.to_owned());
        self
    }

    /// The request URL.
    pub fn url(&self) -> Result<String, Error> {
        let mut url = format!("{}/EntityDefinitions", self.client.api_root());
        if let Some(t) = &self.table {
            let key = format!("LogicalName='{}'", t.replace('\'', "''"));
            url.push_str(&format!("({})", utf8_percent_encode(&key, SEGMENT)));
        }
        match &self.attributes {
            Some(None) => url.push_str("/Attributes"),
            Some(Some(cast)) => url.push_str(&format!("/Attributes/{cast}")),
            None => {}
        }
        if self.attributes.is_some() && self.table.is_none() {
            return Err(Error::InvalidQuery(
                "columns are read for one table: call .table(…) first".into(),
            ));
        }
        let mut options = Vec::new();
        if !self.select.is_empty() {
            options.push(format!("$select={}", self.select.join(",")));
        }
        if let Some(f) = &self.filter {
            options.push(format!(
                "$filter={}",
                utf8_percent_encode(f, SEGMENT)
                    .to_string()
                    .replace('&', "%26")
            ));
        }
        if let Some(e) = &self.expand {
            options.push(format!("$expand={e}"));
        }
        if !options.is_empty() {
            url.push('?');
            url.push_str(&options.join("&"));
        }
        Ok(url)
    }

    /// The answer as JSON: an object for one table, else `{"value": [...]}`.
    pub async fn send(self) -> Result<Value, Error> {
        let url = self.url()?;
        let answer = self.client.send(Method::GET, &url, None, &[]).await?;
        serde_json::from_slice(&answer.body).map_err(|e| Error::Decode {
            url: answer.path,
            message: e.to_string(),
        })
    }
}

fn decode_items<T: for<'de> Deserialize<'de>>(body: Value) -> Result<Vec<T>, Error> {
    let items = match body {
        Value::Object(mut m) => match m.remove("value") {
            Some(v) => v,
            None => Value::Array(vec![Value::Object(m)]),
        },
        other => other,
    };
    serde_json::from_value(items).map_err(|e| Error::Decode {
        url: "EntityDefinitions".into(),
        message: e.to_string(),
    })
}

impl Client {
    /// The `$metadata` document.
    pub fn metadata(&self) -> MetadataRequest {
        MetadataRequest::new(self.clone())
    }

    /// `EntityDefinitions`: tables, columns, choices.
    pub fn entity_definitions(&self) -> EntityDefinitionsRequest {
        EntityDefinitionsRequest::new(self.clone())
    }

    /// Every table, sorted by logical name.
    pub async fn tables(&self) -> Result<Vec<TableDefinition>, Error> {
        let body = self
            .entity_definitions()
            .select([
                "LogicalName",
                "EntitySetName",
                "PrimaryIdAttribute",
                "PrimaryNameAttribute",
                "IsCustomEntity",
                "TableType",
            ])
            .send()
            .await?;
        let mut tables: Vec<TableDefinition> = decode_items(body)?;
        tables.sort_by(|a, b| a.logical_name.cmp(&b.logical_name));
        Ok(tables)
    }

    /// One table's columns, sorted by logical name; an unknown table is a 404
    /// [`ApiError`](crate::ApiError).
    pub async fn columns(&self, table: &str) -> Result<Vec<ColumnDefinition>, Error> {
        let body = self
            .entity_definitions()
            .table(table)
            .attributes(None)
            .send()
            .await?;
        let mut columns: Vec<ColumnDefinition> = decode_items(body)?;
        columns.sort_by(|a, b| a.logical_name.cmp(&b.logical_name));
        Ok(columns)
    }
}
