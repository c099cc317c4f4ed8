//! FetchXML through the Web API (`GET {set}?fetchXml=…`) with Dataverse's paging-cookie
//! algorithm (<https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/page-results>):
//! ask for `fetchxmlpagingcookie` and `morerecords`, URL-decode the cookie's `pagingcookie`
//! twice, XML-escape it into the `<fetch paging-cookie>` attribute, bump `page`, repeat while
//! `morerecords` is true.

use d365_odata::paging_cookie;
use futures_util::Stream;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::client::Client;
use crate::error::Error;

const PREFER: &str = "odata.include-annotations=\"Microsoft.Dynamics.CRM.fetchxmlpagingcookie,Microsoft.Dynamics.CRM.morerecords\"";

/// One page of a FetchXML query.
#[derive(Debug, Clone)]
pub struct FetchPage {
    /// The records.
    pub records: Vec<Value>,
    /// More pages follow.
    pub more: bool,
    /// The next page's number and cookie (decoded, ready for the `paging-cookie` attribute).
    pub next: Option<(u32, Option<String>)>,
}

/// A FetchXML query.
#[derive(Debug, Clone)]
pub struct FetchXmlRequest {
    client: Client,
    entity_set: String,
    xml: String,
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The `<fetch …>` start tag: where it starts, where its attributes end, and its attributes.
struct FetchTag {
    start: usize,
    end: usize,
    attrs: Vec<(String, String)>,
}

fn fetch_attributes(xml: &str) -> Result<FetchTag, Error> {
    let bad = || Error::InvalidQuery("the FetchXML must start with a <fetch> element".into());
    let start = xml.find("<fetch").ok_or_else(bad)?;
    let mut attrs = Vec::new();
    let bytes = xml.as_bytes();
    let mut i = start + "<fetch".len();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match bytes.get(i) {
            Some(b'>') => {
                return Ok(FetchTag {
                    start,
                    end: i,
                    attrs,
                });
            }
            Some(b'/') if bytes.get(i + 1) == Some(&b'>') => {
                return Ok(FetchTag {
                    start,
                    end: i,
                    attrs,
                });
            }
            None => return Err(bad()),
            _ => {}
        }
        let eq = xml[i..].find('=').ok_or_else(bad)? + i;
        let name = xml[i..eq].trim().to_owned();
        let quote = *bytes.get(eq + 1).ok_or_else(bad)?;
        if quote != b'"' && quote != b'\'' {
            return Err(bad());
        }
        let end = xml[eq + 2..].find(quote as char).ok_or_else(bad)? + eq + 2;
        attrs.push((name, xml[eq + 2..end].to_owned()));
        i = end + 1;
    }
}

/// The document with `page`, `count` and `paging-cookie` set (the cookie XML-escaped).
fn with_paging(
    xml: &str,
    page: u32,
    count: Option<u32>,
    cookie: Option<&str>,
) -> Result<String, Error> {
    let FetchTag {
        start,
        end,
        mut attrs,
    } = fetch_attributes(xml)?;
    attrs.retain(|(n, _)| n != "page" && n != "paging-cookie" && (count.is_none() || n != "count"));
    let mut tag = String::from("<fetch");
    for (n, v) in &attrs {
        tag.push_str(&format!(" {n}=\"{v}\""));
    }
    if let Some(c) = count {
        tag.push_str(&format!(" count=\"{c}\""));
    }
    tag.push_str(&format!(" page=\"{page}\""));
    if let Some(c) = cookie {
        tag.push_str(&format!(" paging-cookie=\"{}\"", xml_escape(c)));
    }
    Ok(format!("{}{tag}{}", &xml[..start], &xml[end..]))
}

impl FetchXmlRequest {
    pub(crate) fn new(client: Client, entity_set: &str, xml: &str) -> Self {
        Self {
            client,
            entity_set: entity_set.to_owned(),
            xml: xml.to_owned(),
        }
    }

    /// Fetches one page (`page` from 1, with the cookie from the previous page if any).
    pub async fn page(
        &self,
        page: u32,
        count: Option<u32>,
        cookie: Option<&str>,
    ) -> Result<FetchPage, Error> {
        let xml = with_paging(&self.xml, page, count, cookie)?;
        let url = format!(
            "{}/{}?fetchXml={}",
            self.client.api_root(),
            self.entity_set,
            utf8_percent_encode(&xml, NON_ALPHANUMERIC)
        );
        let body = self.client.get_json(&url, Some(PREFER)).await?.body;
        let records = match &body["value"] {
            Value::Array(rows) => rows.clone(),
            _ => {
                return Err(Error::Decode {
                    url: self.entity_set.clone(),
                    message: "a FetchXML answer without a value array".into(),
                });
            }
        };
        let more = body["@Microsoft.Dynamics.CRM.morerecords"]
            .as_bool()
            .unwrap_or(false);
        let next = more.then(|| {
            match body["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"]
                .as_str()
                .and_then(paging_cookie::unwrap)
            {
                Some((n, c)) => (n, Some(c)),
                // No cookie: simple paging by number (Dataverse allows it up to 50,000 rows).
                None => (page + 1, None),
            }
        });
        Ok(FetchPage {
            records,
            more,
            next,
        })
    }

    /// Every record of every page, `count` per page (5,000 when `None`), following the cookies.
    pub fn into_stream(self, count: Option<u32>) -> impl Stream<Item = Result<Value, Error>> {
        let state = (
            self,
            Some((1u32, None::<String>)),
            Vec::<Value>::new().into_iter(),
        );
        futures_util::stream::try_unfold(state, move |(req, mut next, mut buffer)| async move {
            loop {
                if let Some(record) = buffer.next() {
                    return Ok(Some((record, (req, next, buffer))));
                }
                let Some((page, cookie)) = next.take() else {
                    return Ok(None);
                };
                let p = req.page(page, count, cookie.as_deref()).await?;
                next = p.next;
                buffer = p.records.into_iter();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_attributes_are_set_and_escaped() {
        let xml = "<fetch version='1.0' page='9'><entity name='account'/></fetch>";
        let paged = with_paging(
            xml,
            2,
            Some(7),
            Some("<cookie page=\"1\"><accountid last=\"{A}\" /></cookie>"),
        )
        .unwrap();
        assert_eq!(
            paged,
            "<fetch version=\"1.0\" count=\"7\" page=\"2\" paging-cookie=\"&lt;cookie page=&quot;1&quot;&gt;&lt;accountid last=&quot;{A}&quot; /&gt;&lt;/cookie&gt;\"><entity name='account'/></fetch>"
        );
        assert!(with_paging("<query/>", 1, None, None).is_err());
    }
}
