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
