//! Pages and paging streams. `@odata.nextLink` is followed exactly as given (never rebuilt),
//! with the same `Prefer` header, until it is absent.

use futures_util::Stream;
use futures_util::stream::{self, TryStreamExt};
use serde::Deserialize;
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

/// A collection response body, decoded in one pass straight into records of type `T`: no
/// `Value` is built for the page itself, and typed records never exist as `Value`s (building
/// `Value`s is most of the client's CPU per record; see docs/BENCHMARKS.md, issue 6).
#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct PageBody<T> {
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.count")]
    count: Option<u64>,
}

impl<T: DeserializeOwned> Page<T> {
    /// Decodes a collection response body; `path` names the request in errors.
    pub(crate) fn from_slice(body: &[u8], path: &str) -> Result<Self, Error> {
        let body: PageBody<T> = serde_json::from_slice(body).map_err(|e| Error::Decode {
            url: path.to_owned(),
            message: format!("a collection response did not decode: {e}"),
        })?;
        Ok(Self {
            items: body.value,
            next_link: body.next_link,
            count: body.count,
        })
    }
}

/// GETs one page (`url` as given) and decodes it.
pub(crate) async fn fetch_page<T: DeserializeOwned>(
    client: &Client,
    url: &str,
    prefer: Option<&str>,
) -> Result<Page<T>, Error> {
    let headers: Vec<(&str, String)> = prefer
        .map(|p| ("prefer", p.to_owned()))
        .into_iter()
        .collect();
    let answer = client
        .send(d365_http::reqwest::Method::GET, url, None, &headers)
        .await?;
    Page::from_slice(&answer.body, &answer.path)
}

/// Pages from `first_url` on, one request at a time (flat memory: a page is dropped before
/// the next is fetched, unless the consumer keeps it), records decoded as `T`.
pub(crate) fn pages<T>(
    client: Client,
    first_url: String,
    prefer: Option<String>,
) -> impl Stream<Item = Result<Page<T>, Error>> + Send
where
    T: DeserializeOwned + Send,
{
    stream::try_unfold(Some(first_url), move |next| {
        let client = client.clone();
        let prefer = prefer.clone();
        async move {
            let Some(url) = next else { return Ok(None) };
            let page = fetch_page::<T>(&client, &url, prefer.as_deref()).await?;
            let next = page.next_link.clone();
            Ok(Some((page, next)))
        }
    })
}

/// Records from all pages.
pub(crate) fn records<T>(
    client: Client,
    first_url: String,
    prefer: Option<String>,
) -> impl Stream<Item = Result<T, Error>> + Send
where
    T: DeserializeOwned + Send,
{
    pages(client, first_url, prefer)
        .map_ok(|page| stream::iter(page.items.into_iter().map(Ok)))
        .try_flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Account {
        name: String,
    }

    const BODY: &[u8] = br#"{"@odata.context":"x","@odata.count":2,"value":[{"@odata.etag":"W/\"1\"","name":"a"},{"name":"b \"q\""}],"@odata.nextLink":"https://h/api/data/v9.2/accounts?$skiptoken=%3C1%3E"}"#;

    #[test]
    fn pages_decode_straight_to_values_or_types() {
        let page = Page::<Value>::from_slice(BODY, "/accounts").unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.items[0]["@odata.etag"], "W/\"1\"");
        assert_eq!(page.count, Some(2));
        assert_eq!(
            page.next_link.as_deref(),
            Some("https://h/api/data/v9.2/accounts?$skiptoken=%3C1%3E")
        );
        let typed = Page::<Account>::from_slice(BODY, "/accounts").unwrap();
        assert_eq!(
            typed.items[1],
            Account {
                name: "b \"q\"".into()
            }
        );
        assert_eq!(typed.next_link, page.next_link);
        let last = Page::<Value>::from_slice(br#"{"value":[]}"#, "/accounts").unwrap();
        assert_eq!(
            (last.items.len(), last.next_link, last.count),
            (0, None, None)
        );
    }

    #[test]
    fn a_body_without_value_is_a_decode_error() {
        let err = Page::<Value>::from_slice(br#"{"error":{}}"#, "/accounts").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/accounts") && text.contains("`value`"),
            "{text}"
        );
    }
}
