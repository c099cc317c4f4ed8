//! A `TestCommand` for running the real `d365` binary (ripgrep's model): a clean environment
//! (no AZURE_* or D365_* leaking in from the host), captured output, a timeout.

#![allow(dead_code)]

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct TestCommand {
    cmd: Command,
    /// A private cache and config directory, unless the test shares one (`home`).
    _home: Option<tempfile::TempDir>,
}

#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl TestCommand {
    pub(crate) fn new(args: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_d365"));
        for (key, _) in std::env::vars() {
            if key.starts_with("AZURE_")
                || key.starts_with("D365_")
                || key.starts_with("PG")
                || key == "RUST_BACKTRACE"
            {
                cmd.env_remove(key);
            }
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Never the user's real cache or config.
        let home = tempfile::tempdir().expect("temp dir");
        cmd.env("D365_CACHE_DIR", home.path().join("cache"))
            .env("D365_CONFIG", home.path().join("config.toml"))
            // Nor the user's PostgreSQL passwords.
            .env("PGPASSFILE", home.path().join("pgpass"));
        Self {
            cmd,
            _home: Some(home),
        }
    }

    /// Shares a cache and config directory with other commands of the same test.
    pub(crate) fn home(mut self, dir: &std::path::Path) -> Self {
        self.cmd
            .env("D365_CACHE_DIR", dir.join("cache"))
            .env("D365_CONFIG", dir.join("config.toml"));
        self._home = None;
        self
    }

    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Points the command at an emulator through the azure-identity variables.
    pub(crate) fn emulator_env(self, info: &d365_testkit::EmulatorInfo) -> Self {
        self.env("AZURE_AUTHORITY_HOST", &info.authority_host)
            .env("AZURE_TENANT_ID", &info.tenant_id)
            .env("AZURE_CLIENT_ID", &info.client_id)
            .env("AZURE_CLIENT_SECRET", &info.client_secret)
            .env("D365_URL", &info.environment_url)
    }

    /// Runs to completion (at most 60 s). Output is read while it runs, so a large answer
    /// cannot fill the pipe and stall the process.
    pub(crate) fn run(mut self) -> Run {
        let child = self.cmd.spawn().expect("spawn d365");
        let pid = child.id();
        let (done, waited) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(child.wait_with_output());
        });
        let Output {
            status,
            stdout,
            stderr,
        } = match waited.recv_timeout(Duration::from_secs(60)) {
            Ok(output) => output.expect("output"),
            Err(_) => {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                panic!("d365 did not finish within 60 s");
            }
        };
        Run {
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    pub(crate) fn spawn(mut self) -> std::process::Child {
        self.cmd.spawn().expect("spawn d365")
    }
}

impl Run {
    pub(crate) fn assert_ok(&self) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// No panic, no backtrace.
    pub(crate) fn assert_clean_stderr(&self) -> &Self {
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("stack backtrace"),
            "{}",
            self.stderr
        );
        self
    }
}

/// Waits (at most 30 s) for an emulator's `--info-file` and reads it.
#[allow(dead_code)] // not every test binary starts an emulator process
pub(crate) fn wait_for_info(path: &std::path::Path) -> serde_json::Value {
    let started = Instant::now();
    while !path.exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "no info file");
        std::thread::sleep(Duration::from_millis(50));
    }
    serde_json::from_str(&std::fs::read_to_string(path).expect("info file")).expect("info JSON")
}

/// Runs `d365 args…` against an emulator (its variables set), off the async runtime.
#[allow(dead_code)] // not every test binary talks to an emulator
pub(crate) async fn run_against(info: &d365_testkit::EmulatorInfo, args: &[&str]) -> Run {
    let (info, args): (_, Vec<String>) =
        (info.clone(), args.iter().map(|a| (*a).to_owned()).collect());
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        TestCommand::new(&refs).emulator_env(&info).run()
    })
    .await
    .expect("the d365 process runner")
}

/// A library client of the emulator's environment, signed in as its app (client secret), for
/// tests that set things up through the API before running the binary.
pub(crate) fn app_client(info: &d365_testkit::EmulatorInfo) -> d365_webapi::Client {
    let authority = d365_auth::Authority::new(&info.authority_host, &info.tenant_id).unwrap();
    let credential = d365_auth::OAuthCredential::client_secret(
        d365_auth::token_client(authority).unwrap(),
        &info.client_id,
        d365_auth::ClientSecret::new(&info.client_secret),
    );
    d365_webapi::Client::builder()
        .environment(&info.environment_url)
        .credential(std::sync::Arc::new(credential))
        .build()
        .unwrap()
}
