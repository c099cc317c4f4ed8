//! Pages and paging streams. `@odata.nextLink` is followed exactly as given (never rebuilt),
//! with the same `Prefer` header, until it is absent; the stream asks for the next page while
//! the current one is decoded and consumed.

use futures_util::Stream;
use futures_util::stream::{self, TryStreamExt};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::{Answer, Client};
use crate::error::Error;

/// One page of a collection.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The records.
    pub items: Vec<T>,
    /// `@odata.nextLink`, if more pages follow.
    pub next_link: Option<String>,
    /// `@odata.count`, when `$count=true` was asked: at most 5,000.
    pub count: Option<u64>,
    /// `@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded`: whether more rows match than
    /// [`Page::count`] says (it stops at 5,000), when the annotation was asked for
    /// ([`QueryRequest::count`](crate::QueryRequest::count) does).
    pub count_limit_exceeded: Option<bool>,
    /// `@odata.deltaLink`: on the last page of a change-tracked query
    /// ([`QueryRequest::track_changes`](crate::QueryRequest::track_changes)), where to ask for
    /// the changes since.
    pub delta_link: Option<String>,
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
            count_limit_exceeded: self.count_limit_exceeded,
            delta_link: self.delta_link,
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
    #[serde(rename = "@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded")]
    count_limit_exceeded: Option<bool>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
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
            count_limit_exceeded: body.count_limit_exceeded,
            delta_link: body.delta_link,
        })
    }
}

/// GETs one page (`url` as given) and decodes it.
pub(crate) async fn fetch_page<T: DeserializeOwned>(
    client: &Client,
    url: &str,
    prefer: Option<&str>,
) -> Result<Page<T>, Error> {
    let headers: Vec<(&str, String)> = client
        .read_prefer(prefer)
        .map(|p| ("prefer", p))
        .into_iter()
        .collect();
    let answer = client
        .send(d365_http::reqwest::Method::GET, url, None, &headers)
        .await?;
    Page::from_slice(&answer.body, &answer.path)
}

/// Pages from `first_url` on, records decoded as `T`, with one request running ahead: as soon
/// as a page's bytes have arrived, its `@odata.nextLink` is read and the next page is asked
/// for, and only then is the page decoded and handed out. The server prepares page N+1 while
/// the client decodes page N and the consumer works through it, so a pass takes about
/// max(server, client) per page instead of their sum. At most two pages are held: the one
/// being consumed and the next one's bytes. Dropping the stream aborts the request ahead.
pub(crate) fn pages<T>(
    client: Client,
    first_url: String,
    prefer: Option<String>,
) -> impl Stream<Item = Result<Page<T>, Error>> + Send
where
    T: DeserializeOwned + Send,
{
    pages_with(client, first_url, prefer, |answer, _| {
        Page::<T>::from_slice(&answer.body, &answer.path)
    })
}

/// [`pages`] as the response's bytes: nothing of a page is decoded but its next link (see
/// [`RawPage`]).
pub(crate) fn raw_pages(
    client: Client,
    first_url: String,
    prefer: Option<String>,
) -> impl Stream<Item = Result<RawPage, Error>> + Send {
    pages_with(client, first_url, prefer, |answer, next_link| {
        Ok(RawPage {
            body: answer.body,
            path: answer.path,
            next_link,
        })
    })
}

/// The paging loop behind [`pages`] and [`raw_pages`]: `decode` makes a page of an answer and
/// its next link.
fn pages_with<P, D>(
    client: Client,
    first_url: String,
    prefer: Option<String>,
    decode: D,
) -> impl Stream<Item = Result<P, Error>> + Send
where
    P: Send,
    D: Fn(Answer, Option<String>) -> Result<P, Error> + Copy + Send,
{
    stream::try_unfold(Some(Next::Url(first_url)), move |next| {
        let client = client.clone();
        let prefer = prefer.clone();
        async move {
            let answer = match next {
                None => return Ok(None),
                Some(Next::Url(url)) => get(client.clone(), url, prefer.clone()).await?,
                Some(Next::Running(ahead)) => ahead.join().await?,
            };
            let link = next_link(&answer)?;
            let next = match link.clone() {
                Some(url) => {
                    let ahead = Ahead {
                        task: tokio::spawn(get(client, url.clone(), prefer)),
                        url,
                    };
                    // On a current-thread runtime the task would not run (and send its
                    // request) before this page is decoded; give it that turn now.
                    tokio::task::yield_now().await;
                    Some(Next::Running(ahead))
                }
                None => None,
            };
            let page = decode(answer, link)?;
            Ok(Some((page, next)))
        }
    })
}

/// One page of a collection as the response's bytes, for a caller that takes records as the
/// service wrote them (an export copying them to a file) instead of decoding each into a
/// `Value`: [`RawPage::items`] decodes the records borrowing from the bytes, e.g. as
/// `&serde_json::value::RawValue`, each record's JSON text exactly as received.
#[derive(Debug, Clone)]
pub struct RawPage {
    body: bytes::Bytes,
    path: String,
    /// `@odata.nextLink`, if more pages follow.
    pub next_link: Option<String>,
}

impl RawPage {
    /// The records of the page's `value`, decoded as `T` borrowing from the page (each call
    /// decodes them again). The whole body is checked to be valid JSON on the way.
    pub fn items<'a, T: Deserialize<'a>>(&'a self) -> Result<Vec<T>, Error> {
        #[derive(Deserialize)]
        #[serde(bound = "T: Deserialize<'de>")]
        struct Body<T> {
            value: Vec<T>,
        }
        serde_json::from_slice::<Body<T>>(&self.body)
            .map(|b| b.value)
            .map_err(|e| Error::Decode {
                url: self.path.clone(),
                message: format!("a collection response did not decode: {e}"),
            })
    }

    /// The response body as received.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }
}

/// Where the next page comes from.
enum Next {
    /// Not asked for yet (the first page).
    Url(String),
    /// Asked for ahead of time.
    Running(Ahead),
}

/// A page request running ahead on the runtime; aborted when dropped unfinished.
struct Ahead {
    task: tokio::task::JoinHandle<Result<Answer, Error>>,
    url: String,
}

impl Ahead {
    async fn join(mut self) -> Result<Answer, Error> {
        match (&mut self.task).await {
            Ok(answer) => answer,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(Error::Decode {
                url: std::mem::take(&mut self.url),
                message: format!("the page request was cancelled: {e}"),
            }),
        }
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// GETs one page's bytes (`url` as given).
async fn get(client: Client, url: String, prefer: Option<String>) -> Result<Answer, Error> {
    let headers: Vec<(&str, String)> = client
        .read_prefer(prefer.as_deref())
        .map(|p| ("prefer", p))
        .into_iter()
        .collect();
    client
        .send(d365_http::reqwest::Method::GET, &url, None, &headers)
        .await
}

/// The `@odata.nextLink` of a page, before the page is decoded. Dataverse writes it as the
/// last member (`…],"@odata.nextLink":"…"}`), which [`trailing_next_link`] reads from the
/// tail; otherwise the body is scanned without building the records (about 0.2 µs a record).
fn next_link(answer: &Answer) -> Result<Option<String>, Error> {
    if let Some(link) = trailing_next_link(&answer.body) {
        return Ok(Some(link));
    }
    #[derive(Deserialize)]
    struct Links {
        #[serde(rename = "@odata.nextLink")]
        next_link: Option<String>,
    }
    serde_json::from_slice::<Links>(&answer.body)
        .map(|l| l.next_link)
        .map_err(|e| Error::Decode {
            url: answer.path.clone(),
            message: format!("a collection response did not decode: {e}"),
        })
}

/// `"@odata.nextLink":"…"` as the last member of the top-level object, or `None`. In valid
/// JSON a `"` right after `,` or `{` opens a key (inside a string it would follow a `\`), and
/// a member whose value is followed only by the final `}` belongs to the top-level object.
/// The page is still decoded in full afterwards, which rejects invalid JSON.
fn trailing_next_link(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"@odata.nextLink\":";
    let body = body.trim_ascii_end().strip_suffix(b"}")?;
    let tail = &body[body.len().saturating_sub(16 * 1024)..];
    let at = tail.windows(KEY.len()).rposition(|w| w == KEY)?;
    if !matches!(tail[..at].last(), Some(b',' | b'{')) {
        return None;
    }
    serde_json::from_slice(tail[at + KEY.len()..].trim_ascii()).ok()
}

impl Client {
    /// Every row of the collection `navigation` expanded on `record` (from a query or retrieve
    /// with `$expand`), following `<navigation>@odata.nextLink` with `max_page_size`. Dataverse
    /// writes that link two ways
    /// (<https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/join-tables#expand-collection-valued-navigation-properties>):
    /// with a nested `$expand` in the query each collection is paged and the link (with a
    /// `$skiptoken`) continues after the rows given; without, the link names the whole
    /// filtered collection (up to 5,000 rows were given inline), so its pages replace them.
    /// Without a link the inline rows are all there is.
    pub async fn expanded(
        &self,
        record: &Value,
        navigation: &str,
        max_page_size: Option<u32>,
    ) -> Result<Vec<Value>, Error> {
        let inline = match record.get(navigation) {
            Some(Value::Array(rows)) => rows.clone(),
            Some(Value::Null) | None => Vec::new(),
            Some(_) => {
                return Err(Error::InvalidQuery(format!(
                    "'{navigation}' is not an expanded collection"
                )));
            }
        };
        let Some(link) = record
            .get(format!("{navigation}@odata.nextLink"))
            .and_then(Value::as_str)
        else {
            return Ok(inline);
        };
        let continues = url::Url::parse(link)
            .map(|u| u.query_pairs().any(|(k, _)| k == "$skiptoken"))
            .unwrap_or(false);
        let prefer = max_page_size.map(|n| format!("odata.maxpagesize={n}"));
        let rest: Vec<Value> = records(self.clone(), link.to_owned(), prefer)
            .try_collect()
            .await?;
        Ok(if continues {
            inline.into_iter().chain(rest).collect()
        } else {
            rest
        })
    }
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
            (
                last.items.len(),
                last.next_link,
                last.count,
                last.delta_link
            ),
            (0, None, None, None)
        );
        let tracked =
            Page::<Value>::from_slice(br#"{"@odata.deltaLink":"d","value":[]}"#, "/a").unwrap();
        assert_eq!(tracked.delta_link.as_deref(), Some("d"));
    }

    #[test]
    fn the_trailing_next_link_is_read_from_the_tail_only_when_unambiguous() {
        let link = "https://h/api/data/v9.2/accounts?$skiptoken=%3C1%3E";
        assert_eq!(trailing_next_link(BODY).as_deref(), Some(link));
        let spaced = br#"{"value":[] , "@odata.nextLink" : "a\"b" }"#;
        assert_eq!(trailing_next_link(spaced), None); // the key text differs: scanned instead
        let spaced = br#"{"value":[],"@odata.nextLink": "a\"b" }
"#;
        assert_eq!(trailing_next_link(spaced).as_deref(), Some("a\"b"));
        // In a string, or not the last member, or nested: not taken from the tail.
        let in_string = br#"{"value":[{"x":"\"@odata.nextLink\":\"u\""}]}"#;
        assert_eq!(trailing_next_link(in_string), None);
        let not_last = br#"{"@odata.nextLink":"u","value":[]}"#;
        assert_eq!(trailing_next_link(not_last), None);
        let nested = br#"{"value":[{"@odata.nextLink":"u"}]}"#;
        assert_eq!(trailing_next_link(nested), None);
        assert_eq!(trailing_next_link(br#"{"value":[]}"#), None);
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
