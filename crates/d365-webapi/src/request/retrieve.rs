//! `GET {api}/{set}({id})`.

use d365_odata::{QueryOptions, SelectItem};
use serde_json::Value;

use crate::client::Client;
use crate::error::Error;

/// Retrieves one record.
#[derive(Debug, Clone)]
pub struct RetrieveRequest {
    client: Client,
    entity_set: String,
    id: uuid::Uuid,
    options: QueryOptions,
}

impl RetrieveRequest {
    pub(crate) fn new(client: Client, entity_set: &str, id: uuid::Uuid) -> Self {
        Self {
            client,
            entity_set: entity_set.to_owned(),
            id,
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

    /// The URL this request sends.
    pub fn url(&self) -> String {
        let query = self.options.to_query_string();
        let sep = if query.is_empty() { "" } else { "?" };
        format!(
            "{}/{}({}){sep}{query}",
            self.client.api_root(),
            self.entity_set,
            self.id
        )
    }

    /// Sends it; a missing record is an [`ApiError`](crate::ApiError) with status 404.
    pub async fn send(self) -> Result<Value, Error> {
        Ok(self.client.get_json(&self.url(), None).await?.body)
    }
}
