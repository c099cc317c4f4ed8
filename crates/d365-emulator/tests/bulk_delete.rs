//! `BulkDelete` over real HTTP: the body Microsoft's Python SDK sends, the system job it
//! starts (`asyncoperations`, `bulkdeleteoperations`), a start time in the future, jobs that
//! resume after a restart, and the errors for bad parameters and queries (nothing deleted).

mod common;

use d365_testkit::{Emulator, EmulatorInfo, start, test_config};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Ctx {
    emulator: Emulator,
    info: EmulatorInfo,
    http: reqwest::Client,
    token: String,
}

async fn ctx(config: d365_testkit::EmulatorConfig) -> Ctx {
    let emulator = start(config).await;
    let info = emulator.info();
    let http = reqwest::Client::new();
    let token = common::app_token(&http, &info).await;
    Ctx {
        emulator,
        info,
        http,
        token,
    }
}

impl Ctx {
    fn url(&self, path: &str) -> String {
        format!("{}/api/data/v9.2/{path}", self.info.environment_url)
    }

    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let r = common::api_get(&self.http, &self.info, &self.token, path).await;
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{path}: {v}");
        v
    }

    async fn count(&self, set: &str, filter: &str) -> usize {
        let v = self
            .get(&format!("{set}?$select={}&$filter={filter}", key(set)))
            .await;
        v["value"].as_array().unwrap_or_else(|| panic!("{v}")).len()
    }

    /// Polls the job until it completes (statecode 3), at most 10 s.
    async fn wait(&self, job: &str) -> Value {
        for _ in 0..200 {
            let j = self
                .get(&format!(
                    "asyncoperations({job})?$select=statecode,statuscode,message,operationtype,name"
                ))
                .await;
            if j["statecode"] == 3 {
                return j;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("job {job} did not complete");
    }

    async fn counts(&self, job: &str) -> (i64, i64) {
        let v = self
            .get(&format!(
                "bulkdeleteoperations?$select=successcount,failurecount,statecode,statuscode&$filter=_asyncoperationid_value eq {job}"
            ))
            .await;
        let row = &v["value"][0];
        assert_eq!(row["statecode"], 3, "{v}");
        (
            row["successcount"].as_i64().unwrap(),
            row["failurecount"].as_i64().unwrap(),
        )
    }
}

fn key(set: &str) -> &str {
    match set {
        "accounts" => "accountid",
        "contacts" => "contactid",
        _ => "name",
    }
}

/// The body `PowerPlatform-Dataverse-Client` builds for `client.records.delete("account", ids)`.
fn python_sdk_body(ids: &[String], start: &str) -> Value {
    json!({
        "JobName": "Bulk delete account records @ 2026-11-29T08:00:00Z",
        "SendEmailNotification": false,
        "ToRecipients": [],
        "CCRecipients": [],
        "RecurrencePattern": "",
        "StartDateTime": start,
        "QuerySet": [{
            "@odata.type": "Microsoft.Dynamics.CRM.QueryExpression",
            "EntityName": "account",
            "ColumnSet": {"@odata.type": "Microsoft.Dynamics.CRM.ColumnSet", "AllColumns": false, "Columns": []},
            "Criteria": {
                "@odata.type": "Microsoft.Dynamics.CRM.FilterExpression",
                "FilterOperator": "And",
                "Conditions": [{
                    "@odata.type": "Microsoft.Dynamics.CRM.ConditionExpression",
                    "AttributeName": "accountid",
                    "Operator": "In",
                    "Values": ids.iter().map(|id| json!({"Value": id, "Type": "System.Guid"})).collect::<Vec<_>>(),
                }],
            },
        }],
    })
}

async fn account_ids(c: &Ctx, n: usize) -> Vec<String> {
    let v = c
        .get(&format!(
            "accounts?$select=accountid&$orderby=name&$top={n}"
        ))
        .await;
    v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["accountid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_python_sdks_bulk_delete_starts_a_job_that_deletes_exactly_the_listed_records() {
    let c = ctx(test_config(30)).await;
    let ids = account_ids(&c, 12).await;
    let tracked: Value = c
        .http
        .get(c.url("accounts?$select=name"))
        .bearer_auth(&c.token)
        .header("Prefer", "odata.track-changes")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let delta = tracked["@odata.deltaLink"].as_str().unwrap().to_owned();
    let (status, body) = c
        .post("BulkDelete", &python_sdk_body(&ids, "2020-01-01T00:00:00Z"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#Microsoft.Dynamics.CRM.BulkDeleteResponse"),
        "{body}"
    );
    let job = body["JobId"].as_str().unwrap().to_owned();
    let done = c.wait(&job).await;
    assert_eq!(done["statuscode"], 30, "{done}");
    assert_eq!(done["operationtype"], 13);
    assert!(
        done["name"]
            .as_str()
            .unwrap()
            .starts_with("Bulk delete account")
    );
    assert_eq!(c.counts(&job).await, (12, 0));
    assert_eq!(c.count("accounts", "statecode ne -1").await, 18);
    for id in &ids {
        let r = c
            .http
            .get(c.url(&format!("accounts({id})")))
            .bearer_auth(&c.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    // The deletes leave change-tracking tombstones like any other delete.
    let changes: Value = c
        .http
        .get(&delta)
        .bearer_auth(&c.token)
        .header("Prefer", "odata.track-changes")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut deleted: Vec<String> = changes["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["@odata.context"]
                .as_str()
                .is_some_and(|c| c.ends_with("$deletedEntity"))
        })
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    deleted.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(deleted, expected, "{changes}");
}

#[tokio::test]
async fn a_filter_job_spans_chunks_and_other_tables_and_records_its_progress() {
    let c = ctx(test_config(1_200)).await;
    // Active accounts: about 1,140, so the job deletes them in several chunks.
    let active = c.count("accounts", "statecode eq 0").await;
    let contacts = c.count("contacts", "startswith(lastname,'G')").await;
    let inactive = c.count("accounts", "statecode eq 1").await;
    assert!(
        active > 1_000 && contacts > 0 && inactive > 0,
        "{active} {contacts} {inactive}"
    );
    let mut body = python_sdk_body(&[], "2020-01-01T00:00:00Z");
    body["QuerySet"] = json!([
        {"EntityName": "account", "Criteria": {"Conditions": [
            {"AttributeName": "statecode", "Operator": "Equal", "Values": [{"Value": "0", "Type": "System.Int32"}]}]}},
        {"EntityName": "contact", "Criteria": {"FilterOperator": "And", "Conditions": [
            {"AttributeName": "lastname", "Operator": "BeginsWith", "Values": [{"Value": "G", "Type": "System.String"}]}]}},
    ]);
    let (status, started) = c.post("BulkDelete", &body).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let job = started["JobId"].as_str().unwrap().to_owned();
    let done = c.wait(&job).await;
    assert_eq!(done["statuscode"], 30, "{done}");
    assert_eq!(c.counts(&job).await, ((active + contacts) as i64, 0));
    assert_eq!(c.count("accounts", "statecode eq 0").await, 0);
    assert_eq!(c.count("contacts", "startswith(lastname,'G')").await, 0);
    assert_eq!(
        c.count("accounts", "statecode eq 1").await,
        inactive,
        "only the match is deleted"
    );
}

#[tokio::test]
async fn a_job_waits_for_its_start_time_on_the_emulator_clock_and_can_be_canceled() {
    let mut c = ctx(test_config(6)).await;
    let ids = account_ids(&c, 3).await;
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let later = later
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (_, started) = c.post("BulkDelete", &python_sdk_body(&ids, &later)).await;
    let job = started["JobId"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let waiting = c
        .get(&format!(
            "asyncoperations({job})?$select=statecode,statuscode"
        ))
        .await;
    assert_eq!(
        (
            waiting["statecode"].as_i64(),
            waiting["statuscode"].as_i64()
        ),
        (Some(1), Some(10)),
        "{waiting}"
    );
    assert_eq!(c.count("accounts", "statecode ne -1").await, 6);
    // Two hours later on the emulator's clock, the job runs.
    c.emulator.state().clock.advance(7_200);
    c.token = common::app_token(&c.http, &c.info).await;
    assert_eq!(c.wait(&job).await["statuscode"], 30);
    assert_eq!(c.count("accounts", "statecode ne -1").await, 3);

    // A second job, canceled before its start: nothing is deleted.
    let ids = account_ids(&c, 3).await;
    let (_, started) = c
        .post("BulkDelete", &python_sdk_body(&ids, "2099-01-01T00:00:00Z"))
        .await;
    let job = started["JobId"].as_str().unwrap().to_owned();
    let r = c
        .http
        .patch(c.url(&format!("asyncoperations({job})")))
        .bearer_auth(&c.token)
        .json(&json!({"statecode": 3, "statuscode": 32}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Past its start time, a canceled job still deletes nothing.
    c.emulator.state().clock.advance(100 * 366 * 86_400);
    c.token = common::app_token(&c.http, &c.info).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(c.wait(&job).await["statuscode"], 32);
    assert_eq!(c.counts(&job).await, (0, 0));
    assert_eq!(c.count("accounts", "statecode ne -1").await, 3);
}

#[tokio::test]
async fn bad_parameters_and_queries_are_refused_before_anything_is_deleted() {
    let c = ctx(test_config(5)).await;
    let ids = account_ids(&c, 5).await;
    let good = python_sdk_body(&ids, "2020-01-01T00:00:00Z");
    let with = |path: &str, value: Value| {
        let mut b = good.clone();
        let mut target = &mut b;
        let parts: Vec<&str> = path.split('/').collect();
        for p in &parts[..parts.len() - 1] {
            target = match p.parse::<usize>() {
                Ok(i) => &mut target[i],
                Err(_) => &mut target[*p],
            };
        }
        let last = parts[parts.len() - 1];
        if value.is_null() {
            target.as_object_mut().unwrap().remove(last);
        } else {
            target[last] = value;
        }
        b
    };
    let cases = [
        (
            with("JobName", Value::Null),
            StatusCode::BAD_REQUEST,
            "'JobName'",
        ),
        (
            with("QuerySet", json!([])),
            StatusCode::BAD_REQUEST,
            "at least one QueryExpression",
        ),
        (
            with("RecurrencePattern", json!("FREQ=DAILY;INTERVAL=1;")),
            StatusCode::BAD_REQUEST,
            "Recurring",
        ),
        (
            with("StartDateTime", json!("tomorrow")),
            StatusCode::BAD_REQUEST,
            "StartDateTime 'tomorrow'",
        ),
        (
            with("QuerySet/0/EntityName", json!("nosuchtable")),
            StatusCode::NOT_FOUND,
            "nosuchtable",
        ),
        (
            with(
                "QuerySet/0/Criteria/Conditions/0/AttributeName",
                json!("nosuchcolumn"),
            ),
            StatusCode::BAD_REQUEST,
            "QuerySet[0]: ",
        ),
        (
            with(
                "QuerySet/0/Criteria/Conditions/0/Operator",
                json!("Contains"),
            ),
            StatusCode::BAD_REQUEST,
            "\"Contains\" is not supported",
        ),
        (
            with("QuerySet/0/TopCount", json!(1)),
            StatusCode::BAD_REQUEST,
            "TopCount cannot be used with BulkDelete",
        ),
        (
            with("QuerySet/0/Critera", json!({})),
            StatusCode::BAD_REQUEST,
            "The property 'Critera' does not exist",
        ),
        (
            with("QuerySet/0/Criteria/FilterOperator", json!("Xor")),
            StatusCode::BAD_REQUEST,
            "FilterOperator",
        ),
    ];
    for (body, status, needle) in cases {
        let (got, answer) = c.post("BulkDelete", &body).await;
        assert_eq!(got, status, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{needle}: {answer}");
    }
    assert_eq!(c.count("accounts", "statecode ne -1").await, 5);
    let jobs = c.get("asyncoperations?$select=asyncoperationid").await;
    assert_eq!(jobs["value"], json!([]), "no job was created");
    // System jobs are the platform's to create.
    let (status, answer) = c.post("asyncoperations", &json!({"name": "mine"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not support entities of type 'asyncoperation'")
    );
}

#[tokio::test]
async fn a_persisted_emulator_resumes_unfinished_jobs_when_it_starts_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(8);
    config.data_dir = Some(dir.path().to_owned());
    let first = ctx(config.clone()).await;
    let ids = account_ids(&first, 4).await;
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (_, started) = first
        .post("BulkDelete", &python_sdk_body(&ids, &soon))
        .await;
    let job = started["JobId"].as_str().unwrap().to_owned();
    first.emulator.stop().await;
    let second = ctx(config).await;
    assert_eq!(second.wait(&job).await["statuscode"], 30);
    assert_eq!(second.counts(&job).await, (4, 0));
    assert_eq!(second.count("accounts", "statecode ne -1").await, 4);
}
