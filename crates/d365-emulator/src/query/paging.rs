//! The `$skiptoken` paging cookie, shaped as Dataverse's:
//! `<cookie pagenumber="2" pagingcookie="<double-URL-encoded inner cookie>" istracking="False" />`
//! where the inner cookie is `<cookie page="1"><name last="…" first="…" /><accountid last="{GUID}"
//! first="{GUID}" /></cookie>`: one element per ORDER BY column with the page's first and last
//! values. The emulator pages by keyset from the `last` values. GUIDs are written as Dataverse
//! writes them; other values carry a type prefix (`s:`, `i:`, `r:`) so they read back exactly
//! (clients treat the cookie as opaque).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
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

// Dataverse encodes everything but letters, digits and `-_.` (it also leaves some others, but
// clients treat the cookie as opaque).
const COOKIE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

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

fn attr(name: &str, v: &Value) -> String {
    match value_text(v) {
        Some(t) => format!(" {name}=\"{}\"", xml_escape(&t)),
        None => format!(" {name}null=\"1\""),
    }
}

impl PagingCookie {
    /// The `$skiptoken` value (not yet URL-encoded for the query string).
    pub fn encode(&self) -> String {
        let inner = self.encode_inner();
        let once = lower_hex(&utf8_percent_encode(&inner, COOKIE).to_string());
        let twice = lower_hex(&utf8_percent_encode(&once, COOKIE).to_string());
        format!(
            "<cookie pagenumber=\"{}\" pagingcookie=\"{twice}\" istracking=\"False\" />",
            self.page_number
        )
    }

    /// The inner cookie, `<cookie page="N-1">…</cookie>`: what FetchXML's `paging-cookie`
    /// attribute carries back.
    pub fn encode_inner(&self) -> String {
        let mut inner = format!("<cookie page=\"{}\">", self.page_number.saturating_sub(1));
        for b in &self.boundaries {
            inner.push_str(&format!(
                "<{}{}{} />",
                b.column,
                attr("last", &b.last),
                attr("first", &b.first)
            ));
        }
        inner.push_str("</cookie>");
        inner
    }

    /// Decodes a `$skiptoken` (already URL-decoded once, as query parsing does).
    pub fn decode(token: &str) -> Option<Self> {
        let page_number = attribute(token, "pagenumber")?.parse().ok()?;
        let encoded = attribute(token, "pagingcookie")?;
        let once = percent_decode_str(&encoded)
            .decode_utf8()
            .ok()?
            .into_owned();
        let inner = percent_decode_str(&once).decode_utf8().ok()?.into_owned();
        Self::decode_inner(&inner, page_number)
    }

    /// Decodes an inner cookie (`<cookie page="1">…</cookie>`, as FetchXML's `paging-cookie`
    /// carries it) that leads to `page_number`.
    pub fn decode_inner(inner: &str, page_number: u32) -> Option<Self> {
        let body = inner.trim().strip_prefix("<cookie")?;
        let body = &body[body.find('>')? + 1..];
        let body = body.strip_suffix("</cookie>")?;
        let mut boundaries = Vec::new();
        for element in body.split("/>").map(str::trim).filter(|e| !e.is_empty()) {
            let element = element.strip_prefix('<')?;
            let column = element.split_whitespace().next()?.to_owned();
            let get = |name: &str| {
                if attribute(element, &format!("{name}null")).is_some() {
                    Some(None)
                } else {
                    attribute(element, name).map(|v| Some(xml_unescape(&v)))
                }
            };
            let last = parse_value(get("last")?.as_deref())?;
            let first = parse_value(get("first")?.as_deref())?;
            boundaries.push(Boundary {
                column,
                first,
                last,
            });
        }
        Some(Self {
            page_number,
            boundaries,
        })
    }
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

/// The value of ` name="…"` in an element (whole-word match).
fn attribute(element: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = element.find(&needle)? + needle.len();
    let end = start + element[start..].find('"')?;
    Some(element[start..end].to_owned())
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
