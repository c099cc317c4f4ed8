//! `GET {api}/{set}({key})`: one record by id or alternate key.

use d365_odata::{QueryOptions, SelectItem};
use serde_json::Value;

use super::write::record_url;
use crate::client::Client;
use crate::error::Error;
use crate::request::RecordKey;

/// Retrieves one record.
#[derive(Debug, Clone)]
pub struct RetrieveRequest {
    client: Client,
    entity_set: String,
    key: RecordKey,
    options: QueryOptions,
}

impl RetrieveRequest {
    pub(crate) fn new(client: Client, entity_set: &str, key: RecordKey) -> Self {
        Self {
            client,
            entity_set: entity_set.to_owned(),
            key,
            options: QueryOptions::default(),
        }
    }

    /// `$select`.
    pub fn select<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.options.select = Some(
            columns
                .into_iter()
                .map(|c| SelectItem::Path(vec![c.as_ref().to_owned()]))
                .collect(),
        );
        self
    }

    /// `$expand` from OData text (`primarycontactid($select=fullname)`), checked by the
    /// parser now.
    pub fn expand_text(mut self, text: &str) -> Result<Self, Error> {
        let items = d365_odata::parse_expand(text)
            .map_err(|e| Error::InvalidQuery(format!("$expand: {e}")))?;
        self.options.expand = items;
        Ok(self)
    }

    /// The URL this request sends.
    pub fn url(&self) -> String {
        let query = self.options.to_query_string();
        let sep = if query.is_empty() { "" } else { "?" };
        format!(
            "{}{sep}{query}",
            record_url(&self.client, &self.entity_set, &self.key)
        )
    }

    /// Sends it; a missing record is an [`ApiError`](crate::ApiError) with status 404.
    pub async fn send(self) -> Result<Value, Error> {
        Ok(self.client.get_json(&self.url(), None).await?.body)
    }
}
