//! `d365 bulk-delete` and `d365 job` as processes against an emulator: a dry run deletes
//! nothing, a filter job deletes exactly its match, an id file (with a bad line refused
//! before anything is sent), `--no-wait` then `job --wait`, and `job --cancel`.

mod util;

use d365_testkit::{start, test_config};
use serde_json::Value;
use util::run_against;

async fn count(info: &d365_testkit::EmulatorInfo, filter: Option<&str>) -> usize {
    let mut args = vec![
        "get",
        "accounts",
        "--select",
        "accountid",
        "--all",
        "--output",
        "ndjson",
    ];
    if let Some(f) = filter {
        args.extend(["--filter", f]);
    }
    let run = run_against(info, &args).await;
    run.assert_ok();
    run.stdout.lines().filter(|l| !l.trim().is_empty()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_delete_by_filter_with_a_dry_run_first() {
    let emulator = start(test_config(60)).await;
    let info = emulator.info();
    let filter = "statecode eq 0 and numberofemployees lt 20000";
    let matching = count(&info, Some(filter)).await;
    assert!(matching > 0 && matching < 60, "{matching}");

    let dry = run_against(
        &info,
        &["bulk-delete", "accounts", "--filter", filter, "--dry-run"],
    )
    .await;
    dry.assert_ok();
    assert!(
        dry.stderr.contains(&format!("{matching} records matching")),
        "{}",
        dry.stderr
    );
    let plan: Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(plan["QuerySet"][0]["EntityName"], "account");
    assert_eq!(
        plan["QuerySet"][0]["Criteria"]["Conditions"][1]["Operator"],
        "LessThan"
    );
    assert_eq!(count(&info, None).await, 60, "a dry run deletes nothing");

    let run = run_against(&info, &["bulk-delete", "accounts", "--filter", filter]).await;
    run.assert_ok();
    let summary: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(summary["status"], "Succeeded", "{summary}");
    assert_eq!(summary["deleted"], matching as u64);
    assert_eq!(summary["failed"], 0);
    assert_eq!(count(&info, Some(filter)).await, 0);
    assert_eq!(count(&info, None).await, 60 - matching);

    // A filter the QueryExpression cannot say exactly is refused; so is no selection at all.
    let bad = run_against(
        &info,
        &[
            "bulk-delete",
            "accounts",
            "--filter",
            "primarycontactid/fullname eq 'x'",
        ],
    )
    .await;
    assert_ne!(bad.code, Some(0));
    assert!(
        bad.stderr
            .contains("cannot be expressed as a QueryExpression"),
        "{}",
        bad.stderr
    );
    let none = run_against(&info, &["bulk-delete", "accounts"]).await;
    assert_ne!(none.code, Some(0));
    assert!(none.stderr.contains("--filter"), "{}", none.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_delete_by_id_file_no_wait_then_job_wait() {
    let emulator = start(test_config(10)).await;
    let info = emulator.info();
    let listed = run_against(
        &info,
        &[
            "get",
            "accounts",
            "--select",
            "accountid",
            "--top",
            "4",
            "--output",
            "ndjson",
        ],
    )
    .await;
    listed.assert_ok();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ids.txt");

    // One bad line: refused, naming it, before anything is deleted.
    std::fs::write(&file, format!("accountid\n{}not-a-guid\n", listed.stdout)).unwrap();
    let bad = run_against(
        &info,
        &["bulk-delete", "accounts", "--ids", file.to_str().unwrap()],
    )
    .await;
    assert_ne!(bad.code, Some(0));
    assert!(
        bad.stderr.contains(":6: 'not-a-guid' is not a GUID"),
        "{}",
        bad.stderr
    );
    assert_eq!(count(&info, None).await, 10);

    std::fs::write(&file, &listed.stdout).unwrap();
    let started = run_against(
        &info,
        &[
            "bulk-delete",
            "accounts",
            "--ids",
            file.to_str().unwrap(),
            "--no-wait",
        ],
    )
    .await;
    started.assert_ok();
    let job = started.stdout.trim().to_owned();
    uuid::Uuid::parse_str(&job).unwrap_or_else(|_| panic!("not a job id: {job}"));
    let waited = run_against(&info, &["job", &job, "--wait"]).await;
    waited.assert_ok();
    let summary: Value = serde_json::from_str(&waited.stdout).unwrap();
    assert_eq!(summary["deleted"], 4, "{summary}");
    assert_eq!(count(&info, None).await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_can_be_canceled_from_the_command_line() {
    let emulator = start(test_config(5)).await;
    let info = emulator.info();
    // Started through the library with a start time far ahead, so it is still waiting.
    let client = util::app_client(&info);
    let job = client
        .bulk_delete("later", vec![d365_webapi::QueryExpression::all("account")])
        .start_at(time::OffsetDateTime::now_utc() + time::Duration::days(30))
        .send()
        .await
        .unwrap()
        .to_string();
    let shown = run_against(&info, &["job", &job]).await;
    shown.assert_ok();
    let summary: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(
        (
            summary["statuscode"].as_i64(),
            summary["completed"].as_bool()
        ),
        (Some(10), Some(false)),
        "{summary}"
    );
    let canceled = run_against(&info, &["job", &job, "--cancel"]).await;
    canceled.assert_ok();
    let waited = run_against(&info, &["job", &job, "--wait", "--timeout", "30s"]).await;
    assert_eq!(
        waited.code,
        Some(1),
        "a canceled job is not a success: {}",
        waited.stderr
    );
    let summary: Value = serde_json::from_str(&waited.stdout).unwrap();
    assert_eq!(summary["status"], "Canceled");
    assert_eq!(count(&info, None).await, 5);
}
