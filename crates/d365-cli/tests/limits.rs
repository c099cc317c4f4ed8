//! Service protection limits of `d365 emulator`: on by default, as in every real org; `--limits
//! off` (benchmarks) and `limits = "off"` in the configuration file turn them off; a limits file
//! changes the numbers.

mod util;

use serde_json::Value;
use util::TestCommand;

/// Starts `d365 emulator extra…`, signs in as the app, calls WhoAmI `calls` times; returns each
/// answer's status, `x-ms-ratelimit-burst-remaining-xrm-requests` and `x-ms-dop-hint` (on every
/// Web API answer, limits or not, as Dataverse's).
fn who_am_i(extra: &[&str], calls: usize) -> Vec<(u16, Option<String>, String)> {
    let dir = tempfile::tempdir().unwrap();
    let info_path = dir.path().join("info.json");
    let mut args = vec![
        "emulator",
        "--port",
        "0",
        "--seed",
        "2",
        "--info-file",
        info_path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut child = TestCommand::new(&args).spawn();
    let info = util::wait_for_info(&info_path);
    let s = |k: &str| info[k].as_str().unwrap().to_owned();
    let statuses = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let http = reqwest::Client::new();
        let token: Value = http
            .post(format!(
                "{}/{}/oauth2/token",
                s("authority_host"),
                s("tenant_id")
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &s("client_id")),
                ("client_secret", &s("client_secret")),
                ("resource", &s("environment_url")),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut out = Vec::new();
        for _ in 0..calls {
            let r = http
                .get(format!("{}/api/data/v9.2/WhoAmI", s("environment_url")))
                .bearer_auth(token["access_token"].as_str().unwrap())
                .send()
                .await
                .unwrap();
            let remaining = r
                .headers()
                .get("x-ms-ratelimit-burst-remaining-xrm-requests")
                .map(|v| v.to_str().unwrap().to_owned());
            let dop = r
                .headers()
                .get("x-ms-dop-hint")
                .map_or(String::new(), |v| v.to_str().unwrap().to_owned());
            out.push((r.status().as_u16(), remaining, dop));
        }
        out
    });
    let _ = child.kill();
    let _ = child.wait();
    statuses
}

#[test]
fn the_real_limits_apply_unless_turned_off() {
    // No flag: Dataverse's numbers (6,000 requests per 5 minutes; DOP hint 4).
    assert_eq!(
        who_am_i(&[], 1),
        vec![(200, Some("5999".to_owned()), "4".to_owned())]
    );
    assert_eq!(
        who_am_i(&["--limits", "off"], 1),
        vec![(200, None, "4".to_owned())]
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("emulator.toml");
    std::fs::write(&config, "limits = \"off\"\n").unwrap();
    assert_eq!(
        who_am_i(&["--config", config.to_str().unwrap()], 1),
        vec![(200, None, "4".to_owned())],
        "limits = \"off\" in the configuration file"
    );
    std::fs::write(&config, "[limits]\nrequests = 10\n").unwrap();
    assert_eq!(
        who_am_i(&["--config", config.to_str().unwrap()], 1),
        vec![(200, Some("9".to_owned()), "4".to_owned())],
        "a [limits] table keeps the real values it does not name"
    );
    // Settings the limiter cannot work with: one clear line, exit 2.
    for (text, words) in [
        ("[limits]\nconcurrent = 0\n", "must be above 0"),
        ("limits = \"sometimes\"\n", "\"real\", \"off\""),
    ] {
        std::fs::write(&config, text).unwrap();
        let config = config.to_str().unwrap();
        let run = TestCommand::new(&["emulator", "--port", "0", "--config", config]).run();
        assert_eq!(run.code, Some(2), "{}", run.stderr);
        assert!(run.stderr.contains(words), "{text}: {}", run.stderr);
    }
}

#[test]
fn emulator_takes_limits_and_faults_from_flags() {
    let dir = tempfile::tempdir().unwrap();
    let limits = dir.path().join("limits.toml");
    std::fs::write(&limits, "requests = 50\nwindow_secs = 60\ndop_hint = 3\n").unwrap();
    let statuses = who_am_i(
        &[
            "--limits",
            limits.to_str().unwrap(),
            "--fault",
            r#"{"kind":"error","status":503,"count":1,"path":"*/WhoAmI"}"#,
        ],
        2,
    );
    assert_eq!(statuses[0].0, 503, "the injected fault first");
    assert_eq!(
        statuses[1],
        (200, Some("49".to_owned()), "3".to_owned()),
        "then the limits from the file"
    );

    // Bad flags: one clear line, exit 2, no panic.
    for (flag, value, words) in [
        ("--limits", "/nonexistent/limits.toml", "limits"),
        ("--fault", "{not json", "--fault"),
        ("--metadata", "/nonexistent/org.xml", "metadata"),
    ] {
        let run = TestCommand::new(&["emulator", "--port", "0", flag, value]).run();
        run.assert_clean_stderr();
        assert_eq!(run.code, Some(2), "{flag}: {}", run.stderr);
        assert!(run.stderr.contains(words), "{flag}: {}", run.stderr);
    }
}
