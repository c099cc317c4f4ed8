//! `GET {api}/{set}?…`: collection queries. The query text is printed by `d365-odata`, so
//! whatever is built here is valid OData and escaped correctly.

use d365_odata::{Filter, OrderBy, QueryOptions, SelectItem, parse_filter, parse_orderby};
use futures_util::Stream;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::Client;
use crate::error::Error;
use crate::paging::{self, Page, RawPage};
use crate::request::TrackChangesRequest;

/// What `$count=true` asks for besides the count: its value up to 5,000 and whether more rows
/// match.
const COUNT_ANNOTATIONS: &str =
    "Microsoft.Dynamics.CRM.totalrecordcount,Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded";

/// A collection query on one entity set.
#[derive(Debug, Clone)]
pub struct QueryRequest {
    client: Client,
    entity_set: String,
    options: QueryOptions,
    max_page_size: Option<u32>,
}

impl QueryRequest {
    pub(crate) fn new(client: Client, entity_set: &str) -> Self {
        Self {
            client,
            entity_set: entity_set.to_owned(),
            options: QueryOptions::default(),
            max_page_size: None,
        }
    }

    /// `$select`.
    pub fn select<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let items = columns
            .into_iter()
            .map(|c| SelectItem::Path(c.as_ref().split('/').map(str::to_owned).collect()))
            .collect();
        self.options.select = Some(items);
        self
    }

    /// `$filter` from the typed builder (`col("name").contains("x")`).
    pub fn filter(mut self, filter: Filter) -> Self {
        self.options.filter = Some(filter.into_expr());
        self
    }

    /// `$filter` from OData text, checked by the parser now (errors show a caret).
    pub fn filter_text(mut self, text: &str) -> Result<Self, Error> {
        let expr = parse_filter(text).map_err(|e| Error::InvalidQuery(format!("$filter: {e}")))?;
        self.options.filter = Some(expr);
        Ok(self)
    }

    /// `$orderby` from OData text (`revenue desc,name`).
    pub fn order_by_text(mut self, text: &str) -> Result<Self, Error> {
        let items: Vec<OrderBy> =
            parse_orderby(text).map_err(|e| Error::InvalidQuery(format!("$orderby: {e}")))?;
        self.options.orderby = items;
        Ok(self)
    }

    /// `$top`.
    pub fn top(mut self, n: u64) -> Self {
        self.options.top = Some(n);
        self
    }

    /// `$count=true`: [`Page::count`] holds the number of matching rows up to 5,000, and
    /// [`Page::count_limit_exceeded`] says whether more match (the request asks for
    /// Dataverse's `totalrecordcount` annotations, besides the client's own).
    /// <https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/count-rows>
    pub fn count(mut self) -> Self {
        self.options.count = Some(true);
        self
    }

    /// `$expand` from OData text (`primarycontactid($select=fullname),Account_Tasks($select=subject)`),
    /// checked by the parser now. An expanded collection's rows beyond what the page holds are
    /// read with [`Client::expanded`].
    pub fn expand_text(mut self, text: &str) -> Result<Self, Error> {
        self.options.expand = super::parse_expand_text(text)?;
        Ok(self)
    }

    /// `Prefer: odata.maxpagesize=N` (≤ 5000; Dataverse ignores larger sizes): page size for
    /// [`QueryRequest::into_stream`].
    pub fn max_page_size(mut self, n: u32) -> Self {
        self.max_page_size = Some(n);
        self
    }

    /// The options as built.
    pub fn options(&self) -> &QueryOptions {
        &self.options
    }

    /// Change tracking (`Prefer: odata.track-changes`): every record now plus a delta link
    /// for the changes since (see [`TrackChangesRequest`]). Only `$select` (and the page
    /// size) may go with it.
    pub fn track_changes(self) -> TrackChangesRequest {
        TrackChangesRequest::new(self)
    }

    /// The client and the page size, for requests built on this query.
    pub(crate) fn client_and_page_size(&self) -> (&Client, Option<u32>) {
        (&self.client, self.max_page_size)
    }

    /// The full URL this query sends.
    pub fn url(&self) -> String {
        let query = self.options.to_query_string();
        if query.is_empty() {
            format!("{}/{}", self.client.api_root(), self.entity_set)
        } else {
            format!("{}/{}?{query}", self.client.api_root(), self.entity_set)
        }
    }

    fn prefer(&self) -> Option<String> {
        let mut parts: Vec<String> = self
            .max_page_size
            .map(|n| format!("odata.maxpagesize={n}"))
            .into_iter()
            .collect();
        if self.options.count == Some(true) {
            let list = match self.client.default_annotations() {
                Some(default) => format!("{default},{COUNT_ANNOTATIONS}"),
                None => COUNT_ANNOTATIONS.to_owned(),
            };
            parts.push(format!("odata.include-annotations=\"{list}\""));
        }
        (!parts.is_empty()).then(|| parts.join(","))
    }

    /// Sends the query and returns the first page.
    pub async fn send(self) -> Result<Page<Value>, Error> {
        paging::fetch_page(&self.client, &self.url(), self.prefer().as_deref()).await
    }

    /// Every page, following `@odata.nextLink`.
    pub fn pages(self) -> impl Stream<Item = Result<Page<Value>, Error>> + Send {
        let (url, prefer) = (self.url(), self.prefer());
        paging::pages(self.client, url, prefer)
    }

    /// Every record of every page.
    pub fn into_stream(self) -> impl Stream<Item = Result<Value, Error>> + Send {
        let (url, prefer) = (self.url(), self.prefer());
        paging::records(self.client, url, prefer)
    }

    /// Every page, following `@odata.nextLink`, with the records decoded straight from the
    /// response into `T` (cheaper than [`QueryRequest::pages`] then [`Page::typed`], which
    /// builds every record as a `Value` first).
    pub fn typed_pages<T>(self) -> impl Stream<Item = Result<Page<T>, Error>> + Send
    where
        T: DeserializeOwned + Send,
    {
        let (url, prefer) = (self.url(), self.prefer());
        paging::pages(self.client, url, prefer)
    }

    /// Every page as the response's bytes ([`RawPage`]), following `@odata.nextLink` with one
    /// request running ahead, as [`QueryRequest::pages`] does; no record is decoded.
    pub fn raw_pages(self) -> impl Stream<Item = Result<RawPage, Error>> + Send {
        let (url, prefer) = (self.url(), self.prefer());
        paging::raw_pages(self.client, url, prefer)
    }

    /// Every record of every page, decoded straight into `T` (see [`QueryRequest::typed_pages`]).
    pub fn into_typed_stream<T>(self) -> impl Stream<Item = Result<T, Error>> + Send
    where
        T: DeserializeOwned + Send,
    {
        let (url, prefer) = (self.url(), self.prefer());
        paging::records(self.client, url, prefer)
    }
}

impl Client {
    /// Fetches the page at a `@odata.nextLink`, exactly as given.
    pub async fn next_page(
        &self,
        next_link: &str,
        max_page_size: Option<u32>,
    ) -> Result<Page<Value>, Error> {
        let prefer = max_page_size.map(|n| format!("odata.maxpagesize={n}"));
        paging::fetch_page(self, next_link, prefer.as_deref()).await
    }

    /// The pages from a `@odata.nextLink` (exactly as given) on, as the response's bytes: a
    /// [`QueryRequest::raw_pages`] stream resumed where it stopped.
    pub fn raw_pages_from(
        &self,
        next_link: &str,
        max_page_size: Option<u32>,
    ) -> impl Stream<Item = Result<RawPage, Error>> + Send + use<> {
        let prefer = max_page_size.map(|n| format!("odata.maxpagesize={n}"));
        paging::raw_pages(self.clone(), next_link.to_owned(), prefer)
    }
}
