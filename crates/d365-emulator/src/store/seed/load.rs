//! Seeding a whole store: the directory rows and the seeded records, once at start-up and
//! again on the control API's reset. The caller says what to seed (a [`Directory`] built from
//! its configuration, the number of accounts, the seed); the SQL stays here.

use rusqlite::Connection;

use d365_odata::model::Model;

use crate::error::StartError;

use super::{Directory, seed, seed_directory, seed_rows};

impl Directory {
    /// Who owns the seeded records: the first user (the demo admin), else the first
    /// application user.
    pub fn owner(&self) -> uuid::Uuid {
        self.users
            .first()
            .map(|u| u.0)
            .or(self.app_users.first().map(|a| a.0))
            .unwrap_or_default()
    }
}

/// Seeds the directory rows and, if the tables are empty, `accounts` accounts with their
/// related rows (as a bulk load: see [`seed`]). Returns the number of accounts inserted.
fn seed_store(
    conn: &mut Connection,
    model: &Model,
    directory: &Directory,
    accounts: usize,
    seed_value: u64,
) -> rusqlite::Result<usize> {
    let tx = conn.transaction()?;
    seed_directory(&tx, model, directory)?;
    tx.commit()?;
    seed(
        conn,
        model,
        accounts,
        seed_value,
        directory.owner(),
        directory.business_unit,
    )
}

/// Back to the seeded data (the control API's reset), in one transaction: readers see the old
/// rows or the new ones, and a failure changes nothing. Not a bulk load: the read-only pool
/// is open and keeps its indexes.
fn reseed_store(
    conn: &mut Connection,
    model: &Model,
    directory: &Directory,
    accounts: usize,
    seed_value: u64,
) -> rusqlite::Result<usize> {
    let tx = conn.transaction()?;
    crate::store::snapshot::clear(&tx, model)?;
    seed_directory(&tx, model, directory)?;
    let n = seed_rows(
        &tx,
        model,
        accounts,
        seed_value,
        directory.owner(),
        directory.business_unit,
    )?;
    tx.commit()?;
    Ok(n)
}

impl crate::store::Store {
    /// At start-up: the tables for `model`, the seeded data if the tables are empty (see
    /// `seed_store`), the indexes of the `find` columns (after the bulk load, which drops the
    /// plain indexes and builds each once at its end), then `then` on the stored alternate
    /// keys, all before any request.
    pub async fn prepare<R: Send + 'static>(
        &self,
        model: Model,
        find: crate::store::schema::FindColumns,
        directory: Directory,
        accounts: usize,
        seed_value: u64,
        then: impl FnOnce(crate::store::keys::KeyTable<'_>, &Model) -> Result<R, StartError>
        + Send
        + 'static,
    ) -> Result<R, StartError> {
        self.run(move |conn| {
            crate::store::schema::create_tables(conn, &model)?;
            seed_store(conn, &model, &directory, accounts, seed_value)?;
            crate::store::schema::create_find_indexes(conn, &model, &find)?;
            then(conn.into(), &model)
        })
        .await
    }

    /// Back to the seeded data (the control API's reset; see `reseed_store`). The number of
    /// accounts seeded.
    pub async fn reseed(
        &self,
        model: Model,
        directory: Directory,
        accounts: usize,
        seed_value: u64,
    ) -> Result<usize, crate::store::StoreError> {
        self.run(move |c| reseed_store(c, &model, &directory, accounts, seed_value))
            .await
            .map_err(Into::into)
    }
}
