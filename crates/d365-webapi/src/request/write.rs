//! Writes: create, update, upsert and delete of one record, addressed by id or by an
//! alternate key, with Dataverse's conditional headers
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api>).

use d365_http::reqwest::Method;
use d365_odata::Literal;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::Value;

use crate::client::Client;
use crate::error::Error;

/// What to escape in a key segment: the rest (quotes, `=`, `,`) is OData syntax.
pub(crate) const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// How a request names its record.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordKey {
    /// The primary key.
    Id(uuid::Uuid),
    /// An alternate key: column names and values (`accountnumber='A-1'`).
    Alternate(Vec<(String, Literal)>),
}

impl From<uuid::Uuid> for RecordKey {
    fn from(id: uuid::Uuid) -> Self {
        RecordKey::Id(id)
    }
}

impl RecordKey {
    /// An alternate key of one column.
    pub fn alternate(column: &str, value: impl Into<Literal>) -> Self {
        RecordKey::Alternate(vec![(column.to_owned(), value.into())])
    }

    /// `(…)` as it goes in the URL.
    pub(crate) fn segment(&self) -> String {
        match self {
            RecordKey::Id(id) => format!("({id})"),
            RecordKey::Alternate(pairs) => {
                let inner = pairs
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",");
                format!("({})", utf8_percent_encode(&inner, SEGMENT))
            }
        }
    }
}

/// `{api}/{set}({key})`.
pub(crate) fn record_url(client: &Client, entity_set: &str, key: &RecordKey) -> String {
    format!("{}/{entity_set}{}", client.api_root(), key.segment())
}

/// The id in an `OData-EntityId` header (`…/accounts(<id>)`).
fn id_from_entity_id(header: Option<&str>) -> Result<uuid::Uuid, Error> {
    let h = header.ok_or_else(|| Error::Decode {
        url: String::new(),
        message: "the create answer has no OData-EntityId header".into(),
    })?;
    let inner = h
        .rfind('(')
        .and_then(|i| h[i + 1..].strip_suffix(')'))
        .unwrap_or_default();
    uuid::Uuid::parse_str(inner).map_err(|_| Error::Decode {
        url: String::new(),
        message: format!("OData-EntityId '{h}' does not end in a GUID"),
    })
}

fn object(record: &Value) -> Result<(), Error> {
    if record.is_object() {
        Ok(())
    } else {
        Err(Error::InvalidQuery("a record must be a JSON object".into()))
    }
}

/// `POST {set}`: creates a record.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    client: Client,
    entity_set: String,
    record: Value,
}

impl CreateRequest {
    pub(crate) fn new(client: Client, entity_set: &str, record: Value) -> Self {
        Self {
            client,
            entity_set: entity_set.to_owned(),
            record,
        }
    }

    /// Creates it and returns the new id (from `OData-EntityId`).
    pub async fn send(self) -> Result<uuid::Uuid, Error> {
        object(&self.record)?;
        let url = format!("{}/{}", self.client.api_root(), self.entity_set);
        let answer = self
            .client
            .send(Method::POST, &url, Some(&self.record), &[])
            .await?;
        id_from_entity_id(answer.entity_id.as_deref())
    }

    /// Creates it and returns the record as stored (`Prefer: return=representation`), with
    /// these columns (all when empty).
    pub async fn send_representation<I, S>(self, select: I) -> Result<Value, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        object(&self.record)?;
        let columns: Vec<String> = select.into_iter().map(|s| s.as_ref().to_owned()).collect();
        let query = if columns.is_empty() {
            String::new()
        } else {
            format!("?$select={}", columns.join(","))
        };
        let url = format!("{}/{}{query}", self.client.api_root(), self.entity_set);
        let answer = self
            .client
            .send(
                Method::POST,
                &url,
                Some(&self.record),
                &[("prefer", "return=representation".to_owned())],
            )
            .await?;
        serde_json::from_slice(&answer.body).map_err(|e| Error::Decode {
            url: answer.path,
            message: e.to_string(),
        })
    }
}

/// How an upsert treats an existing or missing record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpsertMode {
    /// Update if it exists, create if not (a plain `PATCH`).
    #[default]
    CreateOrUpdate,
    /// Create only: an existing record is a 412 (`If-None-Match: *`).
    CreateOnly,
    /// Update only: a missing record is a 404 (`If-Match: *`).
    UpdateOnly,
}

/// `PATCH {set}({key})`: update or upsert.
#[derive(Debug, Clone)]
pub struct PatchRequest {
    client: Client,
    entity_set: String,
    key: RecordKey,
    record: Value,
    mode: UpsertMode,
    if_match: Option<String>,
}

impl PatchRequest {
    pub(crate) fn new(
        client: Client,
        entity_set: &str,
        key: RecordKey,
        record: Value,
        mode: UpsertMode,
    ) -> Self {
        Self {
            client,
            entity_set: entity_set.to_owned(),
            key,
            record,
            mode,
            if_match: None,
        }
    }

    /// Only if the record still has this etag (`@odata.etag`); otherwise a 412 and nothing
    /// written (optimistic concurrency).
    pub fn if_match(mut self, etag: impl Into<String>) -> Self {
        self.if_match = Some(etag.into());
        self
    }

    /// The create / update behaviour.
    pub fn mode(mut self, mode: UpsertMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sends it.
    pub async fn send(self) -> Result<(), Error> {
        object(&self.record)?;
        let url = record_url(&self.client, &self.entity_set, &self.key);
        let mut headers = Vec::new();
        match (&self.if_match, self.mode) {
            (Some(tag), _) => headers.push(("if-match", tag.clone())),
            (None, UpsertMode::UpdateOnly) => headers.push(("if-match", "*".to_owned())),
            (None, UpsertMode::CreateOnly) => headers.push(("if-none-match", "*".to_owned())),
            (None, UpsertMode::CreateOrUpdate) => {}
        }
        self.client
            .send(Method::PATCH, &url, Some(&self.record), &headers)
            .await
            .map(|_| ())
    }
}

/// `DELETE {set}({key})`.
#[derive(Debug, Clone)]
pub struct DeleteRequest {
    client: Client,
    entity_set: String,
    key: RecordKey,
    if_match: Option<String>,
}

impl DeleteRequest {
    pub(crate) fn new(client: Client, entity_set: &str, key: RecordKey) -> Self {
        Self {
            client,
            entity_set: entity_set.to_owned(),
            key,
            if_match: None,
        }
    }

    /// Only if the record still has this etag.
    pub fn if_match(mut self, etag: impl Into<String>) -> Self {
        self.if_match = Some(etag.into());
        self
    }

    /// Sends it; a missing record is an [`ApiError`](crate::ApiError) with status 404.
    pub async fn send(self) -> Result<(), Error> {
        let url = record_url(&self.client, &self.entity_set, &self.key);
        let headers: Vec<(&str, String)> =
            self.if_match.map(|t| ("if-match", t)).into_iter().collect();
        self.client
            .send(Method::DELETE, &url, None, &headers)
            .await
            .map(|_| ())
    }
}

/// `GET {set}/$count`: the number of rows (Dataverse caps it at 5,000).
#[derive(Debug, Clone)]
pub struct CountRequest {
    client: Client,
    entity_set: String,
    filter: Option<String>,
}

impl CountRequest {
    pub(crate) fn new(client: Client, entity_set: &str) -> Self {
        Self {
            client,
            entity_set: entity_set.to_owned(),
            filter: None,
        }
    }

    /// Counts only rows matching this filter (checked by `d365-odata`'s parser first).
    pub fn filter(mut self, filter: &d365_odata::Filter) -> Self {
        self.filter = Some(filter.to_string());
        self
    }

    /// Sends it.
    pub async fn send(self) -> Result<u64, Error> {
        let query = match &self.filter {
            Some(f) => format!(
                "?$filter={}",
                utf8_percent_encode(f, SEGMENT)
                    .to_string()
                    .replace('&', "%26")
            ),
            None => String::new(),
        };
        let url = format!(
            "{}/{}/$count{query}",
            self.client.api_root(),
            self.entity_set
        );
        let answer = self.client.send(Method::GET, &url, None, &[]).await?;
        // A navigation count starts with a byte order mark; a plain one may too.
        let text = String::from_utf8_lossy(&answer.body);
        text.trim_start_matches('\u{feff}')
            .trim()
            .parse()
            .map_err(|_| Error::Decode {
                url: answer.path,
                message: format!("'{text}' is not a count"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_entity_ids() {
        let id = uuid::Uuid::from_u128(7);
        assert_eq!(RecordKey::from(id).segment(), format!("({id})"));
        assert_eq!(
            RecordKey::alternate("accountnumber", "A 1/2").segment(),
            "(accountnumber='A%201%2F2')"
        );
        assert_eq!(
            id_from_entity_id(Some(&format!("https://x/api/data/v9.2/accounts({id})"))).unwrap(),
            id
        );
        assert!(id_from_entity_id(Some("https://x/api/data/v9.2/accounts(nope)")).is_err());
        assert!(id_from_entity_id(None).is_err());
    }
}
