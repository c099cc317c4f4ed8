//! Change tracking (<https://learn.microsoft.com/power-apps/developer/data-platform/use-change-tracking-synchronize-data-external-systems>):
//! [`TrackChangesRequest`] sends a query with `Prefer: odata.track-changes` and reads every
//! page; the last one carries `@odata.deltaLink`. [`ChangesRequest`] follows a delta link
//! verbatim (and the `@odata.nextLink`s of a large delta) to the records created or updated
//! since, the ids of the records deleted since, and the next delta link.
//!
//! ```no_run
//! # async fn sync(client: d365_webapi::Client) -> Result<(), d365_webapi::Error> {
//! use std::collections::HashMap;
//! let load = client.query("accounts").select(["name"]).track_changes().send().await?;
//! let mut local: HashMap<String, serde_json::Value> = load
//!     .records
//!     .into_iter()
//!     .map(|r| (r["accountid"].as_str().unwrap_or_default().to_owned(), r))
//!     .collect();
//! // Later:
//! match client.changes(&load.delta_link).send().await {
//!     Ok(changes) => {
//!         for r in changes.upserted {
//!             local.insert(r["accountid"].as_str().unwrap_or_default().to_owned(), r);
//!         }
//!         for id in changes.deleted {
//!             local.remove(&id.to_string());
//!         }
//!         // Keep `changes.delta_link` for next time.
//!     }
//!     Err(e) if e.api().is_some_and(|e| e.is_expired_delta_token()) => {
//!         // Too old: load everything again.
//!     }
//!     Err(e) => return Err(e),
//! }
//! # Ok(()) }
//! ```

use futures_util::future::Either;
use futures_util::stream::{self, Stream, TryStreamExt};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::Client;
use crate::error::Error;
use crate::paging::{self, Page};
use crate::request::QueryRequest;

const TRACK_CHANGES: &str = "odata.track-changes";

/// The initial load of a change-tracked query: from
/// [`QueryRequest::track_changes`]. Dataverse allows only `$select` with it; a query with
/// `$filter`, `$orderby`, `$expand` or `$top` fails before anything is sent, with the
/// service's message.
#[derive(Debug, Clone)]
pub struct TrackChangesRequest {
    query: QueryRequest,
}

/// Every record of a change-tracked query, and where to ask for the changes since.
#[derive(Debug, Clone)]
pub struct InitialLoad<T> {
    /// The records, from every page.
    pub records: Vec<T>,
    /// `@odata.deltaLink` from the last page: pass it to [`Client::changes`].
    pub delta_link: String,
}

impl TrackChangesRequest {
    pub(crate) fn new(query: QueryRequest) -> Self {
        Self { query }
    }

    /// `Prefer: odata.maxpagesize=N` (≤ 5000) for the pages of the load.
    pub fn max_page_size(mut self, n: u32) -> Self {
        self.query = self.query.max_page_size(n);
        self
    }

    /// The URL of the first page.
    pub fn url(&self) -> String {
        self.query.url()
    }

    fn check(&self) -> Result<(), Error> {
        let o = self.query.options();
        let refused = [
            (o.filter.is_some(), "$filter"),
            (!o.orderby.is_empty(), "$orderby"),
            (!o.expand.is_empty(), "$expand"),
            (o.top.is_some(), "$top"),
        ];
        match refused.iter().find(|(given, _)| *given) {
            Some((_, option)) => Err(Error::InvalidQuery(format!(
                "The \"{option}\" query parameter isn't supported when Change Tracking is enabled."
            ))),
            None => Ok(()),
        }
    }

    fn prefer(&self) -> String {
        match self.query.client_and_page_size().1 {
            Some(n) => format!("{TRACK_CHANGES},odata.maxpagesize={n}"),
            None => TRACK_CHANGES.to_owned(),
        }
    }

    /// Every page, following `@odata.nextLink`; the last one has [`Page::delta_link`].
    pub fn pages(self) -> impl Stream<Item = Result<Page<Value>, Error>> + Send {
        self.typed_pages()
    }

    /// Every page with the records decoded straight into `T`; the last one has
    /// [`Page::delta_link`].
    pub fn typed_pages<T>(self) -> impl Stream<Item = Result<Page<T>, Error>> + Send
    where
        T: DeserializeOwned + Send,
    {
        match self.check() {
            Err(e) => Either::Left(stream::once(async move { Err(e) })),
            Ok(()) => {
                let (url, prefer) = (self.url(), self.prefer());
                let client = self.query.client_and_page_size().0.clone();
                Either::Right(paging::pages(client, url, Some(prefer)))
            }
        }
    }

    /// Reads every page: all records and the delta link.
    pub async fn send(self) -> Result<InitialLoad<Value>, Error> {
        self.send_typed().await
    }

    /// Reads every page, records decoded into `T`.
    pub async fn send_typed<T>(self) -> Result<InitialLoad<T>, Error>
    where
        T: DeserializeOwned + Send,
    {
        let url = self.url();
        let mut pages = std::pin::pin!(self.typed_pages::<T>());
        let mut records = Vec::new();
        let mut delta_link = None;
        while let Some(page) = pages.try_next().await? {
            records.extend(page.items);
            delta_link = page.delta_link;
        }
        let delta_link = delta_link.ok_or_else(|| Error::Decode {
            url,
            message: "the last page has no @odata.deltaLink (change tracking not applied)".into(),
        })?;
        Ok(InitialLoad {
            records,
            delta_link,
        })
    }
}

/// Follows a delta link: from [`Client::changes`].
#[derive(Debug, Clone)]
pub struct ChangesRequest {
    client: Client,
    delta_link: String,
    max_page_size: Option<u32>,
}

/// What changed since a delta token. Dataverse does not say whether a record was created or
/// updated; a record created and deleted since can still be in `deleted`.
#[derive(Debug, Clone)]
pub struct Changes<T> {
    /// Records created or updated since (their current values), changed ones first.
    pub upserted: Vec<T>,
    /// Ids of the records deleted since.
    pub deleted: Vec<uuid::Uuid>,
    /// The next `@odata.deltaLink`: the changes after these.
    pub delta_link: String,
}

impl<T> Changes<T> {
    /// `true` when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.upserted.is_empty() && self.deleted.is_empty()
    }
}

/// One entry of a delta response: a `$deletedEntity`, or a record.
#[derive(Deserialize)]
#[serde(untagged, bound = "T: DeserializeOwned")]
enum Entry<T> {
    Deleted(DeletedEntity),
    Record(T),
}

/// `{"@odata.context":"…#accounts/$deletedEntity","id":"…","reason":"deleted"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeletedEntity {
    #[serde(rename = "@odata.context")]
    _context: String,
    id: uuid::Uuid,
    #[serde(rename = "reason")]
    _reason: String,
}

#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct DeltaBody<T> {
    value: Vec<Entry<T>>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
}

impl ChangesRequest {
    /// `Prefer: odata.maxpagesize=N` (≤ 5000) for the pages of a large delta.
    pub fn max_page_size(mut self, n: u32) -> Self {
        self.max_page_size = Some(n);
        self
    }

    /// Reads the changes (every page of them).
    pub async fn send(self) -> Result<Changes<Value>, Error> {
        self.send_typed().await
    }

    /// Reads the changes, records decoded into `T`.
    pub async fn send_typed<T: DeserializeOwned>(self) -> Result<Changes<T>, Error> {
        let prefer = self.max_page_size.map(|n| format!("odata.maxpagesize={n}"));
        let headers: Vec<(&str, String)> = self
            .client
            .read_prefer(prefer.as_deref())
            .map(|p| ("prefer", p))
            .into_iter()
            .collect();
        let mut changes = Changes {
            upserted: Vec::new(),
            deleted: Vec::new(),
            delta_link: String::new(),
        };
        let mut url = self.delta_link;
        loop {
            let answer = self
                .client
                .send(d365_http::reqwest::Method::GET, &url, None, &headers)
                .await?;
            let body: DeltaBody<T> =
                serde_json::from_slice(&answer.body).map_err(|e| Error::Decode {
                    url: answer.path.clone(),
                    message: format!("a delta response did not decode: {e}"),
                })?;
            for entry in body.value {
                match entry {
                    Entry::Deleted(d) => changes.deleted.push(d.id),
                    Entry::Record(r) => changes.upserted.push(r),
                }
            }
            match (body.next_link, body.delta_link) {
                (Some(next), _) => url = next,
                (None, Some(delta)) => {
                    changes.delta_link = delta;
                    return Ok(changes);
                }
                (None, None) => {
                    return Err(Error::Decode {
                        url: answer.path,
                        message:
                            "a delta response has neither @odata.nextLink nor @odata.deltaLink"
                                .into(),
                    });
                }
            }
        }
    }
}

impl Client {
    /// The changes since a delta link (from [`InitialLoad::delta_link`],
    /// [`Page::delta_link`] or [`Changes::delta_link`]), followed exactly as given. A token
    /// past the environment's retention fails with an [`ApiError`](crate::ApiError) for which
    /// [`is_expired_delta_token`](crate::ApiError::is_expired_delta_token) is `true`.
    pub fn changes(&self, delta_link: &str) -> ChangesRequest {
        ChangesRequest {
            client: self.clone(),
            delta_link: delta_link.to_owned(),
            max_page_size: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_entries_split_into_records_and_deleted_ids() {
        let body = br#"{"@odata.context":"x/$delta","@odata.deltaLink":"d","value":[
            {"@odata.etag":"W/\"1\"","name":"a","accountid":"60c4e274-0d87-e711-80e5-00155db19e6d"},
            {"@odata.context":"x#accounts/$deletedEntity","id":"2e451703-c686-e711-80e5-00155db19e6d","reason":"deleted"}]}"#;
        let parsed: DeltaBody<Value> = serde_json::from_slice(body).unwrap();
        assert_eq!(parsed.delta_link.as_deref(), Some("d"));
        assert!(matches!(&parsed.value[0], Entry::Record(r) if r["name"] == "a"));
        assert!(matches!(&parsed.value[1], Entry::Deleted(d)
            if d.id.to_string() == "2e451703-c686-e711-80e5-00155db19e6d"));

        #[derive(Deserialize)]
        struct Account {
            name: String,
        }
        let typed: DeltaBody<Account> = serde_json::from_slice(body).unwrap();
        assert!(matches!(&typed.value[0], Entry::Record(a) if a.name == "a"));
        assert!(matches!(&typed.value[1], Entry::Deleted(_)));
    }
}
