//! Issue 13 ("Hardening"), items 10 to 12, as processes: the files `d365 import` and
//! `d365 export` write, server text on the terminal, and imports refused before anything is
//! sent. (Item 9, PostgreSQL over TLS, is in `sync.rs` beside the other PostgreSQL tests.)

mod util;

use std::io::{Read, Write};

use util::TestCommand;

const TOKEN: (u16, &str) = (
    200,
    r#"{"token_type":"Bearer","access_token":"not-a-jwt","expires_in":3600}"#,
);

/// A loopback server that answers token requests with `token` and every other request with
/// `api` (status, JSON body): the far side of a test that needs an answer the emulator would
/// never give.
fn answering_server(token: (u16, &'static str), api: (u16, &'static str)) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            let mut rest = vec![0u8; length];
            let _ = stream.read_exact(&mut rest);
            let (status, body) = if head.contains("/oauth2/") {
                token
            } else {
                api
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn against(port: u16, args: &[&str]) -> TestCommand {
    let base = format!("http://127.0.0.1:{port}");
    TestCommand::new(args)
        .env("AZURE_AUTHORITY_HOST", &base)
        .env("AZURE_TENANT_ID", "contoso")
        .env("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
        .env("AZURE_CLIENT_SECRET", "s")
        .env("D365_URL", &base)
}

/// Item 11: an error message with an escape sequence (clear screen, set title) reaches the
/// terminal escaped, from the Web API and from the token endpoint alike.
#[test]
fn i13_11_server_text_reaches_the_terminal_escaped() {
    let api = answering_server(
        TOKEN,
        (
            400,
            r#"{"error":{"code":"0x80040203","message":"bad \u001b[2J\u001b]0;owned\u0007 value\nhint: run rm -rf"}}"#,
        ),
    );
    let run = against(api, &["get", "accounts", "--top", "1"]).run();
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert!(!run.stderr.contains('\u{7}'), "{:?}", run.stderr);
    assert!(run.stderr.contains(r"bad \u{1b}[2J"), "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);

    let entra = answering_server(
        (
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: \u001b[31mInvalid client secret\u001b[0m\r\nforged line","error_codes":[7000215]}"#,
        ),
        (500, "{}"),
    );
    let run = against(entra, &["get", "accounts", "--top", "1"]).run();
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert!(!run.stderr.contains('\r'), "{:?}", run.stderr);
    assert!(
        run.stderr
            .contains(r"AADSTS7000215: \u{1b}[31mInvalid client secret"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.lines().any(|l| l.starts_with("forged")),
        "{}",
        run.stderr
    );
}
