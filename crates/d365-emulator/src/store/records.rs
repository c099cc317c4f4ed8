//! Records: the reads and writes the Web API's handlers make on one table's rows, as domain
//! operations. Each runs on the store's connections itself ([`Store::run`], [`Store::read`]);
//! a write of several steps runs in one [`Transaction`] ([`Store::transaction`]), whose
//! operations the caller composes without seeing SQL or the connection.

use std::sync::Arc;

use d365_odata::model::EntityType;
use rusqlite::{Connection, params, params_from_iter};

use super::changes::ChangeClock;
use super::schema::ident;
use super::write::{self, Session, Stamp};
use super::{SqlFilter, Store, StoreError, Value, guid};

/// A record to create with the records nested in it (a deep insert): `parents` are created
/// first, `children` after.
#[derive(Debug)]
pub struct NewRecord {
    /// The record's table (shared by the records of one request: a bulk message's thousand
    /// targets are one table).
    pub entity: Arc<EntityType>,
    /// Its primary key.
    pub id: uuid::Uuid,
    /// Its columns, without the key.
    pub values: Vec<(String, Value)>,
    /// Records it points at, created before it.
    pub parents: Vec<NewRecord>,
    /// Records pointing at it, created after it.
    pub children: Vec<NewRecord>,
}

/// One write of a change that must happen whole: every operation joins one savepoint, kept
/// when the closure given to [`Store::transaction`] answers `Ok(Ok(_))` and undone otherwise.
#[derive(Debug)]
pub struct Transaction<'c> {
    pub(super) conn: &'c Connection,
    /// What its writes reuse from row to row (the version counter among them).
    session: Session,
}

impl Transaction<'_> {
    /// The row's `versionnumber`, or `None` if it does not exist.
    pub fn version_of(
        &self,
        entity: &EntityType,
        id: &uuid::Uuid,
    ) -> Result<Option<i64>, StoreError> {
        Ok(write::version_of(self.conn, &self.session, entity, id)?)
    }

    /// Whether a row with this key exists.
    pub fn exists(&self, entity: &EntityType, id: &uuid::Uuid) -> Result<bool, StoreError> {
        Ok(write::exists(self.conn, &self.session, entity, id)?)
    }

    /// The key of the row whose columns equal `values` (an alternate key), if any.
    pub fn find_by_columns(
        &self,
        entity: &EntityType,
        values: &[(String, Value)],
    ) -> Result<Option<uuid::Uuid>, StoreError> {
        Ok(write::find_by_columns(
            self.conn,
            &self.session,
            entity,
            values,
        )?)
    }

    /// Some columns of one row, in the order asked; `None` when the row does not exist.
    pub fn columns(
        &self,
        entity: &EntityType,
        id: &uuid::Uuid,
        columns: &[&str],
    ) -> Result<Option<Vec<Value>>, StoreError> {
        Ok(write::columns_of(self.conn, entity, id, columns)?)
    }

    /// Inserts a row (the key among `values`); answers its version.
    pub fn insert(
        &self,
        entity: &EntityType,
        values: Vec<(String, Value)>,
        stamp: &Stamp,
    ) -> Result<i64, StoreError> {
        Ok(write::insert(
            self.conn,
            &self.session,
            entity,
            values,
            stamp,
        )?)
    }

    /// Updates columns of a row; answers its new version.
    pub fn update(
        &self,
        entity: &EntityType,
        id: &uuid::Uuid,
        values: Vec<(String, Value)>,
        stamp: &Stamp,
    ) -> Result<i64, StoreError> {
        Ok(write::update(
            self.conn,
            &self.session,
            entity,
            id,
            values,
            stamp,
        )?)
    }

    /// Deletes a row, leaving its tombstone; `false` if it did not exist.
    pub fn delete(
        &self,
        entity: &EntityType,
        id: &uuid::Uuid,
        clock: ChangeClock,
    ) -> Result<bool, StoreError> {
        Ok(write::delete(self.conn, &self.session, entity, id, clock)?)
    }

    /// Creates a record and those nested in it, parents first; `false` (and the caller rolls
    /// back) if some id is taken already.
    pub fn insert_new(&self, record: NewRecord, stamp: &Stamp) -> Result<bool, StoreError> {
        for parent in record.parents {
            if !self.insert_new(parent, stamp)? {
                return Ok(false);
            }
        }
        let mut values = record.values;
        values.push((record.entity.key.clone(), guid(record.id)));
        // The key's index finds a taken id as it inserts: no lookup before each row.
        match write::insert(self.conn, &self.session, &record.entity, values, stamp) {
            Ok(_) => {}
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
                    && self.exists(&record.entity, &record.id)? =>
            {
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        }
        for child in record.children {
            if !self.insert_new(child, stamp)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Which of `ids` still match `filter` (a query the planner made), now.
    pub fn matching_among(
        &self,
        entity: &EntityType,
        ids: &[uuid::Uuid],
        filter: Option<&SqlFilter>,
    ) -> Result<Vec<uuid::Uuid>, StoreError> {
        let (sql, params) = keys_where(entity, Some(ids), filter);
        Ok(keys(self.conn, &sql, params)?)
    }
}

/// `SELECT key FROM table` of the rows among `ids` (all rows when `None`) that match
/// `filter`, with its parameters.
fn keys_where(
    entity: &EntityType,
    ids: Option<&[uuid::Uuid]>,
    filter: Option<&SqlFilter>,
) -> (String, Vec<Value>) {
    let mut wheres = Vec::new();
    let mut params = Vec::new();
    if let Some(ids) = ids {
        wheres.push(format!(
            "{}.{} IN ({})",
            ident(&entity.name),
            ident(&entity.key),
            vec!["?"; ids.len()].join(",")
        ));
        params.extend(ids.iter().map(|id| guid(*id)));
    }
    if let Some(f) = filter {
        wheres.push(format!("({})", f.sql));
        params.extend(f.params.iter().cloned());
    }
    let mut sql = format!(
        "SELECT {t}.{k} FROM {t}",
        t = ident(&entity.name),
        k = ident(&entity.key)
    );
    if !wheres.is_empty() {
        sql = format!("{sql} WHERE {}", wheres.join(" AND "));
    }
    (sql, params)
}

/// The keys a `SELECT key FROM …` answers.
fn keys(
    conn: &Connection,
    sql: &str,
    params: impl IntoIterator<Item = Value>,
) -> rusqlite::Result<Vec<uuid::Uuid>> {
    let mut q = conn.prepare(sql)?;
    q.query_map(params_from_iter(params), |r| {
        let bytes: Vec<u8> = r.get(0)?;
        Ok(uuid::Uuid::from_slice(&bytes).unwrap_or_default())
    })?
    .collect()
}

impl Store {
    /// Runs `change` as one transaction: kept when it answers `Ok(Ok(_))`, rolled back when it
    /// answers a refusal (`Ok(Err(_))`) or fails. Inside a change set it nests in the set's.
    pub async fn transaction<T, E, F>(&self, change: F) -> Result<Result<T, E>, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<Result<T, E>, StoreError> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.run(move |c| {
            let tx = c.savepoint()?;
            let change_tx = Transaction {
                conn: &tx,
                session: Session::default(),
            };
            let out = change(&change_tx)?;
            if out.is_ok() {
                change_tx.session.finish(&tx)?;
                tx.commit()?;
            }
            // Dropping the savepoint otherwise rolls it back.
            Ok(out)
        })
        .await
    }

    /// Runs `write` as one transaction that is kept unless it fails (a single write, with
    /// the version counter written back as every transaction's is).
    async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let kept = self
            .transaction(move |tx| write(tx).map(Ok::<_, std::convert::Infallible>))
            .await?;
        Ok(kept.unwrap_or_else(|never| match never {}))
    }

    /// Whether a row with this key exists.
    pub async fn exists(&self, entity: &EntityType, id: uuid::Uuid) -> Result<bool, StoreError> {
        let entity = entity.clone();
        Ok(self
            .read(move |c| write::exists(c, &Session::default(), &entity, &id))
            .await?)
    }

    /// The first of `rows` (table, key column, key), in order, that names no row; `None`
    /// when every one does. One call checks all the records a request binds to.
    pub async fn first_missing(
        &self,
        rows: Vec<(String, String, uuid::Uuid)>,
    ) -> Result<Option<(String, uuid::Uuid)>, StoreError> {
        Ok(self
            .read(move |c| {
                for (table, key, id) in &rows {
                    let found = c
                        .prepare_cached(&format!(
                            "SELECT 1 FROM {} WHERE {} = ?1",
                            ident(table),
                            ident(key)
                        ))?
                        .exists(params![guid(*id)])?;
                    if !found {
                        return Ok(Some((table.clone(), *id)));
                    }
                }
                Ok::<_, rusqlite::Error>(None)
            })
            .await?)
    }

    /// The key of the row whose columns equal `values` (an alternate key), if any.
    pub async fn find_by_columns(
        &self,
        entity: &EntityType,
        values: Vec<(String, Value)>,
    ) -> Result<Option<uuid::Uuid>, StoreError> {
        let entity = entity.clone();
        Ok(self
            .read(move |c| write::find_by_columns(c, &Session::default(), &entity, &values))
            .await?)
    }

    /// One column of one row: `None` when the row does not exist, `Some(Value::Null)` when the
    /// column is empty.
    pub async fn column(
        &self,
        entity: &EntityType,
        id: uuid::Uuid,
        column: &str,
    ) -> Result<Option<Value>, StoreError> {
        let (entity, column) = (entity.clone(), column.to_owned());
        let row = self
            .read(move |c| write::columns_of(c, &entity, &id, &[&column]))
            .await?;
        Ok(row.map(|mut values| values.remove(0)))
    }

    /// Updates columns of a row; answers its new version.
    pub async fn update(
        &self,
        entity: &EntityType,
        id: uuid::Uuid,
        values: Vec<(String, Value)>,
        stamp: Stamp,
    ) -> Result<i64, StoreError> {
        let entity = entity.clone();
        self.write(move |tx| tx.update(&entity, &id, values, &stamp))
            .await
    }

    /// Deletes a row, leaving its tombstone; `false` if it did not exist.
    pub async fn delete(
        &self,
        entity: &EntityType,
        id: uuid::Uuid,
        clock: ChangeClock,
    ) -> Result<bool, StoreError> {
        let entity = entity.clone();
        self.write(move |tx| tx.delete(&entity, &id, clock)).await
    }

    /// The number of rows of each table, in order.
    pub async fn count_rows(&self, tables: Vec<String>) -> Result<Vec<i64>, StoreError> {
        Ok(self
            .read_from(super::Start::Slow, move |c| {
                tables
                    .iter()
                    .map(|t| {
                        c.query_row(&format!("SELECT count(*) FROM {}", ident(t)), [], |r| {
                            r.get::<_, i64>(0)
                        })
                    })
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?)
    }

    /// The keys of the rows `filter` (a query the planner made) matches now.
    pub async fn matching(
        &self,
        entity: &EntityType,
        filter: Option<&SqlFilter>,
    ) -> Result<Vec<uuid::Uuid>, StoreError> {
        let (sql, params) = keys_where(entity, None, filter);
        Ok(self
            .read(move |c| keys(c, &sql, params.iter().cloned()))
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataverse::model::DataverseModel;

    fn stamp() -> Stamp {
        Stamp {
            now: 1_700_000_000,
            user: uuid::Uuid::new_v4(),
            on_behalf_of: None,
            business_unit: uuid::Uuid::new_v4(),
            currency: uuid::Uuid::new_v4(),
        }
    }

    async fn store_with(table: &str) -> (Store, EntityType) {
        let model = DataverseModel::default().model;
        let entity = model.entity_type(table).unwrap().clone();
        let store = Store::open(None).unwrap();
        store
            .run(move |c| super::super::schema::create_tables(c, &model))
            .await
            .unwrap();
        (store, entity)
    }

    fn named(entity: &EntityType, id: uuid::Uuid, name: &str) -> NewRecord {
        NewRecord {
            entity: Arc::new(entity.clone()),
            id,
            values: vec![("name".into(), Value::Text(name.into()))],
            parents: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Creates `records` in one transaction.
    async fn insert_all(store: &Store, records: Vec<NewRecord>) {
        store
            .transaction(move |tx| {
                for r in records {
                    tx.insert_new(r, &stamp())?;
                }
                Ok(Ok::<_, ()>(()))
            })
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn a_refused_transaction_undoes_its_writes_and_a_kept_one_keeps_them() {
        let (store, account) = store_with("account").await;
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        // The second record takes the first one's id: the refusal undoes the first too.
        let (first, again) = (named(&account, a, "first"), named(&account, a, "again"));
        let refused = store
            .transaction(move |tx| {
                assert!(tx.insert_new(first, &stamp())?);
                Ok(match tx.insert_new(again, &stamp())? {
                    true => Ok(()),
                    false => Err("duplicate id"),
                })
            })
            .await
            .unwrap();
        assert_eq!(refused, Err("duplicate id"));
        assert!(!store.exists(&account, a).await.unwrap());

        let kept = named(&account, b, "kept");
        store
            .transaction(move |tx| Ok(Ok::<_, ()>(tx.insert_new(kept, &stamp())?)))
            .await
            .unwrap()
            .unwrap();
        assert!(store.exists(&account, b).await.unwrap());
        assert_eq!(
            store.column(&account, b, "name").await.unwrap(),
            Some(Value::Text("kept".into()))
        );
        assert_eq!(store.column(&account, a, "name").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_transaction_numbers_its_rows_in_turn_and_a_refused_one_uses_up_no_number() {
        let (store, account) = store_with("account").await;
        let ids: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::new_v4()).collect();
        let records: Vec<NewRecord> = ids.iter().map(|id| named(&account, *id, "x")).collect();
        insert_all(&store, records).await;
        let version = |id: uuid::Uuid| {
            let (store, account) = (store.clone(), account.clone());
            async move {
                match store.column(&account, id, "versionnumber").await.unwrap() {
                    Some(Value::Integer(v)) => v,
                    other => panic!("versionnumber {other:?}"),
                }
            }
        };
        let first = version(ids[0]).await;
        assert_eq!(version(ids[1]).await, first + 1);
        assert_eq!(version(ids[2]).await, first + 2);

        let (owned, id) = (account.clone(), ids[0]);
        let refused = store
            .transaction(move |tx| {
                tx.update(
                    &owned,
                    &id,
                    vec![("name".into(), Value::Text("y".into()))],
                    &stamp(),
                )?;
                Ok(Err::<(), _>("refused"))
            })
            .await
            .unwrap();
        assert_eq!(refused, Err("refused"));
        assert_eq!(version(ids[0]).await, first);
        let (owned, id) = (account.clone(), ids[1]);
        store
            .transaction(move |tx| {
                let v = tx.update(
                    &owned,
                    &id,
                    vec![("name".into(), Value::Text("z".into()))],
                    &stamp(),
                )?;
                Ok(Ok::<_, ()>(v))
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(version(ids[1]).await, first + 3);
        assert_eq!(
            store
                .update(&account, ids[2], Vec::new(), stamp())
                .await
                .unwrap(),
            first + 4
        );
    }

    #[tokio::test]
    async fn a_deep_insert_whose_child_id_is_taken_creates_nothing() {
        let (store, account) = store_with("account").await;
        let (taken, parent, child) = (
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4(),
        );
        let first = named(&account, taken, "taken");
        store
            .transaction(move |tx| Ok(Ok::<_, ()>(tx.insert_new(first, &stamp())?)))
            .await
            .unwrap()
            .unwrap();
        let mut tree = named(&account, parent, "parent");
        tree.children = vec![named(&account, child, "child"), named(&account, taken, "x")];
        let inserted = store
            .transaction(move |tx| {
                let ok = tx.insert_new(tree, &stamp())?;
                Ok(if ok { Ok(()) } else { Err(()) })
            })
            .await
            .unwrap();
        assert!(inserted.is_err());
        for id in [parent, child] {
            assert!(!store.exists(&account, id).await.unwrap(), "{id} was kept");
        }
        assert_eq!(
            store.column(&account, taken, "name").await.unwrap(),
            Some(Value::Text("taken".into()))
        );
    }

    #[tokio::test]
    async fn matching_finds_the_keys_a_filter_selects_among_all_rows_or_some() {
        let (store, account) = store_with("account").await;
        let ids: Vec<uuid::Uuid> = (0..4).map(|_| uuid::Uuid::new_v4()).collect();
        let records: Vec<NewRecord> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| named(&account, *id, if i % 2 == 0 { "even" } else { "odd" }))
            .collect();
        insert_all(&store, records).await;
        let even = SqlFilter {
            sql: "account.name = ?".into(),
            params: vec![Value::Text("even".into())],
        };
        let mut all_even = store.matching(&account, Some(&even)).await.unwrap();
        all_even.sort();
        let mut want = vec![ids[0], ids[2]];
        want.sort();
        assert_eq!(all_even, want);
        assert_eq!(store.matching(&account, None).await.unwrap().len(), 4);
        let among = ids[1..3].to_vec();
        let found = store
            .transaction(move |tx| {
                Ok(Ok::<_, ()>(tx.matching_among(
                    &account,
                    &among,
                    Some(&even),
                )?))
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, vec![ids[2]]);
    }
}
