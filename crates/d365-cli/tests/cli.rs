//! The `d365` binary as a process.

mod util;

use std::time::{Duration, Instant};

use d365_emulator::faults::{FaultKind, FaultRule};
use d365_testkit::{EmulatorConfig, start, test_config};
use serde_json::Value;
use util::TestCommand;

fn no_secrets(text: &str) {
    let defaults = EmulatorConfig::default();
    assert!(!text.contains("eyJ"), "a JWT was printed:\n{text}");
    assert!(
        !text.contains(&defaults.apps[0].secrets[0].value),
        "the client secret was printed:\n{text}"
    );
    assert!(
        !text.contains(&defaults.users[0].password),
        "the password was printed:\n{text}"
    );
}

#[test]
fn demo_prints_the_four_steps_and_ten_rows() {
    let run = TestCommand::new(&["demo"]).run();
    run.assert_ok().assert_clean_stderr();
    let out = &run.stdout;
    for needle in [
        "[1/4] POST",
        "grant_type=password (v1)",
        "[2/4] POST",
        "grant_type=client_credentials (v1)",
        "[3/4] POST",
        "/oauth2/v2.0/token  grant_type=refresh_token (v2)",
        "refresh token rotated",
        "[4/4] GET",
        "accounts?$select=name,accountnumber,revenue&$top=10",
        "UserId=",
        "BusinessUnitId=",
        "OrganizationId=",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    for claim in [
        "aud=",
        "tid=",
        "oid=",
        "upn=",
        "scp=user_impersonation",
        "exp=",
        "appid=",
        "roles=",
    ] {
        assert!(out.contains(claim), "missing claim {claim} in:\n{out}");
    }
    assert_eq!(
        out.lines().filter(|l| l.contains("ACC-")).count(),
        10,
        "{out}"
    );
    assert!(
        out.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("demo ok: 4 steps"),
        "{out}"
    );
    no_secrets(out);
    no_secrets(&run.stderr);
}

/// `d365 --version` says which optional features the binary has (Parquet is in the default
/// build).
#[test]
fn version_lists_the_features_built_in() {
    let run = TestCommand::new(&["--version"]).run();
    run.assert_ok();
    let features = if cfg!(feature = "parquet") {
        "parquet"
    } else {
        "none; Parquet export left out"
    };
    let expected = format!(
        "d365 {} (features: {features})\n",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(run.stdout, expected);
}

#[test]
fn demo_json_lines() {
    let run = TestCommand::new(&["demo", "--json"]).run();
    run.assert_ok();
    let events: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let requests: Vec<&Value> = events.iter().filter(|e| e["event"] == "request").collect();
    assert_eq!(requests.len(), 5);
    assert_eq!(requests[0]["grant"], "password");
    assert_eq!(requests[2]["endpoint"], "v2");
    let rows = events
        .iter()
        .find(|e| e["step"] == 4 && e.get("rows").is_some())
        .unwrap();
    assert_eq!(rows["rows"].as_array().unwrap().len(), 10);
    assert_eq!(events.last().unwrap()["event"], "summary");
    assert_eq!(events.last().unwrap()["ok"], true);
    no_secrets(&run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_exits_3_with_the_aadsts_code_and_a_hint() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let run = tokio::task::spawn_blocking(move || {
        TestCommand::new(&["get", "accounts", "--top", "1"])
            .emulator_env(&info)
            .env("AZURE_CLIENT_SECRET", "not-the-secret")
            .run()
    })
    .await
    .unwrap();
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    run.assert_clean_stderr();
    assert!(run.stderr.contains("AADSTS7000215"), "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "one error line and one hint: {}",
        run.stderr
    );
    assert!(
        lines[1].starts_with("hint: check the client secret"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("not-the-secret"));
}

/// Export, import and sync report as every command does, though their errors come through
/// the data-movement library: a refused sign-in exits 3 with the hint, service protection
/// that asks for a wait past the retry deadline exits 4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_movement_exits_with_the_codes_of_every_command() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, "{\"name\":\"A\"}\n").unwrap();
    let input = input.display().to_string();
    let commands = |n: usize| {
        let out = dir
            .path()
            .join(format!("out{n}.ndjson"))
            .display()
            .to_string();
        let db = format!(
            "sqlite:{}",
            dir.path().join(format!("mirror{n}.db")).display()
        );
        [
            vec!["export".to_owned(), "accounts".into(), "--out".into(), out],
            vec![
                "import".to_owned(),
                "accounts".into(),
                "--in".into(),
                input.clone(),
            ],
            vec!["sync".to_owned(), "accounts".into(), "--to".into(), db],
        ]
    };
    let run = |argv: Vec<String>, secret: Option<&'static str>| {
        let info = info.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = argv.iter().map(String::as_str).collect();
            let mut command = TestCommand::new(&args).emulator_env(&info);
            if let Some(secret) = secret {
                command = command.env("AZURE_CLIENT_SECRET", secret);
            }
            command.run()
        })
    };
    for argv in commands(1) {
        let refused = run(argv.clone(), Some("not-the-secret")).await.unwrap();
        assert_eq!(refused.code, Some(3), "{argv:?}: {}", refused.stderr);
        assert!(
            refused.stderr.contains("AADSTS7000215"),
            "{argv:?}: {}",
            refused.stderr
        );
        assert!(
            refused.stderr.contains("\nhint: check the client secret"),
            "{argv:?}: {}",
            refused.stderr
        );
        assert!(!refused.stderr.contains("not-the-secret"));
    }
    emulator
        .state()
        .faults
        .add(FaultRule {
            kind: FaultKind::Throttle,
            method: None,
            path: "/api/data/*".into(),
            count: None,
            share: None,
            status: None,
            delay_ms: None,
            retry_after: Some(3600),
        })
        .unwrap();
    for argv in commands(2) {
        let throttled = run(argv.clone(), None).await.unwrap();
        assert_eq!(throttled.code, Some(4), "{argv:?}: {}", throttled.stderr);
        assert!(
            throttled.stderr.contains("429"),
            "{argv:?}: {}",
            throttled.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_token_against_an_emulator() {
    let emulator = start(test_config(20)).await;
    let info = emulator.info();
    let i = info.clone();
    let ndjson = tokio::task::spawn_blocking(move || {
        TestCommand::new(&[
            "get",
            "accounts",
            "--select",
            "name,accountnumber",
            "--top",
            "3",
            "-o",
            "ndjson",
        ])
        .emulator_env(&i)
        .run()
    })
    .await
    .unwrap();
    ndjson.assert_ok();
    let rows: Vec<Value> = ndjson
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|r| r["accountnumber"].as_str().unwrap().starts_with("ACC-"))
    );

    let i = info.clone();
    let all = tokio::task::spawn_blocking(move || {
        TestCommand::new(&[
            "get",
            "contacts",
            "--select",
            "fullname",
            "--all",
            "--page-size",
            "7",
            "-o",
            "ndjson",
        ])
        .emulator_env(&i)
        .run()
    })
    .await
    .unwrap();
    all.assert_ok();
    assert_eq!(all.stdout.lines().count(), 40);

    let i = info.clone();
    let table = tokio::task::spawn_blocking(move || {
        TestCommand::new(&[
            "get",
            "accounts",
            "--select",
            "name,revenue",
            "--filter",
            "revenue gt 0",
            "--orderby",
            "name",
            "--top",
            "2",
            "-o",
            "table",
        ])
        .emulator_env(&i)
        .run()
    })
    .await
    .unwrap();
    table.assert_ok();
    assert!(
        table.stdout.contains("name") && table.stdout.contains("revenue"),
        "{}",
        table.stdout
    );

    let i = info.clone();
    let json = tokio::task::spawn_blocking(move || {
        TestCommand::new(&["get", "accounts", "--select", "name", "--top", "2"])
            .emulator_env(&i)
            .run()
    })
    .await
    .unwrap();
    let parsed: Value = serde_json::from_str(&json.stdout).expect("JSON when piped");
    assert_eq!(parsed.as_array().unwrap().len(), 2);

    let i = info.clone();
    let token =
        tokio::task::spawn_blocking(move || TestCommand::new(&["token"]).emulator_env(&i).run())
            .await
            .unwrap();
    token.assert_ok();
    let jwt = token.stdout.trim();
    assert_eq!(jwt.split('.').count(), 3);
    assert_eq!(
        d365_auth::decode_claims(jwt).unwrap()["aud"],
        info.environment_url.as_str()
    );

    // User sign-in through the environment variables, on the v1 endpoint.
    let i = info.clone();
    let user = tokio::task::spawn_blocking(move || {
        TestCommand::new(&[
            "get",
            "accounts",
            "--select",
            "name",
            "--top",
            "1",
            "--endpoint",
            "v1",
            "-o",
            "ndjson",
        ])
        .emulator_env(&i)
        .env("AZURE_USERNAME", &i.username)
        .env("AZURE_PASSWORD", &i.password)
        .run()
    })
    .await
    .unwrap();
    user.assert_ok();
    assert_eq!(emulator.token_requests(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_one_line_and_exit_2() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let cases: Vec<(Vec<&'static str>, &'static str)> = vec![
        (
            vec!["get", "accounts", "--filter", "name eq"],
            "expected an expression",
        ),
        (
            vec!["get", "Accounts"],
            "Resource not found for the segment 'Accounts'",
        ),
        (
            vec!["get", "accounts", "--select", "nope"],
            "Could not find a property named 'nope'",
        ),
    ];
    for (args, needle) in cases {
        let i = info.clone();
        let run =
            tokio::task::spawn_blocking(move || TestCommand::new(&args).emulator_env(&i).run())
                .await
                .unwrap();
        assert_eq!(run.code, Some(2), "{}", run.stderr);
        run.assert_clean_stderr();
        assert!(run.stderr.contains(needle), "{needle}: {}", run.stderr);
    }
    let run = TestCommand::new(&["get", "accounts"]).run();
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .starts_with("d365: no tenant: set AZURE_TENANT_ID"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn emulator_serves_writes_its_info_file_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let info_path = dir.path().join("info.json");
    let data_dir = dir.path().join("data");
    let mut child = TestCommand::new(&[
        "emulator",
        "--port",
        "0",
        "--seed",
        "5",
        "--info-file",
        info_path.to_str().unwrap(),
        "--data-dir",
        data_dir.to_str().unwrap(),
    ])
    .spawn();
    let info = util::wait_for_info(&info_path);
    for field in [
        "authority_host",
        "tenant_id",
        "environment_url",
        "client_id",
        "client_secret",
        "public_client_id",
        "username",
        "password",
    ] {
        assert!(
            info[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field}: {info}"
        );
    }
    assert!(info["ca_file"].is_null());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&info_path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(data_dir.join("signing-key.pem"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    let discovery = format!(
        "{}/{}/v2.0/.well-known/openid-configuration",
        info["authority_host"].as_str().unwrap(),
        info["tenant_id"].as_str().unwrap()
    );
    let body: Value = tokio::runtime::Runtime::new().unwrap().block_on(async {
        reqwest::get(&discovery)
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert!(body["token_endpoint"].is_string());
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(
        data_dir.join("dataverse.sqlite3").exists(),
        "--data-dir persists"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_update_upsert_delete_as_processes() {
    let emulator = start(d365_testkit::keyed_config(3)).await; // a key on accountnumber
    let info = emulator.info();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: Vec<String>| {
        let info = info.clone();
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            Ok::<_, std::convert::Infallible>(util::run_against(&info, &refs).await)
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();

    let created = run(s(&[
        "create",
        "accounts",
        r#"{"name":"Cli Co","accountnumber":"CLI-9"}"#,
    ]))
    .await
    .unwrap();
    created.assert_ok();
    let id = created.stdout.trim().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{}", created.stdout);

    let file = dir.path().join("changes.json");
    std::fs::write(&file, r#"{"telephone1":"555-0123"}"#).unwrap();
    run(s(&[
        "update",
        "accounts",
        &id,
        &format!("@{}", file.display()),
    ]))
    .await
    .unwrap()
    .assert_ok();
    run(s(&[
        "upsert",
        "accounts",
        "accountnumber=CLI-9",
        r#"{"websiteurl":"https://cli.example"}"#,
    ]))
    .await
    .unwrap()
    .assert_ok();
    let got = run(s(&[
        "get",
        "accounts",
        "--select",
        "telephone1,websiteurl",
        "--filter",
        "accountnumber eq 'CLI-9'",
        "-o",
        "json",
    ]))
    .await
    .unwrap();
    got.assert_ok();
    let rows: Value = serde_json::from_str(&got.stdout).unwrap();
    assert_eq!(rows[0]["telephone1"], "555-0123");
    assert_eq!(rows[0]["websiteurl"], "https://cli.example");

    // Create-only on an existing record is an error (2); update-only on a missing one and
    // deleting a missing one are "not found" (1).
    let clash = run(s(&["upsert", "accounts", &id, "{}", "--create-only"]))
        .await
        .unwrap();
    assert_eq!(clash.code, Some(2), "{}", clash.stderr);
    let missing = "00000000-0000-0000-0000-000000000042";
    let gone = run(s(&["update", "accounts", missing, r#"{"name":"x"}"#]))
        .await
        .unwrap();
    assert_eq!(gone.code, Some(1), "{}", gone.stderr);
    run(s(&["delete", "accounts", &id]))
        .await
        .unwrap()
        .assert_ok();
    let again = run(s(&["delete", "accounts", &id])).await.unwrap();
    assert_eq!(again.code, Some(1), "{}", again.stderr);
    assert!(again.stderr.contains("0x80040217"), "{}", again.stderr);

    // Bad input: one line each, exit 2, no panic.
    for (args, words) in [
        (s(&["create", "accounts", "{not json"]), "not valid JSON"),
        (s(&["create", "accounts", "[1,2]"]), "JSON object"),
        (
            s(&["update", "accounts", "not-a-key", "{}"]),
            "neither a GUID",
        ),
        (
            s(&["create", "accounts", "@/nonexistent.json"]),
            "reading /nonexistent.json",
        ),
    ] {
        let r = run(args.clone()).await.unwrap();
        r.assert_clean_stderr();
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(words), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.trim().lines().count(), 1, "{args:?}: {}", r.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_runs_fetchxml_across_pages() {
    let emulator = start(test_config(12)).await;
    let info = emulator.info();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.xml");
    std::fs::write(
        &file,
        "<fetch><entity name='account'><attribute name='name'/><order attribute='name'/>\
         <filter><condition attribute='statecode' operator='eq' value='0'/></filter></entity></fetch>",
    )
    .unwrap();
    let path = file.display().to_string();
    let run = util::run_against(
        &info,
        &[
            "query",
            "accounts",
            "--fetchxml",
            &path,
            "--page-size",
            "5",
            "-o",
            "ndjson",
        ],
    )
    .await;
    run.assert_ok();
    let rows: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The same rows as the OData query says.
    let odata = util::run_against(
        &info,
        &[
            "get",
            "accounts",
            "--filter",
            "statecode eq 0",
            "--all",
            "-o",
            "ndjson",
        ],
    )
    .await;
    odata.assert_ok();
    assert_eq!(rows.len(), odata.stdout.lines().count());
    assert!(rows.iter().all(|r| r["name"].is_string()));

    let bad = util::run_against(
        &info,
        &["query", "accounts", "--fetchxml", "/nonexistent.xml"],
    )
    .await;
    bad.assert_clean_stderr();
    assert_eq!(bad.code, Some(2));
    assert!(bad.stderr.contains("/nonexistent.xml"), "{}", bad.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_writes_csv_with_a_header() {
    let emulator = start(test_config(7)).await;
    let info = emulator.info();
    let some = util::run_against(
        &info,
        &[
            "get",
            "accounts",
            "--select",
            "accountnumber,name",
            "--orderby",
            "accountnumber",
            "--top",
            "3",
            "-o",
            "csv",
        ],
    )
    .await;
    some.assert_ok();
    let lines: Vec<&str> = some.stdout.lines().collect();
    assert_eq!(lines[0], "accountnumber,name");
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with("ACC-000001,"), "{}", some.stdout);
    let all = util::run_against(
        &info,
        &["get", "accounts", "--select", "name", "--all", "-o", "csv"],
    )
    .await;
    all.assert_ok();
    assert_eq!(
        all.stdout.lines().count(),
        8,
        "a header and every row, streamed"
    );
    let none = util::run_against(
        &info,
        &[
            "get",
            "accounts",
            "--select",
            "name",
            "--filter",
            "name eq 'nobody'",
            "-o",
            "csv",
        ],
    )
    .await;
    assert_eq!(none.stdout, "name\n", "an empty result is still a CSV file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_names_the_caller() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let run = util::run_against(&info, &["whoami", "--json"]).await;
    run.assert_ok();
    let me: Value = serde_json::from_str(&run.stdout).unwrap();
    let config = test_config(1);
    let app = config
        .apps
        .iter()
        .find(|a| a.client_id == info.client_id)
        .unwrap();
    assert_eq!(
        me["UserId"],
        app.application_user_id.as_str(),
        "the app's application user"
    );
    assert_eq!(
        me["OrganizationId"],
        config.environment.organization_id.as_str()
    );
    let text = util::run_against(&info, &["whoami"]).await;
    text.assert_ok();
    assert!(
        text.stdout.contains(&app.application_user_id),
        "{}",
        text.stdout
    );
}
