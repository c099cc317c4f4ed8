//! Runs every capability in order against one target, each with a timeout and its panics
//! caught, deletes what each created, and prints one table on stderr. The run fails at the
//! end, so one failure never hides the others.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use crate::context::{Ctx, Outcome};
use crate::target::Target;

/// A capability's body.
pub(crate) type CapabilityFn = for<'a> fn(&'a Ctx) -> Pin<Box<dyn Future<Output = Outcome> + 'a>>;

/// One capability of the client and the service.
pub(crate) struct Capability {
    pub(crate) name: &'static str,
    /// Needs something only the emulator has (a known user to impersonate): skipped on a live
    /// org.
    pub(crate) emulator_only: bool,
    pub(crate) run: CapabilityFn,
}

/// `capability!(module::function)`, or `capability!(module::function, emulator_only)`.
macro_rules! capability {
    ($module:ident :: $f:ident) => {
        $crate::runner::Capability {
            name: stringify!($f),
            emulator_only: false,
            run: |cx| Box::pin($module::$f(cx)),
        }
    };
    ($module:ident :: $f:ident, emulator_only) => {
        $crate::runner::Capability {
            name: stringify!($f),
            emulator_only: true,
            run: |cx| Box::pin($module::$f(cx)),
        }
    };
}

pub(crate) use capability;

/// How one row ended.
#[derive(Debug)]
enum Verdict {
    Ok,
    Failed(String),
    Skipped(&'static str),
}

struct Row {
    name: &'static str,
    verdict: Verdict,
    elapsed: Duration,
}

/// Runs `future` with a timeout, turning a panic or a timeout into a failure message.
async fn guarded(future: impl Future<Output = Outcome>, timeout: Duration) -> Verdict {
    match tokio::time::timeout(timeout, AssertUnwindSafe(future).catch_unwind()).await {
        Err(_) => Verdict::Failed(format!("timed out after {timeout:?}")),
        Ok(Err(panic)) => {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic".into());
            Verdict::Failed(format!("panicked: {text}"))
        }
        Ok(Ok(Err(e))) => Verdict::Failed(e.to_string()),
        Ok(Ok(Ok(()))) => Verdict::Ok,
    }
}

/// Runs the suite against `target` and panics at the end if any capability failed.
pub(crate) async fn run(label: &str, target: &Target, capabilities: &[Capability]) {
    let timeout = if target.is_live() {
        Duration::from_secs(180)
    } else {
        Duration::from_secs(20)
    };
    let started = Instant::now();
    let client = match target.client() {
        Ok(c) => c,
        Err(e) => panic!("conformance ({label}): {e}"),
    };
    let cx = Ctx::new(client, target.kind.clone(), target.builder.clone());
    eprintln!(
        "conformance: {label} at {} (records named '{} …')",
        target.environment, cx.prefix
    );
    // One call first: a wrong URL, tenant or secret stops the run with one message instead of
    // failing every row the same way (or waiting out every timeout).
    match tokio::time::timeout(timeout, cx.client.who_am_i().send()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!("conformance ({label}): cannot sign in and call WhoAmI: {e}"),
        Err(_) => panic!("conformance ({label}): WhoAmI did not answer within {timeout:?}"),
    }
    let mut rows = Vec::new();

    let t = Instant::now();
    let verdict = guarded(cx.create_fixture(), timeout).await;
    rows.push(Row {
        name: "(setup: fixture)",
        verdict,
        elapsed: t.elapsed(),
    });

    for capability in capabilities {
        let t = Instant::now();
        let verdict = if capability.emulator_only && target.is_live() {
            Verdict::Skipped("emulator only")
        } else {
            let verdict = guarded((capability.run)(&cx), timeout).await;
            let leftovers = cx.cleanup().await;
            match verdict {
                Verdict::Ok if !leftovers.is_empty() => {
                    Verdict::Failed(format!("cleanup: {}", leftovers.join("; ")))
                }
                v => v,
            }
        };
        rows.push(Row {
            name: capability.name,
            verdict,
            elapsed: t.elapsed(),
        });
    }

    let t = Instant::now();
    let leftovers = cx.cleanup_fixture().await;
    rows.push(Row {
        name: "(cleanup: fixture)",
        verdict: if leftovers.is_empty() {
            Verdict::Ok
        } else {
            Verdict::Failed(leftovers.join("; "))
        },
        elapsed: t.elapsed(),
    });

    let failed = report(&rows, started.elapsed());
    if !failed.is_empty() {
        panic!(
            "conformance ({label}): {} failed: {}",
            failed.len(),
            failed.join(", ")
        );
    }
}

/// Prints the table; returns the failed names.
fn report(rows: &[Row], total: Duration) -> Vec<&'static str> {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    eprintln!(
        "  {:<width$}  {:<8}  {:>9}",
        "capability", "result", "elapsed"
    );
    let mut failed = Vec::new();
    let (mut ok, mut skipped) = (0, 0);
    for row in rows {
        let ms = format!("{} ms", row.elapsed.as_millis());
        let result = match &row.verdict {
            Verdict::Ok => {
                ok += 1;
                "ok".to_owned()
            }
            Verdict::Failed(_) => {
                failed.push(row.name);
                "FAILED".to_owned()
            }
            Verdict::Skipped(why) => {
                skipped += 1;
                format!("skipped ({why})")
            }
        };
        eprintln!("  {:<width$}  {:<8}  {:>9}", row.name, result, ms);
        if let Verdict::Failed(why) = &row.verdict {
            eprintln!("  {:<width$}    └ {why}", "");
        }
    }
    eprintln!(
        "  {ok} ok, {} failed, {skipped} skipped in {} ms",
        failed.len(),
        total.as_millis()
    );
    failed
}
