//! Persistence: one SQLite database per emulator (a file under `--data-dir`, else in memory).
//! SQL lives only under `store/` and `query/`; handlers call these functions.

pub mod changes;
mod refresh_tokens;
pub mod schema;
pub mod seed;
pub mod snapshot;
pub mod write;

pub use refresh_tokens::RefreshTokenRecord;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rusqlite::Connection;

use crate::error::StartError;

/// Read-only connections a file database gets for queries (WAL lets them read while the
/// writer writes).
pub const READERS: usize = 4;

/// The database. rusqlite is synchronous, so calls run on tokio's blocking pool. Writes go
/// through one connection ([`Store::run`]), which SQLite serialises anyway; a file database
/// also has a pool of read-only connections for queries ([`Store::read`]).
#[derive(Debug, Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    /// The database file, when there is one.
    path: Option<PathBuf>,
    readers: Arc<OnceLock<Vec<Mutex<Connection>>>>,
    next_reader: Arc<AtomicUsize>,
}

impl Store {
    /// Opens (or creates) the database file in `dir`, with WAL journaling; or an in-memory
    /// database when `dir` is `None`.
    pub fn open(dir: Option<&Path>) -> Result<Self, StartError> {
        let path = dir.map(|d| d.join("dataverse.sqlite3"));
        let conn = match dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| StartError::Io {
                    what: format!("creating data directory {}", dir.display()),
                    source,
                })?;
                let conn = Connection::open(dir.join("dataverse.sqlite3"))?;
                conn.pragma_update(None, "journal_mode", "WAL")?;
                // Writes are acknowledged only after commit; NORMAL is durable in WAL mode
                // except across power loss, which an emulator can accept.
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                conn
            }
            None => Connection::open_in_memory()?,
        };
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        refresh_tokens::create_table(&conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
            readers: Arc::default(),
            next_reader: Arc::default(),
        })
    }

    /// Opens the read-only pool (file databases; after seeding, which needs the file to
    /// itself). Without it, reads share the writer's connection.
    pub fn open_readers(&self) -> Result<(), StartError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let conn = Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            readers.push(Mutex::new(conn));
        }
        let _ = self.readers.set(readers);
        Ok(())
    }

    /// Runs a read-only `f` on a pooled reader (a free one if any), or on the writer's
    /// connection when there is no pool.
    pub async fn read<R, F>(&self, f: F) -> R
    where
        F: FnOnce(&Connection) -> R + Send + 'static,
        R: Send + 'static,
    {
        if self.readers.get().is_none_or(Vec::is_empty) {
            return self.run(move |c| f(c)).await;
        }
        let (readers, next) = (self.readers.clone(), self.next_reader.clone());
        tokio::task::spawn_blocking(move || {
            let pool = readers.get().expect("checked above");
            let start = next.fetch_add(1, Ordering::Relaxed);
            for i in 0..pool.len() {
                if let Ok(guard) = pool[(start + i) % pool.len()].try_lock() {
                    return f(&guard);
                }
            }
            let guard = pool[start % pool.len()]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            f(&guard)
        })
        .await
        .expect("store task panicked")
    }

    /// Locks the connection for synchronous use (start-up, tests).
    pub fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn run<R, F>(&self, f: F) -> R
    where
        F: FnOnce(&mut Connection) -> R + Send + 'static,
        R: Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut guard)
        })
        .await
        .expect("store task panicked")
    }
}
