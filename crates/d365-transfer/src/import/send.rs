//! The requests an import makes, behind a trait: [`d365_webapi::Client`] sends them to
//! Dataverse, a test's implementation records them and answers as the test says.

use d365_webapi::{Client, Error, RecordKey};
use futures_util::future::BoxFuture;
use serde_json::Value;

use super::Mode;

/// One row's write outside a bulk message.
#[derive(Debug, Clone, PartialEq)]
pub enum RowWrite {
    /// A new record (its id in the body).
    Create(Value),
    /// An update of the keyed record.
    Update(RecordKey, Value),
    /// An upsert of the keyed record.
    Upsert(RecordKey, Value),
}

/// What an import sends. Every method is one request (or one `$batch`).
pub trait Sender: Send + Sync + 'static {
    /// One bulk message (CreateMultiple, UpdateMultiple or UpsertMultiple, by `mode`).
    fn bulk<'a>(
        &'a self,
        mode: Mode,
        entity_set: &'a str,
        logical_name: &'a str,
        records: Vec<Value>,
    ) -> BoxFuture<'a, Result<(), Error>>;

    /// One `$batch` change set holding `writes` (all or nothing); the first failed part's
    /// error, if any.
    fn change_set<'a>(
        &'a self,
        entity_set: &'a str,
        writes: Vec<RowWrite>,
    ) -> BoxFuture<'a, Result<(), Error>>;

    /// One request for one row.
    fn single<'a>(
        &'a self,
        entity_set: &'a str,
        write: RowWrite,
    ) -> BoxFuture<'a, Result<(), Error>>;

    /// The ids among `ids` that exist in the table (primary key `key`).
    fn existing<'a>(
        &'a self,
        entity_set: &'a str,
        key: &'a str,
        ids: &'a [uuid::Uuid],
    ) -> BoxFuture<'a, Result<Vec<uuid::Uuid>, Error>>;
}

impl Sender for Client {
    fn bulk<'a>(
        &'a self,
        mode: Mode,
        entity_set: &'a str,
        logical_name: &'a str,
        records: Vec<Value>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        let request = match mode {
            Mode::Create => self.create_multiple(entity_set, logical_name, records),
            Mode::Update => self.update_multiple(entity_set, logical_name, records),
            Mode::Upsert => self.upsert_multiple(entity_set, logical_name, records),
        };
        Box::pin(async move { request.send().await.map(|_| ()) })
    }

    fn change_set<'a>(
        &'a self,
        set: &'a str,
        writes: Vec<RowWrite>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let results = self
                .batch()
                .change_set(|cs| {
                    for write in writes {
                        match write {
                            RowWrite::Create(body) => {
                                cs.create(set, body);
                            }
                            RowWrite::Update(key, body) => {
                                cs.update((set, key), body);
                            }
                            RowWrite::Upsert(key, body) => {
                                cs.upsert((set, key), body);
                            }
                        }
                    }
                })
                .send()
                .await?;
            match results.into_iter().find_map(|r| r.error) {
                Some(e) => Err(Error::Api(e)),
                None => Ok(()),
            }
        })
    }

    fn single<'a>(&'a self, set: &'a str, write: RowWrite) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            match write {
                RowWrite::Create(body) => self.create(set, body).send().await.map(|_| ()),
                RowWrite::Update(key, body) => self.update(set, key, body).send().await.map(|_| ()),
                RowWrite::Upsert(key, body) => self.upsert(set, key, body).send().await.map(|_| ()),
            }
        })
    }

    fn existing<'a>(
        &'a self,
        entity_set: &'a str,
        key: &'a str,
        ids: &'a [uuid::Uuid],
    ) -> BoxFuture<'a, Result<Vec<uuid::Uuid>, Error>> {
        Box::pin(async move {
            let mut found = Vec::new();
            for group in ids.chunks(50) {
                let values: Vec<String> = group.iter().map(|id| format!("'{id}'")).collect();
                let filter = format!(
                    "Microsoft.Dynamics.CRM.In(PropertyName='{key}',PropertyValues=[{}])",
                    values.join(",")
                );
                let page = self
                    .query(entity_set)
                    .select([key])
                    .filter_text(&filter)?
                    .send()
                    .await?;
                found.extend(
                    page.items
                        .iter()
                        .filter_map(|r| r[key].as_str().and_then(|s| s.parse::<uuid::Uuid>().ok())),
                );
            }
            Ok(found)
        })
    }
}
