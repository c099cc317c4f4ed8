//! Reads side by side with the documented service (issue 14): count annotations, conditional
//! GET, `$expand` next links, nested `$expand` and `$ref`, the page-size ceiling, the version
//! kept in written URLs, and Dataverse's codes for unknown segments and malformed keys.

mod common;

use common::Session as Ctx;
use d365_testkit::test_config;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

async fn ctx(accounts: usize) -> Ctx {
    common::session(test_config(accounts)).await
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Ctx {
    fn api(&self, version: &str) -> String {
        format!("{}/api/data/{version}", self.info.environment_url)
    }
    /// GET `url` (absolute, or a path under v9.2) with extra headers.
    async fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> Answer {
        let url = if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{}/{url}", self.api("v9.2"))
        };
        let mut request = self.http.get(url).bearer_auth(&self.token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let r = request.send().await.unwrap();
        Answer {
            status: r.status(),
            headers: r.headers().clone(),
            text: r.text().await.unwrap(),
        }
    }
    async fn get(&self, url: &str) -> Answer {
        self.get_with(url, &[]).await
    }
    async fn ok(&self, url: &str, headers: &[(&str, &str)]) -> Value {
        let a = self.get_with(url, headers).await;
        assert_eq!(a.status, 200, "{url}: {}", a.text);
        a.json()
    }
}

const TOTAL: &str = "@Microsoft.Dynamics.CRM.totalrecordcount";
const EXCEEDED: &str = "@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded";

fn annotations(value: &str) -> String {
    format!("odata.include-annotations=\"{value}\"")
}

// See: Learn "Count rows using OData" (webapi/query/count-rows).
#[tokio::test]
async fn count_annotations_say_whether_the_count_reached_the_cap() {
    let c = ctx(5001).await;
    let all = annotations("*");
    let prefer = [("prefer", all.as_str())];
    let a = c
        .get_with("accounts?$select=name&$count=true", &prefer)
        .await;
    assert_eq!(a.status, 200);
    let body = a.json();
    assert_eq!(body["@odata.count"], 5000);
    assert_eq!(body[TOTAL], 5000);
    assert_eq!(body[EXCEEDED], true);
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "@odata.context",
            "@odata.count",
            TOTAL,
            EXCEEDED,
            "value",
            "@odata.nextLink"
        ],
        "Learn's order"
    );
    assert_eq!(a.header("preference-applied"), Some(all.as_str()));

    // Fewer rows than the cap: the actual count, not exceeded; exactly the cap is not "more".
    let name = body["value"][0]["name"]
        .as_str()
        .unwrap()
        .replace('\'', "''");
    let few = c
        .ok(
            &format!("accounts?$select=name&$count=true&$filter=name eq '{name}'"),
            &prefer,
        )
        .await;
    let n = few["value"].as_array().unwrap().len();
    assert!(n >= 1);
    assert_eq!(
        (few["@odata.count"].clone(), few[TOTAL].clone()),
        (json!(n), json!(n))
    );
    assert_eq!(few[EXCEEDED], false);

    // Without $count: -1 and false, and no @odata.count.
    let none = c.ok("accounts?$select=name&$top=1", &prefer).await;
    assert_eq!(
        (none[TOTAL].clone(), none[EXCEEDED].clone()),
        (json!(-1), json!(false))
    );
    assert!(none.get("@odata.count").is_none());

    // Which filters select them.
    let cases: [(&str, bool, bool); 6] = [
        ("Microsoft.Dynamics.CRM.*", true, true),
        (
            "Microsoft.Dynamics.CRM.totalrecordcount,Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded",
            true,
            true,
        ),
        (
            "Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded",
            false,
            true,
        ),
        ("OData.Community.Display.V1.FormattedValue", false, false),
        ("*,-Microsoft.Dynamics.CRM.totalrecordcount", false, true),
        ("*,-Microsoft.Dynamics.CRM.*", false, false),
    ];
    for (filter, total, exceeded) in cases {
        let prefer = annotations(filter);
        let body = c
            .ok(
                "accounts?$select=name&$count=true&$top=2",
                &[("prefer", &prefer)],
            )
            .await;
        assert_eq!(body.get(TOTAL).is_some(), total, "{filter}: {body:.200}");
        assert_eq!(body.get(EXCEEDED).is_some(), exceeded, "{filter}");
        if total {
            assert_eq!(body[TOTAL], 5000, "{filter}");
        }
    }
    // Without the preference: neither, and no Preference-Applied.
    let a = c.get("accounts?$select=name&$count=true&$top=1").await;
    assert!(a.json().get(TOTAL).is_none() && a.json().get(EXCEEDED).is_none());
    assert_eq!(a.header("preference-applied"), None);
}

#[tokio::test]
async fn an_elastic_tables_count_stops_at_500() {
    let dir = tempfile::tempdir().unwrap();
    let c = common::session(d365_testkit::elastic_config(0, dir.path())).await;
    let targets: Vec<Value> = (0..501)
        .map(|i| json!({"@odata.type": "Microsoft.Dynamics.CRM.contoso_sensordata", "contoso_deviceid": format!("d{i}")}))
        .collect();
    let r = c
        .http
        .post(format!(
            "{}/contoso_sensordatas/Microsoft.Dynamics.CRM.CreateMultiple",
            c.api("v9.2")
        ))
        .bearer_auth(&c.token)
        .json(&json!({"Targets": targets}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let prefer = annotations("Microsoft.Dynamics.CRM.*");
    let body = c
        .ok(
            "contoso_sensordatas?$select=contoso_deviceid&$count=true&$top=1",
            &[("prefer", &prefer)],
        )
        .await;
    assert_eq!(
        (body["@odata.count"].clone(), body[TOTAL].clone()),
        (json!(500), json!(500))
    );
    assert_eq!(body[EXCEEDED], true);
    assert_eq!(c.get("contoso_sensordatas/$count").await.text, "500");
    let body = c
        .ok(
            "contoso_sensordatas?$count=true&$top=1&$filter=contoso_deviceid eq 'd7'",
            &[("prefer", &prefer)],
        )
        .await;
    assert_eq!(
        (body[TOTAL].clone(), body[EXCEEDED].clone()),
        (json!(1), json!(false))
    );
}

// See: https://github.com/MicrosoftDocs/powerapps-docs/issues/1050 (a page size above 5,000
// falls back to the default 5,000).
#[tokio::test]
async fn a_page_size_above_5000_is_ignored_and_not_reported_as_applied() {
    let c = ctx(5001).await;
    let a = c
        .get_with(
            "accounts?$select=name",
            &[("prefer", "odata.maxpagesize=6000")],
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("preference-applied"), None);
    let body = a.json();
    assert_eq!(body["value"].as_array().unwrap().len(), 5000);
    let next = body["@odata.nextLink"].as_str().expect("a next link");
    let rest = c.ok(next, &[("prefer", "odata.maxpagesize=6000")]).await;
    assert_eq!(rest["value"].as_array().unwrap().len(), 1);

    // With annotations too: only what was applied.
    let both = format!("odata.maxpagesize=6000,{}", annotations("*"));
    let a = c
        .get_with("accounts?$select=name&$top=3", &[("prefer", &both)])
        .await;
    assert_eq!(
        a.header("preference-applied"),
        Some(annotations("*").as_str())
    );
    assert_eq!(
        a.json()["value"].as_array().unwrap().len(),
        3,
        "$top applies"
    );
    // Within the range it is applied and said so.
    let a = c
        .get_with(
            "accounts?$select=name",
            &[("prefer", "odata.maxpagesize=5000")],
        )
        .await;
    assert_eq!(
        a.header("preference-applied"),
        Some("odata.maxpagesize=5000")
    );
}

// See: Learn "Perform conditional operations using the Web API", Conditional retrievals.
#[tokio::test]
async fn if_none_match_with_the_current_etag_answers_304() {
    let c = ctx(2).await;
    let first = c.ok("accounts?$select=name&$top=1", &[]).await;
    let id = first["value"][0]["accountid"].as_str().unwrap().to_owned();
    let url = format!("accounts({id})?$select=name,revenue");
    let record = c.ok(&url, &[]).await;
    let etag = record["@odata.etag"].as_str().unwrap().to_owned();

    let a = c.get_with(&url, &[("if-none-match", &etag)]).await;
    assert_eq!(a.status, StatusCode::NOT_MODIFIED);
    assert!(a.text.is_empty(), "no body: {}", a.text);
    assert_eq!(a.header("odata-version"), Some("4.0"));
    // The strong form of the same tag, and a list containing it.
    let strong = etag.trim_start_matches("W/");
    let listed = format!("W/\"1\", {etag}");
    for tag in [strong, listed.as_str()] {
        let a = c.get_with(&url, &[("if-none-match", tag)]).await;
        assert_eq!(a.status, StatusCode::NOT_MODIFIED, "{tag}");
    }
    // Another tag, Learn's `null`, $expand, annotations, a collection: 200 with the body.
    for (path, header) in [
        (url.clone(), "W/\"1\"".to_owned()),
        (url.clone(), "null".to_owned()),
        (
            format!("{url}&$expand=primarycontactid($select=fullname)"),
            etag.clone(),
        ),
        ("accounts?$select=name".to_owned(), etag.clone()),
    ] {
        let a = c.get_with(&path, &[("if-none-match", &header)]).await;
        assert_eq!(a.status, 200, "{path} {header}");
        assert!(a.json()["@odata.context"].is_string());
    }
    let a = c
        .get_with(
            &url,
            &[("if-none-match", &etag), ("prefer", &annotations("*"))],
        )
        .await;
    assert_eq!(a.status, 200, "annotations never give 304");
    assert_eq!(
        a.header("preference-applied"),
        Some(annotations("*").as_str())
    );
    // After an update the old tag no longer matches.
    let r = c
        .http
        .patch(format!("{}/accounts({id})", c.api("v9.2")))
        .bearer_auth(&c.token)
        .json(&json!({"revenue": 42}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let a = c.get_with(&url, &[("if-none-match", &etag)]).await;
    assert_eq!(a.status, 200);
    assert_ne!(a.json()["@odata.etag"], etag.as_str());
    assert_eq!(a.json()["revenue"].as_f64(), Some(42.0));
}

// See: Learn "Join tables using OData", Single $expand on collection-valued navigation properties.
#[tokio::test]
async fn single_level_collection_expands_carry_their_filtered_collection_link() {
    let c = ctx(2).await;
    let api = c.api("v9.2");
    let body = c
        .ok(
            "accounts?$select=name&$expand=Account_Tasks($select=subject),contact_customer_accounts($select=fullname;$top=1)",
            &[("prefer", "odata.maxpagesize=1")],
        )
        .await;
    let row = &body["value"][0];
    let id = row["accountid"].as_str().unwrap();
    assert_eq!(
        row["Account_Tasks@odata.nextLink"],
        format!("{api}/accounts({id})/Account_Tasks?$select=subject")
    );
    let contacts_link = row["contact_customer_accounts@odata.nextLink"]
        .as_str()
        .unwrap();
    assert_eq!(
        contacts_link,
        format!("{api}/accounts({id})/contact_customer_accounts?$select=fullname&$top=1")
    );
    assert_eq!(
        row["contact_customer_accounts"].as_array().unwrap().len(),
        1
    );
    // The links answer the same rows again.
    let tasks = c
        .ok(row["Account_Tasks@odata.nextLink"].as_str().unwrap(), &[])
        .await;
    assert_eq!(tasks["value"], row["Account_Tasks"]);
    let contacts = c.ok(contacts_link, &[]).await;
    assert_eq!(contacts["value"], row["contact_customer_accounts"]);
    // The link comes right after its collection, and on a single record too.
    let keys: Vec<&str> = row
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let at = keys.iter().position(|k| *k == "Account_Tasks").unwrap();
    assert_eq!(keys[at + 1], "Account_Tasks@odata.nextLink");
    let one = c
        .ok(
            &format!("accounts({id})?$select=name&$expand=Account_Tasks"),
            &[],
        )
        .await;
    assert_eq!(
        one["Account_Tasks@odata.nextLink"],
        format!("{api}/accounts({id})/Account_Tasks")
    );
}

// See: Learn "Join tables using OData", Nested $expand on collection-valued navigation
// properties and Nested expand of single-valued navigation properties.
#[tokio::test]
async fn nested_expands_page_each_collection() {
    let c = ctx(3).await;
    let prefer = [("prefer", "odata.maxpagesize=1")];
    let url = "accounts?$select=name&$expand=contact_customer_accounts($select=fullname;$expand=parentcustomerid_account($select=name;$expand=createdby($select=fullname)))";
    let a = c.get_with(url, &prefer).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("preference-applied"), Some("odata.maxpagesize=1"));
    let body = a.json();
    assert!(
        body["@odata.context"].as_str().unwrap().ends_with(
            "#accounts(name,contact_customer_accounts(fullname,parentcustomerid_account(name,createdby(fullname))))"
        ),
        "{}",
        body["@odata.context"]
    );
    let row = &body["value"][0];
    let id = row["accountid"].as_str().unwrap();
    let page = row["contact_customer_accounts"].as_array().unwrap();
    assert_eq!(page.len(), 1, "maxpagesize pages the expanded collection");
    let contact = &page[0];
    assert_eq!(contact["parentcustomerid_account"]["accountid"], id);
    assert!(contact["parentcustomerid_account"]["createdby"]["fullname"].is_string());
    let link = row["contact_customer_accounts@odata.nextLink"]
        .as_str()
        .expect("a paged next link");
    assert!(
        link.starts_with(&format!(
            "{}/accounts({id})/contact_customer_accounts?$select=fullname&$expand=",
            c.api("v9.2")
        )) && link.contains("&$skiptoken="),
        "{link}"
    );
    // Following it gives the rest, expanded the same way, then no further link.
    let next = c.ok(link, &prefer).await;
    let rest = next["value"].as_array().unwrap();
    assert_eq!(rest.len(), 1);
    assert_ne!(rest[0]["contactid"], contact["contactid"]);
    assert_eq!(rest[0]["parentcustomerid_account"]["accountid"], id);
    assert!(next.get("@odata.nextLink").is_none(), "{next}");
    let all = c
        .ok(
            &format!("accounts({id})/contact_customer_accounts?$select=fullname"),
            &[],
        )
        .await;
    let mut expected: Vec<&Value> = all["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["contactid"])
        .collect();
    let mut got = vec![&contact["contactid"], &rest[0]["contactid"]];
    expected.sort_by_key(|v| v.to_string());
    got.sort_by_key(|v| v.to_string());
    assert_eq!(got, expected);

    // Nested single-valued expands (Learn's tasks example).
    let tasks = c
        .ok(
            "tasks?$select=subject&$expand=regardingobjectid_account_task($select=name;$expand=primarycontactid($select=fullname;$expand=createdby($select=fullname)))",
            &[],
        )
        .await;
    let account = &tasks["value"][0]["regardingobjectid_account_task"];
    assert!(account["name"].is_string(), "{account}");
    assert!(
        account["primarycontactid"]["createdby"]["fullname"].is_string(),
        "{account}"
    );

    // With nesting, $top and $orderby on a collection are refused; more than 15 expands too.
    for bad in [
        "accounts?$expand=Account_Tasks($top=1),contact_customer_accounts($expand=createdby)",
        "accounts?$expand=contact_customer_accounts($orderby=fullname;$expand=createdby)",
    ] {
        let a = c.get(bad).await;
        assert_eq!(a.status, 400, "{bad}");
        assert_eq!(
            a.json()["error"]["message"],
            "Only $select and $filter clause can be provided while doing $expand on many-to-one relationship or nested one-to-many relationship.",
        );
    }
    let sixteen = format!(
        "accounts?$expand=primarycontactid($expand={})",
        vec!["createdby"; 15].join(",")
    );
    assert_eq!(c.get(&sixteen).await.status, 400);
}

// See: Learn "Join tables using OData", Return references; "Retrieve a table row", $ref.
#[tokio::test]
async fn references_in_expand_and_on_navigation_properties() {
    let c = ctx(2).await;
    let api = c.api("v9.2");
    let a = c
        .get("accounts?$select=name&$expand=Account_Tasks/$ref")
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json()["error"],
        json!({"code": "0x80060888", "message": "Expand with $ref is only supported on lookup type navigation property."})
    );
    let body = c
        .ok(
            "accounts?$select=name,_primarycontactid_value&$expand=primarycontactid/$ref",
            &[],
        )
        .await;
    assert!(body["@odata.context"].as_str().unwrap().ends_with(
        "#accounts(name,_primarycontactid_value,primarycontactid,primarycontactid/$ref())"
    ));
    let row = &body["value"][0];
    let contact = row["_primarycontactid_value"].as_str().unwrap();
    assert_eq!(
        row["primarycontactid"],
        json!({"@odata.id": format!("{api}/contacts({contact})")})
    );
    let id = row["accountid"].as_str().unwrap();

    let refs = c
        .ok(&format!("accounts({id})/Account_Tasks/$ref"), &[])
        .await;
    assert_eq!(
        refs["@odata.context"],
        format!("{api}/$metadata#Collection($ref)")
    );
    let tasks = c
        .ok(
            &format!("accounts({id})/Account_Tasks?$select=subject"),
            &[],
        )
        .await;
    let expected: Vec<Value> = tasks["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(
            |t| json!({"@odata.id": format!("{api}/tasks({})", t["activityid"].as_str().unwrap())}),
        )
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(refs["value"], Value::Array(expected));
    let one = c
        .ok(&format!("accounts({id})/primarycontactid/$ref"), &[])
        .await;
    assert_eq!(one["@odata.id"], format!("{api}/contacts({contact})"));
}

// See: Learn troubleshooting "Web API client errors", Resource not found for the segment.
#[tokio::test]
async fn unknown_segments_and_malformed_keys_answer_dataverse_codes() {
    let c = ctx(1).await;
    let a = c.get("Account").await;
    assert_eq!(a.status, 404);
    assert_eq!(
        a.json()["error"],
        json!({"code": "0x8006088a", "message": "Resource not found for the segment 'Account'."})
    );
    for key in [
        "accounts(123)",
        "accounts('abc')",
        "accounts(accountid=123)",
        "accounts(123)/name",
    ] {
        let a = c.get(key).await;
        assert_eq!(a.status, 400, "{key}");
        assert_eq!(
            a.json()["error"],
            json!({"code": "0x8006088a", "message": "Bad Request - Error in query syntax."}),
            "{key}"
        );
    }
}

#[tokio::test]
async fn every_version_keeps_its_own_version_in_the_urls_it_writes() {
    let c = ctx(3).await;
    for version in ["v9.0", "v9.1", "v9.2"] {
        let api = c.api(version);
        let prefer = [("prefer", "odata.maxpagesize=1")];
        let body = c
            .ok(
                &format!("{api}/accounts?$select=name&$expand=Account_Tasks($select=subject)"),
                &prefer,
            )
            .await;
        assert_eq!(
            body["@odata.context"],
            format!("{api}/$metadata#accounts(name,Account_Tasks(subject))")
        );
        let next = body["@odata.nextLink"].as_str().unwrap();
        assert!(next.starts_with(&format!("{api}/accounts?")), "{next}");
        let tasks_link = body["value"][0]["Account_Tasks@odata.nextLink"]
            .as_str()
            .unwrap();
        assert!(
            tasks_link.starts_with(&format!("{api}/accounts(")),
            "{tasks_link}"
        );
        let page = c.ok(next, &prefer).await;
        assert!(page["@odata.context"].as_str().unwrap().starts_with(&api));
        let r = c
            .http
            .post(format!("{api}/contacts"))
            .bearer_auth(&c.token)
            .json(&json!({"lastname": version}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let entity_id = r.headers()["odata-entityid"].to_str().unwrap();
        assert!(
            entity_id.starts_with(&format!("{api}/contacts(")),
            "{entity_id}"
        );
        let who = c.ok(&format!("{api}/WhoAmI"), &[]).await;
        assert!(who["@odata.context"].as_str().unwrap().starts_with(&api));
    }
}

/// A page of more parents than one query takes ids (1,000): every parent still gets all its
/// related rows, lookups and collections alike, in one answer.
#[tokio::test]
async fn expands_over_a_page_of_many_parents_lose_nothing() {
    let c = ctx(1_500).await;
    let body = c
        .ok(
            "accounts?$select=name,_primarycontactid_value\
             &$expand=Account_Tasks($select=subject),primarycontactid($select=fullname)",
            &[("prefer", "odata.maxpagesize=5000")],
        )
        .await;
    let rows = body["value"].as_array().unwrap();
    assert_eq!(rows.len(), 1_500);
    let tasks: usize = rows
        .iter()
        .map(|r| r["Account_Tasks"].as_array().unwrap().len())
        .sum();
    let with_regarding = c
        .ok(
            "tasks?$filter=_regardingobjectid_value ne null&$count=true&$top=1",
            &[],
        )
        .await;
    assert_eq!(
        tasks as u64,
        with_regarding["@odata.count"].as_u64().unwrap()
    );
    for r in rows {
        assert_eq!(
            r["primarycontactid"].is_null(),
            r["_primarycontactid_value"].is_null(),
            "{r}"
        );
    }
}
