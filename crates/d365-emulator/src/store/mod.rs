//! Persistence: one SQLite database per emulator (a file under `--data-dir`, else in memory).
//! SQL lives only under `store/` and `query/`; handlers call these functions.

mod refresh_tokens;
pub mod schema;
pub mod seed;
pub mod snapshot;
pub mod write;

pub use refresh_tokens::RefreshTokenRecord;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

use crate::error::StartError;

/// The database. rusqlite is synchronous, so calls run on tokio's blocking pool through
/// [`Store::run`]. One connection serialises access, which SQLite does anyway for writers.
#[derive(Debug, Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (or creates) the database file in `dir`, with WAL journaling; or an in-memory
    /// database when `dir` is `None`.
    pub fn open(dir: Option<&Path>) -> Result<Self, StartError> {
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
        })
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
