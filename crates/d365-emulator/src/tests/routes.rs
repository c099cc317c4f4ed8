//! Every route of the router and its error paths, through `router().oneshot(..)` (no socket):
//! one table of requests with the status and Dataverse/Entra error each must get.

use axum::http::{HeaderValue, Method};
use serde_json::{Value, json};

use super::harness::{Case, Harness};
use crate::testing;

#[tokio::test]
async fn every_route_and_error_path() {
    let h = Harness::new().await;
    let t = h.tenant.clone();
    let api = "/api/data/v9.2";
    let account = {
        let a = h
            .send(
                Method::GET,
                &format!("{api}/accounts?$select=name&$top=1"),
                None,
                true,
            )
            .await;
        a.json()["value"][0]["accountid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let missing = "00000000-0000-0000-0000-000000000001";

    // (method, uri, body, bearer, status, error code or "" for success/any)
    let mut cases = entra_cases(&t);
    cases.extend(super::routes_webapi::cases(api, &account, missing));
    cases.extend(control_cases());
    let mut failures = Vec::new();
    for (method, uri, body, bearer, status, code) in cases {
        let label = format!("{method} {uri}");
        let a = h.send(method, &uri, body, bearer).await;
        if a.status != status {
            failures.push(format!(
                "{label}: status {} not {status}: {}",
                a.status,
                a.text()
            ));
            continue;
        }
        if !code.is_empty() {
            let v = a.json();
            let got = v["error"]["code"]
                .as_str()
                .or(v["error"].as_str())
                .unwrap_or_default();
            if got != code {
                failures.push(format!("{label}: code {got} not {code}"));
            }
        }
        // Every Web API error is Dataverse-shaped JSON.
        if uri.starts_with("/api/")
            && (400..500).contains(&a.status)
            && (!a.content_type.starts_with("application/json")
                || !a.json()["error"]["message"].is_string())
        {
            failures.push(format!(
                "{label}: not a Dataverse error: {} {}",
                a.content_type,
                a.text()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The control API refuses a foreign Host (DNS rebinding) and a foreign Origin (a web page).
    for (name, value) in [
        ("host", "evil.example:8443"),
        ("origin", "http://evil.example"),
    ] {
        let mut request = testing::request(Method::POST, "/_emulator/reset", None, None);
        request
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
        let answer = testing::send(&h.router, request).await;
        assert_eq!(answer.status, 403, "{name}: {value}");
    }
    for ok in ["127.0.0.1:8443", "localhost", "[::1]:9"] {
        let mut request = testing::request(Method::GET, "/_emulator/stats", None, None);
        request
            .headers_mut()
            .insert("host", HeaderValue::from_static(ok));
        let answer = testing::send(&h.router, request).await;
        assert_eq!(answer.status, 200, "{ok}");
    }

    // The control API refuses anyone but loopback.
    let a = h
        .send_from(
            Method::GET,
            "/_emulator/stats",
            None,
            false,
            "192.0.2.7:40000",
        )
        .await;
    assert_eq!(a.status, 403);
}

/// The Entra ID rows of the table.
fn entra_cases(t: &str) -> Vec<Case<'static>> {
    let form = |s: &str| Some(("application/x-www-form-urlencoded", s.to_owned()));
    vec![
        // Entra ID
        (
            Method::GET,
            format!("/{t}/.well-known/openid-configuration"),
            None,
            false,
            200,
            "",
        ),
        (
            Method::GET,
            format!("/{t}/v2.0/.well-known/openid-configuration"),
            None,
            false,
            200,
            "",
        ),
        (
            Method::GET,
            format!("/{t}/discovery/keys"),
            None,
            false,
            200,
            "",
        ),
        (
            Method::GET,
            format!("/{t}/discovery/v2.0/keys"),
            None,
            false,
            200,
            "",
        ),
        (
            Method::GET,
            "/common/userrealm/admin@contoso.onmicrosoft.com?api-version=1.0".into(),
            None,
            false,
            200,
            "",
        ),
        (
            Method::POST,
            format!("/{t}/oauth2/token"),
            form("grant_type=client_credentials&client_id=x&client_secret=y&resource=z"),
            false,
            400,
            "unauthorized_client",
        ),
        (
            Method::POST,
            format!("/{t}/oauth2/v2.0/token"),
            form("grant_type=nonsense"),
            false,
            400,
            "invalid_request",
        ),
        (
            Method::GET,
            format!("/{t}/oauth2/token"),
            None,
            false,
            400,
            "invalid_request",
        ),
        (
            Method::POST,
            format!("/{t}/oauth2/devicecode"),
            form("client_id=nope&resource=z"),
            false,
            400,
            "",
        ),
        (
            Method::POST,
            format!("/{t}/oauth2/v2.0/devicecode"),
            form("client_id=nope&scope=z"),
            false,
            400,
            "",
        ),
        (
            Method::GET,
            format!(
                "/{t}/oauth2/v2.0/authorize?client_id=nope&response_type=code&redirect_uri=http://localhost"
            ),
            None,
            false,
            400,
            "",
        ),
        (Method::GET, "/devicelogin".into(), None, false, 200, ""),
        (
            Method::GET,
            "/no/such/route".into(),
            None,
            false,
            404,
            "invalid_request",
        ),
    ]
}

/// The control API rows of the table (loopback).
fn control_cases() -> Vec<Case<'static>> {
    let json_body = |v: Value| Some(("application/json", v.to_string()));
    vec![
        // Control API (loopback)
        (Method::GET, "/_emulator/stats".into(), None, false, 200, ""),
        (
            Method::GET,
            "/_emulator/requests".into(),
            None,
            false,
            200,
            "",
        ),
        (
            Method::DELETE,
            "/_emulator/requests".into(),
            None,
            false,
            204,
            "",
        ),
        (
            Method::GET,
            "/_emulator/faults".into(),
            None,
            false,
            200,
            "",
        ),
        (
            Method::POST,
            "/_emulator/faults".into(),
            json_body(json!({"kind": "nope"})),
            false,
            400,
            "",
        ),
        (
            Method::DELETE,
            "/_emulator/faults".into(),
            None,
            false,
            204,
            "",
        ),
        (
            Method::GET,
            "/_emulator/limits".into(),
            None,
            false,
            200,
            "",
        ),
        (
            Method::PUT,
            "/_emulator/limits".into(),
            json_body(json!({"limits": {"concurrent": 0}})),
            false,
            400,
            "",
        ),
        (
            Method::PUT,
            "/_emulator/limits".into(),
            json_body(json!({"limits": null})),
            false,
            200,
            "",
        ),
        (
            Method::POST,
            "/_emulator/clock/advance?seconds=0".into(),
            None,
            false,
            200,
            "",
        ),
        (
            Method::POST,
            "/_emulator/users/nobody@x/revoke".into(),
            None,
            false,
            404,
            "",
        ),
        (
            Method::POST,
            "/_emulator/devicecode/NOPE/approve?upn=admin@contoso.onmicrosoft.com".into(),
            None,
            false,
            404,
            "",
        ),
        (
            Method::POST,
            "/_emulator/devicecode/NOPE/decline".into(),
            None,
            false,
            404,
            "",
        ),
        (
            Method::GET,
            "/_emulator/snapshots".into(),
            None,
            false,
            200,
            "",
        ),
        (
            Method::POST,
            "/_emulator/snapshots/s1".into(),
            None,
            false,
            201,
            "",
        ),
        (
            Method::POST,
            "/_emulator/snapshots/s1/restore".into(),
            None,
            false,
            200,
            "",
        ),
        (
            Method::DELETE,
            "/_emulator/snapshots/s1".into(),
            None,
            false,
            204,
            "",
        ),
        (
            Method::DELETE,
            "/_emulator/snapshots/s1".into(),
            None,
            false,
            404,
            "",
        ),
        (
            Method::POST,
            "/_emulator/reset".into(),
            None,
            false,
            200,
            "",
        ),
    ]
}

/// Inputs that once overflowed the stack (an abort no panic layer catches) get a 400 in
/// Dataverse's shape, and the next request is served.
#[tokio::test]
async fn recursive_readers_refuse_what_is_past_their_budget() {
    let h = Harness::new().await;
    let api = "/api/data/v9.2";
    let chain: String = (1..40)
        .map(|i| format!("&@a{i}=@a{n} or @a{n}", n = i + 1))
        .collect::<String>()
        + "&@a40=name eq 'x'";
    let parens = |n: usize| "(".repeat(n) + "name='x'" + &")".repeat(n);
    let expand = |n: usize| "a($expand=".repeat(n) + "x" + &")".repeat(n);
    let cases = [
        (format!("{api}/accounts?$filter=@p1&@p1=not @p1"), "loop"),
        (
            format!("{api}/accounts?$filter=@p1&@p1=name eq 'x' or @p1"),
            "loop",
        ),
        (format!("{api}/accounts?$filter=@a1{chain}"), "nodes"),
        (
            format!(
                "{api}/accounts?sql=SELECT name FROM account WHERE {}",
                parens(10_000)
            ),
            "parentheses",
        ),
        (
            format!("{api}/accounts?$expand={}", expand(2_800)),
            "$expand",
        ),
        (
            format!("{api}/accounts?$orderby={}name", "(".repeat(5_000)),
            "",
        ),
    ];
    for (uri, words) in cases {
        let a = h.send(Method::GET, &uri, None, true).await;
        assert_eq!(a.status, 400, "{}: {}", &uri[..80], a.text());
        let message = a.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            a.json()["error"]["code"]
                .as_str()
                .is_some_and(|c| c.starts_with("0x")),
            "{}",
            a.text()
        );
        assert!(message.contains(words), "{words}: {message}");
        let next = h
            .send(Method::GET, &format!("{api}/accounts?$top=1"), None, true)
            .await;
        assert_eq!(next.status, 200, "{}", next.text());
    }
}
