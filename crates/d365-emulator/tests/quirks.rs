//! One test per wire quirk of PROTOCOL.md appendix A that the emulator honours, named by its
//! number. The token-endpoint quirks are tested where the grants are:
//!
//! | quirk | test |
//! |---|---|
//! | 1 v1 numbers as strings, v2 integers | `token_endpoint::password_grant_v1_has_string_numbers_and_resource`, `…_v2_has_integer_numbers_and_scope` |
//! | 2 `verification_url` (v1) vs `verification_uri` (v2) | `d365-auth/tests/interactive.rs` (device code on both versions) |
//! | 3 AADSTS code and `\r\n` trace text in `error_description` | `token_endpoint::failures_have_entra_shapes_on_both_versions` |
//! | 4 `invalid_client` is 401 | `token_endpoint::failures_have_entra_shapes_on_both_versions` |
//! | 5 v1-format Dataverse tokens from the v2 endpoint | `token_endpoint::discovery_and_jwks` (issuer) and `quirk_05` below |
//! | 6 refresh tokens rotate | `token_endpoint::refresh_grant_rotates_and_works_across_versions` |
//! | 7 https authority with v2 discovery | `compat/run.sh` (MSAL and azure-identity over `--tls`) |
//! | 14 `$batch` | issue 7 |

mod common;

use base64::Engine;
use d365_emulator::limits::ServiceLimits;
use d365_testkit::{Emulator, EmulatorInfo, start, test_config};
use reqwest::Method;
use serde_json::{Value, json};

struct Ctx {
    _emulator: Emulator,
    info: EmulatorInfo,
    http: reqwest::Client,
    token: String,
}

async fn ctx() -> Ctx {
    let mut config = test_config(6);
    config.limits = Some(ServiceLimits::real());
    let emulator = start(config).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    Ctx {
        _emulator: emulator,
        info,
        http,
        token,
    }
}

impl Ctx {
    async fn get_json(&self, path: &str, headers: &[(&str, &str)]) -> Value {
        self.send(Method::GET, path, None, headers)
            .await
            .json()
            .await
            .unwrap()
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut r = self
            .http
            .request(
                method,
                format!("{}/api/data/v9.2/{path}", self.info.environment_url),
            )
            .bearer_auth(&self.token);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }
}

#[tokio::test]
async fn quirk_05_dataverse_tokens_are_v1_from_the_v2_endpoint() {
    let c = ctx().await;
    let body: Value = c
        .http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            c.info.authority_host, c.info.tenant_id
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c.info.client_id.as_str()),
            ("client_secret", c.info.client_secret.as_str()),
            ("scope", &format!("{}/.default", c.info.environment_url)),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let payload = body["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        claims["iss"],
        format!("https://sts.windows.net/{}/", c.info.tenant_id)
    );
    assert!(
        claims["appid"].is_string() && claims.get("azp").is_none(),
        "{claims}"
    );
    assert_eq!(claims["ver"], "1.0");
}

#[tokio::test]
async fn quirk_08_error_codes_may_be_empty_or_hex() {
    let c = ctx().await;
    let missing: Value = c
        .send(Method::POST, "WhoAmI", None, &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(missing["error"]["code"], "");
    let not_found: Value = c
        .send(
            Method::GET,
            "accounts(00000000-0000-0000-0000-000000000001)",
            None,
            &[],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(not_found["error"]["code"], "0x80040217");
}

#[tokio::test]
async fn quirk_09_create_is_204_with_entity_id_or_201_without_it() {
    let c = ctx().await;
    let r = c
        .send(Method::POST, "accounts", Some(json!({"name": "Q9"})), &[])
        .await;
    assert_eq!(r.status(), 204);
    assert!(
        r.headers()["odata-entityid"]
            .to_str()
            .unwrap()
            .contains("/accounts(")
    );
    assert!(r.bytes().await.unwrap().is_empty());
    let r = c
        .send(
            Method::POST,
            "accounts?$select=name",
            Some(json!({"name": "Q9b"})),
            &[("Prefer", "return=representation")],
        )
        .await;
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("odata-entityid").is_none());
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "Q9b");
}

#[tokio::test]
async fn quirk_10_patch_upserts_unless_told_otherwise() {
    let c = ctx().await;
    let id = "5e1f0000-0000-4000-8000-000000000010";
    let r = c
        .send(
            Method::PATCH,
            &format!("accounts({id})"),
            Some(json!({"name": "u"})),
            &[("If-Match", "*")],
        )
        .await;
    assert_eq!(r.status(), 404, "If-Match: * is update-only");
    let r = c
        .send(
            Method::PATCH,
            &format!("accounts({id})"),
            Some(json!({"name": "u"})),
            &[],
        )
        .await;
    assert_eq!(r.status(), 204, "plain PATCH creates");
    let r = c
        .send(
            Method::PATCH,
            &format!("accounts({id})"),
            Some(json!({"name": "u"})),
            &[("If-None-Match", "*")],
        )
        .await;
    assert_eq!(r.status(), 412, "If-None-Match: * is create-only");
}

#[tokio::test]
async fn quirk_11_paging_by_next_link_only() {
    let c = ctx().await;
    let r = c.send(Method::GET, "accounts?$skip=2", None, &[]).await;
    assert_eq!(r.status(), 400);
    let page: Value = c
        .send(
            Method::GET,
            "accounts?$select=name&$top=3",
            None,
            &[("Prefer", "odata.maxpagesize=2")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["value"].as_array().unwrap().len(),
        2,
        "$top is ignored when paging"
    );
    assert!(
        page["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$skiptoken=")
    );
}

#[tokio::test]
async fn quirk_12_count_is_plain_text_and_navigation_count_has_a_bom() {
    let c = ctx().await;
    let r = c.send(Method::GET, "accounts/$count", None, &[]).await;
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(r.text().await.unwrap(), "6");
    let id: Value = c.get_json("accounts?$select=name&$top=1", &[]).await;
    let id = id["value"][0]["accountid"].as_str().unwrap().to_owned();
    let bytes = c
        .send(
            Method::GET,
            &format!("accounts({id})/contact_customer_accounts/$count"),
            None,
            &[],
        )
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"\xEF\xBB\xBF2");
}

#[tokio::test]
async fn quirk_13_fetchxml_omits_nulls_and_names_linked_columns_with_x002e() {
    let c = ctx().await;
    let xml = "<fetch top='1'><entity name='account'><attribute name='name'/><attribute name='description'/><link-entity name='contact' from='contactid' to='primarycontactid' alias='pc'><attribute name='fullname'/></link-entity></entity></fetch>";
    let body: Value = c
        .http
        .get(format!("{}/api/data/v9.2/accounts", c.info.environment_url))
        .query(&[("fetchXml", xml)])
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = &body["value"][0];
    assert!(row.get("description").is_none(), "{row}");
    assert!(row["pc_x002e_fullname"].is_string(), "{row}");
}

#[tokio::test]
async fn quirk_15_throttling_headers() {
    let c = ctx().await;
    let r = c.send(Method::GET, "WhoAmI", None, &[]).await;
    assert_eq!(
        r.headers()["x-ms-ratelimit-burst-remaining-xrm-requests"],
        "5999"
    );
    let time = r.headers()["x-ms-ratelimit-time-remaining-xrm-requests"]
        .to_str()
        .unwrap();
    assert!(time.starts_with("1,"), "thousands separator: {time}");
    assert!(
        time.split('.').nth(1).is_some_and(|d| d.len() == 2),
        "two decimals: {time}"
    );
    assert!(
        r.headers()["x-ms-dop-hint"]
            .to_str()
            .unwrap()
            .parse::<u32>()
            .unwrap()
            > 0
    );
}

#[tokio::test]
async fn quirk_16_names_are_case_sensitive_string_comparisons_are_not() {
    let c = ctx().await;
    assert_eq!(
        c.send(Method::GET, "Accounts", None, &[]).await.status(),
        404
    );
    assert_eq!(
        c.send(Method::GET, "accounts?$select=Name", None, &[])
            .await
            .status(),
        400
    );
    let one: Value = c.get_json("accounts?$select=name&$top=1", &[]).await;
    let upper = one["value"][0]["name"]
        .as_str()
        .unwrap()
        .to_uppercase()
        .replace('\'', "''");
    let found: Value = c
        .send(
            Method::GET,
            &format!("accounts?$select=name&$filter=name eq '{upper}'"),
            None,
            &[],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn quirk_17_query_functions_need_the_prefix_and_cannot_be_negated() {
    let c = ctx().await;
    let with = c.send(Method::GET, "accounts?$filter=Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)", None, &[]).await;
    assert_eq!(with.status(), 200);
    let without = c
        .send(
            Method::GET,
            "accounts?$filter=LastXDays(PropertyName='createdon',PropertyValue=7)",
            None,
            &[],
        )
        .await;
    assert_eq!(without.status(), 400);
    let negated = c
        .send(
            Method::GET,
            "accounts?$filter=not Microsoft.Dynamics.CRM.Today(PropertyName='createdon')",
            None,
            &[],
        )
        .await;
    assert_eq!(negated.status(), 400);
}

#[tokio::test]
async fn quirk_18_lookups_are_written_by_binding_and_read_as_value() {
    let c = ctx().await;
    let account: Value = c.get_json("accounts?$select=name&$top=1", &[]).await;
    let account = account["value"][0]["accountid"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = c
        .send(
            Method::POST,
            "contacts",
            Some(json!({"lastname": "L", "_parentcustomerid_value": account})),
            &[],
        )
        .await;
    assert_eq!(r.status(), 400, "a lookup is not written directly");
    let r = c
        .send(Method::POST, "contacts", Some(json!({"lastname": "L", "parentcustomerid_account@odata.bind": format!("/accounts({account})")})), &[])
        .await;
    assert_eq!(r.status(), 204);
    let made = r.headers()["odata-entityid"].to_str().unwrap().to_owned();
    let id = &made[made.rfind('(').unwrap() + 1..made.len() - 1];
    let back: Value = c
        .send(
            Method::GET,
            &format!("contacts({id})?$select=_parentcustomerid_value"),
            None,
            &[("Prefer", "odata.include-annotations=\"*\"")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(back["_parentcustomerid_value"], account.as_str());
    // The polymorphic lookup: two navigation properties, one column.
    let r = c
        .send(
            Method::PATCH,
            &format!("contacts({id})"),
            Some(json!({"parentcustomerid_contact@odata.bind": format!("/contacts({id})")})),
            &[],
        )
        .await;
    assert_eq!(r.status(), 204);
    let back: Value = c
        .send(
            Method::GET,
            &format!("contacts({id})?$select=_parentcustomerid_value"),
            None,
            &[],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(back["_parentcustomerid_value"], id);
}

#[tokio::test]
async fn quirk_20_unauthorized_answers_name_the_authority() {
    let c = ctx().await;
    let r = c
        .http
        .get(format!("{}/api/data/v9.2/WhoAmI", c.info.environment_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.starts_with("Bearer authorization_uri="),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!("/{}/oauth2/authorize", c.info.tenant_id)),
        "{challenge}"
    );
    assert!(challenge.contains("resource_id="), "{challenge}");
}

#[tokio::test]
async fn quirk_19_money_comes_with_its_currency() {
    let c = ctx().await;
    let usd = c
        .get_json("transactioncurrencies?$select=isocurrencycode", &[])
        .await;
    assert_eq!(usd["value"][0]["isocurrencycode"], "USD");
    let usd = usd["value"][0]["transactioncurrencyid"]
        .as_str()
        .unwrap()
        .to_owned();
    let with_money = c
        .get_json("accounts?$select=name,revenue&$top=1", &[])
        .await;
    assert_eq!(
        with_money["value"][0]["_transactioncurrencyid_value"],
        usd.as_str()
    );
    let without = c.get_json("accounts?$select=name&$top=1", &[]).await;
    assert!(
        without["value"][0]
            .get("_transactioncurrencyid_value")
            .is_none()
    );
    // A new record's money is in the base currency.
    let r = c
        .send(Method::POST, "opportunities?$select=estimatedvalue&$expand=transactioncurrencyid($select=isocurrencycode)", Some(json!({"name": "Q19", "estimatedvalue": 12.5})), &[("Prefer", "return=representation")])
        .await;
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    assert_eq!(made["_transactioncurrencyid_value"], usd.as_str());
    assert_eq!(made["transactioncurrencyid"]["isocurrencycode"], "USD");
}
