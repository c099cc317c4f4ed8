//! `$batch` over real HTTP with hand-written multipart bodies: change sets all or nothing,
//! Content-ID references in URLs and `@odata.bind`, GETs outside change sets, URL forms,
//! `Prefer: odata.continue-on-error`, the 1,000-request cap, malformed bodies and bare LF.

mod common;

use d365_odata::multipart;
use d365_testkit::{Emulator, EmulatorInfo, start, test_config};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Ctx {
    _emulator: Emulator,
    _dir: Option<tempfile::TempDir>,
    info: EmulatorInfo,
    http: reqwest::Client,
    token: String,
}

async fn ctx() -> Ctx {
    ctx_with(false).await
}

/// With `file`, the database is a file with a pool of readers (reads outside the change set
/// then go to other connections, which must not see its uncommitted rows).
async fn ctx_with(file: bool) -> Ctx {
    let dir = file.then(|| tempfile::tempdir().unwrap());
    let mut config = test_config(2);
    config.data_dir = dir.as_ref().map(|d| d.path().to_owned());
    let emulator = start(config).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    Ctx {
        _emulator: emulator,
        _dir: dir,
        info,
        http,
        token,
    }
}

/// One part of a request body.
enum P<'a> {
    /// (Content-ID, method, URL, body)
    Op(Option<&'a str>, &'a str, &'a str, Option<Value>),
    ChangeSet(Vec<P<'a>>),
}

fn write_parts(out: &mut String, boundary: &str, parts: &[P<'_>]) {
    for (i, part) in parts.iter().enumerate() {
        out.push_str(&format!("--{boundary}\r\n"));
        match part {
            P::Op(id, method, url, body) => {
                out.push_str(
                    "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n",
                );
                if let Some(id) = id {
                    out.push_str(&format!("Content-ID: {id}\r\n"));
                }
                out.push_str(&format!("\r\n{method} {url} HTTP/1.1\r\n"));
                match body {
                    Some(b) => out.push_str(&format!(
                        "Content-Type: application/json; type=entry\r\n\r\n{b}\r\n"
                    )),
                    None => out.push_str("Accept: application/json\r\n\r\n"),
                }
            }
            P::ChangeSet(ops) => {
                let cs = format!("changeset_{i}");
                out.push_str(&format!(
                    "Content-Type: multipart/mixed; boundary=\"{cs}\"\r\n\r\n"
                ));
                write_parts(out, &cs, ops);
                out.push_str(&format!("--{cs}--\r\n"));
            }
        }
    }
}

fn body(parts: &[P<'_>]) -> String {
    let mut out = String::new();
    write_parts(&mut out, "batch_test", parts);
    out.push_str("--batch_test--\r\n");
    out
}

/// A response part: (Content-ID, status, OData-EntityId, JSON body), change sets flattened;
/// `true` for parts that came inside a change set response.
type Got = (Option<String>, u16, Option<String>, Value, bool);

impl Ctx {
    fn url(&self, path: &str) -> String {
        format!("{}/api/data/v9.2/{path}", self.info.environment_url)
    }

    async fn batch_raw(&self, text: String, continue_on_error: bool) -> reqwest::Response {
        let mut r = self
            .http
            .post(self.url("$batch"))
            .bearer_auth(&self.token)
            .header("content-type", "multipart/mixed; boundary=\"batch_test\"")
            .header("odata-version", "4.0")
            .body(text);
        if continue_on_error {
            r = r.header("prefer", "odata.continue-on-error");
        }
        r.send().await.unwrap()
    }

    async fn batch(&self, parts: &[P<'_>], continue_on_error: bool) -> (StatusCode, Vec<Got>) {
        let r = self.batch_raw(body(parts), continue_on_error).await;
        let status = r.status();
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        let boundary = multipart::boundary(&ct).unwrap_or_else(|| panic!("not multipart: {ct}"));
        assert!(boundary.starts_with("batchresponse_"));
        let text = r.text().await.unwrap();
        assert!(
            text.starts_with(&format!("--{boundary}\r\n")),
            "the body starts with the delimiter"
        );
        let mut got = Vec::new();
        for part in multipart::split(text.as_bytes(), &boundary).unwrap().parts {
            match part.nested_boundary() {
                Some(cs) => {
                    assert!(cs.starts_with("changesetresponse_"));
                    for p in multipart::split(part.body, &cs).unwrap().parts {
                        got.push(read(&p, true));
                    }
                }
                None => got.push(read(&part, false)),
            }
        }
        (status, got)
    }

    async fn count(&self, set: &str, filter: &str) -> usize {
        let r: Value = self
            .http
            .get(self.url(&format!("{set}?$filter={filter}")))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["value"].as_array().unwrap().len()
    }
}

fn read(part: &multipart::Part<'_>, in_change_set: bool) -> Got {
    let r = multipart::parse_response(part.body).unwrap();
    let json = serde_json::from_slice(r.body.trim_ascii()).unwrap_or(Value::Null);
    (
        part.header("content-id").map(str::to_owned),
        r.status,
        r.header("odata-entityid").map(str::to_owned),
        json,
        in_change_set,
    )
}

#[tokio::test]
async fn a_failing_part_rolls_back_the_whole_change_set() {
    for file in [false, true] {
        let c = ctx_with(file).await;
        let (status, got) = c
            .batch(
                &[P::ChangeSet(vec![
                    P::Op(
                        Some("1"),
                        "POST",
                        "accounts",
                        Some(json!({"name": "Rollback A"})),
                    ),
                    P::Op(
                        Some("2"),
                        "POST",
                        "accounts",
                        Some(json!({"name": "Rollback B"})),
                    ),
                    P::Op(
                        Some("3"),
                        "POST",
                        "contacts",
                        Some(json!({"lastname": "x", "nosuchcolumn": 1})),
                    ),
                ])],
                false,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // A failed change set answers with the one error, not a change set response.
        assert_eq!(got.len(), 1, "{got:?}");
        let (id, code, _, error, in_cs) = &got[0];
        assert_eq!((id.as_deref(), *code, *in_cs), (Some("3"), 400, false));
        assert_eq!(error["error"]["code"], "0x80048d19");
        assert_eq!(c.count("accounts", "startswith(name,'Rollback')").await, 0);

        // The connection is usable afterwards, and a good change set commits.
        let (status, got) = c
            .batch(
                &[P::ChangeSet(vec![P::Op(
                    Some("1"),
                    "POST",
                    "accounts",
                    Some(json!({"name": "Rollback C"})),
                )])],
                false,
            )
            .await;
        assert_eq!((status, got[0].1), (StatusCode::OK, 204));
        assert_eq!(c.count("accounts", "startswith(name,'Rollback')").await, 1);
    }
}

#[tokio::test]
async fn content_id_references_resolve_in_urls_and_binds() {
    let c = ctx_with(true).await;
    let absolute = c.url("accounts?$select=name,telephone1&$filter=name%20eq%20'Ref%20Co'");
    let (status, got) = c
        .batch(
            &[
                P::ChangeSet(vec![
                    P::Op(
                        Some("1"),
                        "POST",
                        "/api/data/v9.2/accounts",
                        Some(json!({"name": "Ref Co"})),
                    ),
                    P::Op(
                        Some("2"),
                        "POST",
                        "contacts",
                        Some(
                            json!({"lastname": "Ref", "parentcustomerid_account@odata.bind": "$1"}),
                        ),
                    ),
                    P::Op(
                        Some("3"),
                        "PATCH",
                        "$1",
                        Some(json!({"telephone1": "555-0142"})),
                    ),
                ]),
                P::Op(None, "GET", &absolute, None),
            ],
            false,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let summary: Vec<_> = got
        .iter()
        .map(|(id, s, _, _, cs)| (id.as_deref(), *s, *cs))
        .collect();
    assert_eq!(
        summary,
        [
            (Some("1"), 204, true),
            (Some("2"), 204, true),
            (Some("3"), 204, true),
            (None, 200, false)
        ]
    );
    let account = got[0].2.clone().unwrap();
    let contact = got[1].2.clone().unwrap();
    assert!(account.starts_with(&c.url("accounts(")));
    assert_eq!(got[3].3["value"][0]["telephone1"], "555-0142", "PATCH $1");
    let account_id = &account[account.len() - 37..account.len() - 1];
    let contact_path = &contact[contact.find("contacts(").unwrap()..];
    let r: Value = c
        .http
        .get(c.url(&format!("{contact_path}?$select=_parentcustomerid_value")))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["_parentcustomerid_value"], account_id,
        "@odata.bind to $1"
    );
}

#[tokio::test]
async fn a_reference_to_a_later_or_outside_content_id_fails() {
    let c = ctx().await;
    let (status, got) = c
        .batch(
            &[P::ChangeSet(vec![
                P::Op(Some("1"), "PATCH", "$2", Some(json!({"name": "x"}))),
                P::Op(
                    Some("2"),
                    "POST",
                    "accounts",
                    Some(json!({"name": "Later"})),
                ),
            ])],
            false,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].3["error"]["message"],
        "Content-ID Reference: '$2' does not exist in the batch context."
    );
}

#[tokio::test]
async fn gets_run_outside_change_sets_with_every_url_form() {
    let c = ctx().await;
    let absolute = c.url("accounts?$select=name");
    let (status, got) = c
        .batch(
            &[
                P::Op(None, "GET", &absolute, None),
                P::Op(None, "GET", "/api/data/v9.2/accounts?$select=name", None),
                P::Op(None, "GET", "accounts?$select=name&$top=1", None),
                P::Op(None, "GET", "WhoAmI()", None),
            ],
            false,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), [200; 4]);
    assert_eq!(got[0].3["value"].as_array().unwrap().len(), 2);
    assert_eq!(got[2].3["value"].as_array().unwrap().len(), 1);
    assert!(got[3].3["UserId"].is_string());
}

#[tokio::test]
async fn continue_on_error_reports_every_part() {
    let c = ctx().await;
    let missing = "accounts(00000000-0000-0000-0000-0000000000ff)";
    let parts = [
        P::Op(None, "GET", "accounts?$select=name", None),
        P::Op(None, "POST", "accounts", Some(json!({"nosuchcolumn": 1}))),
        P::Op(None, "GET", missing, None),
        P::ChangeSet(vec![P::Op(Some("9"), "DELETE", missing, None)]),
        P::Op(None, "POST", "accounts", Some(json!({"name": "Goes on"}))),
    ];
    let (status, got) = c.batch(&parts, true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        got.iter().map(|g| g.1).collect::<Vec<_>>(),
        [200, 400, 404, 404, 204]
    );
    assert_eq!(got[2].3["error"]["code"], "0x80040217");
    assert_eq!(c.count("accounts", "name%20eq%20'Goes%20on'").await, 1);

    // Without the preference, processing stops at the first failure.
    let (status, got) = c.batch(&parts, false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), [200, 400]);
    assert_eq!(c.count("accounts", "name%20eq%20'Goes%20on'").await, 1);
}

async fn plain_error(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "{ct}");
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn more_than_a_thousand_requests_are_refused() {
    let c = ctx().await;
    let parts: Vec<P<'_>> = (0..1001)
        .map(|_| P::Op(None, "GET", "WhoAmI()", None))
        .collect();
    let (status, error) = plain_error(c.batch_raw(body(&parts), false).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1001, exceeds the maximum allowed batch size of 1000"),
        "{error}"
    );
    // Exactly 1,000 is fine.
    let (status, got) = c.batch(&parts[..1000], false).await;
    assert_eq!((status, got.len()), (StatusCode::OK, 1000));
}

#[tokio::test]
async fn malformed_batches_get_a_plain_json_400() {
    let c = ctx().await;
    let good = body(&[P::Op(None, "GET", "WhoAmI()", None)]);
    let cases = [
        ("no content type", None, good.clone()),
        ("not multipart", Some("application/json"), good.clone()),
        (
            "no closing delimiter",
            Some("multipart/mixed; boundary=batch_test"),
            good.replace("--batch_test--", ""),
        ),
        (
            "GET in a change set",
            Some("multipart/mixed; boundary=batch_test"),
            body(&[P::ChangeSet(vec![P::Op(
                Some("1"),
                "GET",
                "WhoAmI()",
                None,
            )])]),
        ),
        (
            "no request line",
            Some("multipart/mixed; boundary=batch_test"),
            "--batch_test\r\nContent-Type: application/http\r\n\r\nnonsense\r\n--batch_test--\r\n"
                .to_owned(),
        ),
        (
            "duplicate Content-ID",
            Some("multipart/mixed; boundary=batch_test"),
            body(&[P::ChangeSet(vec![
                P::Op(Some("1"), "POST", "accounts", Some(json!({"name": "a"}))),
                P::Op(Some("1"), "POST", "accounts", Some(json!({"name": "b"}))),
            ])]),
        ),
    ];
    for (what, ct, text) in cases {
        let mut r = c
            .http
            .post(c.url("$batch"))
            .bearer_auth(&c.token)
            .body(text);
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        let (status, error) = plain_error(r.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
        assert!(error["error"]["message"].is_string(), "{what}: {error}");
    }
    assert_eq!(c.count("accounts", "name%20eq%20'a'").await, 0);
}

#[tokio::test]
async fn bare_lf_framing_is_refused_as_dataverse_does() {
    let c = ctx().await;
    let text = body(&[P::Op(None, "GET", "WhoAmI()", None)]).replace("\r\n", "\n");
    let (status, error) = plain_error(c.batch_raw(text, false).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["code"], "0x80048d19");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("Stream was not readable.")
    );
}

#[tokio::test]
async fn long_gets_are_refused_directly_but_run_inside_a_batch() {
    let c = ctx().await;
    let query = format!(
        "accounts?$select=name&$filter=name%20ne%20'{}'",
        "x".repeat(33_000)
    );
    assert!(query.len() > 32_768);
    let r = c
        .http
        .get(c.url(&query))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    let (status, error) = plain_error(r).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG, "{error}");
    let (status, got) = c.batch(&[P::Op(None, "GET", &query, None)], false).await;
    assert_eq!((status, got[0].1), (StatusCode::OK, 200), "{got:?}");
}

#[tokio::test]
async fn a_batch_counts_as_one_request_for_service_protection() {
    let mut config = test_config(1);
    config.limits = Some(d365_emulator::limits::ServiceLimits {
        requests: 2,
        window_secs: 300,
        ..d365_emulator::limits::ServiceLimits::real()
    });
    let emulator = start(config).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    let c = Ctx {
        _emulator: emulator,
        _dir: None,
        info,
        http,
        token,
    };
    let parts: Vec<P<'_>> = (0..10)
        .map(|_| P::Op(None, "GET", "WhoAmI()", None))
        .collect();
    let r = c.batch_raw(body(&parts), false).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["x-ms-ratelimit-burst-remaining-xrm-requests"],
        "1"
    );
    let r = c.batch_raw(body(&parts), false).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Then the whole batch is refused, nothing in it runs.
    let r = c.batch_raw(body(&parts), false).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}
