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
    /// Taken by every [`Store::run`], and by a change set for as long as it runs
    /// ([`Store::atomic`]): no other write can land inside its transaction.
    gate: Arc<tokio::sync::Mutex<()>>,
}

tokio::task_local! {
    /// Set while a change set runs on this task: the writer connection (by address) whose
    /// transaction this task's store calls join.
    static ATOMIC: usize;
}

impl Store {
    /// Opens (or creates) the database file in `dir`, with WAL journaling; or an in-memory
    /// database when `dir` is `None`.
    pub fn open(dir: Option<&Path>) -> Result<Self, StartError> {
        let path = dir.map(|d| d.join("dataverse.sqlite3"));
        let conn = match dir {
            Some(dir) => {
                let file = dir.join("dataverse.sqlite3");
                owner_only_files(dir, &file)?;
                let conn = Connection::open(&file)?;
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
            gate: Arc::default(),
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
        // Inside a change set, reads see its uncommitted writes (a pooled reader would not).
        if self.readers.get().is_none_or(Vec::is_empty) || self.in_atomic() {
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

    /// Runs `f` with the connection on the blocking pool. Writes that need several statements
    /// open a savepoint (`Connection::savepoint`), not a transaction: inside a change set
    /// ([`Store::atomic`]) they nest in its transaction; elsewhere a savepoint is one.
    pub async fn run<R, F>(&self, f: F) -> R
    where
        F: FnOnce(&mut Connection) -> R + Send + 'static,
        R: Send + 'static,
    {
        // A change set already holds the gate; everyone else waits for it to finish.
        let _gate = match self.in_atomic() {
            true => None,
            false => Some(self.gate.lock().await),
        };
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut guard)
        })
        .await
        .expect("store task panicked")
    }

    /// Whether this task runs inside a change set of this store.
    pub(crate) fn in_atomic(&self) -> bool {
        ATOMIC
            .try_with(|conn| *conn == Arc::as_ptr(&self.conn) as usize)
            .unwrap_or(false)
    }

    /// Runs `body` as one transaction (a `$batch` change set): every [`Store::run`] and
    /// [`Store::read`] it makes goes to the writer connection inside one `SAVEPOINT`, which is
    /// released when `body` returns `Ok` and rolled back when it returns `Err` or is dropped
    /// half way (the client went away). Other tasks' writes wait on the gate meanwhile, so
    /// nothing of theirs lands inside the transaction; readers on the pool see the data as
    /// it was before, until the commit.
    pub async fn atomic<T, E, Fut>(&self, body: Fut) -> Result<T, E>
    where
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let gate = self.gate.clone().lock_owned().await;
        let open = Open {
            conn: self.conn.clone(),
            done: false,
            _gate: gate,
        };
        open.exec("SAVEPOINT changeset").await;
        let out = ATOMIC.scope(Arc::as_ptr(&self.conn) as usize, body).await;
        let mut open = open;
        match &out {
            Ok(_) => open.exec("RELEASE changeset").await,
            Err(_) => open.exec("ROLLBACK TO changeset; RELEASE changeset").await,
        }
        open.done = true;
        out
    }
}

/// The database holds records, sessions and refresh-token hashes: the directory is created
/// owner-only, and the database file is created 0600 before SQLite opens it (SQLite gives its
/// `-wal` and `-shm` files the database file's mode). Files left more open by an older
/// version are narrowed.
fn owner_only_files(dir: &Path, file: &Path) -> Result<(), StartError> {
    crate::tls::create_private_dir(dir)?;
    let io = |what: &Path| {
        let what = format!("securing {}", what.display());
        move |source| StartError::Io { what, source }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(file)(e)),
    }
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let path = PathBuf::from(format!("{}{suffix}", file.display()));
        // `symlink_metadata`: a symlink is left alone, its target never changed.
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(io(&path))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The open transaction of [`Store::atomic`]; rolls it back if dropped before it ends.
struct Open {
    conn: Arc<Mutex<Connection>>,
    done: bool,
    // Released after `drop` has rolled back (fields drop after `Drop::drop`).
    _gate: tokio::sync::OwnedMutexGuard<()>,
}

impl Open {
    async fn exec(&self, sql: &'static str) {
        let conn = self.conn.clone();
        let result = tokio::task::spawn_blocking(move || {
            conn.lock()
                .unwrap_or_else(|e| e.into_inner())
                .execute_batch(sql)
        })
        .await
        .expect("store task panicked");
        if let Err(e) = result {
            tracing::error!(error = %e, sql, "change set transaction control failed");
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if !conn.is_autocommit()
            && let Err(e) = conn.execute_batch("ROLLBACK TO changeset; RELEASE changeset")
        {
            tracing::error!(error = %e, "rolling back an abandoned change set failed");
        }
    }
}
