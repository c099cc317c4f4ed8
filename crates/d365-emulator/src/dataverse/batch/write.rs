//! The `multipart/mixed` answer to a batch, with CRLF line endings, in the shape of
//! PROTOCOL.md B13.3. DynamicsWebApi reads it strictly: the body starts with the delimiter
//! line (no preamble); a change set part has exactly one header line and a blank line before
//! its first nested delimiter; each status line is `HTTP/1.1 <code> <words>`.

use std::fmt::Write as _;

use super::Outcome;
use super::part::{PartResponse, reason};

/// The response boundary (new, as Dataverse's is) and the body text.
pub(super) fn response(outcomes: &[Outcome]) -> (String, String) {
    let boundary = format!("batchresponse_{}", uuid::Uuid::new_v4());
    let mut out = String::new();
    for outcome in outcomes {
        let _ = write!(out, "--{boundary}\r\n");
        match outcome {
            Outcome::Single(part) => write_part(&mut out, part),
            Outcome::ChangeSet(parts) => {
                let cs = format!("changesetresponse_{}", uuid::Uuid::new_v4());
                let _ = write!(out, "Content-Type: multipart/mixed; boundary={cs}\r\n\r\n");
                for part in parts {
                    let _ = write!(out, "--{cs}\r\n");
                    write_part(&mut out, part);
                }
                let _ = write!(out, "--{cs}--\r\n");
            }
        }
    }
    let _ = write!(out, "--{boundary}--\r\n");
    (boundary, out)
}

/// One `application/http` part: MIME headers, the status line, the response headers, a
/// blank line, the body and the CRLF that precedes the next delimiter.
fn write_part(out: &mut String, part: &PartResponse) {
    out.push_str("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = &part.content_id {
        let _ = write!(out, "Content-ID: {id}\r\n");
    }
    let _ = write!(
        out,
        "\r\nHTTP/1.1 {} {}\r\n",
        part.status,
        reason(part.status)
    );
    let header = |name: &str| part.headers.get(name).and_then(|v| v.to_str().ok());
    let entity_id = header("odata-entityid");
    if let Some(ct) = header("content-type") {
        let _ = write!(out, "Content-Type: {ct}\r\n");
    }
    out.push_str("OData-Version: 4.0\r\n");
    if part.status >= 400 {
        let _ = write!(out, "REQ_ID: {}\r\n", uuid::Uuid::new_v4());
    }
    // Location has the same value as OData-EntityId in batch answers.
    if let Some(location) = header("location").or(entity_id) {
        let _ = write!(out, "Location: {location}\r\n");
    }
    if let Some(id) = entity_id {
        let _ = write!(out, "OData-EntityId: {id}\r\n");
    }
    for (name, value) in &part.headers {
        let known = matches!(
            name.as_str(),
            "content-type" | "odata-version" | "location" | "odata-entityid" | "content-length"
        );
        if let (false, Ok(value)) = (known, value.to_str()) {
            let _ = write!(out, "{}: {value}\r\n", canonical(name.as_str()));
        }
    }
    out.push_str("\r\n");
    out.push_str(&String::from_utf8_lossy(&part.body));
    out.push_str("\r\n");
}

/// `preference-applied` → `Preference-Applied`; `etag` → `ETag`.
fn canonical(name: &str) -> String {
    match name {
        "etag" => "ETag".to_owned(),
        _ => name
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn part(id: Option<&str>, status: u16, entity: Option<&str>, body: &str) -> PartResponse {
        let mut headers = HeaderMap::new();
        if let Some(e) = entity {
            headers.insert("odata-entityid", e.parse().unwrap());
        }
        if !body.is_empty() {
            headers.insert("content-type", "application/json".parse().unwrap());
        }
        PartResponse {
            content_id: id.map(str::to_owned),
            status,
            headers,
            body: axum::body::Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    #[test]
    fn the_shape_dynamics_web_api_reads() {
        let (boundary, text) = response(&[
            Outcome::ChangeSet(vec![part(Some("1"), 204, Some("https://o/x(1)"), "")]),
            Outcome::Single(part(None, 200, None, "{\"value\":[]}")),
        ]);
        assert!(text.starts_with(&format!(
            "--{boundary}\r\nContent-Type: multipart/mixed; boundary=changesetresponse_"
        )));
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));
        assert!(text.contains("Content-ID: 1\r\n\r\nHTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\nLocation: https://o/x(1)\r\nOData-EntityId: https://o/x(1)\r\n\r\n\r\n--changesetresponse_"));
        assert!(text.contains("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nOData-Version: 4.0\r\n\r\n{\"value\":[]}\r\n--batchresponse_"));
        assert!(!text.contains("\n\n"), "every line ends in CRLF");
    }
}
