//! The token endpoints over real HTTP: every grant on v1 and v2, the response shapes, and each
//! failure with its status, `error` and AADSTS code.

use d365_testkit::{EmulatorInfo, start, test_config};
use serde_json::Value;

struct Ctx {
    _emulator: d365_testkit::Emulator,
    info: EmulatorInfo,
    http: reqwest::Client,
}

async fn ctx() -> Ctx {
    let emulator = start(test_config(5)).await;
    let info = emulator.info();
    Ctx {
        _emulator: emulator,
        info,
        http: reqwest::Client::new(),
    }
}

impl Ctx {
    fn url(&self, v2: bool) -> String {
        let path = if v2 {
            "oauth2/v2.0/token"
        } else {
            "oauth2/token"
        };
        format!(
            "{}/{}/{path}",
            self.info.authority_host, self.info.tenant_id
        )
    }

    async fn post(&self, v2: bool, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(v2))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert_eq!(r.headers()["cache-control"], "no-store, no-cache");
        (status, r.json().await.unwrap())
    }

    fn password_form(&self, v2: bool) -> Vec<(&str, String)> {
        let mut f = vec![
            ("grant_type", "password".to_owned()),
            ("client_id", self.info.client_id.clone()),
            ("client_secret", self.info.client_secret.clone()),
            ("username", self.info.username.clone()),
            ("password", self.info.password.clone()),
        ];
        if v2 {
            f.push((
                "scope",
                format!("{}/.default offline_access", self.info.environment_url),
            ));
        } else {
            f.push(("resource", self.info.environment_url.clone()));
        }
        f
    }
}

fn refs<'a>(f: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    f.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn assert_error(status: u16, body: &Value, want_status: u16, want_error: &str, want_code: u64) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], want_error, "{body}");
    assert_eq!(body["error_codes"][0], want_code, "{body}");
    let desc = body["error_description"].as_str().unwrap();
    assert!(desc.starts_with(&format!("AADSTS{want_code}: ")), "{desc}");
    assert!(
        desc.contains("\r\nTrace ID: ")
            && body["trace_id"].is_string()
            && body["correlation_id"].is_string()
    );
}

#[tokio::test]
async fn password_grant_v1_has_string_numbers_and_resource() {
    let c = ctx().await;
    let (status, body) = c.post(false, &refs(&c.password_form(false))).await;
    assert_eq!(status, 200, "{body}");
    for field in ["expires_in", "ext_expires_in", "expires_on", "not_before"] {
        let s = body[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} must be a string: {body}"));
        s.parse::<i64>().unwrap();
    }
    assert_eq!(body["resource"], c.info.environment_url);
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["refresh_token"].as_str().unwrap().starts_with("1."));
    assert!(body.get("scope").is_some());
}

#[tokio::test]
async fn password_grant_v2_has_integer_numbers_and_scope() {
    let c = ctx().await;
    let (status, body) = c.post(true, &refs(&c.password_form(true))).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["expires_in"].is_u64() && body["ext_expires_in"].is_u64(),
        "{body}"
    );
    assert!(body.get("resource").is_none() && body.get("expires_on").is_none());
    // The resource's permissions and `.default`; OpenID scopes are Graph's, not answered.
    let env = &c.info.environment_url;
    assert_eq!(
        body["scope"],
        format!("{env}/user_impersonation {env}/.default").as_str()
    );
    assert!(body["refresh_token"].is_string());
}

#[tokio::test]
async fn v2_without_offline_access_gets_no_refresh_token() {
    let c = ctx().await;
    let mut f = c.password_form(true);
    f.last_mut().unwrap().1 = format!(
        "{}/user_impersonation openid profile",
        c.info.environment_url
    );
    let (status, body) = c.post(true, &refs(&f)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
}

#[tokio::test]
async fn client_credentials_on_both_versions() {
    let c = ctx().await;
    let env = c.info.environment_url.clone();
    let (s1, b1) = c
        .post(
            false,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &c.info.client_id),
                ("client_secret", &c.info.client_secret),
                ("resource", &env),
            ],
        )
        .await;
    assert_eq!(s1, 200, "{b1}");
    assert!(b1["expires_in"].is_string() && b1["resource"] == env.as_str());
    assert!(b1.get("refresh_token").is_none());
    let scope = format!("{env}/.default");
    let (s2, b2) = c
        .post(
            true,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &c.info.client_id),
                ("client_secret", &c.info.client_secret),
                ("scope", &scope),
            ],
        )
        .await;
    assert_eq!(s2, 200, "{b2}");
    assert!(b2["expires_in"].is_u64() && b2.get("refresh_token").is_none());
    // The double-slash spelling clients get wrong is accepted too.
    let sloppy = format!("{env}//.default");
    let (s3, _) = c
        .post(
            true,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &c.info.client_id),
                ("client_secret", &c.info.client_secret),
                ("scope", &sloppy),
            ],
        )
        .await;
    assert_eq!(s3, 200);
}

#[tokio::test]
async fn basic_auth_and_unknown_fields_are_accepted() {
    use base64::Engine;
    let c = ctx().await;
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", c.info.client_id, c.info.client_secret));
    let scope = format!("{}/.default", c.info.environment_url);
    let r = c
        .http
        .post(c.url(true))
        .header("authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", &scope),
            ("x-client-SKU", "msal.js.node"),
            ("client-request-id", "1"),
            ("client_info", "1"),
            ("claims", "{}"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn refresh_grant_rotates_and_works_across_versions() {
    let c = ctx().await;
    let (_, first) = c.post(false, &refs(&c.password_form(false))).await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();
    let scope = format!("{}/.default offline_access", c.info.environment_url);
    let (status, second) = c
        .post(
            true,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &c.info.client_id),
                ("client_secret", &c.info.client_secret),
                ("refresh_token", &rt1),
                ("scope", &scope),
            ],
        )
        .await;
    assert_eq!(status, 200, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2, "refresh tokens rotate");
    assert!(second["expires_in"].is_u64());
    // v1 refresh without resource: the original resource.
    let (status, third) = c
        .post(
            false,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &c.info.client_id),
                ("client_secret", &c.info.client_secret),
                ("refresh_token", rt2),
            ],
        )
        .await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(third["resource"], c.info.environment_url);
}

#[tokio::test]
async fn failures_have_entra_shapes_on_both_versions() {
    let c = ctx().await;
    for v2 in [false, true] {
        // Wrong password.
        let mut f = c.password_form(v2);
        f[4].1 = "wrong".into();
        let (s, b) = c.post(v2, &refs(&f)).await;
        assert_error(s, &b, 400, "invalid_grant", 50126);
        // Wrong secret, on the password grant and on client credentials.
        let mut f = c.password_form(v2);
        f[2].1 = "not-the-secret".into();
        let (s, b) = c.post(v2, &refs(&f)).await;
        assert_error(s, &b, 401, "invalid_client", 7000215);
        let target = f[5].clone();
        let (s, b) = c
            .post(
                v2,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &c.info.client_id),
                    ("client_secret", "nope"),
                    (target.0, &target.1),
                ],
            )
            .await;
        assert_error(s, &b, 401, "invalid_client", 7000215);
        // Unknown app.
        let mut f = c.password_form(v2);
        f[1].1 = "00000000-0000-0000-0000-00000000dead".into();
        let (s, b) = c.post(v2, &refs(&f)).await;
        assert_error(s, &b, 400, "unauthorized_client", 700016);
        // Unknown user.
        let mut f = c.password_form(v2);
        f[3].1 = "nobody@contoso.onmicrosoft.com".into();
        let (s, b) = c.post(v2, &refs(&f)).await;
        assert_error(s, &b, 400, "invalid_grant", 50034);
        // Bad refresh token.
        let (s, b) = c
            .post(
                v2,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &c.info.client_id),
                    ("client_secret", &c.info.client_secret),
                    ("refresh_token", "1.garbage"),
                ],
            )
            .await;
        assert_error(s, &b, 400, "invalid_grant", 9002313);
        // Missing grant type, unknown grant type.
        let (s, b) = c.post(v2, &[("client_id", &c.info.client_id)]).await;
        assert_error(s, &b, 400, "invalid_request", 900144);
        let (s, b) = c
            .post(
                v2,
                &[("grant_type", "magic"), ("client_id", &c.info.client_id)],
            )
            .await;
        assert_error(s, &b, 400, "unsupported_grant_type", 70003);
        // Unknown resource.
        let mut f = c.password_form(v2);
        f[5].1 = if v2 {
            "https://other.crm.dynamics.com/.default".into()
        } else {
            "https://other.crm.dynamics.com".into()
        };
        let (s, b) = c.post(v2, &refs(&f)).await;
        assert_error(s, &b, 400, "invalid_resource", 500011);
        // A public client must not send a secret.
        let mut f = c.password_form(v2);
        f[1].1 = c.info.public_client_id.clone();
        let (s, b) = c.post(v2, &refs(&f)).await;
        assert_error(s, &b, 401, "invalid_client", 700025);
        // The password grant is not allowed on /common.
        let r = c
            .http
            .post(c.url(v2).replace(&c.info.tenant_id, "common"))
            .form(&refs(&c.password_form(v2)))
            .send()
            .await
            .unwrap();
        let (s, b) = (r.status().as_u16(), r.json::<Value>().await.unwrap());
        assert_error(s, &b, 400, "invalid_request", 9001023);
        // Unknown tenant.
        let r = c
            .http
            .post(c.url(v2).replace(&c.info.tenant_id, "nowhere.example"))
            .form(&refs(&c.password_form(v2)))
            .send()
            .await
            .unwrap();
        let (s, b) = (r.status().as_u16(), r.json::<Value>().await.unwrap());
        assert_error(s, &b, 400, "invalid_tenant", 90002);
    }
    // v2 only: client credentials need `/.default`; scopes of two resources.
    let scope = format!("{}/user_impersonation", c.info.environment_url);
    let (s, b) = c
        .post(
            true,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &c.info.client_id),
                ("client_secret", &c.info.client_secret),
                ("scope", &scope),
            ],
        )
        .await;
    assert_error(s, &b, 400, "invalid_scope", 1002012);
    let mut f = c.password_form(true);
    f[5].1 = format!(
        "{}/.default https://graph.microsoft.com/User.Read",
        c.info.environment_url
    );
    let (s, b) = c.post(true, &refs(&f)).await;
    assert_error(s, &b, 400, "invalid_scope", 700022);
}

#[tokio::test]
async fn a_refresh_token_is_bound_to_its_client() {
    let c = ctx().await;
    let (_, first) = c.post(false, &refs(&c.password_form(false))).await;
    let rt = first["refresh_token"].as_str().unwrap();
    let (s, b) = c
        .post(
            true,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &c.info.public_client_id),
                ("refresh_token", rt),
            ],
        )
        .await;
    assert_error(s, &b, 400, "invalid_grant", 70000);
}

#[tokio::test]
async fn revoked_and_idle_refresh_tokens_are_refused() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let url = format!("{}/{}/oauth2/token", info.authority_host, info.tenant_id);
    let get_rt = || async {
        let body: Value = http
            .post(&url)
            .form(&[
                ("grant_type", "password"),
                ("client_id", &info.client_id),
                ("client_secret", &info.client_secret),
                ("username", &info.username),
                ("password", &info.password),
                ("resource", &info.environment_url),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["refresh_token"].as_str().unwrap().to_owned()
    };
    let redeem = |rt: String| {
        let (http, url, info) = (http.clone(), url.clone(), info.clone());
        async move {
            let r = http
                .post(&url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", info.client_id.as_str()),
                    ("client_secret", info.client_secret.as_str()),
                    ("refresh_token", rt.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let rt = get_rt().await;
    let revoke = http
        .post(format!(
            "{}/_emulator/users/{}/revoke",
            info.authority_host, info.username
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    let (s, b) = redeem(rt).await;
    assert_error(s, &b, 400, "invalid_grant", 70008);

    let rt = get_rt().await;
    emulator.state().clock.advance(91 * 24 * 3600);
    let (s, b) = redeem(rt).await;
    assert_error(s, &b, 400, "invalid_grant", 70008);
}

#[tokio::test]
async fn discovery_and_jwks() {
    let c = ctx().await;
    let v2: Value = c
        .http
        .get(format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            c.info.authority_host, "CONTOSO.onmicrosoft.com"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v2["token_endpoint"],
        format!(
            "{}/{}/oauth2/v2.0/token",
            c.info.authority_host, c.info.tenant_id
        )
    );
    assert_eq!(
        v2["issuer"],
        format!("{}/{}/v2.0", c.info.authority_host, c.info.tenant_id)
    );
    for key in [
        "authorization_endpoint",
        "jwks_uri",
        "device_authorization_endpoint",
    ] {
        assert!(v2[key].is_string(), "{key}");
    }
    let v1: Value = c
        .http
        .get(format!(
            "{}/{}/.well-known/openid-configuration",
            c.info.authority_host, c.info.tenant_id
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v1["issuer"],
        format!("https://sts.windows.net/{}/", c.info.tenant_id)
    );
    for path in ["discovery/keys", "discovery/v2.0/keys"] {
        let jwks: Value = c
            .http
            .get(format!(
                "{}/{}/{path}",
                c.info.authority_host, c.info.tenant_id
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["kid"], key["x5t"]);
        assert!(key["n"].is_string() && key["e"] == "AQAB" && key["x5c"][0].is_string());
    }
    let common: Value = c
        .http
        .get(format!(
            "{}/common/v2.0/.well-known/openid-configuration",
            c.info.authority_host
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        common["issuer"],
        format!("{}/{{tenantid}}/v2.0", c.info.authority_host)
    );
}
