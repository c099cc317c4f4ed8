//! `d365 auth` and the shared token cache, as processes.

mod util;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use d365_testkit::{EmulatorConfig, EmulatorInfo, start, test_config};
use util::TestCommand;

/// Runs a command off the async runtime (the emulator serves on it meanwhile).
async fn run(cmd: TestCommand) -> util::Run {
    tokio::task::spawn_blocking(move || cmd.run())
        .await
        .unwrap()
}

fn user_env(cmd: TestCommand, info: &EmulatorInfo) -> TestCommand {
    cmd.env("AZURE_AUTHORITY_HOST", &info.authority_host)
        .env("AZURE_TENANT_ID", &info.tenant_id)
        .env("AZURE_CLIENT_ID", &info.public_client_id)
        .env("D365_URL", &info.environment_url)
}

fn password_env(cmd: TestCommand, info: &EmulatorInfo) -> TestCommand {
    user_env(cmd, info)
        .env("AZURE_USERNAME", &info.username)
        .env("AZURE_PASSWORD", &info.password)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_keep_secret_sources_not_secrets() {
    let emulator = start(test_config(2)).await;
    let info = emulator.info();
    let home = tempfile::tempdir().unwrap();
    let add = TestCommand::new(&[
        "auth",
        "profile",
        "add",
        "dev",
        "--url",
        &info.environment_url,
        "--tenant",
        &info.tenant_id,
        "--client-id",
        &info.client_id,
        "--grant",
        "client-secret",
        "--secret-env",
        "DEV_SECRET",
        "--authority-host",
        &info.authority_host,
    ])
    .home(home.path());
    run(add).await.assert_ok();
    let config = std::fs::read_to_string(home.path().join("config.toml")).unwrap();
    assert!(
        config.contains("DEV_SECRET") && !config.contains(&info.client_secret),
        "{config}"
    );
    let list = run(TestCommand::new(&["auth", "profile", "list"]).home(home.path())).await;
    assert!(list.stdout.starts_with("* dev"), "{}", list.stdout);
    // The current profile works with the secret from its variable.
    let get = run(TestCommand::new(&[
        "get", "accounts", "--select", "name", "--top", "1", "-o", "ndjson",
    ])
    .home(home.path())
    .env("DEV_SECRET", &info.client_secret))
    .await;
    get.assert_ok();
    assert_eq!(get.stdout.lines().count(), 1);
    // Missing variable: one line naming it.
    let missing = run(TestCommand::new(&["get", "accounts", "--top", "1"]).home(home.path())).await;
    assert_eq!(missing.code, Some(2));
    assert!(missing.stderr.contains("$DEV_SECRET"), "{}", missing.stderr);
    // A missing profile is a one-line error.
    let nope =
        run(TestCommand::new(&["--profile", "nope", "get", "accounts"]).home(home.path())).await;
    assert_eq!(nope.code, Some(2));
    assert!(
        nope.stderr.contains("no profile named 'nope'"),
        "{}",
        nope.stderr
    );
    run(TestCommand::new(&["auth", "profile", "remove", "dev"]).home(home.path()))
        .await
        .assert_ok();
    let list = run(TestCommand::new(&["auth", "profile", "list"]).home(home.path())).await;
    assert!(list.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_status_token_logout() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let home = tempfile::tempdir().unwrap();
    let login =
        run(password_env(TestCommand::new(&["auth", "login"]), &info).home(home.path())).await;
    login.assert_ok();
    assert!(
        login
            .stderr
            .contains(&format!("Signed in as {}", info.username)),
        "{}",
        login.stderr
    );
    let requests = emulator.token_requests();
    // A second process: the cached token, no token request.
    let token = run(password_env(TestCommand::new(&["token"]), &info).home(home.path())).await;
    token.assert_ok();
    assert_eq!(
        emulator.token_requests(),
        requests,
        "a second CLI run makes no token request"
    );
    let decoded = run(
        password_env(TestCommand::new(&["auth", "token", "--decode"]), &info).home(home.path()),
    )
    .await;
    decoded.assert_ok();
    for needle in [
        "audience",
        &info.environment_url,
        "scopes     user_impersonation",
        "expires",
        &info.username,
    ] {
        assert!(
            decoded.stdout.contains(needle),
            "{needle}: {}",
            decoded.stdout
        );
    }
    assert!(!decoded.stdout.contains("eyJ"));
    let status =
        run(password_env(TestCommand::new(&["auth", "status"]), &info).home(home.path())).await;
    status.assert_ok();
    assert!(
        status.stdout.contains(&info.username)
            && status.stdout.contains("grant      password")
            && status.stdout.contains("refresh token cached"),
        "{}",
        status.stdout
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.path().join("cache/token-cache.json"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    run(password_env(TestCommand::new(&["auth", "logout"]), &info).home(home.path()))
        .await
        .assert_ok();
    let status =
        run(password_env(TestCommand::new(&["auth", "status"]), &info).home(home.path())).await;
    assert_eq!(status.code, Some(1));
    assert!(status.stdout.contains("not signed in"));
}

/// Reads a child's stderr until a line matches, returning it.
fn wait_for_line(
    child: &mut std::process::Child,
    matches: impl Fn(&str) -> bool,
) -> (String, BufReader<std::process::ChildStderr>) {
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let started = Instant::now();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("stderr closed before the expected line");
        }
        if matches(&line) {
            return (line, reader);
        }
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_login_then_cached_session() {
    let emulator = start(EmulatorConfig {
        device_code_interval_secs: 1,
        ..test_config(2)
    })
    .await;
    let info = emulator.info();
    let home = tempfile::tempdir().unwrap();
    let mut child = user_env(TestCommand::new(&["auth", "login", "--device-code"]), &info)
        .home(home.path())
        .spawn();
    let (line, _rest) =
        tokio::task::block_in_place(|| wait_for_line(&mut child, |l| l.contains("enter the code")));
    let code = line
        .split("enter the code ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let approve = reqwest::Client::new()
        .post(format!(
            "{}/_emulator/devicecode/{code}/approve?upn={}",
            info.authority_host, info.username
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(approve.status(), 200);
    let status = tokio::task::block_in_place(|| wait_exit(&mut child));
    assert!(status.success());
    // Later commands use the cached session, found by client and environment.
    let get = run(user_env(
        TestCommand::new(&[
            "get", "accounts", "--select", "name", "--top", "1", "-o", "ndjson",
        ]),
        &info,
    )
    .home(home.path()))
    .await;
    get.assert_ok();
    let before = emulator.token_requests();
    let me =
        run(user_env(TestCommand::new(&["auth", "token", "--decode"]), &info).home(home.path()))
            .await;
    me.assert_ok();
    assert!(me.stdout.contains(&info.username));
    assert_eq!(emulator.token_requests(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_login_with_pkce() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let home = tempfile::tempdir().unwrap();
    let mut child = user_env(TestCommand::new(&["auth", "login", "--browser"]), &info)
        .home(home.path())
        .env("BROWSER", "true")
        .spawn();
    let (line, _rest) =
        tokio::task::block_in_place(|| wait_for_line(&mut child, |l| l.starts_with("http")));
    let url = url::Url::parse(line.trim()).unwrap();
    // Strays at the redirect listener cannot end or stall the sign-in: a silent connection, and
    // a forged error with the wrong state.
    let redirect: url::Url = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    let port = redirect.port().unwrap();
    // Issue 13 item 11: the redirect names the address the listener is bound to.
    assert_eq!(redirect.as_str(), format!("http://127.0.0.1:{port}/"));
    let _silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let forged = reqwest::get(format!(
        "http://127.0.0.1:{port}/?error=access_denied&error_description=%1b%5b31mevil&state=nope"
    ))
    .await
    .unwrap();
    assert_eq!(forged.status(), 400);
    // Be the browser: the sign-in page, the form post, then the redirect to the CLI.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http
        .get(url.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in") && page.contains("name=\"password\""));
    let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    form.push(("username".into(), info.username.clone()));
    form.push(("password".into(), info.password.clone()));
    let mut action = url.clone();
    action.set_query(None);
    let r = http.post(action).form(&form).send().await.unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("http://127.0.0.1:{port}/?")),
        "{location}"
    );
    let done = http
        .get(&location)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(done.contains("Sign-in complete"));
    let status = tokio::task::block_in_place(|| wait_exit(&mut child));
    assert!(status.success());
    let status =
        run(user_env(TestCommand::new(&["auth", "status"]), &info).home(home.path())).await;
    status.assert_ok();
    assert!(
        status.stdout.contains("grant      authorization_code"),
        "{}",
        status.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mfa_users_are_told_to_sign_in_interactively() {
    let mut config = test_config(0);
    config.users[0].mfa_required = true;
    let emulator = start(config).await;
    let info = emulator.info();
    let login = run(password_env(TestCommand::new(&["auth", "login"]), &info)).await;
    assert_eq!(login.code, Some(3), "{}", login.stderr);
    assert!(login.stderr.contains("AADSTS50076"), "{}", login.stderr);
    assert!(
        login.stderr.contains("hint:") && login.stderr.contains("--device-code or --browser"),
        "{}",
        login.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refreshing_at_once_make_one_token_request() {
    let emulator = start(EmulatorConfig {
        token_lifetime_secs: 4,
        ..test_config(0)
    })
    .await;
    let info = emulator.info();
    let home = tempfile::tempdir().unwrap();
    run(password_env(TestCommand::new(&["auth", "login"]), &info).home(home.path()))
        .await
        .assert_ok();
    assert_eq!(emulator.token_requests(), 1);
    tokio::time::sleep(Duration::from_millis(2300)).await; // past the refresh point (half of 4 s)
    let (a, b) = (
        password_env(TestCommand::new(&["token"]), &info).home(home.path()),
        password_env(TestCommand::new(&["token"]), &info).home(home.path()),
    );
    let (ra, rb) = tokio::join!(run(a), run(b));
    ra.assert_ok();
    rb.assert_ok();
    assert_eq!(
        ra.stdout, rb.stdout,
        "both processes got the same refreshed token"
    );
    assert_eq!(
        emulator.token_requests(),
        2,
        "one refresh for two processes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_never_show_tokens_or_secrets() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let home = tempfile::tempdir().unwrap();
    let traced = |args: &[&str]| {
        password_env(TestCommand::new(args), &info)
            .home(home.path())
            .env("D365_LOG", "trace")
            .env("AZURE_CLIENT_ID", &info.client_id)
            .env("AZURE_CLIENT_SECRET", &info.client_secret)
    };
    let login = run(traced(&["-vv", "auth", "login"])).await;
    login.assert_ok();
    let get = run(traced(&[
        "-vv", "get", "accounts", "--select", "name", "--top", "1", "-o", "ndjson",
    ]))
    .await;
    get.assert_ok();
    let token = run(traced(&["token"])).await.stdout.trim().to_owned();
    assert!(token.starts_with("eyJ"));
    let cache = std::fs::read_to_string(home.path().join("cache/token-cache.json")).unwrap();
    let refresh_token = cache
        .split("\"refresh_token\": \"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    for logs in [&login.stderr, &get.stderr] {
        assert!(
            logs.len() > 1000,
            "trace logging is on: {} bytes",
            logs.len()
        );
        for secret in [
            token.as_str(),
            &token[token.len() - 40..],
            &refresh_token,
            &info.password,
            &info.client_secret,
        ] {
            assert!(!logs.contains(secret), "a secret reached the logs");
        }
        assert!(!logs.contains("eyJ"), "a JWT reached the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_ignores_stray_azure_variables_and_app_logout_spares_users() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let home = tempfile::tempdir().unwrap();
    let add = TestCommand::new(&[
        "auth",
        "profile",
        "add",
        "me",
        "--url",
        &info.environment_url,
        "--tenant",
        &info.tenant_id,
        "--client-id",
        &info.public_client_id,
        "--grant",
        "device-code",
        "--authority-host",
        &info.authority_host,
    ])
    .home(home.path());
    run(add).await.assert_ok();
    // An exported secret must not turn the device-code profile into an app sign-in.
    let get = run(TestCommand::new(&["get", "accounts", "--top", "1"])
        .home(home.path())
        .env("AZURE_CLIENT_ID", &info.client_id)
        .env("AZURE_CLIENT_SECRET", &info.client_secret))
    .await;
    assert_eq!(get.code, Some(2), "{}", get.stderr);
    assert!(get.stderr.contains("not signed in"), "{}", get.stderr);
    // `--profile none` uses the variables.
    let app = run(TestCommand::new(&[
        "--profile",
        "none",
        "get",
        "accounts",
        "--top",
        "1",
        "-o",
        "ndjson",
    ])
    .home(home.path())
    .env("AZURE_AUTHORITY_HOST", &info.authority_host)
    .env("AZURE_TENANT_ID", &info.tenant_id)
    .env("D365_URL", &info.environment_url)
    .env("AZURE_CLIENT_ID", &info.client_id)
    .env("AZURE_CLIENT_SECRET", &info.client_secret))
    .await;
    app.assert_ok();

    // A user session and an app session of the same client: app logout removes only the app's.
    let user = |cmd: TestCommand| {
        password_env(cmd, &info)
            .env("AZURE_CLIENT_ID", &info.client_id)
            .env("AZURE_CLIENT_SECRET", &info.client_secret)
            .env("D365_PROFILE", "none")
    };
    run(user(TestCommand::new(&["auth", "login"])).home(home.path()))
        .await
        .assert_ok();
    let app_env = |cmd: TestCommand| {
        cmd.env("D365_PROFILE", "none")
            .env("AZURE_AUTHORITY_HOST", &info.authority_host)
            .env("AZURE_TENANT_ID", &info.tenant_id)
            .env("D365_URL", &info.environment_url)
            .env("AZURE_CLIENT_ID", &info.client_id)
            .env("AZURE_CLIENT_SECRET", &info.client_secret)
    };
    run(app_env(TestCommand::new(&["auth", "logout"])).home(home.path()))
        .await
        .assert_ok();
    let status = run(user(TestCommand::new(&["auth", "status"])).home(home.path())).await;
    status.assert_ok();
    assert!(status.stdout.contains(&info.username), "{}", status.stdout);
    assert!(
        !status.stdout.contains(&format!("app {}", info.client_id)),
        "{}",
        status.stdout
    );
}
