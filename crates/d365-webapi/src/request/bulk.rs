//! The bulk messages (`CreateMultiple`, `UpdateMultiple`, `UpsertMultiple`): many records of
//! one table in one request, all or nothing on standard tables
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations>).

use d365_http::reqwest::Method;
use serde_json::{Value, json};

use crate::client::Client;
use crate::error::Error;
use crate::request::RecordKey;

/// Which message a [`BulkRequest`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkMessage {
    /// `CreateMultiple`: answers the new ids.
    Create,
    /// `UpdateMultiple`: every target names its primary key.
    Update,
    /// `UpsertMultiple`: every target names its record by primary key or by `@odata.id`
    /// (alternate key, see [`BulkRequest::upsert_target`]).
    Upsert,
    /// `DeleteMultiple`: elastic tables only; every target names its primary key.
    Delete,
}

impl BulkMessage {
    fn name(self) -> &'static str {
        match self {
            BulkMessage::Create => "CreateMultiple",
            BulkMessage::Update => "UpdateMultiple",
            BulkMessage::Upsert => "UpsertMultiple",
            BulkMessage::Delete => "DeleteMultiple",
        }
    }
}

/// `POST {set}/Microsoft.Dynamics.CRM.{Create|Update|Upsert}Multiple` with `{"Targets": […]}`.
#[derive(Debug, Clone)]
pub struct BulkRequest {
    client: Client,
    entity_set: String,
    logical_name: String,
    message: BulkMessage,
    targets: Vec<Value>,
}

impl BulkRequest {
    pub(crate) fn new(
        client: Client,
        message: BulkMessage,
        entity_set: &str,
        logical_name: &str,
        targets: Vec<Value>,
    ) -> Self {
        Self {
            client,
            entity_set: entity_set.to_owned(),
            logical_name: logical_name.to_owned(),
            message,
            targets,
        }
    }

    /// A record for `UpsertMultiple` named by a key (`@odata.id`), e.g. an alternate key.
    pub fn upsert_target(entity_set: &str, key: &RecordKey, mut record: Value) -> Value {
        if let Some(fields) = record.as_object_mut() {
            fields.insert(
                "@odata.id".into(),
                Value::String(format!("{entity_set}{}", key.segment())),
            );
        }
        record
    }

    /// The URL it posts to.
    pub fn url(&self) -> String {
        format!(
            "{}/{}/Microsoft.Dynamics.CRM.{}",
            self.client.api_root(),
            self.entity_set,
            self.message.name()
        )
    }

    /// The body: every target with the table's `@odata.type`.
    fn body(&self) -> Result<Value, Error> {
        let odata_type = format!("Microsoft.Dynamics.CRM.{}", self.logical_name);
        let targets = self
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut t = t.clone();
                let fields = t.as_object_mut().ok_or_else(|| {
                    Error::InvalidQuery(format!("target {i} is not a JSON object"))
                })?;
                fields
                    .entry("@odata.type")
                    .or_insert_with(|| Value::String(odata_type.clone()));
                Ok(t)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(json!({ "Targets": targets }))
    }

    /// Sends it: the new ids for `CreateMultiple` (in the targets' order), none otherwise.
    /// A failure is one [`ApiError`](crate::ApiError). On a standard table nothing was
    /// written; on an elastic table the others were, and
    /// [`ApiError::bulk_outcomes`](crate::ApiError::bulk_outcomes) says which failed (the
    /// request asks for these details).
    pub async fn send(self) -> Result<Vec<uuid::Uuid>, Error> {
        let body = self.body()?;
        let url = self.url();
        let prefer = [(
            "Prefer",
            "odata.include-annotations=\"Microsoft.PowerApps.CDS.ErrorDetails.*\"".to_owned(),
        )];
        let answer = self
            .client
            .send(Method::POST, &url, Some(&body), &prefer)
            .await?;
        if self.message != BulkMessage::Create {
            return Ok(Vec::new());
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Created {
            ids: Vec<uuid::Uuid>,
        }
        let created: Created = serde_json::from_slice(&answer.body).map_err(|e| Error::Decode {
            url: answer.path.clone(),
            message: format!("a CreateMultiple answer without Ids: {e}"),
        })?;
        Ok(created.ids)
    }
}

impl Client {
    /// A bulk message: `records` of `entity_set` (whose table is `logical_name`) in one
    /// request. The four methods below name each message.
    pub fn bulk(
        &self,
        message: BulkMessage,
        entity_set: &str,
        logical_name: &str,
        records: Vec<Value>,
    ) -> BulkRequest {
        BulkRequest::new(self.clone(), message, entity_set, logical_name, records)
    }

    /// `CreateMultiple`: creates `records` in `entity_set` (whose table is `logical_name`) in
    /// one transaction.
    pub fn create_multiple(
        &self,
        entity_set: &str,
        logical_name: &str,
        records: Vec<Value>,
    ) -> BulkRequest {
        self.bulk(BulkMessage::Create, entity_set, logical_name, records)
    }

    /// `UpdateMultiple`: each record carries its primary key.
    pub fn update_multiple(
        &self,
        entity_set: &str,
        logical_name: &str,
        records: Vec<Value>,
    ) -> BulkRequest {
        self.bulk(BulkMessage::Update, entity_set, logical_name, records)
    }

    /// `UpsertMultiple`: each record carries its primary key or an `@odata.id`
    /// ([`BulkRequest::upsert_target`]).
    pub fn upsert_multiple(
        &self,
        entity_set: &str,
        logical_name: &str,
        records: Vec<Value>,
    ) -> BulkRequest {
        self.bulk(BulkMessage::Upsert, entity_set, logical_name, records)
    }

    /// `DeleteMultiple` (elastic tables only): each record carries its primary key; partial
    /// success as for the other messages on elastic tables.
    pub fn delete_multiple(
        &self,
        entity_set: &str,
        logical_name: &str,
        records: Vec<Value>,
    ) -> BulkRequest {
        self.bulk(BulkMessage::Delete, entity_set, logical_name, records)
    }
}
