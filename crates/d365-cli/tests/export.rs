//! `d365 export` as a process against an emulator: the same ordered file for any parallelism,
//! CSV with the metadata's columns, resume after a kill equal to an uninterrupted export, and
//! one-line refusals.

mod util;

use std::time::{Duration, Instant};

use d365_emulator::faults::{FaultKind, FaultRule};
use d365_testkit::{start, test_config};
use serde_json::Value;
use util::{TestCommand, run_against};

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_ordered_file_for_any_parallelism() {
    let emulator = start(test_config(120)).await;
    let info = emulator.info();
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.ndjson");
    let four = dir.path().join("four.ndjson");
    let o = one.display().to_string();
    let f = four.display().to_string();
    run_against(
        &info,
        &["export", "accounts", "--out", &o, "--page-size", "7"],
    )
    .await
    .assert_ok();
    let r = run_against(
        &info,
        &[
            "export",
            "accounts",
            "--out",
            &f,
            "--parallel",
            "4",
            "--page-size",
            "7",
        ],
    )
    .await;
    r.assert_ok();
    assert!(r.stderr.contains("exported 120 rows"), "{}", r.stderr);
    assert!(r.stderr.contains("4 ranges"), "{}", r.stderr);
    assert_eq!(std::fs::read(&one).unwrap(), std::fs::read(&four).unwrap());
    let rows = lines(&one);
    assert_eq!(rows.len(), 120);
    let ids: std::collections::HashSet<_> = rows.iter().map(|r| r["accountid"].clone()).collect();
    assert_eq!(ids.len(), 120, "every row once");
    assert!(rows[0].get("name").is_some() && rows[0].get("_primarycontactid_value").is_some());
    assert!(
        rows[0]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with('@'))
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".part-") || n.contains("checkpoint"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // CSV: the header is the column list, the rows follow it.
    let csv = dir.path().join("a.csv");
    let c = csv.display().to_string();
    run_against(
        &info,
        &[
            "export",
            "accounts",
            "--out",
            &c,
            "--select",
            "accountid,name",
            "--filter",
            "statecode eq 0",
        ],
    )
    .await
    .assert_ok();
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut csv_lines = text.lines();
    assert_eq!(csv_lines.next(), Some("accountid,name"));
    let active = run_against(
        &info,
        &[
            "get",
            "accounts",
            "--filter",
            "statecode eq 0",
            "--all",
            "-o",
            "ndjson",
        ],
    )
    .await;
    assert_eq!(csv_lines.count(), active.stdout.lines().count());
}

/// Every Web API GET answered `ms` late, so a kill lands mid-way.
fn slow_pages(emulator: &d365_testkit::Emulator, ms: u64) {
    emulator
        .state()
        .faults
        .add(FaultRule {
            kind: FaultKind::Delay,
            method: Some("GET".into()),
            path: "/api/data/*".into(),
            count: None,
            share: None,
            status: None,
            delay_ms: Some(ms),
            retry_after: None,
        })
        .unwrap();
}

/// Faults cleared, `args` run again with `--resume`: its output equals `whole`'s.
async fn resume_equals(
    emulator: &d365_testkit::Emulator,
    args: &[&str],
    whole: &std::path::Path,
    resumed: &std::path::Path,
) {
    emulator.state().faults.clear();
    let mut with_resume = args.to_vec();
    with_resume.push("--resume");
    run_against(&emulator.info(), &with_resume)
        .await
        .assert_ok();
    assert_eq!(
        std::fs::read(whole).unwrap(),
        std::fs::read(resumed).unwrap(),
        "resumed equals uninterrupted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_export_resumes_without_duplicates_or_gaps() {
    let emulator = start(test_config(150)).await;
    // NDJSON parts, and CSV parts (rows, the first part starting with the header).
    for ext in ["ndjson", "csv"] {
        killed_and_resumed(&emulator, ext).await;
    }
}

async fn killed_and_resumed(emulator: &d365_testkit::Emulator, ext: &str) {
    let info = emulator.info();
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join(format!("whole.{ext}"));
    let w = whole.display().to_string();
    run_against(
        &info,
        &[
            "export",
            "accounts",
            "--out",
            &w,
            "--page-size",
            "10",
            "--parallel",
            "3",
        ],
    )
    .await
    .assert_ok();

    // Slow pages, so the kill lands mid-way.
    slow_pages(emulator, 150);
    let resumed = dir.path().join(format!("resumed.{ext}"));
    let r = resumed.display().to_string();
    let args = [
        "export",
        "accounts",
        "--out",
        &r,
        "--page-size",
        "10",
        "--parallel",
        "3",
    ];
    let mut child = TestCommand::new(&args).emulator_env(&info).spawn();
    let checkpoint = dir.path().join(format!("resumed.{ext}.checkpoint.json"));
    let started = Instant::now();
    loop {
        let rows = std::fs::read_to_string(&checkpoint)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .map(|cp| {
                cp["ranges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["rows"].as_u64().unwrap())
                    .sum::<u64>()
            })
            .unwrap_or(0);
        if rows >= 40 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!resumed.exists(), "no output before the export finishes");
    // Garbage past the checkpoint (a half-written page) is cut off on resume.
    let part = dir.path().join(format!("resumed.{ext}.part-000"));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&part)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"half\": ").unwrap();
    drop(f);

    let again = run_against(&info, &args).await;
    assert_eq!(again.code, Some(2), "no silent restart: {}", again.stderr);
    assert!(again.stderr.contains("--resume"), "{}", again.stderr);
    resume_equals(emulator, &args, &whole, &resumed).await;
    assert!(!checkpoint.exists());
}

/// Durability points come every quarter second, not every page: a crash leaves pages in the
/// part file past the last checkpoint. Here the checkpoint is put back to an early one while the
/// part holds several pages more (and is the output of a one-range NDJSON export, linked into
/// place); the resume cuts them off, reads them again, and the file is the uninterrupted one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_from_a_checkpoint_pages_behind_the_part_is_whole() {
    let emulator = start(test_config(200)).await;
    let info = emulator.info();
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.ndjson");
    let w = whole.display().to_string();
    let args = |out: &str| -> Vec<String> {
        ["export", "accounts", "--out", out, "--page-size", "10"]
            .map(str::to_owned)
            .to_vec()
    };
    let whole_args = args(&w);
    let whole_args: Vec<&str> = whole_args.iter().map(String::as_str).collect();
    run_against(&info, &whole_args).await.assert_ok();

    slow_pages(&emulator, 60);
    let resumed = dir.path().join("resumed.ndjson");
    let r = resumed.display().to_string();
    let args = args(&r);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = TestCommand::new(&args).emulator_env(&info).spawn();
    let checkpoint = dir.path().join("resumed.ndjson.checkpoint.json");
    let part = dir.path().join("resumed.ndjson.part-000");
    let started = Instant::now();
    // The first checkpoint with rows in it, then the part pages past it.
    let (early, bytes) = loop {
        let text = std::fs::read_to_string(&checkpoint).unwrap_or_default();
        if let Ok(cp) = serde_json::from_str::<Value>(&text)
            && cp["ranges"][0]["rows"].as_u64().unwrap_or(0) > 0
        {
            assert_eq!(cp["ranges"][0]["done"], false, "caught before the end");
            break (text, cp["ranges"][0]["bytes"].as_u64().unwrap());
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    };
    let line = std::fs::read_to_string(&whole)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .len() as u64;
    while std::fs::metadata(&part).map_or(0, |m| m.len()) < bytes + 25 * line {
        assert!(started.elapsed() < Duration::from_secs(30), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!resumed.exists(), "no output before the export finishes");
    std::fs::write(&checkpoint, early).unwrap();

    resume_equals(&emulator, &args, &whole, &resumed).await;
    assert!(!checkpoint.exists() && !part.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&resumed).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the output is owner-only");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_one_line() {
    let emulator = start(test_config(1)).await;
    let info = emulator.info();
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    let (txt, nd, pq) = (p("out.txt"), p("out.ndjson"), p("out.parquet"));
    let mut cases = vec![
        (
            vec!["export", "accounts", "--out", txt.as_str()],
            "from its extension",
        ),
        (
            vec!["export", "accounts", "--out", nd.as_str(), "--resume"],
            "nothing to resume",
        ),
        (
            vec!["export", "nope", "--out", nd.as_str()],
            "no table has the entity set 'nope'",
        ),
        (
            vec![
                "export",
                "accounts",
                "--out",
                nd.as_str(),
                "--parallel",
                "0",
            ],
            "--parallel takes",
        ),
        (
            vec![
                "export",
                "accounts",
                "--out",
                nd.as_str(),
                "--filter",
                "name eq",
            ],
            "--filter",
        ),
    ];
    if !cfg!(feature = "parquet") {
        cases.push((
            vec!["export", "accounts", "--out", pq.as_str()],
            "--features parquet",
        ));
    }
    for (args, words) in cases {
        let r = run_against(&info, &args).await;
        r.assert_clean_stderr();
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(words), "{args:?}: {}", r.stderr);
        // A filter's error carries the text and a caret under the fault.
        let most = if words == "--filter" { 3 } else { 1 };
        assert!(
            r.stderr.trim().lines().count() <= most,
            "{args:?}: {}",
            r.stderr
        );
    }
}

/// Parquet (the `parquet` feature; `cargo test --workspace --all-features` turns it on): typed
/// columns whose values equal the NDJSON export's, in the same order.
#[cfg(feature = "parquet")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_has_typed_columns_equal_to_ndjson() {
    use arrow_array::{Array, Decimal128Array, FixedSizeBinaryArray, Int32Array, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let emulator = start(test_config(40)).await;
    let info = emulator.info();
    let dir = tempfile::tempdir().unwrap();
    let (nd, pq) = (dir.path().join("a.ndjson"), dir.path().join("a.parquet"));
    let select = "accountid,name,revenue,statecode,createdon,_primarycontactid_value";
    for out in [&nd, &pq] {
        let o = out.display().to_string();
        run_against(
            &info,
            &[
                "export",
                "accounts",
                "--out",
                &o,
                "--select",
                select,
                "--parallel",
                "2",
            ],
        )
        .await
        .assert_ok();
    }
    let rows = lines(&nd);
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&pq).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut i = 0;
    for batch in reader {
        let batch = batch.unwrap();
        let ids = batch.column_by_name("accountid").unwrap();
        let ids = ids.as_any().downcast_ref::<FixedSizeBinaryArray>().unwrap();
        let names = batch.column_by_name("name").unwrap();
        let names = names.as_any().downcast_ref::<StringArray>().unwrap();
        let revenue = batch.column_by_name("revenue").unwrap();
        let revenue = revenue.as_any().downcast_ref::<Decimal128Array>().unwrap();
        let state = batch.column_by_name("statecode").unwrap();
        let state = state.as_any().downcast_ref::<Int32Array>().unwrap();
        for r in 0..batch.num_rows() {
            let row = &rows[i];
            let id: uuid::Uuid = row["accountid"].as_str().unwrap().parse().unwrap();
            assert_eq!(ids.value(r), id.as_bytes());
            assert_eq!(names.value(r), row["name"].as_str().unwrap());
            assert_eq!(state.value(r) as i64, row["statecode"].as_i64().unwrap());
            match row["revenue"].as_f64() {
                Some(v) => assert_eq!(revenue.value_as_string(r).parse::<f64>().unwrap(), v),
                None => assert!(revenue.is_null(r)),
            }
            i += 1;
        }
    }
    assert_eq!(i, rows.len());
    assert_eq!(i, 40);
}

/// Records with text that needs escapes, unicode, nulls, decimals with trailing zeros and big
/// integers come out of `d365 export` (which copies each record's bytes from the page) byte
/// for byte as when every record went through a `serde_json::Value`: NDJSON and CSV.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_and_csv_are_what_values_would_write() {
    use futures_util::TryStreamExt;
    let emulator = start(test_config(5)).await;
    let info = emulator.info();
    let client = util::app_client(&info);
    let tricky = [
        r#"{"name":"quote \" back \\ slash / solidus","description":"line\nbreak\ttab\r\u0001\u001f","revenue":12345.6789,"numberofemployees":2147483647}"#,
        r#"{"name":"Zoë, Ünïcode 東京 😀 \u2028","description":null,"revenue":1000.50}"#,
        r#"{"name":"comma, \"quoted\"","revenue":99999999999.99,"numberofemployees":-1}"#,
        r#"{"name":"","description":"","revenue":0}"#,
    ];
    for body in tricky {
        client
            .create("accounts", serde_json::from_str(body).unwrap())
            .send()
            .await
            .unwrap();
    }
    let columns = [
        "accountid",
        "name",
        "description",
        "revenue",
        "numberofemployees",
        "versionnumber",
        "statecode",
        "createdon",
        "_primarycontactid_value",
    ];
    // The former export: each record as a Value, its annotations removed, written again.
    let values: Vec<Value> = client
        .query("accounts")
        .select(columns)
        .order_by_text("createdon asc,accountid asc")
        .unwrap()
        .max_page_size(3)
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(values.len(), 9);
    let mut ndjson = String::new();
    let mut csv = Vec::new();
    let select: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
    let mut writer = d365_transfer::csv::CsvWriter::new(&select);
    for mut v in values {
        v.as_object_mut()
            .unwrap()
            .retain(|k, _| !k.starts_with('@'));
        ndjson.push_str(&format!("{v}\n"));
        writer.write(&mut csv, &v).unwrap();
    }
    writer.finish(&mut csv).unwrap();
    assert!(ndjson.contains(r#"12345.6789"#) && ndjson.contains(r#""versionnumber":"#));

    let dir = tempfile::tempdir().unwrap();
    for (file, expected, parallel) in [
        ("a.ndjson", ndjson.as_bytes(), "1"),
        ("b.ndjson", ndjson.as_bytes(), "2"),
        ("a.csv", &csv[..], "1"),
        ("b.csv", &csv[..], "2"),
    ] {
        let out = dir.path().join(file).display().to_string();
        let select = columns.join(",");
        let args = [
            "export",
            "accounts",
            "--out",
            &out,
            "--select",
            &select,
            "--page-size",
            "3",
            "--parallel",
            parallel,
        ];
        run_against(&info, &args).await.assert_ok();
        let got = std::fs::read(&out).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "{file}"
        );
    }
}

/// A crash after the output was linked into place leaves the part as a second name of the
/// output; a fresh export that then fails must not have emptied it.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_export_leaves_a_finished_output_linked_to_a_part_whole() {
    let emulator = start(test_config(30)).await;
    let info = emulator.info();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let o = out.display().to_string();
    let args = ["export", "accounts", "--out", &o, "--page-size", "10"];
    run_against(&info, &args).await.assert_ok();
    let finished = std::fs::read(&out).unwrap();
    assert!(!finished.is_empty());
    // What a crash between the link and the parts' removal leaves behind.
    std::fs::hard_link(&out, dir.path().join("out.ndjson.part-000")).unwrap();

    // Every page of the next export refused: it fails after its range has started.
    emulator
        .state()
        .faults
        .add(FaultRule {
            kind: FaultKind::Error,
            method: Some("GET".into()),
            path: "/api/data/v9.2/accounts*".into(),
            count: None,
            share: None,
            status: Some(400),
            delay_ms: None,
            retry_after: None,
        })
        .unwrap();
    let failed = run_against(&info, &args).await;
    assert_ne!(
        failed.code,
        Some(0),
        "the pages were refused: {}",
        failed.stderr
    );
    let now = std::fs::read(&out).unwrap();
    assert!(
        now == finished,
        "the output is whole: {} bytes of {}",
        now.len(),
        finished.len()
    );
}
