//! The import engine against a recording [`Sender`]: exact chunk boundaries, exact sends,
//! exact journal contents, no server.

use std::io::Write;
use std::sync::{Arc, Mutex};

use d365_webapi::{ApiError, Error as WebError};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::*;

/// What the fake was asked, by the rows' `n`.
#[derive(Debug, Clone, PartialEq)]
enum Sent {
    Bulk(Vec<i64>),
    ChangeSet(Vec<i64>),
    Existing(usize),
}

type Answer = dyn Fn(usize, &Sent) -> Result<(), WebError> + Send + Sync;

/// A sender that records every request and answers as the test says (by the request's
/// position and content).
struct Fake {
    sent: Arc<Mutex<Vec<Sent>>>,
    records: Arc<Mutex<Vec<Value>>>,
    answer: Box<Answer>,
}

fn numbers(records: &[Value]) -> Vec<i64> {
    records.iter().map(|r| r["n"].as_i64().unwrap()).collect()
}

impl Fake {
    fn record(&self, sent: Sent) -> Result<(), WebError> {
        let mut log = self.sent.lock().unwrap();
        log.push(sent.clone());
        (self.answer)(log.len() - 1, &sent)
    }
}

impl Sender for Fake {
    fn bulk<'a>(
        &'a self,
        _: Mode,
        _: &'a str,
        _: &'a str,
        records: Vec<Value>,
    ) -> BoxFuture<'a, Result<(), WebError>> {
        self.records.lock().unwrap().extend(records.iter().cloned());
        let answer = self.record(Sent::Bulk(numbers(&records)));
        Box::pin(async move { answer })
    }

    fn change_set<'a>(
        &'a self,
        _: &'a str,
        writes: Vec<RowWrite>,
    ) -> BoxFuture<'a, Result<(), WebError>> {
        let records: Vec<Value> = writes
            .into_iter()
            .map(|w| match w {
                RowWrite::Create(b) | RowWrite::Update(_, b) | RowWrite::Upsert(_, b) => b,
            })
            .collect();
        let answer = self.record(Sent::ChangeSet(numbers(&records)));
        Box::pin(async move { answer })
    }

    fn single<'a>(&'a self, _: &'a str, _: RowWrite) -> BoxFuture<'a, Result<(), WebError>> {
        unreachable!("no test sends single rows")
    }

    fn existing<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        ids: &'a [uuid::Uuid],
    ) -> BoxFuture<'a, Result<Vec<uuid::Uuid>, WebError>> {
        let answer = self.record(Sent::Existing(ids.len()));
        // Every row asked about is there: the lost chunk had landed.
        Box::pin(async move { answer.map(|()| ids.to_vec()) })
    }
}

fn api(status: u16, code: &str, message: &str) -> WebError {
    WebError::Api(ApiError {
        status,
        code: code.into(),
        message: message.into(),
        request_id: None,
        retry_after: None,
        bulk_outcomes: Vec::new(),
    })
}

/// A lost answer: no response to read.
fn lost() -> WebError {
    WebError::Decode {
        url: "https://org.example/api/data/v9.2/accounts".into(),
        message: "connection reset".into(),
    }
}

fn shape(mode: Mode) -> Shape {
    let table = serde_json::from_value(json!({
        "LogicalName": "account", "EntitySetName": "accounts", "PrimaryIdAttribute": "accountid"
    }))
    .unwrap();
    let columns: Vec<d365_webapi::ColumnDefinition> = serde_json::from_value(json!([
        {"LogicalName": "accountid", "AttributeType": "Uniqueidentifier"},
        {"LogicalName": "n", "AttributeType": "Integer"}
    ]))
    .unwrap();
    Shape::new(&table, &columns, &[], mode, Vec::new(), &[], &[]).unwrap()
}

/// Rows with `n` = the line number.
fn rows(lines: impl IntoIterator<Item = u64>) -> Rows {
    let rows: Vec<_> = lines
        .into_iter()
        .map(|line| {
            let fields = json!({"n": line}).as_object().cloned().unwrap();
            Ok(Row {
                line,
                fields: Ok(fields),
            })
        })
        .collect();
    Box::new(rows.into_iter())
}

/// A writer the test can read afterwards.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Outcome {
    result: Result<Stats, crate::Error>,
    sent: Vec<Sent>,
    records: Vec<Value>,
    /// The journal's entries after its first (the run).
    journal: Vec<Value>,
    run: uuid::Uuid,
    rejects: Vec<Value>,
}

async fn import(
    dir: &std::path::Path,
    journal: Journal,
    lines: impl IntoIterator<Item = u64>,
    chunk_size: usize,
    answer: impl Fn(usize, &Sent) -> Result<(), WebError> + Send + Sync + 'static,
) -> Outcome {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let records = Arc::new(Mutex::new(Vec::new()));
    let fake = Fake {
        sent: sent.clone(),
        records: records.clone(),
        answer: Box::new(answer),
    };
    let rejects = Shared::default();
    let run_id = journal.run;
    let options = Options {
        mode: Mode::Create,
        via: Via::Auto,
        chunk_size: Some(chunk_size),
        parallel: 1,
        resend: resend_policy(),
    };
    let result = run(
        fake,
        shape(Mode::Create),
        rows(lines),
        journal,
        Box::new(rejects.clone()),
        options,
        Arc::new(|_| {}),
    )
    .await;
    let text = std::fs::read_to_string(dir.join("in.ndjson.import-journal")).unwrap();
    let journal = text
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rejects = String::from_utf8(rejects.0.lock().unwrap().clone()).unwrap();
    Outcome {
        result,
        sent: sent.lock().unwrap().clone(),
        records: records.lock().unwrap().clone(),
        journal,
        run: run_id,
        rejects: rejects
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    }
}

fn new_journal(dir: &std::path::Path) -> Journal {
    Journal::create(
        &dir.join("in.ndjson.import-journal"),
        "accounts",
        Mode::Create,
    )
    .unwrap()
}

fn committed(from: u64, to: u64) -> Value {
    json!({"committed": {"from": from, "to": to}})
}

#[tokio::test]
async fn chunks_are_cut_at_the_chunk_size_and_journaled_as_they_commit() {
    let dir = tempfile::tempdir().unwrap();
    let out = import(
        dir.path(),
        new_journal(dir.path()),
        1..=10,
        4,
        |_, _| Ok(()),
    )
    .await;
    assert_eq!(
        out.sent,
        [
            Sent::Bulk(vec![1, 2, 3, 4]),
            Sent::Bulk(vec![5, 6, 7, 8]),
            Sent::Bulk(vec![9, 10]),
        ]
    );
    assert_eq!(
        out.journal,
        [committed(1, 4), committed(5, 8), committed(9, 10)]
    );
    let stats = out.result.unwrap();
    assert_eq!((stats.written, stats.splits, stats.rejected), (10, 0, 0));
    // Creates carry ids derived from the run and the line.
    let id = super::ids::record_id(super::IdScheme::Sequential, &out.run, "accounts", 3);
    let id = id.to_string();
    assert_eq!(out.records[2]["accountid"], json!(id));
}

#[tokio::test]
async fn a_refused_row_is_isolated_by_halving_and_the_rest_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = import(
        dir.path(),
        new_journal(dir.path()),
        1..=8,
        8,
        |_, sent| match sent {
            Sent::Bulk(ns) if ns.contains(&6) => Err(api(400, "0x80044331", "bad value")),
            _ => Ok(()),
        },
    )
    .await;
    assert_eq!(
        out.sent,
        [
            Sent::Bulk(vec![1, 2, 3, 4, 5, 6, 7, 8]),
            Sent::Bulk(vec![1, 2, 3, 4]),
            Sent::Bulk(vec![5, 6, 7, 8]),
            Sent::Bulk(vec![5, 6]),
            Sent::Bulk(vec![5]),
            Sent::Bulk(vec![6]),
            Sent::Bulk(vec![7, 8]),
        ]
    );
    assert_eq!(
        out.journal,
        [
            committed(1, 4),
            committed(5, 5),
            json!({"rejected": {"from": 6, "to": 6}}),
            committed(7, 8),
        ]
    );
    assert_eq!(out.rejects.len(), 1);
    assert_eq!(out.rejects[0]["line"], 6);
    assert_eq!(out.rejects[0]["record"]["n"], 6);
    assert_eq!(
        out.rejects[0]["error"],
        json!({"status": 400, "code": "0x80044331", "message": "bad value", "request_id": null})
    );
    let stats = out.result.unwrap();
    assert_eq!((stats.written, stats.rejected, stats.splits), (7, 1, 3));
}

#[tokio::test]
async fn too_large_chunks_halve_the_chunk_size_for_the_chunks_after() {
    let dir = tempfile::tempdir().unwrap();
    let out = import(dir.path(), new_journal(dir.path()), 1..=8, 4, |i, _| {
        if i == 0 {
            Err(api(413, "", "request entity too large"))
        } else {
            Ok(())
        }
    })
    .await;
    assert_eq!(
        out.sent,
        [
            Sent::Bulk(vec![1, 2, 3, 4]),
            Sent::Bulk(vec![1, 2]),
            Sent::Bulk(vec![3, 4]),
            Sent::Bulk(vec![5, 6]),
            Sent::Bulk(vec![7, 8]),
        ]
    );
    assert_eq!(out.result.unwrap().splits, 1);
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_is_sent_again_and_rows_that_landed_count_as_done() {
    let dir = tempfile::tempdir().unwrap();
    let out = import(dir.path(), new_journal(dir.path()), 1..=3, 3, |i, _| {
        match i {
            0 => Err(lost()),
            // The first send had landed: the ids exist.
            1 => Err(api(
                412,
                "0x80040237",
                "A record with matching key values already exists.",
            )),
            _ => Ok(()),
        }
    })
    .await;
    assert_eq!(
        out.sent,
        [
            Sent::Bulk(vec![1, 2, 3]),
            Sent::Bulk(vec![1, 2, 3]),
            Sent::Existing(3),
        ]
    );
    assert_eq!(out.journal, [committed(1, 3)]);
    let stats = out.result.unwrap();
    assert_eq!((stats.written, stats.already, stats.resent), (0, 3, 1));
}

#[tokio::test(start_paused = true)]
async fn a_chunk_never_answered_stops_the_import_after_the_resend_policy() {
    let dir = tempfile::tempdir().unwrap();
    let started = tokio::time::Instant::now();
    let out = import(dir.path(), new_journal(dir.path()), 1..=2, 2, |_, _| {
        Err(lost())
    })
    .await;
    // A blip of 12 s is ridden out before the import gives up (the paused clock advances by
    // exactly the pauses), after at least the policy's resends.
    assert!(
        started.elapsed() >= RESEND_AT_LEAST,
        "{:?}",
        started.elapsed()
    );
    let times = out.sent.len();
    assert!(times > resend_policy().max_retries as usize, "{times}");
    assert!(times <= MAX_RESENDS as usize + 1, "{times}");
    assert_eq!(out.sent, vec![Sent::Bulk(vec![1, 2]); times]);
    assert!(out.journal.is_empty(), "nothing committed");
    match out.result.unwrap_err() {
        crate::Error::Unanswered {
            first,
            last,
            times: sent,
            ..
        } => assert_eq!((first, last, sent as usize), (1, 2, times)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_resumed_run_sends_only_what_its_journal_lacks_with_the_same_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.ndjson.import-journal");
    let mut first = new_journal(dir.path());
    first.committed(&[1, 2, 3]).unwrap();
    first.rejected(&[5]).unwrap();
    let run_id = first.run;
    drop(first);
    let resumed = Journal::open(&path, "accounts", Mode::Create).unwrap();
    let out = import(dir.path(), resumed, 1..=6, 10, |_, _| Ok(())).await;
    assert_eq!(out.sent, [Sent::Bulk(vec![4, 6])]);
    let id = super::ids::record_id(super::IdScheme::Sequential, &run_id, "accounts", 6);
    let id = id.to_string();
    assert_eq!(out.records[1]["accountid"], json!(id));
    assert_eq!(
        out.journal,
        [
            committed(1, 3),
            json!({"rejected": {"from": 5, "to": 5}}),
            committed(4, 4),
            committed(6, 6),
        ]
    );
    let stats = out.result.unwrap();
    assert_eq!((stats.written, stats.already), (2, 4));
}

#[tokio::test]
async fn a_table_without_bulk_messages_goes_on_through_batch() {
    let dir = tempfile::tempdir().unwrap();
    let out = import(
        dir.path(),
        new_journal(dir.path()),
        1..=4,
        2,
        |_, sent| match sent {
            Sent::Bulk(_) => Err(api(
                404,
                "0x80060888",
                "Resource not found for the segment 'Microsoft.Dynamics.CRM.CreateMultiple'.",
            )),
            _ => Ok(()),
        },
    )
    .await;
    assert_eq!(
        out.sent,
        [
            Sent::Bulk(vec![1, 2]),
            Sent::ChangeSet(vec![1, 2]),
            Sent::ChangeSet(vec![3, 4]),
        ]
    );
    assert_eq!(out.result.unwrap().written, 4);
}
