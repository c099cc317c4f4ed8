//! How many token requests the cache makes: 1,000 concurrent Web API calls in each of three
//! waves, two token expiries apart (goal: one request per expiry), and a second `d365` process
//! after a first (goal: zero). Prints figures; run with
//! `cargo bench -p d365-cli --bench token_requests`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use d365_auth::{Authority, OAuthCredential, Password, token_client};
mod common;

use d365_testkit::{EmulatorConfig, start, test_config};

const CALLS: usize = 1000;
const LIFETIME: u64 = 6;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let emulator = start(EmulatorConfig { token_lifetime_secs: LIFETIME, limits: None, ..test_config(10) }).await;
        let info = emulator.info();
        let authority = Authority::new(&info.authority_host, &info.tenant_id).unwrap();
        let credential = Arc::new(OAuthCredential::password(token_client(authority).unwrap(), &info.public_client_id, None, &info.username, Password::new(&info.password)));
        let client = d365_webapi::Client::builder().environment(&info.environment_url).credential(credential).build().unwrap();
        println!("token_requests: {CALLS} concurrent WhoAmI calls per wave, token lifetime {LIFETIME} s (refresh at {} s)", LIFETIME / 2);
        for wave in 1..=3 {
            let before = emulator.token_requests();
            let started = Instant::now();
            let tasks: Vec<_> = (0..CALLS)
                .map(|_| {
                    let client = client.clone();
                    tokio::spawn(async move { client.who_am_i().send().await.map(|_| ()) })
                })
                .collect();
            let ok = futures_util::future::join_all(tasks).await.into_iter().filter(|r| matches!(r, Ok(Ok(())))).count();
            let elapsed = started.elapsed();
            println!(
                "  wave {wave}: {ok}/{CALLS} calls ok in {:.0} ms ({:.0} calls/s), token requests this wave: {}",
                elapsed.as_secs_f64() * 1000.0,
                CALLS as f64 / elapsed.as_secs_f64(),
                emulator.token_requests() - before
            );
            if wave < 3 {
                tokio::time::sleep(Duration::from_secs(LIFETIME / 2) + Duration::from_millis(300)).await;
            }
        }
        println!("  total token requests: {} (goal: 3 = first sign-in + one per expiry)", emulator.token_requests());

        // Two CLI processes in a row sharing one token cache.
        let home = std::env::temp_dir().join(format!("d365-bench-{}", std::process::id()));
        let cli = |args: &[&str]| {
            let output = common::d365_command(env!("CARGO_BIN_EXE_d365"), &info, &home)
                .args(args)
                .output()
                .unwrap();
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        };
        let before = emulator.token_requests();
        let started = Instant::now();
        cli(&["get", "accounts", "--select", "name", "--top", "1", "-o", "ndjson"]);
        let first = (emulator.token_requests() - before, started.elapsed());
        let started = Instant::now();
        cli(&["get", "accounts", "--select", "name", "--top", "1", "-o", "ndjson"]);
        let second = (emulator.token_requests() - before - first.0, started.elapsed());
        println!("  CLI run 1: {} token request(s), {:.0} ms; CLI run 2: {} token request(s) (goal: 0), {:.0} ms", first.0, first.1.as_secs_f64() * 1000.0, second.0, second.1.as_secs_f64() * 1000.0);
        let _ = std::fs::remove_dir_all(&home);
    });
}
