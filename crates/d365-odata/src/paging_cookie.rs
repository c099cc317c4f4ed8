//! Dataverse's paging cookie, written and read in one place for the client and the emulator
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/page-results>).
//!
//! The `@Microsoft.Dynamics.CRM.fetchxmlpagingcookie` annotation (and the emulator's
//! `$skiptoken`) is an outer element,
//! `<cookie pagenumber="2" pagingcookie="<inner, URL-encoded twice>" istracking="False" />`,
//! around the inner cookie FetchXML's `paging-cookie` attribute carries back:
//! `<cookie page="1"><accountid last="{GUID}" first="{GUID}" /></cookie>`, one element per
//! ORDER BY column with the previous page's last and first values (`lastnull="1"` for null).
//!
//! A client keeps the inner cookie opaque ([`unwrap`]); the emulator reads its columns
//! ([`PagingCookie::decode`]). Input longer than [`MAX_COOKIE_LEN`] is refused unread.
//!
//! ```
//! use d365_odata::paging_cookie::{CookieColumn, PagingCookie, unwrap};
//!
//! let cookie = PagingCookie {
//!     page_number: 2,
//!     columns: vec![CookieColumn {
//!         name: "accountid".into(),
//!         last: Some("{D5026A4D-D01C-ED11-B83E-000D3A572421}".into()),
//!         first: None,
//!     }],
//! };
//! let token = cookie.encode();
//! assert!(token.starts_with("<cookie pagenumber=\"2\" pagingcookie=\"%253ccookie%2520page"));
//! let (page, inner) = unwrap(&token).unwrap();
//! assert_eq!(page, 2);
//! assert_eq!(
//!     inner,
//!     "<cookie page=\"1\"><accountid last=\"{D5026A4D-D01C-ED11-B83E-000D3A572421}\" firstnull=\"1\" /></cookie>"
//! );
//! assert_eq!(PagingCookie::decode(&token), Some(cookie));
//! ```

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// The longest cookie (outer or inner text) read: Dataverse accepts URLs of at most 65,536
/// characters (inside `$batch`), so a longer cookie cannot have come back in one.
pub const MAX_COOKIE_LEN: usize = 65_536;

/// One ORDER BY column's values at a page boundary, as text; `None` is null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieColumn {
    /// The column's logical name (the element name).
    pub name: String,
    /// The value in the page's last row.
    pub last: Option<String>,
    /// The value in the page's first row.
    pub first: Option<String>,
}

/// A paging cookie: the page it leads to and the previous page's boundary values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagingCookie {
    /// The number of the page this cookie leads to (the inner cookie says `page - 1`).
    pub page_number: u32,
    /// The boundary values, in ORDER BY order.
    pub columns: Vec<CookieColumn>,
}

// Dataverse encodes everything but letters, digits and `-_.` (it also leaves some others, but
// clients treat the cookie as opaque).
const COOKIE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

impl PagingCookie {
    /// The outer cookie, `istracking="False"` (not yet URL-encoded for a query string).
    pub fn encode(&self) -> String {
        wrap(self.page_number, &self.encode_inner(), None)
    }

    /// The outer cookie with `istracking="True"` followed by `state` as attributes (change
    /// tracking keeps its position there; names are XML names, values need no escaping).
    pub fn encode_tracking(&self, state: &[(&str, String)]) -> String {
        wrap(self.page_number, &self.encode_inner(), Some(state))
    }

    /// The inner cookie, `<cookie page="N-1">…</cookie>`.
    pub fn encode_inner(&self) -> String {
        let mut inner = format!("<cookie page=\"{}\">", self.page_number.saturating_sub(1));
        for c in &self.columns {
            inner.push('<');
            inner.push_str(&c.name);
            push_value(&mut inner, "last", c.last.as_deref());
            push_value(&mut inner, "first", c.first.as_deref());
            inner.push_str(" />");
        }
        inner.push_str("</cookie>");
        inner
    }

    /// Reads an outer cookie (already URL-decoded once, as query parsing does).
    pub fn decode(token: &str) -> Option<Self> {
        let (page_number, inner) = unwrap(token)?;
        Self::decode_inner(&inner, page_number)
    }

    /// Reads an inner cookie (`<cookie page="1">…</cookie>`, as FetchXML's `paging-cookie`
    /// carries it) that leads to `page_number`.
    pub fn decode_inner(inner: &str, page_number: u32) -> Option<Self> {
        if inner.len() > MAX_COOKIE_LEN {
            return None;
        }
        let body = inner.trim().strip_prefix("<cookie")?;
        let body = &body[body.find('>')? + 1..];
        let body = body.strip_suffix("</cookie>")?;
        let mut columns = Vec::new();
        for element in body.split("/>").map(str::trim).filter(|e| !e.is_empty()) {
            let element = element.strip_prefix('<')?;
            let name = element.split_whitespace().next()?.to_owned();
            let value = |attr: &str| {
                if attribute(element, &format!("{attr}null")).is_some() {
                    Some(None)
                } else {
                    attribute(element, attr).map(|v| Some(xml_unescape(&v)))
                }
            };
            let last = value("last")?;
            let first = value("first")?;
            columns.push(CookieColumn { name, last, first });
        }
        Some(Self {
            page_number,
            columns,
        })
    }
}

/// The outer cookie around an inner one: `istracking="False"` when `tracking` is `None`, else
/// `istracking="True"` and the given attributes.
pub fn wrap(page_number: u32, inner: &str, tracking: Option<&[(&str, String)]>) -> String {
    let once = lower_hex(&utf8_percent_encode(inner, COOKIE).to_string());
    let twice = lower_hex(&utf8_percent_encode(&once, COOKIE).to_string());
    let mut state = String::new();
    let flag = match tracking {
        None => "False",
        Some(attrs) => {
            for (name, value) in attrs {
                state.push_str(&format!(" {name}=\"{value}\""));
            }
            "True"
        }
    };
    format!(
        "<cookie pagenumber=\"{page_number}\" pagingcookie=\"{twice}\" istracking=\"{flag}\"{state} />"
    )
}

/// An outer cookie's page number and inner cookie, left opaque (what a client puts back into
/// `<fetch paging-cookie>`). No length budget: the client reads what the service wrote, in an
/// answer whose size `d365-http` already bounds, and a long cookie must not turn into paging
/// by number.
pub fn unwrap(token: &str) -> Option<(u32, String)> {
    let page_number = attribute(token, "pagenumber")?.parse().ok()?;
    let encoded = attribute(token, "pagingcookie")?;
    let once = percent_decode_str(&encoded).decode_utf8().ok()?;
    let inner = percent_decode_str(&once).decode_utf8().ok()?.into_owned();
    Some((page_number, inner))
}

/// The value of the attribute ` name="…"` in an element, as written (a whole-word match;
/// how change tracking reads its state back from an outer cookie).
pub fn attribute(element: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = element.find(&needle)? + needle.len();
    let end = start + element[start..].find('"')?;
    Some(element[start..end].to_owned())
}

fn push_value(out: &mut String, name: &str, value: Option<&str>) {
    match value {
        Some(v) => out.push_str(&format!(" {name}=\"{}\"", xml_escape(v))),
        None => out.push_str(&format!(" {name}null=\"1\"")),
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Dataverse writes percent escapes in lower case (`%253c`), unlike most encoders.
fn lower_hex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending = 0;
    for c in s.chars() {
        if pending > 0 {
            out.push(c.to_ascii_lowercase());
            pending -= 1;
        } else {
            if c == '%' {
                pending = 2;
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn column(name: &str, last: Option<&str>, first: Option<&str>) -> CookieColumn {
        CookieColumn {
            name: name.into(),
            last: last.map(Into::into),
            first: first.map(Into::into),
        }
    }

    #[test]
    fn dataverse_shape_escapes_and_null() {
        let cookie = PagingCookie {
            page_number: 3,
            columns: vec![
                column("name", None, Some("A & \"B\" <c> 'd' 100%")),
                column(
                    "accountid",
                    Some("{D5026A4D-D01C-ED11-B83E-000D3A572421}"),
                    Some("{D5026A4D-D01C-ED11-B83E-000D3A572421}"),
                ),
            ],
        };
        let token = cookie.encode();
        assert!(
            token.starts_with(
                "<cookie pagenumber=\"3\" pagingcookie=\"%253ccookie%2520page%253d%25222%2522%253e"
            ),
            "{token}"
        );
        assert!(token.ends_with("\" istracking=\"False\" />"), "{token}");
        assert!(
            token.contains("%257bD5026A4D-D01C-ED11-B83E-000D3A572421%257d"),
            "{token}"
        );
        assert!(cookie.encode_inner().contains(
            "<name lastnull=\"1\" first=\"A &amp; &quot;B&quot; &lt;c&gt; &apos;d&apos; 100%\" />"
        ));
        assert_eq!(PagingCookie::decode(&token), Some(cookie));
        assert_eq!(PagingCookie::decode("<cookie pagenumber=\"2\" />"), None);
        assert_eq!(PagingCookie::decode("garbage"), None);
    }

    #[test]
    fn tracking_state_rides_in_attributes() {
        let cookie = PagingCookie {
            page_number: 2,
            columns: Vec::new(),
        };
        let text = cookie.encode_tracking(&[("upto", "7".into()), ("phase", "deleted".into())]);
        assert!(
            text.ends_with("istracking=\"True\" upto=\"7\" phase=\"deleted\" />"),
            "{text}"
        );
        assert_eq!(attribute(&text, "upto").as_deref(), Some("7"));
        assert_eq!(attribute(&text, "after"), None);
        assert_eq!(PagingCookie::decode(&text), Some(cookie.clone()));
        assert!(
            cookie
                .encode_tracking(&[])
                .ends_with("istracking=\"True\" />")
        );
    }

    #[test]
    fn a_real_annotation_unwraps_to_its_inner_cookie() {
        let long = PagingCookie {
            page_number: 2,
            columns: vec![column("name", Some(&"x".repeat(MAX_COOKIE_LEN)), None)],
        };
        let (page, inner) = unwrap(&long.encode()).expect("a long cookie is still a cookie");
        assert_eq!((page, inner), (2, long.encode_inner()));
        let (page, inner) = unwrap("<cookie pagenumber=\"2\" pagingcookie=\"%253ccookie%2520page%253d%25221%2522%253e%253c%252fcookie%253e\" istracking=\"False\" />").unwrap();
        assert_eq!((page, inner.as_str()), (2, "<cookie page=\"1\"></cookie>"));
    }

    #[test]
    fn input_over_the_budget_is_not_read() {
        let long = PagingCookie {
            page_number: 2,
            columns: vec![column("name", Some(&"x".repeat(MAX_COOKIE_LEN)), None)],
        };
        assert_eq!(PagingCookie::decode(&long.encode()), None);
        assert_eq!(PagingCookie::decode_inner(&long.encode_inner(), 2), None);
        let fits = PagingCookie {
            page_number: 2,
            columns: vec![column("name", Some(&"x".repeat(1000)), None)],
        };
        assert_eq!(PagingCookie::decode(&fits.encode()), Some(fits));
    }

    fn any_column() -> impl Strategy<Value = CookieColumn> {
        (
            "[a-z_][a-z0-9_]{0,12}",
            proptest::option::of(any::<String>()),
            proptest::option::of(any::<String>()),
        )
            .prop_map(|(name, last, first)| CookieColumn { name, last, first })
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(
            page_number in 1u32..,
            columns in proptest::collection::vec(any_column(), 0..4),
        ) {
            let cookie = PagingCookie { page_number, columns };
            prop_assert_eq!(PagingCookie::decode(&cookie.encode()), Some(cookie.clone()));
            prop_assert_eq!(
                PagingCookie::decode_inner(&cookie.encode_inner(), page_number),
                Some(cookie)
            );
        }
    }
}
