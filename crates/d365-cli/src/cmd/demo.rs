//! `d365 demo`: the classic four-step integration recipe, done against an emulator started in
//! this process on an ephemeral loopback port:
//!
//! 1. password grant on the v1 endpoint → access and refresh token;
//! 2. client credentials on the v1 endpoint → app token;
//! 3. refresh-token grant on the v2 endpoint → new access token, rotated refresh token;
//! 4. `GET accounts?$select=…&$top=10` with the bearer token, then `WhoAmI`.
//!
//! Each request is printed on one line (method, URL, grant); results show decoded claims, never
//! a token or secret.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, ensure};
use d365_auth::grant::{ClientCredentialsGrant, Grant, PasswordGrant, RefreshTokenGrant};
use d365_auth::{
    Authority, ClientSecret, EndpointVersion, Password, StaticTokenCredential, Target, TokenClient,
    TokenResponse, decode_claims,
};
use d365_emulator::{Emulator, EmulatorConfig, EmulatorInfo};
use serde_json::{Map, Value, json};

use crate::flags::DemoArgs;
use crate::output;

const COLUMNS: [&str; 3] = ["name", "accountnumber", "revenue"];

struct Printer {
    json: bool,
}

impl Printer {
    fn line(&self, text: String, event: Value) {
        if self.json {
            println!("{event}");
        } else {
            println!("{text}");
        }
    }

    fn request(
        &self,
        step: u8,
        method: &str,
        url: &str,
        grant: Option<&str>,
        endpoint: Option<&str>,
    ) {
        let mut text = format!("[{step}/4] {method} {url}");
        if let Some(g) = grant {
            text.push_str(&format!("  grant_type={g}"));
        }
        if let Some(e) = endpoint {
            text.push_str(&format!(" ({e})"));
        }
        self.line(text, json!({"event": "request", "step": step, "method": method, "url": url, "grant": grant, "endpoint": endpoint}));
    }
}

/// The claims worth showing, in this order, from a token (never the token itself).
fn claims(token: &str, names: &[&str]) -> Map<String, Value> {
    let all = decode_claims(token).unwrap_or_default();
    names
        .iter()
        .map(|n| ((*n).to_owned(), all.get(*n).cloned().unwrap_or(Value::Null)))
        .collect()
}

fn show(claims: &Map<String, Value>) -> String {
    claims
        .iter()
        .map(|(k, v)| {
            let shown = match (k.as_str(), v) {
                ("exp", Value::Number(n)) => n
                    .as_i64()
                    .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_else(|| n.to_string()),
                (_, Value::String(s)) => s.clone(),
                (_, Value::Null) => "(none)".to_owned(),
                (_, Value::Array(a)) if a.is_empty() => "(none)".to_owned(),
                (_, other) => other.to_string(),
            };
            format!("{k}={shown}")
        })
        .collect::<Vec<_>>()
        .join("  ")
}

async fn token(
    client: &TokenClient,
    version: EndpointVersion,
    target: Target,
    grant: &dyn Grant,
) -> anyhow::Result<TokenResponse> {
    client
        .request(version, &target, grant)
        .await
        .with_context(|| format!("{} grant", grant.grant_type()))
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let p = Printer { json: args.json };
    let emulator = Emulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse()?)
        .await
        .context("starting the embedded emulator")?;
    let info: EmulatorInfo = emulator.info();
    let env = info.environment_url.clone();
    p.line(
        format!("d365 demo: embedded emulator at {} (tenant {}, environment {})\n", info.authority_host, info.tenant_id, env),
        json!({"event": "emulator", "authority_host": info.authority_host, "tenant_id": info.tenant_id, "environment_url": env}),
    );
    let authority = Authority::new(&info.authority_host, &info.tenant_id)?;
    let tokens = TokenClient::new(d365_http::HttpClient::new()?, authority.clone());
    let secret = ClientSecret::new(&info.client_secret);
    let mut requests = 0;

    // 1. Password grant, v1.
    let v1 = authority.token_url(EndpointVersion::V1).to_string();
    p.request(1, "POST", &v1, Some("password"), Some("v1"));
    let grant = PasswordGrant {
        client_id: info.client_id.clone(),
        client_secret: Some(secret.clone()),
        username: info.username.clone(),
        password: Password::new(&info.password),
    };
    let user = token(
        &tokens,
        EndpointVersion::V1,
        Target::Resource(env.clone()),
        &grant,
    )
    .await?;
    requests += 1;
    let shown = claims(
        user.access_token.secret(),
        &["aud", "tid", "oid", "upn", "scp", "exp"],
    );
    let refresh = user
        .refresh_token
        .clone()
        .context("the password grant returned no refresh token")?;
    p.line(
        format!("      200 OK  {}  + refresh token", show(&shown)),
        json!({"event": "result", "step": 1, "status": 200, "claims": shown, "expires_in": user.expires_in, "refresh_token": true}),
    );

    // 2. Client credentials, v1.
    p.request(2, "POST", &v1, Some("client_credentials"), Some("v1"));
    let grant = ClientCredentialsGrant {
        client_id: info.client_id.clone(),
        client_secret: secret.clone(),
    };
    let app = token(
        &tokens,
        EndpointVersion::V1,
        Target::Resource(env.clone()),
        &grant,
    )
    .await?;
    requests += 1;
    let shown = claims(app.access_token.secret(), &["aud", "appid", "roles"]);
    p.line(format!("      200 OK  {}", show(&shown)), json!({"event": "result", "step": 2, "status": 200, "claims": shown, "expires_in": app.expires_in}));

    // 3. Refresh-token grant, v2.
    let v2 = authority.token_url(EndpointVersion::V2).to_string();
    p.request(3, "POST", &v2, Some("refresh_token"), Some("v2"));
    let grant = RefreshTokenGrant {
        client_id: info.client_id.clone(),
        client_secret: Some(secret),
        refresh_token: refresh.clone(),
    };
    let scopes = Target::Scopes(vec![format!("{env}/.default"), "offline_access".to_owned()]);
    let renewed = token(&tokens, EndpointVersion::V2, scopes, &grant).await?;
    requests += 1;
    let rotated = renewed
        .refresh_token
        .as_ref()
        .is_some_and(|rt| *rt != refresh);
    ensure!(
        rotated,
        "the refresh grant did not rotate the refresh token"
    );
    let shown = claims(renewed.access_token.secret(), &["aud", "upn", "exp"]);
    p.line(
        format!("      200 OK  {}  refresh token rotated", show(&shown)),
        json!({"event": "result", "step": 3, "status": 200, "claims": shown, "scope": renewed.scope, "refresh_token_rotated": rotated}),
    );

    // 4. The Web API with the renewed user token.
    let client = d365_webapi::Client::builder()
        .environment(&env)
        .credential(Arc::new(StaticTokenCredential::new(
            renewed.access_token.clone(),
        )))
        .build()?;
    let query = client.query("accounts").select(COLUMNS).top(10);
    p.request(4, "GET", &query.url(), None, None);
    let page = query.send().await.context("querying accounts")?;
    requests += 1;
    let columns: Vec<String> = COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    p.line(
        format!(
            "      200 OK  {} accounts\n{}",
            page.items.len(),
            output::table(&page.items, &columns)
        ),
        json!({"event": "result", "step": 4, "status": 200, "rows": page.items}),
    );
    let who = client.who_am_i();
    p.line(
        format!("      GET {}", who.url()),
        json!({"event": "request", "step": 4, "method": "GET", "url": who.url()}),
    );
    let me = who.send().await.context("calling WhoAmI")?;
    requests += 1;
    p.line(
        format!("      200 OK  UserId={}  BusinessUnitId={}  OrganizationId={}", me.user_id, me.business_unit_id, me.organization_id),
        json!({"event": "result", "step": 4, "status": 200, "whoami": {"UserId": me.user_id, "BusinessUnitId": me.business_unit_id, "OrganizationId": me.organization_id}}),
    );

    let elapsed = started.elapsed().as_millis();
    p.line(
        format!("\ndemo ok: 4 steps, {requests} requests, {} accounts, {} token requests served, in {elapsed} ms", page.items.len(), emulator.token_requests()),
        json!({"event": "summary", "ok": true, "steps": 4, "requests": requests, "accounts": page.items.len(), "token_requests": emulator.token_requests(), "elapsed_ms": elapsed}),
    );
    emulator.stop().await;
    Ok(ExitCode::SUCCESS)
}
