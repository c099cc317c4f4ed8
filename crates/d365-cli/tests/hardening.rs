//! Issue 13 ("Hardening"), items 10 to 12, as processes: the files `d365 import` and
//! `d365 export` write, server text on the terminal, and imports refused before anything is
//! sent. (Item 9, PostgreSQL over TLS, is in `sync.rs` beside the other PostgreSQL tests.)

mod util;

use std::io::{Read, Write};

use d365_testkit::{start, test_config};
use serde_json::{Value, json};
use util::{TestCommand, run_against};

const TOKEN: (u16, &str) = (
    200,
    r#"{"token_type":"Bearer","access_token":"not-a-jwt","expires_in":3600}"#,
);

/// A loopback server that answers token requests with `token` and every other request with
/// `api` (status, JSON body): the far side of a test that needs an answer the emulator would
/// never give.
fn answering_server(token: (u16, &'static str), api: (u16, &'static str)) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            let mut rest = vec![0u8; length];
            let _ = stream.read_exact(&mut rest);
            let (status, body) = if head.contains("/oauth2/") {
                token
            } else {
                api
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn against(port: u16, args: &[&str]) -> TestCommand {
    let base = format!("http://127.0.0.1:{port}");
    TestCommand::new(args)
        .env("AZURE_AUTHORITY_HOST", &base)
        .env("AZURE_TENANT_ID", "contoso")
        .env("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
        .env("AZURE_CLIENT_SECRET", "s")
        .env("D365_URL", &base)
}

/// Item 11: an error message with an escape sequence (clear screen, set title) reaches the
/// terminal escaped, from the Web API and from the token endpoint alike.
#[test]
fn i13_11_server_text_reaches_the_terminal_escaped() {
    let api = answering_server(
        TOKEN,
        (
            400,
            r#"{"error":{"code":"0x80040203","message":"bad \u001b[2J\u001b]0;owned\u0007 value\nhint: run rm -rf"}}"#,
        ),
    );
    let run = against(api, &["get", "accounts", "--top", "1"]).run();
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert!(!run.stderr.contains('\u{7}'), "{:?}", run.stderr);
    assert!(run.stderr.contains(r"bad \u{1b}[2J"), "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);

    let entra = answering_server(
        (
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: \u001b[31mInvalid client secret\u001b[0m\r\nforged line","error_codes":[7000215]}"#,
        ),
        (500, "{}"),
    );
    let run = against(entra, &["get", "accounts", "--top", "1"]).run();
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert!(!run.stderr.contains('\r'), "{:?}", run.stderr);
    assert!(
        run.stderr
            .contains(r"AADSTS7000215: \u{1b}[31mInvalid client secret"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.lines().any(|l| l.starts_with("forged")),
        "{}",
        run.stderr
    );
}

/// Requests that could have written: anything but GET under the Web API.
fn writes(emulator: &d365_testkit::Emulator) -> Vec<String> {
    emulator
        .state()
        .faults
        .log(usize::MAX)
        .into_iter()
        .filter(|r| r.method != "GET" && r.path.starts_with("/api/data"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn ndjson(path: &std::path::Path, rows: &[Value]) -> String {
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text).unwrap();
    path.display().to_string()
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Item 10: the reject file is never the input, never written through a symbolic link,
/// created owner-only, and one left by an earlier run is kept unless replaced on purpose.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i13_10_the_reject_file_is_private_and_never_destroys_anything() {
    let emulator = start(test_config(0)).await;
    let info = emulator.info();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.ndjson");
    // The second line is not an object: rejected without a request.
    let text = "{\"name\":\"one\"}\n[1,2]\n{\"name\":\"three\"}\n";
    std::fs::write(&input, text).unwrap();
    let i = input.display().to_string();

    // --rejects naming the input is refused, the input untouched.
    let same = run_against(&info, &["import", "accounts", "--in", &i, "--rejects", &i]).await;
    assert_eq!(same.code, Some(2), "{}", same.stderr);
    assert!(same.stderr.contains("is the input file"), "{}", same.stderr);
    // Also through another spelling of the same file (a hard link).
    let alias = dir.path().join("alias.ndjson");
    std::fs::hard_link(&input, &alias).unwrap();
    let other = run_against(
        &info,
        &[
            "import",
            "accounts",
            "--in",
            &i,
            "--rejects",
            alias.to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        other.stderr.contains("is the input file"),
        "{}",
        other.stderr
    );
    assert_eq!(std::fs::read_to_string(&input).unwrap(), text);

    // A symbolic link at the reject path is not followed.
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let link = dir.path().join("rows.ndjson.rejects.ndjson");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let linked = run_against(&info, &["import", "accounts", "--in", &i]).await;
    assert_eq!(linked.code, Some(2), "{}", linked.stderr);
    assert!(linked.stderr.contains("symbolic link"), "{}", linked.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(writes(&emulator).is_empty(), "{:?}", writes(&emulator));
    std::fs::remove_file(&link).unwrap();

    // A run with a rejected row: the reject file is owner-only.
    let first = run_against(&info, &["import", "accounts", "--in", &i]).await;
    assert_eq!(first.code, Some(2), "{}", first.stderr);
    assert!(
        first.stderr.contains("created 2, rejected 1"),
        "{}",
        first.stderr
    );
    assert_eq!(mode(&link), 0o600);
    let rejects = std::fs::read_to_string(&link).unwrap();
    assert_eq!(rejects.lines().count(), 1, "{rejects}");

    // The next run does not empty it silently...
    let before = writes(&emulator).len();
    let again = run_against(&info, &["import", "accounts", "--in", &i]).await;
    assert_eq!(again.code, Some(2), "{}", again.stderr);
    assert!(
        again
            .stderr
            .contains("holds rejected rows of an earlier run")
            && again.stderr.contains("--overwrite-rejects"),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read_to_string(&link).unwrap(), rejects);
    assert_eq!(writes(&emulator).len(), before, "nothing sent");
    // ...but replaces it when told to.
    let replaced = run_against(
        &info,
        &["import", "accounts", "--in", &i, "--overwrite-rejects"],
    )
    .await;
    assert!(
        replaced.stderr.contains("created 2, rejected 1"),
        "{}",
        replaced.stderr
    );
    assert_eq!(std::fs::read_to_string(&link).unwrap().lines().count(), 1);
    assert_eq!(mode(&link), 0o600);
}

/// Item 10: the export's part files are never written through a symbolic link; the output
/// is owner-only.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i13_10_export_files_are_private_and_never_through_a_link() {
    let emulator = start(test_config(12)).await;
    let info = emulator.info();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("accounts.ndjson");
    let o = out.display().to_string();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let part = dir.path().join("accounts.ndjson.part-000");
    std::os::unix::fs::symlink(&victim, &part).unwrap();
    let r = run_against(
        &info,
        &["export", "accounts", "--out", &o, "--parallel", "1"],
    )
    .await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    // The plan was saved before the refusal: its checkpoint is owner-only too.
    assert_eq!(
        mode(&dir.path().join("accounts.ndjson.checkpoint.json")),
        0o600
    );
    std::fs::remove_file(&part).unwrap();
    let r = run_against(
        &info,
        &[
            "export",
            "accounts",
            "--out",
            &o,
            "--parallel",
            "1",
            "--resume",
        ],
    )
    .await;
    r.assert_ok();
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 12);
    assert_eq!(mode(&out), 0o600);
}

/// Item 12: `import contacts --in accounts.ndjson` is refused in one line naming the columns
/// contact lacks, before any write; --map and --drop are the ways through; unknown --key
/// columns and columns no value converts are refused too; a single bad value rejects its
/// row without a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i13_12_an_import_that_cannot_work_is_refused_before_anything_is_sent() {
    let emulator = start(test_config(5)).await;
    let info = emulator.info();
    let dir = tempfile::tempdir().unwrap();
    let accounts = dir.path().join("accounts.ndjson");
    let a = accounts.display().to_string();
    run_against(
        &info,
        &[
            "export",
            "accounts",
            "--out",
            &a,
            "--select",
            "accountid,name,accountnumber,revenue,numberofemployees,telephone1",
        ],
    )
    .await
    .assert_ok();
    emulator.state().faults.clear_log();

    let r = run_against(&info, &["import", "contacts", "--in", &a]).await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    for needle in [
        // (revenue is money: the export carries its currency lookup too)
        "contact has no column _transactioncurrencyid_value, accountid, accountnumber, name, numberofemployees, revenue (from ",
        "--map SOURCE=COLUMN",
        "--drop COLUMN",
    ] {
        assert!(r.stderr.contains(needle), "{needle}: {}", r.stderr);
    }
    assert!(writes(&emulator).is_empty(), "{:?}", writes(&emulator));
    assert!(!dir.path().join("accounts.ndjson.import-journal").exists());
    assert!(!dir.path().join("accounts.ndjson.rejects.ndjson").exists());

    // On purpose: rename one, drop the rest (both spellings of dropping).
    let ok = run_against(
        &info,
        &[
            "import",
            "contacts",
            "--in",
            &a,
            "--map",
            "name=lastname",
            "--map",
            "accountid=",
            "--drop",
            "accountnumber,revenue,_transactioncurrencyid_value",
            "--drop",
            "numberofemployees",
        ],
    )
    .await;
    ok.assert_ok();
    assert!(ok.stderr.contains("created 5"), "{}", ok.stderr);

    // An unknown --key column.
    emulator.state().faults.clear_log();
    let key = run_against(
        &info,
        &[
            "import",
            "accounts",
            "--in",
            &a,
            "--mode",
            "upsert",
            "--key",
            "acountnumber",
        ],
    )
    .await;
    assert_eq!(key.code, Some(2), "{}", key.stderr);
    assert!(
        key.stderr
            .contains("--key acountnumber: account has no such column"),
        "{}",
        key.stderr
    );

    // A column none of whose values converts.
    let hopeless = ndjson(
        &dir.path().join("hopeless.ndjson"),
        &[
            json!({"name": "a", "numberofemployees": "many"}),
            json!({"name": "b", "numberofemployees": "lots"}),
        ],
    );
    let r = run_against(&info, &["import", "accounts", "--in", &hopeless]).await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("numberofemployees (Integer): none of its 2 values converts (line 1: numberofemployees: 'many' is not a whole number)"),
        "{}",
        r.stderr
    );
    // The same from CSV (cells are text until typed by the column), and a --map to a
    // column that does not exist either.
    let csv = dir.path().join("hopeless.csv");
    std::fs::write(&csv, "name,employees,size\na,many,1\nb,lots,2\n").unwrap();
    let c = csv.display().to_string();
    let r = run_against(
        &info,
        &[
            "import",
            "accounts",
            "--in",
            &c,
            "--map",
            "employees=numberofemployees",
            "--map",
            "size=sizeclass",
        ],
    )
    .await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("account has no column size (mapped to sizeclass)"),
        "{}",
        r.stderr
    );
    let r = run_against(
        &info,
        &[
            "import",
            "accounts",
            "--in",
            &c,
            "--map",
            "employees=numberofemployees",
            "--drop",
            "size",
        ],
    )
    .await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("numberofemployees (Integer): none of its 2 values converts (line 2:"),
        "{}",
        r.stderr
    );
    assert!(writes(&emulator).is_empty(), "{:?}", writes(&emulator));

    // One bad value among good ones (and text that spells a number): its row is rejected
    // here, with the column named, and no request carried it.
    let mixed = ndjson(
        &dir.path().join("mixed.ndjson"),
        &[
            json!({"name": "m1", "numberofemployees": "12"}),
            json!({"name": "m2", "numberofemployees": "many"}),
            json!({"name": "m3", "numberofemployees": 3}),
        ],
    );
    let r = run_against(
        &info,
        &["import", "accounts", "--in", &mixed, "--via", "single"],
    )
    .await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("created 2, rejected 1"), "{}", r.stderr);
    let rejects: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("mixed.ndjson.rejects.ndjson")).unwrap(),
    )
    .unwrap();
    assert_eq!(rejects["line"], 2);
    assert_eq!(
        rejects["error"]["message"],
        "numberofemployees: 'many' is not a whole number"
    );
    assert!(rejects["error"].get("status").is_none(), "{rejects}");
    let posts = writes(&emulator);
    assert_eq!(posts.len(), 2, "one request per good row: {posts:?}");
}
