//! Export beside its ceiling: `d365 export` (NDJSON and CSV, one stream and `--parallel auto`)
//! and a bare keep-alive loop that GETs the export's own first URL with the same headers and
//! page size, follows `@odata.nextLink` and throws the bytes away. Interleaved rounds (the
//! order rotates), medians; wall time and client CPU: the `d365` process's user + system time
//! (every thread, `/proc/<pid>/stat` once it has exited, before it is reaped), and the bare
//! loop's process's over the loop (every thread's `schedstat`: it runs in a process of its
//! own, this binary again, on a current-thread runtime).
//! Two more passes show where an export's CPU goes: the bare loop writing each page's bytes to
//! a file (what keeping the bytes costs at the least; "CPU/writing" is the ratio to it), and
//! an export of nothing (start-up, sign-in and files, counted in every export's figure and in
//! none of the bare loop's).
//! Goals (issue 16): one stream ≥ 0.8× the bare loop's speed, client CPU ≤ 2× the bare loop's.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use d365_auth::{Authority, ClientSecret, OAuthCredential, TokenCredential, token_client};
use d365_testkit::EmulatorInfo;

use super::{Run, d365, d365_at};

const PAGE_SIZE: u32 = 5000;
/// The export's order for one stream and for ranges alike (`export::plan`).
const ORDER: &str = "createdon asc,accountid asc";

/// The shapes: the 5 columns, and the 8 the data-movement table always used.
const SHAPES: [(&str, &str); 2] = [
    (
        "5 columns",
        "name,accountnumber,revenue,statecode,createdon",
    ),
    (
        "8 columns",
        "accountid,name,accountnumber,revenue,numberofemployees,statecode,createdon,_primarycontactid_value",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Bare,
    /// The bare loop writing each page's bytes to a file as it comes: the least an export
    /// that keeps the bytes costs (the kernel's copy into the file is most of it).
    BareWrite,
    /// `d365 export` of nothing (a filter no account matches, one stream): start, sign-in,
    /// count, one empty page, files; what an export costs besides its rows.
    Empty,
    Export {
        file: &'static str,
        parallel: &'static str,
        /// The binary of `BENCH_D365_BEFORE`, not this build's.
        before: bool,
    },
}

impl Pass {
    fn label(self) -> String {
        match self {
            Pass::Bare => "bare loop (bytes discarded)".to_owned(),
            Pass::BareWrite => "bare loop writing the bytes to a file".to_owned(),
            Pass::Empty => "export of nothing, one stream".to_owned(),
            Pass::Export {
                file,
                parallel,
                before,
            } => {
                let format = file.rsplit('.').next().unwrap_or(file);
                let build = if before { "before: " } else { "" };
                match parallel {
                    "1" => format!("{build}export {format}, one stream"),
                    p => format!("{build}export {format}, --parallel {p}"),
                }
            }
        }
    }
}

/// The passes: the bare loop, then each export of this build (and of the `before` build).
fn passes(before: bool) -> Vec<Pass> {
    let mut passes = vec![Pass::Bare, Pass::BareWrite, Pass::Empty];
    for before in [false, true].into_iter().filter(|b| before || !b) {
        for (file, parallel) in [
            ("one.ndjson", "1"),
            ("auto.ndjson", "auto"),
            ("one.csv", "1"),
            ("auto.csv", "auto"),
        ] {
            passes.push(Pass::Export {
                file,
                parallel,
                before,
            });
        }
    }
    passes
}

/// The environment variable that makes this binary the bare loop (its value: the `$select`).
pub(super) const BARE_LOOP: &str = "BENCH_BARE_LOOP";

/// Set (to a file's path), the bare loop writes each page's bytes there.
const BARE_WRITE: &str = "BENCH_BARE_WRITE";

/// CPU time of this whole process so far: the sum over its threads of their time on a CPU
/// (`/proc/self/task/*/schedstat`, in ns; the loop's process starts no thread while it runs).
fn process_cpu() -> Duration {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    let ns: u64 = tasks
        .filter_map(|task| {
            let text = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
            text.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum();
    Duration::from_nanos(ns)
}

/// The `@odata.nextLink` of a page, from its tail (Dataverse and the emulator write it last).
fn next_link(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"@odata.nextLink\":";
    let tail = &body[body.len().saturating_sub(4096)..];
    let at = tail.windows(KEY.len()).rposition(|w| w == KEY)?;
    let value = tail[at + KEY.len()..].trim_ascii_end();
    let value = value.strip_suffix(b"}")?.trim_ascii_end();
    serde_json::from_slice(value).ok()
}

/// The bare loop, in a process of its own (this bench binary again, [`bare_loop_process`]),
/// as the export runs in its own: the emulator's threads are not in it, and everything the
/// loop causes (hyper's and the runtime's work on any thread) is counted. Returns the loop's
/// wall time and the whole process's CPU over the loop, and the pages read.
fn bare(info: &EmulatorInfo, home: &Path, select: &str, write: bool) -> (Run, u64) {
    let exe = std::env::current_exe().expect("bench binary");
    let exe = exe.to_str().expect("a UTF-8 path");
    let mut command = super::common::d365_command(exe, info, home);
    command.env(BARE_LOOP, select);
    if write {
        command.env(BARE_WRITE, home.join("bare.json"));
    }
    let (process, out) = super::child_run(command, &[]);
    assert!(out.success, "bare loop: {}", out.stderr);
    let numbers: Vec<u64> = out
        .stdout
        .split_whitespace()
        .map(|n| n.parse().expect("bare loop figures"))
        .collect();
    let [wall, cpu, pages] = numbers[..] else {
        panic!("bare loop printed {:?}", out.stdout)
    };
    let run = Run {
        wall: Duration::from_nanos(wall),
        cpu: Duration::from_nanos(cpu),
        rss: process.rss,
    };
    (run, pages)
}

/// The bare loop's process: signs in with the credential `common::d365_command` sets, opens
/// the connection, then (clock and CPU started) GETs the export's own first URL with its
/// headers and page size on a current-thread runtime, follows `@odata.nextLink` and discards
/// the bytes. Prints the loop's wall time and process CPU (ns) and the pages read.
pub(super) fn bare_loop_process() {
    let env = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} unset"));
    let select: Vec<String> = env(BARE_LOOP).split(',').map(str::to_owned).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let http = d365_http::HttpClient::new().expect("HTTP client");
        let authority = Authority::new(&env("AZURE_AUTHORITY_HOST"), &env("AZURE_TENANT_ID"))
            .expect("authority");
        let credential = Arc::new(OAuthCredential::client_secret(
            token_client(authority).expect("token client"),
            &env("AZURE_CLIENT_ID"),
            ClientSecret::new(env("AZURE_CLIENT_SECRET")),
        ));
        let client = d365_webapi::Client::builder()
            .environment(env("D365_URL"))
            .credential(credential.clone())
            .http_client(http.clone())
            .build()
            .expect("client");
        let token = credential
            .get_token(client.environment())
            .await
            .expect("token")
            .secret()
            .to_owned();
        // The very URL the export's one stream asks for first.
        let first = client
            .query("accounts")
            .select(&select)
            .order_by_text(ORDER)
            .expect("order")
            .max_page_size(PAGE_SIZE)
            .url();
        let get = |url: String| {
            http.inner()
                .get(url)
                .bearer_auth(&token)
                .header("accept", "application/json")
                .header("odata-maxversion", "4.0")
                .header("odata-version", "4.0")
                .header("prefer", format!("odata.maxpagesize={PAGE_SIZE}"))
                .send()
        };
        let mut file = std::env::var_os(BARE_WRITE)
            .map(|path| std::fs::File::create(path).expect("the bare loop's file"));
        // Warm: the connection is open before the clock starts.
        let warm = get(format!("{}?$top=1", client.query("accounts").url()))
            .await
            .expect("warm-up");
        assert!(warm.status().is_success());
        let _ = warm.bytes().await;
        let (c0, t0) = (process_cpu(), Instant::now());
        let mut pages = 0u64;
        let mut next = Some(first);
        while let Some(url) = next.take() {
            let response = get(url).await.expect("page");
            assert!(response.status().is_success(), "{}", response.status());
            let body = response.bytes().await.expect("page body");
            if let Some(file) = &mut file {
                std::io::Write::write_all(file, &body).expect("writing the page");
            }
            pages += 1;
            next = next_link(&body);
        }
        let (wall, cpu) = (t0.elapsed(), process_cpu() - c0);
        println!("{} {} {pages}", wall.as_nanos(), cpu.as_nanos());
    });
}

/// `d365 export accounts` into `out`, its `select` and `parallel`, and `more` flags.
fn export_args<'a>(
    out: &'a str,
    select: &'a str,
    parallel: &'a str,
    more: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "export",
        "accounts",
        "--out",
        out,
        "--select",
        select,
        "--parallel",
        parallel,
    ];
    args.extend_from_slice(more);
    args
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// Every shape, `rounds` interleaved rounds of every pass, medians printed with the ratios.
pub(super) fn export(info: &EmulatorInfo, home: &Path, rows: usize, rounds: usize) {
    let before_bin = std::env::var("BENCH_D365_BEFORE").ok();
    let passes = passes(before_bin.is_some());
    for (shape, select) in SHAPES {
        let mut samples: Vec<(Pass, Run)> = Vec::new();
        for round in 0..rounds {
            for i in 0..passes.len() {
                let pass = passes[(i + round) % passes.len()];
                let run = match pass {
                    Pass::Bare | Pass::BareWrite => {
                        let (run, pages) = bare(info, home, select, pass == Pass::BareWrite);
                        assert_eq!(pages as usize, rows.div_ceil(PAGE_SIZE as usize).max(1));
                        run
                    }
                    Pass::Empty => {
                        let out = home.join("none.ndjson").display().to_string();
                        let _ = std::fs::remove_file(&out);
                        let nothing = ["--filter", "name eq 'no account has this name'"];
                        d365(info, home, &export_args(&out, select, "1", &nothing))
                    }
                    Pass::Export {
                        file,
                        parallel,
                        before,
                    } => {
                        let out = home.join(file).display().to_string();
                        let args = export_args(&out, select, parallel, &[]);
                        match (&before_bin, before) {
                            (Some(bin), true) => d365_at(bin, info, home, &args),
                            _ => d365(info, home, &args),
                        }
                    }
                };
                samples.push((pass, run));
            }
        }
        report(shape, select, rows, rounds, &passes, &samples);
    }
}

fn report(
    shape: &str,
    select: &str,
    rows: usize,
    rounds: usize,
    passes: &[Pass],
    samples: &[(Pass, Run)],
) {
    let med = |pass: Pass, f: fn(&Run) -> Duration| {
        median(
            samples
                .iter()
                .filter(|(p, _)| *p == pass)
                .map(|(_, r)| f(r))
                .collect(),
        )
    };
    let (bare_wall, bare_cpu) = (med(Pass::Bare, |r| r.wall), med(Pass::Bare, |r| r.cpu));
    let floor_cpu = med(Pass::BareWrite, |r| r.cpu);
    println!(
        "\nexport, {shape} ({select}), {rows} accounts, pages of {PAGE_SIZE}; median of {rounds} interleaved rounds"
    );
    println!(
        "  {:<42} {:>8} {:>10} {:>9} {:>12} {:>10} {:>11} {:>8}",
        "pass", "wall", "rows/s", "client CPU", "speed/bare", "CPU/bare", "CPU/writing", "RSS"
    );
    for &pass in passes {
        let (wall, cpu) = (med(pass, |r| r.wall), med(pass, |r| r.cpu));
        let rss = samples
            .iter()
            .filter(|(p, _)| *p == pass)
            .map(|(_, r)| r.rss)
            .fold(0.0, f64::max);
        let speed = bare_wall.as_secs_f64() / wall.as_secs_f64();
        let cpu_ratio = cpu.as_secs_f64() / bare_cpu.as_secs_f64();
        if pass == Pass::Empty {
            // No rows: only its wall time, CPU and memory mean something.
            println!(
                "  {:<42} {:>6.2} s {:>10} {:>7.2} s {:>12} {:>10} {:>11} {:>5.1} MiB",
                pass.label(),
                wall.as_secs_f64(),
                "—",
                cpu.as_secs_f64(),
                "—",
                "—",
                "—",
                rss,
            );
            continue;
        }
        let floor_ratio = cpu.as_secs_f64() / floor_cpu.as_secs_f64();
        let goals = match pass {
            Pass::Bare | Pass::BareWrite | Pass::Empty => String::new(),
            _ => format!(
                "  (goals: speed ≥ 0.8 {}, CPU ≤ 2 {})",
                if speed >= 0.8 { "met" } else { "missed" },
                if cpu_ratio <= 2.0 { "met" } else { "missed" }
            ),
        };
        println!(
            "  {:<42} {:>6.2} s {:>10.0} {:>7.2} s {:>11.2}× {:>9.2}× {:>10.2}× {:>5.1} MiB{goals}",
            pass.label(),
            wall.as_secs_f64(),
            rows as f64 / wall.as_secs_f64(),
            cpu.as_secs_f64(),
            speed,
            cpu_ratio,
            floor_ratio,
            rss,
        );
    }
}
