//! The Web API commands added with the full client, as processes against an emulator:
//! `call`, `metadata`, `completions`, `get --annotations`, `--verbose`, and the exit codes
//! for throttling and a missing profile.

mod util;

use d365_emulator::faults::{FaultKind, FaultRule};
use d365_testkit::{EmulatorConfig, start, test_config};
use serde_json::Value;
use util::{TestCommand, run_against};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_runs_functions_and_actions() {
    let emulator = start(test_config(4)).await;
    let info = emulator.info();
    let counts = run_against(
        &info,
        &[
            "call",
            "RetrieveTotalRecordCount",
            "-p",
            r#"EntityNames=["account","contact"]"#,
        ],
    )
    .await;
    counts.assert_ok();
    let json: Value = serde_json::from_str(&counts.stdout).unwrap();
    assert_eq!(json["EntityRecordCountCollection"]["Values"][0], 4);

    let address = run_against(
        &info,
        &[
            "call",
            "FormatAddress",
            "-p",
            "Line1=1 Main St",
            "-p",
            "City=Redmond",
            "-p",
            "StateOrProvince=WA",
            "-p",
            r#"PostalCode="98052""#,
            "-p",
            "Country=US",
        ],
    )
    .await;
    address.assert_ok();
    let json: Value = serde_json::from_str(&address.stdout).unwrap();
    assert_eq!(json["Address"], "1 Main St\r\nRedmond, WA 98052\r\nUS");

    let lead = run_against(
        &info,
        &[
            "create",
            "leads",
            r#"{"subject":"Deal","lastname":"Lovelace","companyname":"Engines"}"#,
        ],
    )
    .await;
    lead.assert_ok();
    let id = lead.stdout.trim().to_owned();
    let bound = format!("leads({id})");
    let qualified = run_against(
        &info,
        &[
            "call",
            "QualifyLead",
            "--action",
            "--bound",
            &bound,
            "-p",
            "CreateAccount=true",
            "-p",
            "CreateContact=false",
            "-p",
            "CreateOpportunity=false",
            "-p",
            "Status=3",
        ],
    )
    .await;
    qualified.assert_ok();
    let json: Value = serde_json::from_str(&qualified.stdout).unwrap();
    assert_eq!(
        json["value"][0]["@odata.type"],
        "#Microsoft.Dynamics.CRM.account"
    );

    // An action without output prints nothing; --body carries entity parameters.
    let opportunity = run_against(&info, &["create", "opportunities", r#"{"name":"Big"}"#]).await;
    opportunity.assert_ok();
    let body = format!(
        r#"{{"OpportunityClose":{{"subject":"Won","opportunityid@odata.bind":"/opportunities({})"}}}}"#,
        opportunity.stdout.trim()
    );
    let won = run_against(
        &info,
        &[
            "call",
            "WinOpportunity",
            "--action",
            "--body",
            &body,
            "-p",
            "Status=3",
        ],
    )
    .await;
    won.assert_ok();
    assert_eq!(won.stdout, "");

    for (args, words, code) in [
        (
            vec!["call", "WhoAmI", "--body", "{}"],
            "--body is for actions",
            2,
        ),
        (
            vec!["call", "FormatAddress", "-p", "Line1"],
            "is not Name=value",
            2,
        ),
        (
            vec!["call", "NoSuchThing"],
            "Resource not found for the segment",
            2,
        ),
        (
            vec!["call", "QualifyLead", "--action", "--bound", "leads(1"],
            "should look like",
            2,
        ),
        (
            vec!["call", "FormatAddress", "-p", "Line1=x"],
            "Required parameter 'City'",
            2,
        ),
    ] {
        let r = run_against(&info, &args).await;
        r.assert_clean_stderr();
        assert_eq!(r.code, Some(code), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(words), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.trim().lines().count(), 1, "{args:?}: {}", r.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_lists_tables_and_columns() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let tables = run_against(&info, &["metadata", "tables", "-o", "json"]).await;
    tables.assert_ok();
    let rows: Vec<Value> = serde_json::from_str(&tables.stdout).unwrap();
    let account = rows
        .iter()
        .find(|r| r["logical_name"] == "account")
        .expect("account is listed");
    assert_eq!(account["entity_set"], "accounts");
    assert_eq!(account["primary_id"], "accountid");
    let names: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["logical_name"].as_str())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "stable order");

    for table in ["account", "accounts"] {
        let columns = run_against(&info, &["metadata", "columns", table, "-o", "csv"]).await;
        columns.assert_ok();
        let mut lines = columns.stdout.lines();
        assert_eq!(
            lines.next(),
            Some("logical_name,type,required,create,update,max_length,targets")
        );
        assert!(
            columns
                .stdout
                .lines()
                .any(|l| l.starts_with("name,String,")),
            "{}",
            columns.stdout
        );
        assert!(
            columns
                .stdout
                .lines()
                .any(|l| l.starts_with("parentaccountid,Lookup,") && l.ends_with(",account")),
            "{}",
            columns.stdout
        );
    }
    let missing = run_against(&info, &["metadata", "columns", "nope"]).await;
    assert_eq!(missing.code, Some(1), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("no table 'nope'"),
        "{}",
        missing.stderr
    );
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_d365()"),
        ("zsh", "#compdef d365"),
        ("fish", "complete -c d365"),
    ] {
        let r = TestCommand::new(&["completions", shell]).run();
        r.assert_ok();
        assert!(
            r.stdout.contains(marker),
            "{shell}: {}",
            &r.stdout[..200.min(r.stdout.len())]
        );
        assert!(
            r.stdout.contains("metadata"),
            "{shell} knows the subcommands"
        );
    }
    let bad = TestCommand::new(&["completions", "tcsh"]).run();
    assert_eq!(bad.code, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_with_annotations_adds_formatted_columns() {
    let emulator = start(test_config(3)).await;
    let info = emulator.info();
    let csv = run_against(
        &info,
        &[
            "get",
            "accounts",
            "--select",
            "name,statecode",
            "--annotations",
            "--all",
            "-o",
            "csv",
        ],
    )
    .await;
    csv.assert_ok();
    let mut lines = csv.stdout.lines();
    assert_eq!(lines.next(), Some("name,statecode,statecode_Formatted"));
    assert!(lines.all(|l| l.ends_with(",0,Active")), "{}", csv.stdout);

    let json = run_against(
        &info,
        &[
            "get",
            "accounts",
            "--top",
            "1",
            "--annotations",
            "-o",
            "json",
        ],
    )
    .await;
    json.assert_ok();
    let rows: Vec<Value> = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(rows[0]["statecode_Formatted"], "Active");
    assert!(
        rows[0]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.contains("@OData.Community"))
    );

    let plain = run_against(&info, &["get", "accounts", "--top", "1", "-o", "json"]).await;
    let rows: Vec<Value> = serde_json::from_str(&plain.stdout).unwrap();
    assert!(rows[0].get("statecode_Formatted").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_past_the_retries_exits_4_and_verbose_logs_no_secrets() {
    let emulator = start(test_config(2)).await;
    let info = emulator.info();
    let verbose = run_against(&info, &["-v", "get", "accounts", "--top", "1"]).await;
    verbose.assert_ok();
    assert!(
        verbose.stderr.contains("d365.request"),
        "{}",
        verbose.stderr
    );
    assert!(
        verbose.stderr.contains("http.response.status_code=200"),
        "{}",
        verbose.stderr
    );
    let defaults = EmulatorConfig::default();
    assert!(!verbose.stderr.contains("eyJ"), "a token was logged");
    assert!(!verbose.stderr.contains(&defaults.apps[0].secrets[0].value));

    // Service protection asks for a wait longer than the retry deadline: give up at once.
    emulator
        .state()
        .faults
        .add(FaultRule {
            kind: FaultKind::Throttle,
            method: Some("GET".into()),
            path: "/api/data/*".into(),
            count: None,
            share: None,
            status: None,
            delay_ms: None,
            retry_after: Some(3600),
        })
        .unwrap();
    let throttled = run_against(&info, &["get", "accounts"]).await;
    throttled.assert_clean_stderr();
    assert_eq!(throttled.code, Some(4), "{}", throttled.stderr);
    assert!(throttled.stderr.contains("429"), "{}", throttled.stderr);
    assert!(
        throttled.stderr.contains("request id"),
        "{}",
        throttled.stderr
    );
}

#[test]
fn a_missing_profile_is_one_line() {
    let r = TestCommand::new(&["--profile", "nosuch", "get", "accounts"]).run();
    r.assert_clean_stderr();
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("nosuch"), "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
}
