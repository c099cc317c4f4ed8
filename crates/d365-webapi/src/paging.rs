//! Pages and paging streams. `@odata.nextLink` is followed exactly as given (never rebuilt),
//! with the same `Prefer` header, until it is absent.

use futures_util::Stream;
use futures_util::stream::{self, TryStreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::Client;
use crate::error::Error;

/// One page of a collection.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The records.
    pub items: Vec<T>,
    /// `@odata.nextLink`, if more pages follow.
    pub next_link: Option<String>,
    /// `@odata.count`, when `$count=true` was asked.
    pub count: Option<u64>,
}

impl Page<Value> {
    pub(crate) fn from_body(mut body: Value) -> Result<Self, Error> {
        let next_link = body
            .get("@odata.nextLink")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let count = body.get("@odata.count").and_then(Value::as_u64);
        let items = match body.get_mut("value").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(Error::Decode {
                    url: String::new(),
                    message: "a collection response has no 'value' array".into(),
                });
            }
        };
        Ok(Self {
            items,
            next_link,
            count,
        })
    }

    /// Converts the records to a typed form.
    pub fn typed<T: DeserializeOwned>(self) -> Result<Page<T>, Error> {
        let items = self
            .items
            .into_iter()
            .map(|v| {
                serde_json::from_value(v).map_err(|e| Error::Decode {
                    url: String::new(),
                    message: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            next_link: self.next_link,
            count: self.count,
        })
    }
}

/// Pages from `first_url` on, one request at a time (flat memory: a page is dropped before
/// the next is fetched, unless the consumer keeps it).
pub(crate) fn pages(
    client: Client,
    first_url: String,
    prefer: Option<String>,
) -> impl Stream<Item = Result<Page<Value>, Error>> + Send {
    stream::try_unfold(Some(first_url), move |next| {
        let client = client.clone();
        let prefer = prefer.clone();
        async move {
            let Some(url) = next else { return Ok(None) };
            let response = client.get_json(&url, prefer.as_deref()).await?;
            let page = Page::from_body(response.body)?;
            let next = page.next_link.clone();
            Ok(Some((page, next)))
        }
    })
}

/// Records from all pages.
pub(crate) fn records(
    client: Client,
    first_url: String,
    prefer: Option<String>,
) -> impl Stream<Item = Result<Value, Error>> + Send {
    pages(client, first_url, prefer)
        .map_ok(|page| stream::iter(page.items.into_iter().map(Ok)))
        .try_flatten()
}
