//! The Web API over real HTTP: bearer token checks (the forgery matrix), queries, paging and
//! errors in Dataverse's shape.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use d365_emulator::entra::keys::{SigningKey, generate_private_key_pem};
use d365_testkit::{Emulator, EmulatorInfo, start, test_config};
use serde_json::{Value, json};

struct Ctx {
    emulator: Emulator,
    info: EmulatorInfo,
    http: reqwest::Client,
}

async fn ctx(accounts: usize) -> Ctx {
    let emulator = start(test_config(accounts)).await;
    let info = emulator.info();
    Ctx {
        emulator,
        info,
        http: reqwest::Client::new(),
    }
}

impl Ctx {
    async fn token(&self) -> String {
        common::app_token(&self.http, &self.info).await
    }

    fn api(&self, path: &str) -> String {
        format!("{}/api/data/v9.2/{path}", self.info.environment_url)
    }

    async fn get(
        &self,
        token: &str,
        url: &str,
        prefer: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut r = self.http.get(url).bearer_auth(token);
        if let Some(p) = prefer {
            r = r.header("prefer", p);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// Claims as the emulator would issue them, to be tampered with.
    fn claims(&self) -> Value {
        let now = self.emulator.state().clock.now();
        json!({
            "aud": self.info.environment_url, "iss": format!("https://sts.windows.net/{}/", self.info.tenant_id),
            "tid": self.info.tenant_id, "iat": now, "nbf": now, "exp": now + 3600, "ver": "1.0",
            "appid": self.info.client_id, "oid": "2b5d1a66-3c7e-4f80-9a1b-6c7d8e9f0a1b", "idtyp": "app"
        })
    }
}

#[tokio::test]
async fn forged_or_stale_tokens_get_401_with_challenge() {
    let c = ctx(3).await;
    let st = c.emulator.state();
    let good = st.key.sign(&c.claims());
    let (status, _, body) = c.get(&good, &c.api("WhoAmI"), None).await;
    assert_eq!(status, 200, "the untampered token works: {body}");

    let now = st.clock.now();
    let tamper = |f: &dyn Fn(&mut Value)| {
        let mut claims = c.claims();
        f(&mut claims);
        st.key.sign(&claims)
    };
    let other_key = SigningKey::from_pems(&generate_private_key_pem().unwrap(), None).unwrap();
    let kid = st.key.kid().to_owned();
    let header_b64 = |h: Value| URL_SAFE_NO_PAD.encode(h.to_string());
    let payload = URL_SAFE_NO_PAD.encode(c.claims().to_string());
    let alg_none = format!(
        "{}.{payload}.",
        header_b64(json!({"alg": "none", "typ": "JWT", "kid": kid}))
    );
    let hs256 = {
        let signing_input = format!(
            "{}.{payload}",
            header_b64(json!({"alg": "HS256", "typ": "JWT", "kid": kid}))
        );
        let jwks = st.key.jwks("x");
        let public = jwks["keys"][0]["x5c"][0]
            .as_str()
            .unwrap()
            .as_bytes()
            .to_vec();
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &public);
        let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    };
    let cases: Vec<(&str, String)> = vec![
        ("expired", tamper(&|c| c["exp"] = json!(now - 400))),
        ("not yet valid", tamper(&|c| c["nbf"] = json!(now + 400))),
        (
            "wrong audience",
            tamper(&|c| c["aud"] = json!("https://other.crm.dynamics.com")),
        ),
        (
            "wrong issuer",
            tamper(&|c| {
                c["iss"] = json!("https://sts.windows.net/11111111-2222-3333-4444-555555555555/")
            }),
        ),
        (
            "wrong tenant",
            tamper(&|c| c["tid"] = json!("11111111-2222-3333-4444-555555555555")),
        ),
        ("another key", other_key.sign(&c.claims())),
        ("alg none", alg_none),
        ("HS256 with the public key", hs256),
        ("not a JWT", "abc.def".to_owned()),
        (
            "unknown app",
            tamper(&|c| c["appid"] = json!("00000000-0000-0000-0000-000000000001")),
        ),
    ];
    for (name, token) in cases {
        let (status, headers, body) = c.get(&token, &c.api("accounts?$top=1"), None).await;
        assert_eq!(status, 401, "{name}: {body}");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with("Bearer authorization_uri="),
            "{name}: {challenge}"
        );
        assert!(
            challenge.contains(&format!("resource_id={}/", c.info.environment_url)),
            "{challenge}"
        );
        assert!(body["error"]["message"].is_string(), "{name}: {body}");
    }
    // No token at all.
    let r = c.http.get(c.api("accounts")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Skew: a token expired 4 minutes ago is still accepted.
    let (status, _, _) = c
        .get(
            &tamper(&|c| c["exp"] = json!(now - 240)),
            &c.api("WhoAmI"),
            None,
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn expiry_follows_the_emulator_clock() {
    let c = ctx(1).await;
    let token = c.token().await;
    assert_eq!(c.get(&token, &c.api("WhoAmI"), None).await.0, 200);
    c.emulator.state().clock.advance(3600 + 301);
    assert_eq!(c.get(&token, &c.api("WhoAmI"), None).await.0, 401);
}

/// A token's signature is verified once and kept (`entra::verified`); everything else is
/// still checked on every request, the second time as the first.
#[tokio::test]
async fn a_token_verified_before_is_still_checked_on_every_request() {
    let c = ctx(1).await;
    let st = c.emulator.state();
    let now = st.clock.now();
    let sign = |f: &dyn Fn(&mut Value)| {
        let mut claims = c.claims();
        f(&mut claims);
        st.key.sign(&claims)
    };
    let good = sign(&|_| {});
    for _ in 0..2 {
        assert_eq!(c.get(&good, &c.api("WhoAmI"), None).await.0, 200);
    }
    assert_eq!(st.verified_tokens.len(), 1, "kept once verified");

    let refused = [
        (
            "another audience",
            sign(&|c| c["aud"] = json!("https://other.crm.dynamics.com")),
        ),
        (
            "another issuer",
            sign(&|c| {
                c["iss"] = json!("https://sts.windows.net/11111111-2222-3333-4444-555555555555/")
            }),
        ),
        (
            "another tenant",
            sign(&|c| c["tid"] = json!("11111111-2222-3333-4444-555555555555")),
        ),
        (
            "an unknown app",
            sign(&|c| c["appid"] = json!("00000000-0000-0000-0000-000000000001")),
        ),
        (
            "no expiry",
            sign(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
    ];
    for (name, token) in &refused {
        for round in 0..2 {
            let (status, _, body) = c.get(token, &c.api("accounts?$top=1"), None).await;
            assert_eq!(status, 401, "{name}, request {round}: {body}");
        }
    }
    assert_eq!(
        st.verified_tokens.len(),
        1 + refused.len(),
        "the signatures were good: the second requests were refused from the kept claims"
    );

    // The key is the exact token: one character changed in the payload or the signature is
    // verified afresh, and refused.
    let (head, signature) = good.rsplit_once('.').unwrap();
    let flip = |s: &str, at: usize| {
        let mut b = s.as_bytes().to_vec();
        b[at] = if b[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    for forged in [
        format!("{head}.{}", flip(signature, 10)),
        format!("{}.{signature}", flip(head, head.len() - 5)),
    ] {
        assert_eq!(c.get(&forged, &c.api("WhoAmI"), None).await.0, 401);
    }

    // Not yet valid, then valid once the clock reaches it; expired when it passes `exp`.
    let early = sign(&|c| c["nbf"] = json!(now + 400));
    assert_eq!(c.get(&early, &c.api("WhoAmI"), None).await.0, 401);
    assert_eq!(c.get(&early, &c.api("WhoAmI"), None).await.0, 401);
    st.clock.advance(200);
    assert_eq!(c.get(&early, &c.api("WhoAmI"), None).await.0, 200);
    // `exp` is an hour after `now`, and five minutes of skew are allowed past it.
    st.clock
        .advance(3600 + d365_emulator::clock::SKEW_SECS + 1 - 200);
    for token in [&good, &early] {
        let (status, _, body) = c.get(token, &c.api("WhoAmI"), None).await;
        assert_eq!(status, 401, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("expired"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn who_am_i_names_the_principal() {
    let c = ctx(1).await;
    let token = c.token().await;
    let (status, headers, body) = c.get(&token, &c.api("WhoAmI()"), None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["odata-version"], "4.0");
    assert!(headers.contains_key("x-ms-service-request-id"));
    let config = d365_emulator::EmulatorConfig::default();
    assert_eq!(body["UserId"], config.apps[0].application_user_id);
    assert_eq!(body["OrganizationId"], config.environment.organization_id);
    assert_eq!(body["BusinessUnitId"], config.environment.business_unit_id);
    assert!(
        body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse")
    );
    let r = c
        .http
        .post(c.api("WhoAmI"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "wrong verb for a function");
}

#[tokio::test]
async fn query_select_filter_order_top() {
    let c = ctx(40).await;
    let token = c.token().await;
    let (status, headers, body) = c
        .get(&token, &c.api("accounts?$select=name,accountnumber,revenue&$filter=revenue%20gt%201000%20and%20statecode%20eq%200&$orderby=accountnumber%20desc&$top=10"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        headers["content-type"],
        "application/json; odata.metadata=minimal"
    );
    assert!(
        body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#accounts(name,accountnumber,revenue)")
    );
    let rows = body["value"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    assert!(
        body.get("@odata.nextLink").is_none(),
        "$top without paging has no next link"
    );
    let numbers: Vec<&str> = rows
        .iter()
        .map(|r| r["accountnumber"].as_str().unwrap())
        .collect();
    let mut sorted = numbers.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(numbers, sorted);
    // Property order on the wire: etag, the selected columns, then the key.
    let raw = c
        .http
        .get(c.api("accounts?$select=name,accountnumber,revenue&$top=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let pos = |k: &str| raw.find(&format!("\"{k}\":")).unwrap();
    assert!(
        pos("@odata.etag") < pos("name")
            && pos("name") < pos("accountnumber")
            && pos("accountnumber") < pos("revenue")
            && pos("revenue") < pos("accountid"),
        "{raw}"
    );
    assert!(rows[0]["@odata.etag"].as_str().unwrap().starts_with("W/\""));

    // Case-insensitive string comparison and contains, as Dataverse does.
    let first_name = rows[0]["name"].as_str().unwrap().to_uppercase();
    let filter = format!("name eq '{}'", first_name.replace('\'', "''"));
    let url = format!(
        "{}?$select=name&$filter={}",
        c.api("accounts"),
        percent(&filter)
    );
    let (status, _, body) = c.get(&token, &url, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body["value"].as_array().unwrap().is_empty());
    // Python's requests sends %24 and + for spaces.
    let (status, _, body) = c.get(&token, &c.api("contacts?%24select=fullname&%24filter=startswith(fullname,'a')+or+not+contains(fullname,'e')&%24top=3"), None).await;
    assert_eq!(status, 200, "{body}");
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'\''
            | b'('
            | b')'
            | b',' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn paging_returns_every_row_once() {
    let c = ctx(53).await;
    let token = c.token().await;
    for (query, expected) in [
        ("accounts?$select=name", 53usize),
        ("accounts?$select=name&$orderby=name%20desc", 53),
        ("contacts?$select=fullname&$orderby=birthdate,lastname", 106),
        ("accounts?$select=name&$filter=statecode%20eq%200", 0),
    ] {
        let mut url = c.api(query);
        let mut ids = std::collections::HashSet::new();
        let mut total = 0;
        let mut pages = 0;
        loop {
            let (status, headers, body) = c.get(&token, &url, Some("odata.maxpagesize=7")).await;
            assert_eq!(status, 200, "{query}: {body}");
            assert_eq!(headers["preference-applied"], "odata.maxpagesize=7");
            let rows = body["value"].as_array().unwrap();
            assert!(rows.len() <= 7);
            for r in rows {
                let id = r
                    .get("accountid")
                    .or(r.get("contactid"))
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned();
                assert!(ids.insert(id), "{query}: row returned twice");
                total += 1;
            }
            pages += 1;
            match body["@odata.nextLink"].as_str() {
                Some(next) => {
                    assert!(next.starts_with(&c.api("")), "{next}");
                    assert!(
                        next.contains("$skiptoken=%3Ccookie%20pagenumber%3D%22"),
                        "{next}"
                    );
                    url = next.to_owned();
                }
                None => break,
            }
        }
        if expected > 0 {
            assert_eq!(total, expected, "{query}");
            assert_eq!(pages, expected.div_ceil(7), "{query}");
        } else {
            assert!(total > 0, "{query}");
        }
    }
}

#[tokio::test]
async fn errors_follow_dataverse_shapes() {
    let c = ctx(2).await;
    let token = c.token().await;
    let cases = [
        (
            "accounts?$skip=1",
            400,
            "0x80060888",
            "Skip Clause is not supported in CRM",
        ),
        (
            "accounts?$select=Name",
            400,
            "0x80060888",
            "Could not find a property named 'Name' on type 'Microsoft.Dynamics.CRM.account'.",
        ),
        (
            "accounts?$filter=name%20eq%201",
            400,
            "0x80060888",
            "incompatible types",
        ),
        ("accounts?$filter=name%20eq", 400, "0x80060888", "$filter"),
        (
            "Accounts",
            404,
            "0x8006088a",
            "Resource not found for the segment 'Accounts'.",
        ),
        (
            "accounts(00000000-0000-0000-0000-000000000001)",
            404,
            "0x80040217",
            "account With Id = 00000000-0000-0000-0000-000000000001 Does Not Exist",
        ),
        (
            "accounts?$skiptoken=%3Ccookie%20pagenumber%3D%222%22%20/%3E",
            400,
            "0x8004112A",
            "paging cookie",
        ),
    ];
    for (path, status, code, message) in cases {
        let (s, headers, body) = c.get(&token, &c.api(path), None).await;
        assert_eq!(s, status, "{path}: {body}");
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(message),
            "{path}: {body}"
        );
        assert_eq!(
            headers["content-type"],
            "application/json; odata.metadata=minimal"
        );
    }
}

#[tokio::test]
async fn retrieve_by_id_and_service_document() {
    let c = ctx(3).await;
    let token = c.token().await;
    let (_, _, list) = c
        .get(&token, &c.api("accounts?$select=name&$top=1"), None)
        .await;
    let id = list["value"][0]["accountid"].as_str().unwrap();
    let (status, _, one) = c
        .get(
            &token,
            &c.api(&format!("accounts({id})?$select=name,revenue")),
            None,
        )
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["accountid"], id);
    assert!(
        one["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#accounts(name,revenue)/$entity")
    );
    let (_, _, all) = c
        .get(&token, &c.api(&format!("accounts({id})")), None)
        .await;
    assert!(
        all["_primarycontactid_value"].is_string()
            && all["createdon"].as_str().unwrap().ends_with('Z')
    );
    let (_, _, doc) = c.get(&token, &c.api(""), None).await;
    let sets: Vec<&str> = doc["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for set in [
        "accounts",
        "contacts",
        "leads",
        "opportunities",
        "tasks",
        "annotations",
        "systemusers",
        "teams",
        "businessunits",
        "organizations",
    ] {
        assert!(sets.contains(&set), "{set} missing from {sets:?}");
    }
}

#[tokio::test]
async fn a_token_from_another_tenant_is_refused() {
    use d365_emulator::config::{TenantConfig, UserConfig};
    let mut config = test_config(1);
    let other = "11111111-2222-4333-8444-555555555555";
    config.tenants.push(TenantConfig {
        id: other.into(),
        domains: vec!["fabrikam.onmicrosoft.com".into()],
    });
    config.apps[1].tenant = other.into(); // the public client lives in the other tenant
    config.users.push(UserConfig {
        upn: "guest@fabrikam.onmicrosoft.com".into(),
        password: "Other!Passw0rd".into(),
        object_id: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee".into(),
        tenant: other.into(),
        display_name: "Guest".into(),
        given_name: String::new(),
        family_name: String::new(),
        mfa_required: false,
        disabled: false,
        systemuser_id: "aaaaaaaa-bbbb-4ccc-8ddd-ffffffffffff".into(),
        act_on_behalf: true,
    });
    let emulator = start(config).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let body: Value = http
        .post(format!(
            "{}/fabrikam.onmicrosoft.com/oauth2/token",
            info.authority_host
        ))
        .form(&[
            ("grant_type", "password"),
            ("client_id", info.public_client_id.as_str()),
            ("username", "guest@fabrikam.onmicrosoft.com"),
            ("password", "Other!Passw0rd"),
            ("resource", &info.environment_url),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    let claims = common::jwt_claims(token);
    assert_eq!(claims["tid"], other);
    assert_eq!(claims["iss"], format!("https://sts.windows.net/{other}/"));
    let r = http
        .get(format!("{}/api/data/v9.2/WhoAmI", info.environment_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn the_control_api_answers_only_loopback_callers() {
    use axum::extract::ConnectInfo;
    use tower::ServiceExt;
    let emulator = start(test_config(0)).await;
    let app = d365_emulator::router(emulator.state().clone());
    let request = |from: &str| {
        let mut r = axum::http::Request::post("/_emulator/clock/advance?seconds=10")
            .body(axum::body::Body::empty())
            .unwrap();
        r.extensions_mut()
            .insert(ConnectInfo(from.parse::<std::net::SocketAddr>().unwrap()));
        r
    };
    let before = emulator.state().clock.now();
    let refused = app.clone().oneshot(request("10.1.2.3:5555")).await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(
        emulator.state().clock.now() < before + 10,
        "a refused call changed nothing"
    );
    let allowed = app.oneshot(request("127.0.0.1:5555")).await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert!(emulator.state().clock.now() >= before + 10);
}

#[tokio::test]
async fn metadata_and_retrieve_version() {
    let c = ctx(0).await;
    let token = c.token().await;
    let r = c
        .http
        .get(c.api("$metadata"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/xml");
    let xml = r.text().await.unwrap();
    // A client reads it back into the same model the emulator serves.
    let model = d365_odata::csdl::read_csdl(&xml).unwrap();
    let account = model.by_entity_set("accounts").unwrap();
    assert_eq!(account.key, "accountid");
    assert!(
        account.property("revenue").is_some() && account.navigation("primarycontactid").is_some()
    );
    assert!(model.by_entity_set("contacts").is_some());
    let (status, _, body) = c.get(&token, &c.api("RetrieveVersion()"), None).await;
    assert_eq!(status, 200);
    assert!(body["Version"].as_str().unwrap().starts_with("9.2."));
    assert!(
        body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#Microsoft.Dynamics.CRM.RetrieveVersionResponse")
    );
    // Unauthenticated: the challenge, even for metadata.
    assert_eq!(
        c.http
            .get(c.api("$metadata"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}
