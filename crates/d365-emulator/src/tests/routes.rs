//! Every route of the router and its error paths, through `router().oneshot(..)` (no socket):
//! one table of requests with the status and Dataverse/Entra error each must get.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::config::EmulatorConfig;
use crate::state::AppState;

const BASE: &str = "http://127.0.0.1:9";

/// (method, URI, body with its content type, with the bearer token, status, error code or "").
type Case<'a> = (
    Method,
    String,
    Option<(&'a str, String)>,
    bool,
    u16,
    &'a str,
);

struct Harness {
    state: AppState,
    token: String,
    tenant: String,
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl Harness {
    async fn new() -> Self {
        crate::entra::keys::install_crypto_providers();
        let config = EmulatorConfig {
            seed_accounts: 3,
            ..EmulatorConfig::default()
        };
        let tenant = config.tenants[0].id.clone();
        let state = crate::server::build_state(config, BASE.into(), BASE.into(), true)
            .await
            .unwrap();
        let mut h = Self {
            state,
            token: String::new(),
            tenant,
        };
        let app = h.state.registry.config().apps[0].clone();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &app.client_id)
            .append_pair("client_secret", &app.secrets[0].value)
            .append_pair("resource", BASE)
            .finish();
        let answer = h
            .send(
                Method::POST,
                &format!("/{}/oauth2/token", h.tenant),
                Some(("application/x-www-form-urlencoded", body)),
                false,
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        h.token = answer.json()["access_token"].as_str().unwrap().to_owned();
        h
    }

    async fn send(
        &self,
        method: Method,
        uri: &str,
        body: Option<(&str, String)>,
        bearer: bool,
    ) -> Answer {
        self.send_from(method, uri, body, bearer, "127.0.0.1:50000")
            .await
    }

    async fn send_from(
        &self,
        method: Method,
        uri: &str,
        body: Option<(&str, String)>,
        bearer: bool,
        from: &str,
    ) -> Answer {
        // Encode what a client would (spaces, quotes, angle brackets); keep the URI's structure.
        const UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
            .add(b' ')
            .add(b'"')
            .add(b'<')
            .add(b'>')
            .add(b'`')
            .add(b'{')
            .add(b'}')
            .add(b'|')
            .add(b'\\')
            .add(b'^');
        let uri = percent_encoding::utf8_percent_encode(uri, UNSAFE).to_string();
        let mut request = Request::builder().method(method).uri(uri);
        if bearer {
            request = request.header("authorization", format!("Bearer {}", self.token));
        }
        let request = match body {
            Some((content_type, text)) => request
                .header("content-type", content_type)
                .body(Body::from(text)),
            None => request.body(Body::empty()),
        };
        let mut request = request.unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(from.parse::<SocketAddr>().unwrap()));
        let response = crate::app::router(self.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Answer {
            status,
            content_type,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }
}

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
    let json_body = |v: Value| Some(("application/json", v.to_string()));
    let form = |s: &str| Some(("application/x-www-form-urlencoded", s.to_owned()));

    // (method, uri, body, bearer, status, error code or "" for success/any)
    let cases: Vec<Case<'_>> = vec![
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
        // Web API
        (Method::GET, format!("{api}/"), None, true, 200, ""),
        (Method::GET, format!("{api}/$metadata"), None, true, 200, ""),
        (Method::GET, format!("{api}/WhoAmI"), None, true, 200, ""),
        (Method::GET, format!("{api}/WhoAmI()"), None, true, 200, ""),
        (Method::POST, format!("{api}/WhoAmI"), None, true, 404, ""),
        (
            Method::GET,
            format!("{api}/RetrieveVersion"),
            None,
            true,
            200,
            "",
        ),
        (
            Method::GET,
            format!("{api}/EntityDefinitions?$select=LogicalName"),
            None,
            true,
            200,
            "",
        ),
        (
            Method::GET,
            format!("{api}/EntityDefinitions(LogicalName='account')/Attributes"),
            None,
            true,
            200,
            "",
        ),
        (
            Method::GET,
            format!(
                "{api}/EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
            ),
            None,
            true,
            200,
            "",
        ),
        (
            Method::GET,
            format!("{api}/EntityDefinitions(LogicalName='nope')"),
            None,
            true,
            404,
            "",
        ),
        (
            Method::GET,
            format!("{api}/EntityDefinitions(Name='x')"),
            None,
            true,
            400,
            "0x80060888",
        ),
        (Method::GET, format!("{api}/accounts"), None, false, 401, ""),
        (Method::GET, format!("{api}/accounts"), None, true, 200, ""),
        (
            Method::GET,
            format!("{api}/Accounts"),
            None,
            true,
            404,
            "0x8006088a",
        ),
        (
            Method::GET,
            "/api/data/v8.0/accounts".into(),
            None,
            true,
            404,
            "",
        ),
        (
            Method::GET,
            format!("{api}/accounts/$count"),
            None,
            true,
            200,
            "",
        ),
        (
            Method::GET,
            format!("{api}/accounts?$skip=1"),
            None,
            true,
            400,
            "0x80060888",
        ),
        (
            Method::GET,
            format!("{api}/accounts?$filter=name eq"),
            None,
            true,
            400,
            "0x80060888",
        ),
        (
            Method::GET,
            format!("{api}/accounts?$filter=nosuch eq 1"),
            None,
            true,
            400,
            "0x80060888",
        ),
        (
            Method::GET,
            format!("{api}/accounts?$select=nosuch"),
            None,
            true,
            400,
            "0x80060888",
        ),
        (
            Method::GET,
            format!("{api}/accounts?$apply=aggregate($count as n)"),
            None,
            true,
            200,
            "",
        ),
        (
            Method::GET,
            format!("{api}/accounts?fetchXml=<fetch><entity name='account'/></fetch>"),
            None,
            true,
            200,
            "",
        ),
        (
            Method::GET,
            format!("{api}/accounts?fetchXml=<fetch>"),
            None,
            true,
            400,
            "0x80040203",
        ),
        (
            Method::GET,
            format!("{api}/accounts?$skiptoken=garbage"),
            None,
            true,
            400,
            "0x8004112A",
        ),
        (
            Method::GET,
            format!("{api}/accounts({account})"),
            None,
            true,
            200,
            "",
        ),
        (
            Method::GET,
            format!("{api}/accounts({missing})"),
            None,
            true,
            404,
            "0x80040217",
        ),
        (
            Method::GET,
            format!("{api}/accounts('x')"),
            None,
            true,
            400,
            "0x8006088a",
        ),
        (
            Method::GET,
            // Out of the box account has no alternate key.
            format!("{api}/accounts(accountnumber='ACC-000001')"),
            None,
            true,
            400,
            "0x80060890",
        ),
        (
            Method::GET,
            format!("{api}/accounts({account})/name"),
            None,
            true,
            200,
            "",
        ),
        (
            Method::GET,
            format!("{api}/accounts({account})/name/$value"),
            None,
            true,
            200,
            "",
        ),
        (
            Method::GET,
            format!("{api}/accounts({account})/contact_customer_accounts"),
            None,
            true,
            200,
            "",
        ),
        (
            Method::GET,
            format!("{api}/accounts({account})/contact_customer_accounts/$count"),
            None,
            true,
            200,
            "",
        ),
        (
            Method::GET,
            format!("{api}/accounts({account})/primarycontactid"),
            None,
            true,
            200,
            "",
        ),
        (
            Method::GET,
            format!("{api}/accounts({account})/primarycontactid/$ref"),
            None,
            true,
            200,
            "",
        ),
        (
            Method::GET,
            format!("{api}/accounts({account})/nosuch"),
            None,
            true,
            400,
            "0x80060888",
        ),
        (
            Method::POST,
            format!("{api}/accounts"),
            json_body(json!({"name": "Route test"})),
            true,
            204,
            "",
        ),
        (
            Method::POST,
            format!("{api}/accounts"),
            Some(("application/json", "{".into())),
            true,
            400,
            "0x80048d19",
        ),
        (
            Method::POST,
            format!("{api}/accounts"),
            json_body(json!({"nosuch": 1})),
            true,
            400,
            "0x80048d19",
        ),
        (
            Method::POST,
            format!("{api}/accounts"),
            json_body(json!({"name": "x".repeat(161)})),
            true,
            400,
            "0x80044331",
        ),
        (
            Method::PATCH,
            format!("{api}/accounts({account})"),
            json_body(json!({"telephone1": "1"})),
            true,
            204,
            "",
        ),
        (
            Method::PATCH,
            format!("{api}/accounts({missing})"),
            json_body(json!({"name": "n"})),
            true,
            204,
            "",
        ),
        (
            Method::PUT,
            format!("{api}/accounts({account})/name"),
            json_body(json!({"value": "Renamed"})),
            true,
            204,
            "",
        ),
        (
            Method::PUT,
            format!("{api}/accounts({account})"),
            json_body(json!({})),
            true,
            405,
            "",
        ),
        (
            Method::DELETE,
            format!("{api}/accounts({account})/telephone1"),
            None,
            true,
            204,
            "",
        ),
        (
            Method::DELETE,
            format!("{api}/accounts({missing})"),
            None,
            true,
            204,
            "",
        ),
        (
            Method::DELETE,
            format!("{api}/accounts({missing})"),
            None,
            true,
            404,
            "0x80040217",
        ),
        (
            Method::PATCH,
            format!("{api}/accounts"),
            json_body(json!({})),
            true,
            405,
            "",
        ),
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
    ];
    let mut failures = Vec::new();
    for (method, uri, body, bearer, status, code) in cases {
        let label = format!("{method} {uri}");
        let a = h.send(method, &uri, body, bearer).await;
        if a.status.as_u16() != status {
            failures.push(format!(
                "{label}: status {} not {status}: {}",
                a.status, a.body
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
            && a.status.is_client_error()
            && (!a.content_type.starts_with("application/json")
                || !a.json()["error"]["message"].is_string())
        {
            failures.push(format!(
                "{label}: not a Dataverse error: {} {}",
                a.content_type, a.body
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The control API refuses a foreign Host (DNS rebinding) and a foreign Origin (a web page).
    for (name, value) in [
        ("host", "evil.example:8443"),
        ("origin", "http://evil.example"),
    ] {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/_emulator/reset")
            .header(name, value)
            .body(Body::empty())
            .unwrap();
        request.extensions_mut().insert(ConnectInfo(
            "127.0.0.1:50000".parse::<SocketAddr>().unwrap(),
        ));
        let response = crate::app::router(h.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{name}: {value}");
    }
    for ok in ["127.0.0.1:8443", "localhost", "[::1]:9"] {
        let mut request = Request::builder()
            .uri("/_emulator/stats")
            .header("host", ok)
            .body(Body::empty())
            .unwrap();
        request.extensions_mut().insert(ConnectInfo(
            "127.0.0.1:50000".parse::<SocketAddr>().unwrap(),
        ));
        let response = crate::app::router(h.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{ok}");
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
        assert_eq!(a.status, 400, "{}: {}", &uri[..80], a.body);
        let message = a.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            a.json()["error"]["code"]
                .as_str()
                .is_some_and(|c| c.starts_with("0x")),
            "{}",
            a.body
        );
        assert!(message.contains(words), "{words}: {message}");
        let next = h
            .send(Method::GET, &format!("{api}/accounts?$top=1"), None, true)
            .await;
        assert_eq!(next.status, 200, "{}", next.body);
    }
}
