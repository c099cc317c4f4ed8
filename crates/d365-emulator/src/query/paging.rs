//! The `$skiptoken` paging cookie, shaped as Dataverse's:
//! `<cookie pagenumber="2" pagingcookie="<double-URL-encoded inner cookie>" istracking="False" />`
//! where the inner cookie is `<cookie page="1"><name last="…" first="…" /><accountid last="{GUID}"
//! first="{GUID}" /></cookie>`: one element per ORDER BY column with the page's first and last
//! values. The emulator pages by keyset from the `last` values. GUIDs are written as Dataverse
//! writes them; other values carry a type prefix (`s:`, `i:`, `r:`) so they read back exactly
//! (clients treat the cookie as opaque). The text itself is `d365_odata::paging_cookie`'s.

use d365_odata::paging_cookie::{self, CookieColumn};
use rusqlite::types::Value;

/// A column's value at a page boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct Boundary {
    /// The column name.
    pub column: String,
    /// The first row's value on the page.
    pub first: Value,
    /// The last row's value on the page.
    pub last: Value,
}

/// A decoded cookie.
#[derive(Debug, Clone, PartialEq)]
pub struct PagingCookie {
    /// The number of the page this cookie leads to.
    pub page_number: u32,
    /// Boundaries of the previous page, in ORDER BY order.
    pub boundaries: Vec<Boundary>,
}

/// Typed text for a boundary value: GUIDs as `{UPPER}`, numbers as digits, text as is; `None`
/// for null (written as a `…null="1"` attribute).
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Integer(i) => Some(format!("i:{i}")),
        Value::Real(f) => Some(format!("r:{f:?}")),
        Value::Text(t) => Some(format!("s:{t}")),
        Value::Blob(b) => Some(match uuid::Uuid::from_slice(b) {
            Ok(g) => format!("{{{}}}", g.hyphenated().to_string().to_uppercase()),
            Err(_) => String::new(),
        }),
    }
}

fn parse_value(text: Option<&str>) -> Option<Value> {
    let Some(t) = text else {
        return Some(Value::Null);
    };
    if let Some(rest) = t.strip_prefix("i:") {
        return rest.parse().ok().map(Value::Integer);
    }
    if let Some(rest) = t.strip_prefix("r:") {
        return rest.parse().ok().map(Value::Real);
    }
    if let Some(rest) = t.strip_prefix("s:") {
        return Some(Value::Text(rest.to_owned()));
    }
    let g = uuid::Uuid::parse_str(t.trim_matches(['{', '}'])).ok()?;
    Some(Value::Blob(g.as_bytes().to_vec()))
}

impl PagingCookie {
    /// The `$skiptoken` value (not yet URL-encoded for the query string).
    pub fn encode(&self) -> String {
        self.text().encode()
    }

    /// The `$skiptoken` value with change-tracking state in extra attributes.
    pub fn encode_tracking(&self, state: &[(&str, String)]) -> String {
        self.text().encode_tracking(state)
    }

    /// The inner cookie, `<cookie page="N-1">…</cookie>`: what FetchXML's `paging-cookie`
    /// attribute carries back.
    pub fn encode_inner(&self) -> String {
        self.text().encode_inner()
    }

    /// Decodes a `$skiptoken` (already URL-decoded once, as query parsing does).
    pub fn decode(token: &str) -> Option<Self> {
        Self::typed(paging_cookie::PagingCookie::decode(token)?)
    }

    /// Decodes an inner cookie (`<cookie page="1">…</cookie>`, as FetchXML's `paging-cookie`
    /// carries it) that leads to `page_number`.
    pub fn decode_inner(inner: &str, page_number: u32) -> Option<Self> {
        Self::typed(paging_cookie::PagingCookie::decode_inner(
            inner,
            page_number,
        )?)
    }

    fn text(&self) -> paging_cookie::PagingCookie {
        paging_cookie::PagingCookie {
            page_number: self.page_number,
            columns: self
                .boundaries
                .iter()
                .map(|b| CookieColumn {
                    name: b.column.clone(),
                    last: value_text(&b.last),
                    first: value_text(&b.first),
                })
                .collect(),
        }
    }

    fn typed(text: paging_cookie::PagingCookie) -> Option<Self> {
        let boundaries = text
            .columns
            .into_iter()
            .map(|c| {
                Some(Boundary {
                    last: parse_value(c.last.as_deref())?,
                    first: parse_value(c.first.as_deref())?,
                    column: c.name,
                })
            })
            .collect::<Option<_>>()?;
        Some(Self {
            page_number: text.page_number,
            boundaries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_value_kind() {
        let g = uuid::Uuid::parse_str("d5026a4d-d01c-ed11-b83e-000d3a572421").unwrap();
        let cookie = PagingCookie {
            page_number: 3,
            boundaries: vec![
                Boundary {
                    column: "name".into(),
                    first: Value::Text("A & \"B\" <c> 'd' 100%".into()),
                    last: Value::Null,
                },
                Boundary {
                    column: "revenue".into(),
                    first: Value::Integer(-5),
                    last: Value::Real(1.5),
                },
                Boundary {
                    column: "accountid".into(),
                    first: Value::Blob(g.as_bytes().to_vec()),
                    last: Value::Blob(g.as_bytes().to_vec()),
                },
            ],
        };
        let token = cookie.encode();
        assert!(
            token.starts_with(
                "<cookie pagenumber=\"3\" pagingcookie=\"%253ccookie%2520page%253d%25222%2522%253e"
            ),
            "{token}"
        );
        assert!(
            token.contains("%257bD5026A4D-D01C-ED11-B83E-000D3A572421%257d"),
            "{token}"
        );
        assert_eq!(PagingCookie::decode(&token), Some(cookie));
        assert_eq!(PagingCookie::decode("<cookie pagenumber=\"2\" />"), None);
        assert_eq!(PagingCookie::decode("garbage"), None);
    }
}
