//! Change tracking over real HTTP: `Prefer: odata.track-changes`, the delta link on the last
//! page of the initial load, delta responses with changed rows and `$deletedEntity` entries,
//! token expiry on the emulator's clock, and the documented errors.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use d365_testkit::{Emulator, EmulatorInfo, start, test_config};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

struct Ctx {
    _emulator: Emulator,
    info: EmulatorInfo,
    http: reqwest::Client,
    token: String,
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

async fn ctx() -> Ctx {
    let emulator = start(test_config(5)).await;
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
    fn api(&self) -> String {
        format!("{}/api/data/v9.2", self.info.environment_url)
    }

    /// GET of a path under the API root, or of an absolute link exactly as given.
    async fn get(&self, path_or_link: &str, prefer: Option<&str>) -> Answer {
        let url = if path_or_link.starts_with("http") {
            path_or_link.to_owned()
        } else {
            format!("{}/{path_or_link}", self.api())
        };
        let mut request = self.http.get(url).bearer_auth(&self.token);
        if let Some(p) = prefer {
            request = request.header("prefer", p);
        }
        let r = request.send().await.unwrap();
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        Answer {
            status,
            headers,
            body: r.json().await.unwrap_or(Value::Null),
        }
    }

    async fn write(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> String {
        let mut request = self
            .http
            .request(method, format!("{}/{path}", self.api()))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            request = request.json(&b);
        }
        let r = request.send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.headers()
            .get("odata-entityid")
            .map(|h| {
                let h = h.to_str().unwrap();
                h[h.rfind('(').unwrap() + 1..h.len() - 1].to_owned()
            })
            .unwrap_or_default()
    }

    /// Every page from `first` on (links followed verbatim, same Prefer): the records and
    /// the last page's delta link, checking that only the last page has one.
    async fn load(&self, first: &str, prefer: &str) -> (Vec<Value>, String, usize) {
        let mut link = first.to_owned();
        let mut records = Vec::new();
        let mut pages = 0;
        loop {
            let a = self.get(&link, Some(prefer)).await;
            assert_eq!(a.status, 200, "{}", a.body);
            pages += 1;
            records.extend(a.body["value"].as_array().unwrap().iter().cloned());
            match a.body["@odata.nextLink"].as_str() {
                Some(next) => {
                    assert!(a.body.get("@odata.deltaLink").is_none(), "{}", a.body);
                    link = next.to_owned();
                }
                None => {
                    let delta = a.body["@odata.deltaLink"].as_str().expect("delta link");
                    return (records, delta.to_owned(), pages);
                }
            }
        }
    }

    async fn account_ids(&self) -> BTreeSet<String> {
        let a = self.get("accounts?$select=accountid", None).await;
        ids(&a.body["value"])
    }
}

fn ids(records: &Value) -> BTreeSet<String> {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["accountid"].as_str().unwrap().to_owned())
        .collect()
}

/// The upserted rows (by id) and the deleted ids of a delta, each checked to appear once.
fn split(records: &[Value], api: &str) -> (BTreeMap<String, Value>, BTreeSet<String>) {
    let mut upserted = BTreeMap::new();
    let mut deleted = BTreeSet::new();
    for r in records {
        if r.get("reason").is_some() {
            let id = r["id"].as_str().unwrap().to_owned();
            assert_eq!(
                r,
                &json!({
                    "@odata.context": format!("{api}/$metadata#accounts/$deletedEntity"),
                    "id": id,
                    "reason": "deleted"
                })
            );
            assert!(deleted.insert(id), "deleted twice: {r}");
        } else {
            let id = r["accountid"].as_str().unwrap().to_owned();
            assert!(upserted.insert(id, r.clone()).is_none(), "twice: {r}");
        }
    }
    (upserted, deleted)
}

const TRACK: &str = "odata.track-changes,odata.maxpagesize=2";

#[tokio::test]
async fn the_initial_load_pages_and_only_its_last_page_has_the_delta_link() {
    let c = ctx().await;
    let first = c
        .get("accounts?$select=name,accountnumber", Some(TRACK))
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        first.headers["preference-applied"],
        "odata.track-changes,odata.maxpagesize=2"
    );
    assert_eq!(
        first.body["@odata.context"],
        format!("{}/$metadata#accounts(name,accountnumber)", c.api())
    );
    let row = &first.body["value"][0];
    assert!(row["@odata.etag"].as_str().unwrap().starts_with("W/\""));
    assert!(row.get("name").is_some() && row.get("accountid").is_some());
    assert!(row.get("telephone1").is_none(), "{row}");

    let (records, delta, pages) = c.load("accounts?$select=name,accountnumber", TRACK).await;
    assert_eq!(pages, 3, "5 accounts, 2 a page");
    assert_eq!(ids(&Value::Array(records)), c.account_ids().await);
    // `$select` is carried into the delta link; the token is `{version}!{MM/dd/yyyy HH:mm:ss}`.
    let prefix = format!(
        "{}/accounts?$select=name,accountnumber&$deltatoken=",
        c.api()
    );
    assert!(delta.starts_with(&prefix), "{delta}");
    let token = percent_encoding::percent_decode_str(&delta[prefix.len()..])
        .decode_utf8()
        .unwrap()
        .into_owned();
    let (version, at) = token.split_once('!').unwrap();
    assert!(version.parse::<u64>().is_ok(), "{token}");
    assert_eq!(at.len(), "08/22/2017 08:10:44".len(), "{token}");
    assert_eq!((&at[2..3], &at[5..6], &at[10..11]), ("/", "/", " "));

    // Without paging the one page has it; without the preference there is none.
    let one = c
        .get("accounts?$select=name", Some("odata.track-changes"))
        .await;
    assert_eq!(one.body["value"].as_array().unwrap().len(), 5);
    assert!(one.body["@odata.deltaLink"].is_string());
    assert!(one.body.get("@odata.nextLink").is_none());
    let plain = c.get("accounts?$select=name", None).await;
    assert!(plain.body.get("@odata.deltaLink").is_none());
    assert!(plain.headers.get("preference-applied").is_none());
}

#[tokio::test]
async fn changes_after_the_token_come_once_with_deletes_as_deleted_entities() {
    let c = ctx().await;
    let before = c.account_ids().await;
    // The initial load goes by key, so the first page has the lowest ids.
    let mut existing = before.iter().rev();
    let (updated, removed) = (existing.next().unwrap(), existing.next().unwrap());

    // A row changed between the pages of the initial load is in the first delta.
    let first = c.get("accounts?$select=name", Some(TRACK)).await;
    let changed_mid_load = ids(&first.body["value"]).first().unwrap().clone();
    assert!(![updated, removed].contains(&&changed_mid_load));
    let next = first.body["@odata.nextLink"].as_str().unwrap().to_owned();
    c.write(
        reqwest::Method::PATCH,
        &format!("accounts({changed_mid_load})"),
        Some(json!({"name": "Changed mid-load"})),
    )
    .await;
    let (_, delta, _) = c.load(&next, TRACK).await;

    // After the token: a create, an update, a delete, and a row created then deleted.
    let created = c
        .write(
            reqwest::Method::POST,
            "accounts",
            Some(json!({"name": "New after token"})),
        )
        .await;
    c.write(
        reqwest::Method::PATCH,
        &format!("accounts({updated})"),
        Some(json!({"name": "Updated after token"})),
    )
    .await;
    c.write(
        reqwest::Method::PATCH,
        &format!("accounts({updated})"),
        Some(json!({"name": "Updated twice"})),
    )
    .await;
    c.write(
        reqwest::Method::DELETE,
        &format!("accounts({removed})"),
        None,
    )
    .await;
    let ephemeral = c
        .write(
            reqwest::Method::POST,
            "accounts",
            Some(json!({"name": "Short-lived"})),
        )
        .await;
    c.write(
        reqwest::Method::DELETE,
        &format!("accounts({ephemeral})"),
        None,
    )
    .await;
    // A contact changes too: not in the accounts delta.
    c.write(
        reqwest::Method::POST,
        "contacts",
        Some(json!({"lastname": "Elsewhere"})),
    )
    .await;

    // Four changed rows and two deletions, three to a page: the delta pages too.
    let prefer = "odata.track-changes,odata.maxpagesize=3";
    let page = c.get(&delta, Some(prefer)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.body["@odata.context"],
        format!("{}/$metadata#accounts(name)/$delta", c.api())
    );
    assert!(page.body.get("@odata.deltaLink").is_none());
    assert!(page.body["@odata.nextLink"].is_string());
    let (records, next_delta, pages) = c.load(&delta, prefer).await;
    assert_eq!(pages, 2);
    let (upserted, deleted) = split(&records, &c.api());
    let expected: BTreeSet<String> = [&created, updated, &changed_mid_load]
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(upserted.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(upserted[updated]["name"], "Updated twice");
    assert_eq!(upserted[&created]["name"], "New after token");
    assert_eq!(upserted[&changed_mid_load]["name"], "Changed mid-load");
    assert!(upserted[&created]["@odata.etag"].is_string());
    assert_eq!(
        deleted,
        [removed.clone(), ephemeral.clone()].into_iter().collect()
    );
    // Changed rows first, then deletions.
    let first_deleted = records.iter().position(|r| r.get("reason").is_some());
    assert_eq!(first_deleted, Some(3));
    assert!(
        next_delta.contains("$select=name&$deltatoken="),
        "{next_delta}"
    );
    assert_ne!(next_delta, delta);

    // Nothing changed since: an empty value and a new delta link.
    let empty = c.get(&next_delta, None).await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.body["value"], json!([]));
    let newest = empty.body["@odata.deltaLink"].as_str().unwrap().to_owned();
    assert!(newest.contains("$deltatoken="));
    assert!(empty.headers.get("preference-applied").is_none());

    // One more update: only that row, from either of the last two links.
    c.write(
        reqwest::Method::PATCH,
        &format!("accounts({created})"),
        Some(json!({"name": "Again"})),
    )
    .await;
    for link in [&next_delta, &newest] {
        let a = c.get(link, Some("odata.track-changes")).await;
        assert_eq!(a.headers["preference-applied"], "odata.track-changes");
        let values = a.body["value"].as_array().unwrap();
        assert_eq!(values.len(), 1, "{}", a.body);
        assert_eq!(values[0]["accountid"], created.as_str());
        assert_eq!(values[0]["name"], "Again");
    }

    // The full set equals the initial load with the changes applied.
    let mut local = before.clone();
    local.insert(created.clone());
    local.remove(removed);
    assert_eq!(local, c.account_ids().await);
}

#[tokio::test]
async fn filter_orderby_expand_and_top_are_refused_with_change_tracking() {
    let c = ctx().await;
    for (query, option) in [
        ("$filter=name ne null", "$filter"),
        ("$orderby=name", "$orderby"),
        ("$expand=primarycontactid($select=fullname)", "$expand"),
        ("$top=2", "$top"),
    ] {
        let a = c
            .get(
                &format!("accounts?$select=name&{query}"),
                Some("odata.track-changes"),
            )
            .await;
        assert_eq!(a.status, 400, "{query}");
        assert_eq!(
            a.body["error"]["message"],
            format!(
                "The \"{option}\" query parameter isn't supported when Change Tracking is enabled."
            )
        );
    }
    // The same on a delta link.
    let (_, delta, _) = c.load("accounts?$select=name", "odata.track-changes").await;
    let a = c.get(&format!("{delta}&$top=1"), None).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.body["error"]["message"],
        "The \"$top\" query parameter isn't supported when Change Tracking is enabled."
    );
    // A token we never made.
    let a = c.get("accounts?$deltatoken=nonsense", None).await;
    assert_eq!(a.status, 400, "{}", a.body);
}

#[tokio::test]
async fn a_token_older_than_seven_days_has_expired() {
    let mut c = ctx().await;
    let (_, delta, _) = c.load("accounts?$select=name", "odata.track-changes").await;
    let advance = |secs: i64| {
        let url = format!(
            "{}/_emulator/clock/advance?seconds={secs}",
            c.info.authority_host
        );
        let http = c.http.clone();
        async move { http.post(url).send().await.unwrap() }
    };

    // Six days on, the token still works (and hands out a fresh one).
    advance(6 * 24 * 3600).await;
    c.token = common::app_token(&c.http, &c.info).await;
    let a = c.get(&delta, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let fresh = a.body["@odata.deltaLink"].as_str().unwrap().to_owned();

    // A day and a second later the first token is past its seven days; the fresh one is not.
    advance(24 * 3600 + 1).await;
    c.token = common::app_token(&c.http, &c.info).await;
    let a = c.get(&delta, None).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "0x80044352");
    assert_eq!(
        a.body["error"]["message"],
        "Version stamp associated with the client has expired. Please perform a full sync."
    );
    assert_eq!(c.get(&fresh, None).await.status, 200);
}

#[tokio::test]
async fn the_lifetime_is_configurable() {
    let emulator = start(d365_testkit::EmulatorConfig {
        change_token_lifetime_secs: 60,
        ..test_config(1)
    })
    .await;
    let info = emulator.info();
    let c = Ctx {
        token: common::app_token(&reqwest::Client::new(), &info).await,
        _emulator: emulator,
        info,
        http: reqwest::Client::new(),
    };
    let (_, delta, _) = c.load("accounts", "odata.track-changes").await;
    c.http
        .post(format!(
            "{}/_emulator/clock/advance?seconds=61",
            c.info.authority_host
        ))
        .send()
        .await
        .unwrap();
    let a = c.get(&delta, None).await;
    assert_eq!(a.body["error"]["code"], "0x80044352", "{}", a.body);
}

#[tokio::test]
async fn a_table_without_change_tracking_is_refused() {
    let c = ctx().await;
    let a = c.get("organizations", Some("odata.track-changes")).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "0x80072491");
    assert_eq!(
        a.body["error"]["message"],
        "Entity organization isn't enabled for change tracking."
    );
    // Metadata says so.
    let a = c
        .get(
            "EntityDefinitions?$select=LogicalName&$filter=ChangeTrackingEnabled eq false",
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let names: Vec<&str> = a.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["LogicalName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["organization", "asyncoperation", "bulkdeleteoperation"]
    );
}
