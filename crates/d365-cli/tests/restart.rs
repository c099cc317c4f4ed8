//! The emulator restarted between two commands: the disk cache's token was signed by the old
//! key, and the second command still succeeds, at the cost of one token request.

mod util;

use d365_testkit::{Emulator, EmulatorConfig, start, test_config};
use util::TestCommand;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_after_a_restart_in_memory_signs_in_again_once() {
    let home = tempfile::tempdir().unwrap();
    let whoami = |info: d365_testkit::EmulatorInfo, home: std::path::PathBuf| {
        tokio::task::spawn_blocking(move || {
            TestCommand::new(&["whoami", "--json"])
                .home(&home)
                .emulator_env(&info)
                .run()
        })
    };
    let first = start(test_config(3)).await;
    let (addr, info) = (first.addr(), first.info());
    whoami(info.clone(), home.path().to_owned())
        .await
        .unwrap()
        .assert_ok();
    assert_eq!(first.token_requests(), 1);
    first.stop().await;

    // In memory again, on the same address, with a new signing key.
    let key = d365_emulator::entra::keys::generate_private_key_pem().unwrap();
    let second = Emulator::start(
        EmulatorConfig {
            signing_key_pem: Some(d365_emulator::config::PrivateKeyPem(key)),
            ..test_config(3)
        },
        addr,
    )
    .await
    .unwrap();
    let run = whoami(second.info(), home.path().to_owned()).await.unwrap();
    run.assert_ok().assert_clean_stderr();
    assert!(run.stdout.contains("UserId"), "{}", run.stdout);
    assert_eq!(second.token_requests(), 1);
    // The request log: the cached token refused, then the same call with the new one.
    let log: Vec<(String, u16)> = second
        .state()
        .faults
        .log(100)
        .into_iter()
        .map(|r| (r.path, r.status))
        .filter(|(p, _)| p.contains("WhoAmI") || p.contains("/token"))
        .collect();
    let statuses: Vec<u16> = log.iter().map(|(_, s)| *s).collect();
    assert_eq!(statuses, [401, 200, 200], "{log:?}");
    assert!(log[1].0.contains("/token"), "{log:?}");
}

/// `d365 emulator` as a process, killed and started again on the same port, in memory (a new
/// signing key: the cached token is refused once, and the command signs in again) and with
/// `--data-dir` (the key persists: the cached token still works, no token request).
#[test]
fn whoami_across_emulator_process_restarts_in_memory_and_with_a_data_dir() {
    for persisted in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let info_path = dir.path().join("info.json");
        let data_dir = dir.path().join("data");
        let emulator = |port: &str| {
            let _ = std::fs::remove_file(&info_path);
            let mut args = vec!["emulator", "--port", port, "--seed", "3", "--info-file"];
            args.push(info_path.to_str().unwrap());
            if persisted {
                args.extend(["--data-dir", data_dir.to_str().unwrap()]);
            }
            let child = TestCommand::new(&args).spawn();
            (child, util::wait_for_info(&info_path))
        };
        let whoami = |info: &serde_json::Value| {
            let s = |k: &str| info[k].as_str().unwrap().to_owned();
            TestCommand::new(&["whoami", "--json"])
                .home(&home)
                .env("AZURE_AUTHORITY_HOST", &s("authority_host"))
                .env("AZURE_TENANT_ID", &s("tenant_id"))
                .env("AZURE_CLIENT_ID", &s("client_id"))
                .env("AZURE_CLIENT_SECRET", &s("client_secret"))
                .env("D365_URL", &s("environment_url"))
                .run()
        };
        let (mut first, info) = emulator("0");
        whoami(&info).assert_ok();
        let port = info["environment_url"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches('/')
            .to_owned();
        let _ = first.kill();
        let _ = first.wait();

        let (mut second, info) = emulator(&port);
        let run = whoami(&info);
        let base = info["environment_url"].as_str().unwrap().to_owned();
        let (stats, log) = tokio::runtime::Runtime::new().unwrap().block_on(async {
            let http = reqwest::Client::new();
            let get = |path: &str| http.get(format!("{base}{path}")).send();
            let stats: serde_json::Value =
                get("/_emulator/stats").await.unwrap().json().await.unwrap();
            let log: serde_json::Value = get("/_emulator/requests")
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (stats, log)
        });
        let _ = second.kill();
        let _ = second.wait();
        run.assert_ok().assert_clean_stderr();
        assert!(run.stdout.contains("UserId"), "{}", run.stdout);
        let statuses: Vec<u64> = log
            .as_array()
            .or_else(|| log["requests"].as_array())
            .unwrap_or_else(|| panic!("{log}"))
            .iter()
            .filter(|r| {
                let p = r["path"].as_str().unwrap_or_default();
                p.contains("WhoAmI") || p.contains("/token")
            })
            .map(|r| r["status"].as_u64().unwrap())
            .collect();
        if persisted {
            assert_eq!(stats["token_requests"], 0, "{log}");
            assert_eq!(statuses, [200], "the cached token still works: {log}");
        } else {
            assert_eq!(stats["token_requests"], 1, "{log}");
            assert_eq!(
                statuses,
                [401, 200, 200],
                "refused, a new token, the call again: {log}"
            );
        }
    }
}
