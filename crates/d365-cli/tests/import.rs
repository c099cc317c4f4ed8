//! `d365 import` as a process against emulators: export → import → export round trips, a poison
//! row isolated into the reject file, exactly the input's rows under injected faults, resume
//! after a kill, upserts by alternate key, and partial success on an elastic table.

mod util;

use std::time::{Duration, Instant};

use d365_emulator::faults::{FaultKind, FaultRule};
use d365_testkit::{start, test_config};
use serde_json::{Value, json};
use util::{TestCommand, run_against};

const SELECT: &str = "accountid,name,accountnumber,revenue,numberofemployees,telephone1";

fn rule(kind: FaultKind, share: Option<f64>) -> FaultRule {
    FaultRule {
        kind,
        method: Some("POST".into()),
        path: "/api/data/*".into(),
        count: None,
        share,
        status: None,
        delay_ms: None,
        retry_after: Some(1),
    }
}

/// Every `contoso_value` of the elastic test table, sorted.
async fn sensor_values(info: &d365_testkit::EmulatorInfo) -> Vec<u64> {
    let listed = run_against(
        info,
        &[
            "get",
            "contoso_sensordatas",
            "--select",
            "contoso_value",
            "--all",
            "-o",
            "ndjson",
        ],
    )
    .await;
    listed.assert_ok();
    let mut values: Vec<u64> = listed
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["contoso_value"]
                .as_u64()
                .unwrap()
        })
        .collect();
    values.sort_unstable();
    values
}

/// 10 % 503s, 10 % throttling and 15 % answers lost after the write (the resend then meets
/// its own rows); with `drops`, also 10 % connections dropped before the write.
fn add_faults(state: &d365_emulator::state::AppState, drops: bool) {
    let mut error = rule(FaultKind::Error, Some(0.1));
    error.status = Some(503);
    error.retry_after = None;
    let mut rules = vec![
        error,
        rule(FaultKind::Throttle, Some(0.1)),
        rule(FaultKind::DropAfter, Some(0.15)),
    ];
    if drops {
        rules.push(rule(FaultKind::Drop, Some(0.1)));
    }
    for r in rules {
        state.faults.add(r).unwrap();
    }
}

async fn count(info: &d365_testkit::EmulatorInfo) -> usize {
    let r = run_against(
        info,
        &[
            "get",
            "accounts",
            "--select",
            "accountid",
            "--all",
            "-o",
            "ndjson",
        ],
    )
    .await;
    r.assert_ok();
    r.stdout.lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_import_export_round_trips_in_ndjson_and_csv() {
    let source = start(test_config(60)).await;
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    for ext in ["ndjson", "csv"] {
        let first = p(&format!("first.{ext}"));
        run_against(
            &source.info(),
            &["export", "accounts", "--out", &first, "--select", SELECT],
        )
        .await
        .assert_ok();
        let target = start(test_config(0)).await;
        let imported = run_against(
            &target.info(),
            &["import", "accounts", "--in", &first, "--chunk-size", "25"],
        )
        .await;
        imported.assert_ok();
        assert!(
            imported.stderr.contains("created 60"),
            "{}",
            imported.stderr
        );
        let second = p(&format!("second.{ext}"));
        run_against(
            &target.info(),
            &["export", "accounts", "--out", &second, "--select", SELECT],
        )
        .await
        .assert_ok();
        assert_eq!(
            std::fs::read_to_string(&first).unwrap(),
            std::fs::read_to_string(&second).unwrap(),
            "{ext} round trip"
        );
        assert!(!std::path::Path::new(&format!("{first}.import-journal")).exists());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_row_among_ten_thousand_is_rejected_alone() {
    let emulator = start(test_config(0)).await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.ndjson");
    let mut text = String::new();
    for i in 1..=10_000 {
        let row = if i == 5_000 {
            // Over accountnumber's 20 characters: only the server knows the limit, so the
            // chunks are bisected until this row stands alone.
            json!({"name": format!("row {i}"), "numberofemployees": i, "accountnumber": "A".repeat(30)})
        } else {
            json!({"name": format!("row {i}"), "numberofemployees": i})
        };
        text.push_str(&row.to_string());
        text.push('\n');
    }
    std::fs::write(&input, text).unwrap();
    let i = input.display().to_string();
    let r = run_against(&emulator.info(), &["import", "accounts", "--in", &i]).await;
    r.assert_clean_stderr();
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("created 9999, rejected 1"),
        "{}",
        r.stderr
    );
    let rejects = std::fs::read_to_string(dir.path().join("rows.ndjson.rejects.ndjson")).unwrap();
    let rejected: Vec<Value> = rejects
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["line"], 5000);
    assert_eq!(rejected[0]["record"]["name"], "row 5000");
    assert_eq!(rejected[0]["error"]["status"], 400);
    assert!(rejected[0]["error"]["message"].as_str().unwrap().len() > 10);
    assert_eq!(count(&emulator.info()).await, 9_999);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_faults_exactly_the_input_rows_arrive() {
    let emulator = start(test_config(0)).await;
    let state = emulator.state();
    add_faults(state, true);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.ndjson");
    let text: String = (1..=2_000)
        .map(|i| format!("{}\n", json!({"name": format!("faulty {i:04}")})))
        .collect();
    std::fs::write(&input, text).unwrap();
    let i = input.display().to_string();
    let r = run_against(
        &emulator.info(),
        &["import", "accounts", "--in", &i, "--chunk-size", "100"],
    )
    .await;
    r.assert_ok();
    state.faults.clear();
    let rows = run_against(
        &emulator.info(),
        &[
            "get", "accounts", "--select", "name", "--all", "-o", "ndjson",
        ],
    )
    .await;
    let mut names: Vec<String> = rows
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    names.sort();
    let expected: Vec<String> = (1..=2_000).map(|i| format!("faulty {i:04}")).collect();
    assert_eq!(names, expected, "every row once: {}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_import_resumes_from_its_journal() {
    let emulator = start(test_config(0)).await;
    let mut delay = rule(FaultKind::Delay, None);
    delay.delay_ms = Some(100);
    emulator.state().faults.add(delay).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.csv");
    let mut text = String::from("name,numberofemployees\n");
    for i in 1..=600 {
        text.push_str(&format!("resumed {i:03},{i}\n"));
    }
    std::fs::write(&input, text).unwrap();
    let i = input.display().to_string();
    let args = [
        "import",
        "accounts",
        "--in",
        &i,
        "--chunk-size",
        "20",
        "--parallel",
        "2",
    ];
    let mut child = TestCommand::new(&args)
        .emulator_env(&emulator.info())
        .spawn();
    let journal = dir.path().join("rows.csv.import-journal");
    let started = Instant::now();
    while std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count()) < 6 {
        assert!(started.elapsed() < Duration::from_secs(30), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let again = run_against(&emulator.info(), &args).await;
    assert_eq!(again.code, Some(2), "{}", again.stderr);
    assert!(again.stderr.contains("--resume"), "{}", again.stderr);
    emulator.state().faults.clear();
    let mut resume = args.to_vec();
    resume.push("--resume");
    let r = run_against(&emulator.info(), &resume).await;
    r.assert_ok();
    assert!(r.stderr.contains("already done"), "{}", r.stderr);
    assert_eq!(count(&emulator.info()).await, 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_by_alternate_key_and_update_by_id() {
    // The org has a key on accountnumber (none has one out of the box).
    let emulator = start(d365_testkit::keyed_config(0)).await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("keyed.csv");
    std::fs::write(&input, "accountnumber,name\nK-1,one\nK-2,two\n").unwrap();
    let i = input.display().to_string();
    let up = [
        "import",
        "accounts",
        "--in",
        &i,
        "--mode",
        "upsert",
        "--key",
        "accountnumber",
    ];
    run_against(&emulator.info(), &up).await.assert_ok();
    std::fs::write(&input, "accountnumber,name\nK-1,uno\nK-3,three\n").unwrap();
    run_against(&emulator.info(), &up).await.assert_ok();
    let rows = run_against(
        &emulator.info(),
        &[
            "get",
            "accounts",
            "--select",
            "accountnumber,name",
            "--orderby",
            "accountnumber",
            "-o",
            "csv",
        ],
    )
    .await;
    assert_eq!(
        rows.stdout,
        "accountnumber,name\nK-1,uno\nK-2,two\nK-3,three\n"
    );

    // Update by id, with --map renaming a column; a row without the id is rejected.
    let got = run_against(
        &emulator.info(),
        &[
            "get",
            "accounts",
            "--select",
            "accountid,accountnumber",
            "--filter",
            "accountnumber eq 'K-2'",
            "-o",
            "json",
        ],
    )
    .await;
    let id = serde_json::from_str::<Value>(&got.stdout).unwrap()[0]["accountid"]
        .as_str()
        .unwrap()
        .to_owned();
    let updates = dir.path().join("updates.ndjson");
    std::fs::write(
        &updates,
        format!(
            "{}\n{}\n",
            json!({"accountid": id, "title": "dos"}),
            json!({"title": "no id"})
        ),
    )
    .unwrap();
    let u = updates.display().to_string();
    let r = run_against(
        &emulator.info(),
        &[
            "import",
            "accounts",
            "--in",
            &u,
            "--mode",
            "update",
            "--map",
            "title=name",
        ],
    )
    .await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("updated 1, rejected 1"), "{}", r.stderr);
    let rows = run_against(
        &emulator.info(),
        &[
            "get",
            "accounts",
            "--select",
            "name",
            "--filter",
            "accountnumber eq 'K-2'",
            "-o",
            "csv",
        ],
    )
    .await;
    assert_eq!(rows.stdout, "name\ndos\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_and_single_requests_give_the_same_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.ndjson");
    let text: String = (1..=300)
        .map(|i| {
            let row = if i == 150 {
                json!({"name": format!("via {i:03}"), "accountnumber": "V".repeat(30)})
            } else {
                json!({"name": format!("via {i:03}"), "accountnumber": format!("V-{i}")})
            };
            format!("{row}\n")
        })
        .collect();
    std::fs::write(&input, text).unwrap();
    let i = input.display().to_string();
    for via in ["batch", "single"] {
        // The org has a key on accountnumber, for the upsert by key below.
        let emulator = start(d365_testkit::keyed_config(0)).await;
        let r = run_against(
            &emulator.info(),
            &[
                "import",
                "accounts",
                "--in",
                &i,
                "--via",
                via,
                "--chunk-size",
                "64",
                // The second run replaces the first one's reject file.
                "--overwrite-rejects",
            ],
        )
        .await;
        assert_eq!(r.code, Some(2), "{via}: {}", r.stderr);
        assert!(
            r.stderr.contains("created 299, rejected 1"),
            "{via}: {}",
            r.stderr
        );
        assert_eq!(count(&emulator.info()).await, 299, "{via}");
        // And an upsert by alternate key through the same path.
        let keyed = dir.path().join("keyed.csv");
        std::fs::write(
            &keyed,
            "accountnumber,name\nV-1,first renamed\nV-999,added\n",
        )
        .unwrap();
        let k = keyed.display().to_string();
        run_against(
            &emulator.info(),
            &[
                "import",
                "accounts",
                "--in",
                &k,
                "--via",
                via,
                "--mode",
                "upsert",
                "--key",
                "accountnumber",
            ],
        )
        .await
        .assert_ok();
        assert_eq!(count(&emulator.info()).await, 300, "{via}");
        let renamed = run_against(
            &emulator.info(),
            &[
                "get",
                "accounts",
                "--select",
                "name",
                "--filter",
                "accountnumber eq 'V-1'",
                "-o",
                "csv",
            ],
        )
        .await;
        assert_eq!(renamed.stdout, "name\nfirst renamed\n", "{via}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_elastic_table_imports_in_chunks_of_100_that_keep_their_good_rows() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start(d365_testkit::elastic_config(0, dir.path())).await;
    let input = dir.path().join("readings.ndjson");
    let mut text = String::new();
    for i in 1..=1_000 {
        // Rows 150 and 777 have device ids over the column's 10 characters.
        let device = if i == 150 || i == 777 {
            format!("device-{i}-much-too-long")
        } else {
            format!("d-{i}")
        };
        let row = json!({"contoso_deviceid": device, "contoso_value": i, "partitionid": "p1"});
        text.push_str(&row.to_string());
        text.push('\n');
    }
    std::fs::write(&input, text).unwrap();
    let i = input.display().to_string();
    let info = emulator.info();
    let r = run_against(&info, &["import", "contoso_sensordatas", "--in", &i, "-v"]).await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    // Partial success: no chunk is split, each bad row is sent again alone and rejected.
    assert!(
        r.stderr
            .contains("created 998, rejected 2, already done 0, chunks split 0"),
        "{}",
        r.stderr
    );
    let creates = r
        .stderr
        .lines()
        .filter(|l| l.contains("CreateMultiple") && l.contains("web api request"))
        .count();
    assert_eq!(
        creates, 12,
        "10 chunks of 100, then the 2 bad rows alone: {}",
        r.stderr
    );
    let rejects =
        std::fs::read_to_string(dir.path().join("readings.ndjson.rejects.ndjson")).unwrap();
    let mut lines: Vec<u64> = rejects
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["line"]
                .as_u64()
                .unwrap()
        })
        .collect();
    lines.sort_unstable(); // chunks run four at a time: any order
    assert_eq!(lines, [150, 777]);
    let values = sensor_values(&info).await;
    let expected: Vec<u64> = (1..=1_000).filter(|i| *i != 150 && *i != 777).collect();
    assert_eq!(values, expected, "every good row exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_elastic_import_under_faults_ends_with_every_good_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start(d365_testkit::elastic_config(0, dir.path())).await;
    let state = emulator.state();
    add_faults(state, false);
    let input = dir.path().join("readings.ndjson");
    let text: String = (1..=600)
        .map(|i| {
            let device = if i == 333 {
                "far-too-long-device".to_owned()
            } else {
                format!("d-{i}")
            };
            format!(
                "{}\n",
                json!({"contoso_deviceid": device, "contoso_value": i})
            )
        })
        .collect();
    std::fs::write(&input, text).unwrap();
    let i = input.display().to_string();
    let info = emulator.info();
    let r = run_against(&info, &["import", "contoso_sensordatas", "--in", &i]).await;
    assert_eq!(r.code, Some(2), "one row is rejected: {}", r.stderr);
    state.faults.clear();
    let values = sensor_values(&info).await;
    let expected: Vec<u64> = (1..=600).filter(|i| *i != 333).collect();
    assert_eq!(
        values, expected,
        "every good row exactly once: {}",
        r.stderr
    );
    let rejects =
        std::fs::read_to_string(dir.path().join("readings.ndjson.rejects.ndjson")).unwrap();
    assert_eq!(rejects.lines().count(), 1, "{rejects}");
    assert!(rejects.contains("\"line\":333"), "{rejects}");
}
