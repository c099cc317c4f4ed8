//! Data movement at volume, the `d365` binary against an in-process emulator (service
//! protection off): export (NDJSON and CSV, one stream and `--parallel auto`, beside a bare
//! loop over the same pages: `export.rs`), import (CreateMultiple vs `$batch` vs single
//! creates), and an incremental sync of 1 % changes. Prints rows/s, the child's CPU and peak
//! RSS. Run with `cargo bench -p d365-cli --bench data_movement`; `BENCH_ROWS` (default
//! 200,000) sets the table size, `BENCH_IMPORT_ROWS` (default 100,000) the import size,
//! `BENCH_ROUNDS` (default 3) the export's interleaved rounds, `BENCH_D365_BEFORE` another
//! `d365` binary whose exports run interleaved beside (to compare builds), and `BENCH_ONLY=export` skips the import, sync and bulk delete runs; `BENCH_ONLY=bulk-delete`
//! runs only the bulk delete (a `BulkDelete` job over every account, followed to its end).

use std::time::{Duration, Instant};

mod common;

use d365_testkit::{EmulatorConfig, EmulatorInfo, start, test_config};

#[path = "data_movement/export.rs"]
mod export;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An in-memory emulator with `rows` accounts and service protection off (`--limits off`):
/// the figures are the tool's and the wire's, not the throttle's.
fn unthrottled(rows: usize) -> EmulatorConfig {
    EmulatorConfig {
        limits: None,
        ..test_config(rows)
    }
}

/// One run of a client: wall time, CPU time (user + system) and peak RSS (MiB, `VmHWM`).
#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    cpu: Duration,
    rss: f64,
}

/// The CPU a process has used (utime + stime, fields 14 and 15 of `/proc/<pid>/stat`, in
/// ticks of 10 ms, every thread it had) and whether it has exited (state `Z`: not reaped
/// yet, its times final).
fn proc_stat(pid: u32) -> Option<(Duration, bool)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; count fields after its closing paren.
    let fields: Vec<&str> = text.rsplit_once(") ")?.1.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Some((
        Duration::from_millis(ticks * 10),
        fields.first() == Some(&"Z"),
    ))
}

/// Runs `d365 args…` against the emulator; returns wall time, its CPU and peak RSS.
fn d365(info: &EmulatorInfo, home: &std::path::Path, args: &[&str]) -> Run {
    d365_at(env!("CARGO_BIN_EXE_d365"), info, home, args)
}

/// [`d365`] with the binary at `bin` (another build, to compare).
fn d365_at(bin: &str, info: &EmulatorInfo, home: &std::path::Path, args: &[&str]) -> Run {
    let command = common::d365_command(bin, info, home);
    let (run, out) = child_run(command, args);
    assert!(out.success, "d365 {args:?}: {}", out.stderr);
    run
}

/// Runs `command args…` to its end: wall time from spawn to exit, the CPU of the whole
/// process (`/proc/<pid>/stat`) and its peak RSS (`VmHWM`), and how it ended.
fn child_run(mut command: std::process::Command, args: &[&str]) -> (Run, Output) {
    let started = Instant::now();
    let mut child = command
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Both pipes are read while the child runs (a full pipe would stall it).
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let status_path = format!("/proc/{}/status", child.id());
    let (mut peak_kib, mut cpu, mut wall) = (0u64, Duration::ZERO, None);
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kib: u64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            peak_kib = peak_kib.max(kib);
        }
        // Exited but not reaped: its times are final and still readable.
        if let Some((used, exited)) = proc_stat(child.id()) {
            cpu = used;
            if exited {
                wall.get_or_insert_with(|| started.elapsed());
            }
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(if wall.is_some() { 1 } else { 5 }));
    };
    let run = Run {
        wall: wall.unwrap_or_else(|| started.elapsed()),
        cpu,
        rss: peak_kib as f64 / 1024.0,
    };
    let out = Output {
        success: status.success(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    (run, out)
}

/// How a child ended: whether it succeeded and what it printed.
struct Output {
    success: bool,
    stdout: String,
    stderr: String,
}

fn row(what: &str, rows: usize, run: Run) {
    println!(
        "  {what:<44} {rows:>9} rows {:>8.2} s {:>9.0} rows/s  CPU {:>6.2} s  peak RSS {:>6.1} MiB",
        run.wall.as_secs_f64(),
        rows as f64 / run.wall.as_secs_f64(),
        run.cpu.as_secs_f64(),
        run.rss
    );
}

fn main() {
    // The export's bare loop runs in a process of its own (this binary again): see export.rs.
    if std::env::var_os(export::BARE_LOOP).is_some() {
        export::bare_loop_process();
        return;
    }
    let rows = env_usize("BENCH_ROWS", 200_000);
    let import_rows = env_usize("BENCH_IMPORT_ROWS", 100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    runtime.block_on(async {
        let seeding = Instant::now();
        let emulator = start(unthrottled(rows)).await;
        let info = emulator.info();
        println!(
            "data_movement: {rows} accounts seeded in {:.1} s (in memory)",
            seeding.elapsed().as_secs_f64()
        );

        let only = std::env::var("BENCH_ONLY").unwrap_or_default();
        if only != "bulk-delete" {
            movement(&info, home, rows, import_rows).await;
        }
        if only != "export" {
            let (info, home) = (info.clone(), home.to_owned());
            let run = tokio::task::spawn_blocking(move || {
                d365(&info, &home, &["bulk-delete", "accounts", "--all"])
            })
            .await
            .unwrap();
            row("bulk delete job (BulkDelete), every account", rows, run);
        }
    });
}

/// Export, import and sync.
async fn movement(info: &EmulatorInfo, home: &std::path::Path, rows: usize, import_rows: usize) {
    {
        let out = |n: &str| home.join(n).display().to_string();
        // Export beside the bare loop; the last shape (8 columns) leaves one.ndjson for the
        // import below.
        let (info2, home2) = (info.clone(), home.to_owned());
        let rounds = env_usize("BENCH_ROUNDS", 3);
        tokio::task::spawn_blocking(move || export::export(&info2, &home2, rows, rounds))
            .await
            .unwrap();

        if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "export") {
            return;
        }
        // Import into fresh emulators, from the first rows of the export.
        let text = std::fs::read_to_string(home.join("one.ndjson")).unwrap();
        let sample: String = text
            .lines()
            .take(import_rows)
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("_primarycontactid_value");
                format!("{v}\n")
            })
            .collect();
        let single_rows = import_rows.min(5_000);
        let small: String = sample
            .lines()
            .take(single_rows)
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(home.join("import.ndjson"), &sample).unwrap();
        std::fs::write(home.join("small.ndjson"), &small).unwrap();
        for (label, file, n, via) in [
            (
                "import, CreateMultiple (chunks of 1,000)",
                "import.ndjson",
                import_rows,
                "bulk",
            ),
            (
                "import, $batch change sets of 1,000",
                "import.ndjson",
                import_rows,
                "batch",
            ),
            (
                "import, single creates (4 in flight)",
                "small.ndjson",
                single_rows,
                "single",
            ),
        ] {
            let target = start(unthrottled(0)).await;
            let (path, info) = (out(file), target.info());
            let home = home.to_owned();
            let run = tokio::task::spawn_blocking(move || {
                d365(
                    &info,
                    &home,
                    &["import", "accounts", "--in", &path, "--via", via],
                )
            })
            .await
            .unwrap();
            row(label, n, run);
            let _ = std::fs::remove_file(format!("{}.import-journal", out(file)));
        }

        // Sync: a full load, then 1 % of the rows changed.
        let to = format!("sqlite:{}", out("mirror.db"));
        let (info2, home2, to2) = (info.clone(), home.to_owned(), to.clone());
        let run = tokio::task::spawn_blocking(move || {
            d365(&info2, &home2, &["sync", "accounts", "--to", &to2])
        })
        .await
        .unwrap();
        row("sync to SQLite, first load", rows, run);
        let changes = rows / 100;
        let client = d365_webapi::Client::builder()
            .environment(&info.environment_url)
            .credential(std::sync::Arc::new(
                d365_auth::OAuthCredential::client_secret(
                    d365_auth::token_client(
                        d365_auth::Authority::new(&info.authority_host, &info.tenant_id).unwrap(),
                    )
                    .unwrap(),
                    &info.client_id,
                    d365_auth::ClientSecret::new(&info.client_secret),
                ),
            ))
            .build()
            .unwrap();
        let ids: Vec<String> = text
            .lines()
            .take(changes)
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["accountid"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        for group in ids.chunks(1000) {
            let updates = group
                .iter()
                .map(|id| serde_json::json!({"accountid": id, "telephone1": "555-0100"}))
                .collect();
            client
                .update_multiple("accounts", "account", updates)
                .send()
                .await
                .unwrap();
        }
        let (info3, home3) = (info.clone(), home.to_owned());
        let run = tokio::task::spawn_blocking(move || {
            d365(&info3, &home3, &["sync", "accounts", "--to", &to])
        })
        .await
        .unwrap();
        row(
            &format!("sync to SQLite, {changes} changed (1 %)"),
            changes,
            run,
        );
    }
}
