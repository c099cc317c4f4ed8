//! The soak's hostile requests: self-referencing aliases, deep nesting for every reader,
//! deeply nested and oversized bodies, bad tokens and malformed batches.

use super::Info;

fn nest(open: &str, inner: &str, close: &str, depth: usize) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

/// A hostile request: (label, method, path or URL, content type, body, bearer token valid).
pub(super) type Hostile = (
    &'static str,
    reqwest::Method,
    String,
    &'static str,
    Vec<u8>,
    bool,
);

pub(super) fn hostile_inputs(info: &Info, safe: bool) -> Vec<Hostile> {
    use reqwest::Method as M;
    let batch_body = |parts: &str| format!("--b\r\n{parts}--b--\r\n").into_bytes();
    let mut list: Vec<Hostile> = vec![
        (
            "bad token",
            M::GET,
            info.api("accounts?$top=1"),
            "",
            Vec::new(),
            false,
        ),
        (
            "malformed batch (bare LF)",
            M::POST,
            info.api("$batch"),
            "multipart/mixed; boundary=b",
            b"--b\nContent-Type: application/http\n\nGET accounts HTTP/1.1\n\n--b--\n".to_vec(),
            true,
        ),
        (
            "malformed batch (no parts)",
            M::POST,
            info.api("$batch"),
            "multipart/mixed; boundary=b",
            batch_body(""),
            true,
        ),
        (
            "batch with a change set in a change set",
            M::POST,
            info.api("$batch"),
            "multipart/mixed; boundary=b",
            batch_body(
                "Content-Type: multipart/mixed; boundary=c1\r\n\r\n--c1\r\nContent-Type: multipart/mixed; boundary=c2\r\n\r\n--c2--\r\n--c1--\r\n",
            ),
            true,
        ),
        (
            "not JSON",
            M::POST,
            info.api("accounts"),
            "application/json",
            b"{\"name\": ".to_vec(),
            true,
        ),
        (
            "unknown column",
            M::GET,
            info.api("accounts?$filter=nosuchcolumn eq 1"),
            "",
            Vec::new(),
            true,
        ),
        (
            "JSON body [[[[… 100,000 deep",
            M::POST,
            info.api("accounts"),
            "application/json",
            "[".repeat(100_000).into_bytes(),
            true,
        ),
    ];
    if !safe {
        list.extend([
            (
                "$filter=@p1&@p1=not @p1",
                M::GET,
                info.api("accounts?$filter=@p1&@p1=not @p1"),
                "",
                Vec::new(),
                true,
            ),
            (
                "$filter=@p1&@p1=name eq 'x' or @p1",
                M::GET,
                info.api("accounts?$filter=@p1&@p1=name eq 'x' or @p1"),
                "",
                Vec::new(),
                true,
            ),
            (
                "$filter 10,000 parentheses",
                M::GET,
                info.api(&format!(
                    "accounts?$filter={}",
                    nest("(", "name eq 'x'", ")", 10_000)
                )),
                "",
                Vec::new(),
                true,
            ),
            (
                "?sql= 10,000 parentheses",
                M::GET,
                info.api(&format!(
                    "accounts?sql=SELECT name FROM account WHERE {}",
                    nest("(", "name='x'", ")", 10_000)
                )),
                "",
                Vec::new(),
                true,
            ),
            (
                "$expand 2,800 deep",
                M::GET,
                info.api(&format!(
                    "accounts?$expand={}",
                    nest("a($expand=", "a", ")", 2_800)
                )),
                "",
                Vec::new(),
                true,
            ),
            (
                "FetchXML 1,000 nested <filter>",
                M::GET,
                info.api(&format!(
                    "accounts?fetchXml=<fetch><entity name='account'>{}</entity></fetch>",
                    nest(
                        "<filter>",
                        "<condition attribute='name' operator='eq' value='x'/>",
                        "</filter>",
                        1_000
                    )
                )),
                "",
                Vec::new(),
                true,
            ),
        ]);
    }
    list
}

/// The oversized body (17 MB, over the 16 MB the Web API reads), sent rarely.
pub(super) fn oversized(info: &Info) -> Hostile {
    let mut body = b"{\"name\":\"".to_vec();
    body.resize(17 * 1024 * 1024, b'x');
    body.extend_from_slice(b"\"}");
    (
        "oversized body (17 MB)",
        reqwest::Method::POST,
        info.api("accounts"),
        "application/json",
        body,
        true,
    )
}
