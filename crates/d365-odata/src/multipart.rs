//! The `multipart/mixed` framing of OData `$batch` bodies
//! (<https://docs.oasis-open.org/odata/odata/v4.01/odata-v4.01-part1-protocol.html#sec_BatchRequests>,
//! RFC 2046 §5.1): splitting a body into parts, reading each part's MIME headers, and reading
//! the HTTP request or response embedded in an `application/http` part. Writing is string
//! building and lives with the writers (the client's batch builder, the emulator's response).
//!
//! The reader is lenient where clients differ and reports what a strict server refuses:
//! Dataverse rejects bodies whose framing lines end in a bare LF, so [`Multipart::bare_lf`]
//! says whether any delimiter or header line did, and the caller decides. An embedded message
//! whose head is not closed by a blank line (the delimiter's CRLF ends it, as
//! DynamicsWebApi and the Python SDK write GETs) has an empty body.

use std::fmt;

/// A `multipart/mixed` body split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart<'a> {
    /// The parts, in order.
    pub parts: Vec<Part<'a>>,
    /// Whether some delimiter or header line ended in a bare `\n` instead of `\r\n`.
    pub bare_lf: bool,
}

/// One body part: its MIME headers and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The content after the blank line (without the CRLF that belongs to the next delimiter).
    pub body: &'a [u8],
}

impl Part<'_> {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The nested boundary when this part is itself `multipart/mixed` (a change set).
    pub fn nested_boundary(&self) -> Option<String> {
        self.header("content-type").and_then(boundary)
    }
}

/// A request embedded in an `application/http` part (`POST /api/data/v9.2/tasks HTTP/1.1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedRequest<'a> {
    /// The method (`GET`, `POST`, …), as sent.
    pub method: String,
    /// The request target: an absolute URL, a path, a relative path or a `$n` reference.
    pub target: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The body (may be empty).
    pub body: &'a [u8],
}

impl EmbeddedRequest<'_> {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// A response embedded in an `application/http` part (`HTTP/1.1 204 No Content`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedResponse<'a> {
    /// The status code.
    pub status: u16,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The body (may be empty).
    pub body: &'a [u8],
}

impl EmbeddedResponse<'_> {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// Why a body is not a well-formed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartError(pub String);

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MultipartError {}

fn find_header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The `boundary` of a `multipart/mixed` content type, quoted or not
/// (`multipart/mixed; boundary="batch_1"`, `multipart/mixed;boundary=batch_1`); `None` for
/// any other type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let essence = params.next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// Lines of `bytes` with their start offsets and whether they ended in a bare LF; the last
/// line may have no terminator.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8], bool)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= bytes.len() {
            return None;
        }
        let start = at;
        let (line, bare) = match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(n) => {
                at = start + n + 1;
                let raw = &bytes[start..start + n];
                match raw.strip_suffix(b"\r") {
                    Some(l) => (l, false),
                    None => (raw, true),
                }
            }
            None => {
                at = bytes.len();
                let raw = &bytes[start..];
                (raw.strip_suffix(b"\r").unwrap_or(raw), false)
            }
        };
        Some((start, line, bare))
    })
}

/// Splits a `multipart/mixed` body on `--{boundary}` lines, up to the closing
/// `--{boundary}--`. Text before the first delimiter (a preamble, or the CRLF DynamicsWebApi
/// starts with) is skipped. Each part's headers run to the first blank line.
pub fn split<'a>(body: &'a [u8], boundary: &str) -> Result<Multipart<'a>, MultipartError> {
    let delimiter = format!("--{boundary}");
    let close = format!("--{boundary}--");
    let mut bare_lf = false;
    // (content start, and where the delimiter line that ends it starts)
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut open: Option<usize> = None;
    let mut closed = false;
    for (start, line, bare) in lines(body) {
        let text = line.trim_ascii_end();
        let is_delimiter = text == delimiter.as_bytes();
        let is_close = text == close.as_bytes();
        if !(is_delimiter || is_close) {
            continue;
        }
        bare_lf |= bare;
        if let Some(content) = open.take() {
            spans.push((content, start));
        }
        if is_close {
            closed = true;
            break;
        }
        let next = start + line.len() + if bare { 1 } else { 2 };
        open = Some(next.min(body.len()));
    }
    if !closed {
        return Err(MultipartError(format!(
            "the multipart body has no closing delimiter '--{boundary}--'"
        )));
    }
    let mut parts = Vec::with_capacity(spans.len());
    for (from, to) in spans {
        // The line break before a delimiter belongs to the delimiter.
        let content = &body[from..to.max(from)];
        let content = content
            .strip_suffix(b"\r\n")
            .or_else(|| content.strip_suffix(b"\n"))
            .unwrap_or(content);
        let (headers, rest, bare) = read_head(content)?;
        bare_lf |= bare;
        parts.push(Part {
            headers,
            body: rest,
        });
    }
    Ok(Multipart { parts, bare_lf })
}

/// Headers in order.
type Headers = Vec<(String, String)>;

/// Header lines up to a blank line (or the end), and what follows the blank line.
fn read_head(bytes: &[u8]) -> Result<(Headers, &[u8], bool), MultipartError> {
    let (head, body, bare) = split_head(bytes);
    let mut headers = Vec::new();
    for line in head {
        headers.push(header_line(line)?);
    }
    Ok((headers, body, bare))
}

/// The lines before the first blank line, the bytes after it, and whether some head line
/// ended in a bare LF.
fn split_head(bytes: &[u8]) -> (Vec<&[u8]>, &[u8], bool) {
    let mut head = Vec::new();
    let mut bare_lf = false;
    for (start, line, bare) in lines(bytes) {
        if line.is_empty() {
            bare_lf |= bare;
            let after = start + if bare { 1 } else { 2 };
            return (head, &bytes[after.min(bytes.len())..], bare_lf);
        }
        bare_lf |= bare;
        head.push(line);
    }
    (head, &bytes[bytes.len()..], bare_lf)
}

fn header_line(line: &[u8]) -> Result<(String, String), MultipartError> {
    let text = std::str::from_utf8(line)
        .map_err(|_| MultipartError("a header line is not UTF-8".into()))?;
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| MultipartError(format!("'{text}' is not a header line")))?;
    let name = name.trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(MultipartError(format!("'{text}' is not a header line")));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// Reads the request in an `application/http` part: request line, headers, blank line, body.
pub fn parse_request(bytes: &[u8]) -> Result<EmbeddedRequest<'_>, MultipartError> {
    let (mut head, body, _) = split_head(bytes);
    if head.is_empty() {
        return Err(MultipartError("a batch part has no request line".into()));
    }
    let first = head.remove(0);
    let line = std::str::from_utf8(first)
        .map_err(|_| MultipartError("a request line is not UTF-8".into()))?;
    // The target is everything between the method and the version: the Python SDK writes
    // spaces of a `$filter` literal unencoded, and Dataverse takes them.
    let bad = || {
        MultipartError(format!(
            "'{line}' is not a request line (METHOD url HTTP/1.1)"
        ))
    };
    let (method, rest) = line.trim().split_once(' ').ok_or_else(bad)?;
    let (target, version) = rest.trim().rsplit_once(' ').ok_or_else(bad)?;
    let target = target.trim();
    if !version.starts_with("HTTP/") || method.is_empty() || target.is_empty() {
        return Err(bad());
    }
    let headers = head
        .into_iter()
        .map(header_line)
        .collect::<Result<_, _>>()?;
    Ok(EmbeddedRequest {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body,
    })
}

/// Reads the response in an `application/http` part: status line, headers, blank line, body.
pub fn parse_response(bytes: &[u8]) -> Result<EmbeddedResponse<'_>, MultipartError> {
    let (mut head, body, _) = split_head(bytes);
    if head.is_empty() {
        return Err(MultipartError("a batch part has no status line".into()));
    }
    let first = head.remove(0);
    let line = std::str::from_utf8(first)
        .map_err(|_| MultipartError("a status line is not UTF-8".into()))?;
    let status = line
        .strip_prefix("HTTP/")
        .and_then(|rest| rest.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| MultipartError(format!("'{line}' is not a status line")))?;
    let headers = head
        .into_iter()
        .map(header_line)
        .collect::<Result<_, _>>()?;
    Ok(EmbeddedResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_quoted_or_not() {
        assert_eq!(
            boundary("multipart/mixed; boundary=\"batch_1\"").as_deref(),
            Some("batch_1")
        );
        assert_eq!(
            boundary("multipart/mixed;boundary=dwa_batch_x").as_deref(),
            Some("dwa_batch_x")
        );
        assert_eq!(boundary("application/json"), None);
        assert_eq!(boundary("multipart/mixed"), None);
    }

    const BODY: &str = "\r\n--b\r\nContent-Type: multipart/mixed;boundary=cs\r\n\r\n\
        --cs\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n\
        POST https://x/api/data/v9.2/accounts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"name\":\"a\"}\r\n\
        --cs--\r\n\
        --b\r\nContent-Type: application/http\r\n\r\nGET accounts HTTP/1.1\r\nAccept: application/json\r\n\
        --b--\r\n";

    #[test]
    fn splits_nested_change_sets_and_reads_embedded_requests() {
        let outer = split(BODY.as_bytes(), "b").unwrap();
        assert!(!outer.bare_lf);
        assert_eq!(outer.parts.len(), 2);
        let cs = &outer.parts[0];
        let inner = split(cs.body, &cs.nested_boundary().unwrap()).unwrap();
        assert_eq!(inner.parts.len(), 1);
        assert_eq!(inner.parts[0].header("content-id"), Some("1"));
        let post = parse_request(inner.parts[0].body).unwrap();
        assert_eq!(post.method, "POST");
        assert_eq!(post.target, "https://x/api/data/v9.2/accounts");
        assert_eq!(post.body, b"{\"name\":\"a\"}");
        // A GET whose head the delimiter's CRLF closes: no body.
        let get = parse_request(outer.parts[1].body).unwrap();
        assert_eq!(get.target, "accounts");
        assert_eq!(get.header("accept"), Some("application/json"));
        assert!(get.body.is_empty());
        let spaced = parse_request(b"GET accounts?$filter=name eq 'a b' HTTP/1.1\r\n").unwrap();
        assert_eq!(spaced.target, "accounts?$filter=name eq 'a b'");
        assert!(parse_request(b"GET HTTP/1.1\r\n").is_err());
    }

    #[test]
    fn bare_lf_is_reported_and_a_missing_close_is_an_error() {
        let lf = BODY.replace("\r\n", "\n");
        assert!(split(lf.as_bytes(), "b").unwrap().bare_lf);
        assert!(split(b"--b\r\nContent-Type: application/http\r\n\r\n", "b").is_err());
    }

    #[test]
    fn reads_embedded_responses() {
        let r = parse_response(
            b"HTTP/1.1 204 No Content\r\nOData-EntityId: https://x/api/data/v9.2/accounts(1)\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.status, 204);
        assert_eq!(
            r.header("odata-entityid"),
            Some("https://x/api/data/v9.2/accounts(1)")
        );
        assert!(r.body.is_empty());
        assert!(parse_response(b"nonsense").is_err());
    }
}
