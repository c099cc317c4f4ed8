//! `GET {api}/{set}({key})`: one record by id or alternate key, conditionally with
//! `If-None-Match`.

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
        self.options.expand = super::parse_expand_text(text)?;
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

    /// Retrieves the record only if it changed since the version `etag` names (a record's
    /// `@odata.etag`, such as `W/"468026"`): Dataverse answers `304 Not Modified` otherwise
    /// (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api#conditional-retrievals>).
    pub fn if_none_match(self, etag: impl Into<String>) -> ConditionalRetrieveRequest {
        ConditionalRetrieveRequest {
            request: self,
            etag: etag.into(),
        }
    }
}

/// What a conditional retrieve found.
#[derive(Debug, Clone, PartialEq)]
pub enum Retrieved {
    /// The record changed (or the service could not tell): its current state.
    Changed(Value),
    /// `304 Not Modified`: the etag is still the record's.
    NotModified,
}

/// A retrieve with `If-None-Match` ([`RetrieveRequest::if_none_match`]).
///
/// Dataverse never answers 304 to a query with `$expand` (related rows may have changed) or
/// with annotations, so such a request always comes back [`Retrieved::Changed`]; this request
/// therefore leaves out the client's default annotations
/// ([`ClientBuilder::include_annotations`](crate::ClientBuilder::include_annotations)).
#[derive(Debug, Clone)]
pub struct ConditionalRetrieveRequest {
    request: RetrieveRequest,
    etag: String,
}

impl ConditionalRetrieveRequest {
    /// The URL this request sends.
    pub fn url(&self) -> String {
        self.request.url()
    }

    /// Sends it: the record when it changed, [`Retrieved::NotModified`] when the etag is
    /// current; a missing record is an [`ApiError`](crate::ApiError) with status 404.
    pub async fn send(self) -> Result<Retrieved, Error> {
        let url = self.request.url();
        let headers = [("if-none-match", self.etag)];
        match self
            .request
            .client
            .send(d365_http::reqwest::Method::GET, &url, None, &headers)
            .await
        {
            Ok(answer) => serde_json::from_slice(&answer.body)
                .map(Retrieved::Changed)
                .map_err(|e| Error::Decode {
                    url: answer.path,
                    message: e.to_string(),
                }),
            Err(Error::Api(e)) if e.status == 304 => Ok(Retrieved::NotModified),
            Err(e) => Err(e),
        }
    }
}
