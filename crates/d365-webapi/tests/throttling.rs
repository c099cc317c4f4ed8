//! The client under service protection and injected faults, with the emulator's limits set
//! small: parallel reads finish with every record exactly once, writes never duplicate, the
//! concurrency controller settles near the server's limit, and every error has a request id.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

mod common;

use d365_emulator::faults::{FaultKind, FaultRule};
use d365_emulator::limits::ServiceLimits;
use d365_http::BackoffConfig;
use d365_testkit::{EmulatorInfo, start, test_config};
use d365_webapi::{ClientBuilder, RetryBudgetConfig, RetryConfig};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::json;

fn builder(info: &EmulatorInfo) -> ClientBuilder {
    // Quick backoff: the tests are about outcomes, not waiting.
    common::builder(info).retry(RetryConfig {
        backoff: BackoffConfig {
            base: Duration::from_millis(5),
            cap: Duration::from_millis(50),
        },
        max_retries: 20,
        retry_timeout: Duration::from_secs(120),
        ..RetryConfig::default()
    })
}

fn rule(kind: FaultKind, method: &str, share: f64) -> FaultRule {
    FaultRule {
        kind,
        method: Some(method.into()),
        path: "/api/data/*".into(),
        count: None,
        share: Some(share),
        status: None,
        delay_ms: None,
        retry_after: Some(1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_parallel_reads_under_limits_and_faults_return_each_record_once() {
    let mut config = test_config(1000);
    let emulator = start(config.clone()).await;
    let info = emulator.info();
    let c = builder(&info).build().unwrap();
    let ids: Vec<uuid::Uuid> = c
        .query("accounts")
        .select(["accountid"])
        .into_stream()
        .map_ok(|r| {
            r["accountid"]
                .as_str()
                .unwrap()
                .parse::<uuid::Uuid>()
                .unwrap()
        })
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids.len(), 1000);

    // Eight concurrent requests per user, each taking at least 20 ms, 5 % server errors and
    // 3 % broken answers.
    config.limits = Some(ServiceLimits {
        concurrent: 8,
        dop_hint: 4,
        ..ServiceLimits::real()
    });
    let state = emulator.state();
    state.limiter.set(config.limits);
    let mut delay = rule(FaultKind::Delay, "GET", 1.0);
    delay.delay_ms = Some(20);
    let mut error = rule(FaultKind::Error, "GET", 0.05);
    error.status = Some(503);
    error.retry_after = None;
    for r in [error, rule(FaultKind::Drop, "GET", 0.03), delay] {
        state.faults.add(r).unwrap();
    }

    let fresh = builder(&info).build().unwrap();
    let reads = ids.iter().map(|id| {
        let c = fresh.clone();
        let id = *id;
        async move {
            c.retrieve("accounts", id)
                .select(["accountid", "name"])
                .send()
                .await
        }
    });
    // All at once: the client, not the caller, decides how many go out.
    let results = futures_util::future::join_all(reads).await;
    let mut seen = HashMap::new();
    for r in results {
        let record = r.expect("every read succeeds in the end");
        let id: uuid::Uuid = record["accountid"].as_str().unwrap().parse().unwrap();
        *seen.entry(id).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 1000);
    assert!(seen.values().all(|n| *n == 1));
    assert_eq!(
        seen.keys().copied().collect::<HashSet<_>>(),
        ids.iter().copied().collect()
    );

    let stats = fresh.concurrency_stats();
    eprintln!("controller: {stats:?}");
    let log = state.faults.log(100_000);
    let throttled = log.iter().filter(|l| l.status == 429).count();
    eprintln!("server answered 429 {throttled} times");
    assert!(
        stats.throttled >= 1,
        "the controller probed the limit: {stats:?}"
    );
    assert!(
        (2..=16).contains(&stats.limit),
        "settles near the server's 8: {stats:?}"
    );
    assert!(
        throttled < 100,
        "AIMD keeps throttling rare ({throttled} of 1000+ requests)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_under_faults_never_duplicate() {
    let emulator = start(test_config(0)).await;
    let info = emulator.info();
    let state = emulator.state();
    let mut error = rule(FaultKind::Error, "POST", 0.1);
    error.status = Some(503);
    error.retry_after = None;
    let mut gateway = rule(FaultKind::Error, "POST", 0.1);
    gateway.status = Some(502);
    gateway.retry_after = None;
    for r in [
        rule(FaultKind::Throttle, "POST", 0.1),
        error,
        gateway,
        rule(FaultKind::Drop, "POST", 0.05),
        rule(FaultKind::DropAfter, "POST", 0.1),
    ] {
        state.faults.add(r).unwrap();
    }
    let c = builder(&info).build().unwrap();
    let names: Vec<String> = (0..300).map(|i| format!("write-{i:03}")).collect();
    let outcomes: Vec<(String, Result<uuid::Uuid, d365_webapi::Error>)> =
        stream::iter(names.clone())
            .map(|name| {
                let c = c.clone();
                async move {
                    let r = c.create("accounts", json!({"name": name})).send().await;
                    (name, r)
                }
            })
            .buffer_unordered(50)
            .collect()
            .await;
    state.faults.clear();

    let stored: Vec<String> = c
        .query("accounts")
        .select(["name"])
        .into_stream()
        .map_ok(|r| r["name"].as_str().unwrap().to_owned())
        .try_collect()
        .await
        .unwrap();
    let mut per_name: HashMap<&str, usize> = HashMap::new();
    for n in &stored {
        *per_name.entry(n.as_str()).or_default() += 1;
    }
    assert!(
        per_name.values().all(|n| *n == 1),
        "a create was sent twice: {:?}",
        per_name.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    let (ok, failed): (Vec<_>, Vec<_>) = outcomes.iter().partition(|(_, r)| r.is_ok());
    for (name, _) in &ok {
        assert_eq!(
            per_name.get(name.as_str()),
            Some(&1),
            "{name} was confirmed"
        );
    }
    // The failures are the ambiguous ones (a broken connection, a gateway error): whether the
    // write happened is unknown, so the client reports them rather than resend a POST.
    assert!(!failed.is_empty(), "the faults were injected");
    for (name, r) in &failed {
        let e = r.as_ref().unwrap_err();
        assert!(e.api().is_none_or(|a| a.status == 502), "{name}: {e}");
    }
    assert!(
        ok.len() >= 200,
        "retries recover throttling and 5xx ({} ok)",
        ok.len()
    );
}

#[tokio::test]
async fn past_the_budget_the_service_error_comes_back_with_its_request_id() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let state = emulator.state();
    let mut error = rule(FaultKind::Error, "GET", 1.0);
    error.status = Some(503);
    error.retry_after = None;
    state.faults.add(error).unwrap();
    let c = builder(&info)
        .retry_budget(RetryBudgetConfig {
            capacity: 3.0,
            per_success: 0.1,
        })
        .build()
        .unwrap();
    let err = c.who_am_i().send().await.unwrap_err();
    let api = err.api().expect("the last answer, mapped");
    assert_eq!(api.status, 503);
    assert!(api.request_id.is_some(), "{api:?}");
    assert_eq!(c.retry_budget_remaining(), 0);
    // A spent budget fails the next request at once: one attempt, no retry.
    let before = state.faults.log(10_000).len();
    let err = c.who_am_i().send().await.unwrap_err();
    assert_eq!(err.api().map(|a| a.status), Some(503));
    assert_eq!(state.faults.log(10_000).len() - before, 1);

    // Throttling past max_retries: the 429 with its Retry-After, for the CLI's exit code 4.
    state.faults.clear();
    state
        .faults
        .add(rule(FaultKind::Throttle, "GET", 1.0))
        .unwrap();
    let impatient = builder(&info)
        .retry(RetryConfig {
            max_retries: 1,
            ..RetryConfig::default()
        })
        .build()
        .unwrap();
    let err = impatient.who_am_i().send().await.unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(
        (api.status, api.retry_after),
        (429, Some(Duration::from_secs(1)))
    );
    assert!(api.request_id.is_some());
}
