//! Persistence: one SQLite database per emulator (a file under `--data-dir`, else in memory).
//! SQL lives only under `store/` and `query/`; handlers call these functions.

pub mod changes;
mod error;
pub mod jobs;
pub mod keys;
mod readers;
pub mod records;
mod refresh_tokens;
pub mod schema;
pub mod seed;
pub mod snapshot;
pub(crate) mod sql;
pub(crate) mod value;
pub mod write;

pub use error::StoreError;
pub use refresh_tokens::RefreshTokenRecord;
pub use value::{SqlFilter, Value, guid, new_id};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::error::StartError;

/// Read-only connections the database gets for slow queries, besides one per core for all
/// queries (`readers.rs`; WAL lets them read while the writer writes).
pub const READERS: usize = 4;

/// How much of the database file each reader maps into memory (`PRAGMA mmap_size`; SQLite
/// caps it at its build's limit, 2 GiB). A page a query reads is then a memory access into the
/// OS page cache, which all readers share, instead of a `pread` copying it into the reader's
/// own page cache: a third of a cheap query's time went to those copies.
pub const READER_MMAP_BYTES: i64 = 1 << 40;

/// The longest LIKE pattern a query may use, in characters (`contains`/`startswith`/
/// `endswith`, FetchXML `like` and its kin). SQLite matches a pattern against each row in one
/// step the deadline cannot interrupt, and its cost grows with the pattern. The limit is SQL
/// Server's, under Dataverse: a LIKE pattern of at most 8,000 bytes, 4,000 characters of
/// `nvarchar`, the longest string column; so a real org accepts everything the emulator does.
/// Connections carry the same limit for patterns built from columns at run time.
pub const MAX_LIKE_PATTERN: usize = 4_000;

/// How long one query may run before SQLite interrupts it: Dataverse's synchronous request
/// timeout (PROTOCOL.md D5, about two minutes).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(120);

/// Where a read starts (`readers.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// A fast reader, and a slow one once past the fast readers' budget: a read that may be
    /// cheap.
    Fast,
    /// A slow reader: a read known to be long, which on a fast reader would only run into the
    /// budget and start again (a page of thousands of rows), or which SQLite does in one step
    /// that no budget stops (`count(*)` of a whole table).
    Slow,
}

/// SQLite virtual-machine steps between two looks at the clock.
const PROGRESS_STEPS: i32 = 1_000;

/// The database. rusqlite is synchronous, so calls run off the async workers. Writes go
/// through one connection ([`Store::run`], on tokio's blocking pool), which SQLite serialises
/// anyway; queries run on a pool of reader threads, each owning a read-only connection
/// ([`Store::read`], `readers.rs`), each query within [`Store::query_timeout`], so one slow
/// query holds one slow reader, never the fast ones, the other slow ones or the writer.
///
/// Without `--data-dir` the database is a file in a private temporary directory (removed when
/// the last clone drops), not SQLite's `:memory:`: a `:memory:` database belongs to one
/// connection, and WAL with a reader pool needs a file. The file is written without `fsync`;
/// the OS page cache keeps it in memory.
#[derive(Debug, Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    /// The database file.
    path: PathBuf,
    /// The reader threads; a read waits in their queues, first come first served.
    readers: Arc<OnceLock<readers::Readers>>,
    /// Taken by every [`Store::run`], and by a change set for as long as it runs
    /// ([`Store::atomic`]): no other write can land inside its transaction.
    gate: Arc<tokio::sync::Mutex<()>>,
    /// The deadline of each [`Store::read`].
    query_timeout: Duration,
    /// The private directory of an in-memory store, removed on drop (declared after the
    /// connections so they close first).
    _temp: Option<Arc<tempfile::TempDir>>,
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
        let (path, temp) = match dir {
            Some(dir) => {
                let file = dir.join("dataverse.sqlite3");
                owner_only_files(dir, &file)?;
                (file, None)
            }
            None => {
                remove_abandoned_stores();
                // Private (0700) and removed on drop; TMPDIR=/dev/shm keeps it off the disk.
                let mut builder = tempfile::Builder::new();
                builder.prefix("d365-emulator-");
                #[cfg(unix)]
                builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
                let temp = builder.tempdir().map_err(|source| StartError::Io {
                    what: "creating the in-memory store's temporary directory".into(),
                    source,
                })?;
                let file = temp.path().join("dataverse.sqlite3");
                owner_only_files(temp.path(), &file)?;
                // Whose it is, so a later start can remove it if this process is killed.
                let _ =
                    std::fs::write(temp.path().join(OWNER_FILE), std::process::id().to_string());
                (file, Some(Arc::new(temp)))
            }
        };
        let conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Writes are acknowledged only after commit; NORMAL is durable in WAL mode except
        // across power loss, which an emulator can accept. In memory, nothing is kept.
        let sync = if temp.is_some() { "OFF" } else { "NORMAL" };
        conn.pragma_update(None, "synchronous", sync)?;
        write::tune_writer(&conn)?;
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        limit_patterns(&conn)?;
        refresh_tokens::create_table(&conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
            _temp: temp,
            readers: Arc::default(),
            gate: Arc::default(),
            query_timeout: QUERY_TIMEOUT,
        })
    }

    /// The same store with another deadline for each query.
    pub fn with_query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// How long one query may run.
    pub fn query_timeout(&self) -> Duration {
        self.query_timeout
    }

    /// Opens the read-only pool (after seeding, which needs the file to itself). Until then,
    /// reads share the writer's connection.
    pub fn open_readers(&self) -> Result<(), StartError> {
        let open = |n: usize| -> Result<Vec<Connection>, StartError> {
            (0..n).map(|_| self.open_reader()).collect()
        };
        let fast = open(readers::Readers::fast_lane_size())?;
        let pool =
            readers::Readers::start(fast, open(READERS)?).map_err(|source| StartError::Io {
                what: "starting the reader threads".into(),
                source,
            })?;
        let _ = self.readers.set(pool);
        Ok(())
    }

    /// One read-only connection to the database file, memory-mapped.
    fn open_reader(&self) -> Result<Connection, StartError> {
        let conn = Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "mmap_size", READER_MMAP_BYTES)?;
        limit_patterns(&conn)?;
        Ok(conn)
    }

    /// Reads that ran past the fast readers' budget and ran again on a slow reader.
    pub fn reads_moved_to_slow_readers(&self) -> u64 {
        self.readers.get().map_or(0, |r| r.moved())
    }

    /// Runs a read-only `f` on a pooled reader (`readers.rs`: a fast one first, a slow one if
    /// `f` does more than a fast reader's budget of work, when `f` runs again from the start),
    /// or on the writer's connection when there is no pool, within the query deadline: past
    /// it SQLite stops the statement and `f` sees [`rusqlite::ErrorCode::OperationInterrupted`] ([`StoreError::TimedOut`]).
    pub async fn read<R, F>(&self, f: F) -> R
    where
        F: Fn(&Connection) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        let timeout = self.query_timeout;
        // Inside a change set, reads see its uncommitted writes (a pooled reader would not).
        match self.readers.get() {
            Some(pool) if !self.in_atomic() => pool.run(timeout, f).await,
            _ => self.run(move |c| with_deadline(c, timeout, f)).await,
        }
    }

    /// [`Store::read`] starting where `start` says.
    pub(crate) async fn read_from<R, F>(&self, start: Start, f: F) -> R
    where
        F: Fn(&Connection) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        let timeout = self.query_timeout;
        match self.readers.get() {
            Some(pool) if !self.in_atomic() => match start {
                Start::Fast => pool.run(timeout, f).await,
                Start::Slow => pool.run_slow(timeout, f).await,
            },
            _ => self.run(move |c| with_deadline(c, timeout, f)).await,
        }
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

/// Names the process an in-memory store's directory belongs to.
const OWNER_FILE: &str = "owner.pid";

/// Removes the in-memory stores of emulators that were killed before they could remove their
/// own (SIGKILL, a crash): directories of ours whose owner process no longer runs. Linux
/// only (`/proc`); elsewhere they stay until the system cleans its temporary directory.
fn remove_abandoned_stores() {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let ours = entry
            .file_name()
            .to_string_lossy()
            .starts_with("d365-emulator-")
            && entry.file_type().is_ok_and(|t| t.is_dir());
        let owner = std::fs::read_to_string(dir.join(OWNER_FILE)).ok();
        let dead = owner
            .and_then(|pid| pid.trim().parse::<u32>().ok())
            .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if ours && dead {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// LIKE patterns built at run time (from a column) stop at the planner's limit too: in bytes,
/// room for [`MAX_LIKE_PATTERN`] characters of four bytes and two `%`.
fn limit_patterns(conn: &Connection) -> rusqlite::Result<()> {
    let bytes = MAX_LIKE_PATTERN * 4 + 2;
    conn.set_limit(
        rusqlite::limits::Limit::SQLITE_LIMIT_LIKE_PATTERN_LENGTH,
        bytes as i32,
    )?;
    Ok(())
}

/// Runs `f` on `conn` with SQLite's progress handler interrupting it after `timeout`.
fn with_deadline<R>(
    conn: &mut Connection,
    timeout: Duration,
    f: impl FnOnce(&Connection) -> R,
) -> R {
    with_limits(conn, timeout, None, f)
}

/// Runs `f` with SQLite stopping its statements once `timeout` has passed, or, with a
/// `budget`, once they have run that many virtual-machine steps in all (then the flag is
/// set). A stopped statement fails with [`rusqlite::ErrorCode::OperationInterrupted`].
fn with_limits<R>(
    conn: &mut Connection,
    timeout: Duration,
    budget: Option<(u64, Arc<std::sync::atomic::AtomicBool>)>,
    f: impl FnOnce(&Connection) -> R,
) -> R {
    let deadline = Instant::now() + timeout;
    let mut steps = 0u64;
    let handler = move || {
        if let Some((budget, over)) = &budget {
            steps += PROGRESS_STEPS as u64;
            if steps > *budget {
                over.store(true, std::sync::atomic::Ordering::Relaxed);
                return true;
            }
        }
        Instant::now() >= deadline
    };
    if let Err(e) = conn.progress_handler(PROGRESS_STEPS, Some(handler)) {
        tracing::warn!(error = %e, "the query deadline could not be set");
    }
    let out = f(conn);
    let _ = conn.progress_handler(PROGRESS_STEPS, None::<fn() -> bool>);
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A query that never ends by itself.
    const ENDLESS: &str =
        "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r";

    /// An in-memory store with readers, each query within `timeout`, and a table `t` of one row.
    async fn store_with_one_row(timeout: Duration) -> Store {
        let store = Store::open(None).unwrap().with_query_timeout(timeout);
        store
            .run(|c| c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1)"))
            .await
            .unwrap();
        store.open_readers().unwrap();
        store
    }

    /// The endless query, on a task of its own.
    fn spawn_endless(store: &Store) -> tokio::task::JoinHandle<rusqlite::Result<i64>> {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .read(|c| c.query_row(ENDLESS, [], |r| r.get::<_, i64>(0)))
                .await
        })
    }

    /// The rows of `t`: a cheap read.
    async fn rows_of_t(store: &Store) -> i64 {
        store
            .read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_past_its_deadline_stops_and_stalls_nobody_meanwhile() {
        let store = store_with_one_row(Duration::from_secs(3)).await;
        let slow = spawn_endless(&store);
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Reads on the other readers and writes on the writer go on meanwhile.
        for i in 0..20 {
            assert_eq!(rows_of_t(&store).await, 1 + i);
            store
                .run(|c| c.execute("INSERT INTO t VALUES (1)", []))
                .await
                .unwrap();
        }
        assert!(
            !slow.is_finished(),
            "the endless query ended before its deadline"
        );
        let e = slow.await.unwrap().unwrap_err();
        assert!(matches!(StoreError::from(e), StoreError::TimedOut));
        // The reader is usable again, without the old deadline.
        assert_eq!(rows_of_t(&store).await, 21);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_reads_move_to_the_slow_readers_and_cheap_ones_never_wait_for_them() {
        // Generous times: CI runs this beside other tests on two cores.
        let store = store_with_one_row(Duration::from_secs(3)).await;
        // More endless reads than there are fast and slow readers together.
        let endless = readers::Readers::fast_lane_size() + READERS + 2;
        let mut slow = Vec::new();
        for _ in 0..endless {
            slow.push(spawn_endless(&store));
        }
        let started = Instant::now();
        while store.reads_moved_to_slow_readers() < endless as u64 {
            assert!(started.elapsed() < Duration::from_secs(2), "they stay fast");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Every slow reader is busy and more reads wait for one; cheap reads go on.
        for _ in 0..50 {
            assert_eq!(rows_of_t(&store).await, 1);
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a cheap read waited"
        );
        assert_eq!(store.reads_moved_to_slow_readers(), endless as u64);
        // A read known to be long waits for a slow reader, however cheap it turns out.
        let long = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .read_from(Start::Slow, |c| {
                        c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!long.is_finished(), "it went to a fast reader");
        assert!(slow.iter().all(|s| !s.is_finished()));
        for s in slow {
            let e = s.await.unwrap().unwrap_err();
            assert!(matches!(StoreError::from(e), StoreError::TimedOut));
        }
        assert_eq!(long.await.unwrap().unwrap(), 1);
    }

    #[test]
    fn the_store_of_a_killed_emulator_is_removed_at_the_next_start() {
        let abandoned = tempfile::Builder::new()
            .prefix("d365-emulator-")
            .tempdir()
            .unwrap()
            .keep();
        // No process has this id (above Linux's pid_max).
        std::fs::write(abandoned.join(OWNER_FILE), "4194305").unwrap();
        let running = tempfile::Builder::new()
            .prefix("d365-emulator-")
            .tempdir()
            .unwrap();
        std::fs::write(
            running.path().join(OWNER_FILE),
            std::process::id().to_string(),
        )
        .unwrap();
        let _store = Store::open(None).unwrap();
        assert!(!abandoned.exists());
        assert!(running.path().exists());
    }

    #[tokio::test]
    async fn the_in_memory_store_is_private_and_gone_after_the_last_clone() {
        let store = Store::open(None).unwrap();
        let dir = store.path.parent().unwrap().to_owned();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        store.open_readers().unwrap();
        let clone = store.clone();
        drop(store);
        assert!(dir.exists());
        drop(clone);
        assert!(!dir.exists());
    }
}
