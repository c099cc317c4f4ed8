//! What every capability gets: the client, the run's unique prefix, the target's kind, the
//! shared fixture, and a record of what it created so the runner can delete it afterwards,
//! whether the capability passed, failed or panicked.

use std::sync::{Mutex, OnceLock};

use d365_webapi::{ApiError, Client, ClientBuilder, Error};
use serde_json::Value;

use crate::target::{BuilderFn, KnownUser, TargetKind};

/// Why a capability failed. Any client error converts with `?`; checks use [`ensure!`].
pub(crate) type Failure = Box<dyn std::error::Error + Send + Sync>;
/// What a capability returns.
pub(crate) type Outcome = Result<(), Failure>;

/// Fails the capability with a message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+).into());
        }
    };
}

/// Fails the capability unless `left == right`, showing both.
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($fmt:tt)+) => {
        match (&$left, &$right) {
            (l, r) => {
                if l != r {
                    return Err(format!("{}: expected {:?}, got {:?}", format!($($fmt)+), r, l).into());
                }
            }
        }
    };
}

pub(crate) use {ensure, ensure_eq};

/// The accounts the runner creates once for the read-only capabilities:
/// `"{prefix} fixture 00"` … `"… 06"`, with `numberofemployees` = 10 × index.
#[derive(Debug, Clone)]
pub(crate) struct Fixture {
    /// The common start of their names.
    pub(crate) name_prefix: String,
    /// `(id, name, numberofemployees)`, in name order.
    pub(crate) accounts: Vec<(uuid::Uuid, String, i64)>,
}

/// How many fixture accounts: with a page size of 3, three pages (3, 3, 1).
pub(crate) const FIXTURE_SIZE: usize = 7;

/// The per-run context.
pub(crate) struct Ctx {
    pub(crate) client: Client,
    /// `d365conf-<8 hex>`: names every record the run creates, so a live org can be cleaned up
    /// by hand if a run is killed.
    pub(crate) prefix: String,
    pub(crate) kind: TargetKind,
    builder: BuilderFn,
    fixture: OnceLock<Fixture>,
    /// Records created by the running capability, deleted after it in reverse order.
    created: Mutex<Vec<(String, uuid::Uuid)>>,
    /// The fixture's records, deleted at the end of the run.
    fixture_records: Mutex<Vec<(String, uuid::Uuid)>>,
}

impl Ctx {
    pub(crate) fn new(client: Client, kind: TargetKind, builder: BuilderFn) -> Self {
        let prefix = format!(
            "d365conf-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Self {
            client,
            prefix,
            kind,
            builder,
            fixture: OnceLock::new(),
            created: Mutex::new(Vec::new()),
            fixture_records: Mutex::new(Vec::new()),
        }
    }

    /// `"{prefix} {what}"`.
    pub(crate) fn name(&self, what: &str) -> String {
        format!("{} {what}", self.prefix)
    }

    /// The emulator's known user, or `None` on a live org.
    pub(crate) fn emulator_user(&self) -> Option<&KnownUser> {
        match &self.kind {
            TargetKind::Emulator { user } => Some(user),
            TargetKind::Live => None,
        }
    }

    /// Whether the target is the embedded emulator (for emulator-only extra checks).
    pub(crate) fn is_emulator(&self) -> bool {
        self.emulator_user().is_some()
    }

    /// A fresh builder for a client of the same target and credential.
    pub(crate) fn builder(&self) -> ClientBuilder {
        (self.builder)()
    }

    /// The shared fixture; an error if setup did not make it.
    pub(crate) fn fixture(&self) -> Result<&Fixture, Failure> {
        self.fixture
            .get()
            .ok_or_else(|| "the fixture was not created (see the setup row)".into())
    }

    /// Remembers a record to delete after the capability.
    pub(crate) fn track(&self, entity_set: &str, id: uuid::Uuid) {
        self.created
            .lock()
            .unwrap()
            .push((entity_set.to_owned(), id));
    }

    /// Creates a record and remembers it for deletion.
    pub(crate) async fn create(
        &self,
        entity_set: &str,
        record: Value,
    ) -> Result<uuid::Uuid, Error> {
        let id = self.client.create(entity_set, record).send().await?;
        self.track(entity_set, id);
        Ok(id)
    }

    /// Creates the fixture (the runner's setup step).
    pub(crate) async fn create_fixture(&self) -> Outcome {
        let name_prefix = self.name("fixture");
        let mut accounts = Vec::new();
        for i in 0..FIXTURE_SIZE {
            let name = format!("{name_prefix} {i:02}");
            let employees = 10 * i as i64;
            let id = self
                .client
                .create(
                    "accounts",
                    serde_json::json!({"name": name, "numberofemployees": employees}),
                )
                .send()
                .await?;
            self.fixture_records
                .lock()
                .unwrap()
                .push(("accounts".into(), id));
            accounts.push((id, name, employees));
        }
        self.fixture
            .set(Fixture {
                name_prefix,
                accounts,
            })
            .map_err(|_| "the fixture was created twice")?;
        Ok(())
    }

    /// Deletes what the last capability created (newest first, so dependants go before what
    /// they point at); a record already gone is fine. Returns the failures.
    pub(crate) async fn cleanup(&self) -> Vec<String> {
        let records = std::mem::take(&mut *self.created.lock().unwrap());
        self.delete_all(records).await
    }

    /// Deletes the fixture.
    pub(crate) async fn cleanup_fixture(&self) -> Vec<String> {
        let records = std::mem::take(&mut *self.fixture_records.lock().unwrap());
        self.delete_all(records).await
    }

    async fn delete_all(&self, mut records: Vec<(String, uuid::Uuid)>) -> Vec<String> {
        let mut failures = Vec::new();
        records.dedup();
        while let Some((set, id)) = records.pop() {
            match self.client.delete(&set, id).send().await {
                Ok(()) => {}
                Err(e) if e.api().is_some_and(ApiError::is_not_found) => {}
                Err(e) => failures.push(format!("delete {set}({id}): {e}")),
            }
        }
        failures
    }
}

/// The [`ApiError`] of a call that had to fail, or a failure naming what came instead.
pub(crate) fn expect_api_error<T: std::fmt::Debug>(
    result: Result<T, Error>,
    what: &str,
) -> Result<ApiError, Failure> {
    match result {
        Ok(v) => Err(format!("{what}: expected an error, got {v:?}").into()),
        Err(Error::Api(e)) => Ok(e),
        Err(e) => Err(format!("{what}: expected an API error, got {e}").into()),
    }
}

/// A GUID-valued field of a record.
pub(crate) fn guid(record: &Value, field: &str) -> Result<uuid::Uuid, Failure> {
    record[field]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no GUID in '{field}' of {record}").into())
}
