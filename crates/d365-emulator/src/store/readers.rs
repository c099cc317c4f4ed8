//! The read-only pool: two lanes of reader threads, each thread owning one connection and
//! taking reads from its lane's queue, first come first served.
//!
//! A read is a closure sent to a queue; the request's task waits for its answer on a oneshot
//! channel. Under load a reader goes from one read to the next without sleeping, and a
//! request's task is not woken until its answer is there: one hand-over each way.
//!
//! A read starts in the fast lane, one reader per core, unless it is known to be long
//! ([`Start::Slow`](super::Start)): more threads than cores only
//! take turns, and a read whose thread loses its core mid-query makes its caller wait a whole
//! time slice (the tail of a type-ahead query at 50 connections). A read that runs past
//! [`FAST_BUDGET_STEPS`] there (a scan, a large aggregate) is stopped and starts again in the
//! slow lane, [`READERS`](super::READERS) threads of its own: slow reads never hold the
//! fast lane for longer than the budget, and they do not hold one another up either, up to
//! the slow lane's size. Reads have no effects, so running one again changes nothing.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::{PROGRESS_STEPS, with_limits};

/// How much SQLite work a read may do in the fast lane, in virtual-machine steps (about a
/// millisecond; a type-ahead page takes a few thousand).
pub(super) const FAST_BUDGET_STEPS: u64 = 100_000;

/// The most fast readers, whatever the number of cores.
const MAX_FAST_READERS: usize = 16;

/// One read: runs on a reader's connection.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

#[derive(Default)]
struct Queue {
    state: Mutex<State>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    closed: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, job: Job) {
        self.lock().jobs.push_back(job);
        self.ready.notify_one();
    }

    /// The next job, waiting for one; `None` once the queue is closed and drained.
    fn next(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            if state.closed {
                return None;
            }
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

/// Threads taking jobs from one queue; dropping the lane lets them finish the queued jobs,
/// close their connections and end.
struct Lane {
    queue: Arc<Queue>,
    threads: Vec<JoinHandle<()>>,
}

impl Lane {
    fn start(name: &str, connections: Vec<Connection>) -> std::io::Result<Self> {
        // The lane first: if a thread cannot start, dropping it ends those that did.
        let mut lane = Self {
            queue: Arc::default(),
            threads: Vec::with_capacity(connections.len()),
        };
        for (i, mut conn) in connections.into_iter().enumerate() {
            let queue = lane.queue.clone();
            lane.threads.push(
                std::thread::Builder::new()
                    .name(format!("d365-{name}-{i}"))
                    .spawn(move || {
                        while let Some(job) = queue.next() {
                            job(&mut conn);
                        }
                    })?,
            );
        }
        Ok(lane)
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        self.queue.close();
        let me = std::thread::current().id();
        for thread in self.threads.drain(..) {
            // The last handle may go with a read's closure, on a reader itself.
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
    }
}

/// The reader threads; dropping the pool lets them finish the queued reads, close their
/// connections and end.
pub(super) struct Readers {
    /// Declared first, so dropped first: its last reads may still move to the slow lane.
    fast: Lane,
    slow: Lane,
    /// Reads that went on to the slow lane (for tests and tuning).
    moved: Arc<AtomicU64>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("fast", &self.fast.threads.len())
            .field("slow", &self.slow.threads.len())
            .finish()
    }
}

impl Readers {
    /// How many fast readers this machine gets: one per core.
    pub(super) fn fast_lane_size() -> usize {
        std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, MAX_FAST_READERS)
    }

    /// A thread per connection.
    pub(super) fn start(fast: Vec<Connection>, slow: Vec<Connection>) -> std::io::Result<Self> {
        Ok(Self {
            fast: Lane::start("reader", fast)?,
            slow: Lane::start("slow-reader", slow)?,
            moved: Arc::default(),
        })
    }

    /// Reads that ran past the fast lane's budget so far.
    pub(super) fn moved(&self) -> u64 {
        self.moved.load(Ordering::Relaxed)
    }

    /// Runs `f` on a reader, each statement within `timeout`, and waits for its answer:
    /// first on a fast reader, then, if it runs past the budget there, from the start on a
    /// slow one. A panic in `f` is the caller's again; the reader goes on. If the caller stops
    /// waiting (its request was dropped) before a reader takes `f`, `f` does not run.
    pub(super) async fn run<R, F>(&self, timeout: Duration, f: F) -> R
    where
        F: Fn(&Connection) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let f = Arc::new(f);
        let (slow, moved) = (self.slow.queue.clone(), self.moved.clone());
        let job: Job = Box::new(move |conn: &mut Connection| {
            if tx.is_closed() {
                return;
            }
            let over = Arc::new(AtomicBool::new(false));
            let budget = Some((FAST_BUDGET_STEPS, over.clone()));
            let out = catch_unwind(AssertUnwindSafe(|| with_limits(conn, timeout, budget, &*f)));
            // Whatever `f` made of its stopped statement (an error, a panic), it starts again.
            if over.load(Ordering::Relaxed) {
                moved.fetch_add(1, Ordering::Relaxed);
                slow.push(slow_job(tx, timeout, f));
                return;
            }
            let _ = tx.send(out);
        });
        self.fast.queue.push(job);
        answer(rx).await
    }

    /// [`Readers::run`] straight on a slow reader: for a read known to be long whose work
    /// SQLite does in one step that no budget or deadline can stop (`count(*)` of a table).
    pub(super) async fn run_slow<R, F>(&self, timeout: Duration, f: F) -> R
    where
        F: Fn(&Connection) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.slow.queue.push(slow_job(tx, timeout, Arc::new(f)));
        answer(rx).await
    }
}

/// A read's answer, or its panic.
type Answer<R> = std::thread::Result<R>;

/// `f` on a slow reader within `timeout`, its answer sent on `tx`; nothing if the caller left.
fn slow_job<R, F>(tx: tokio::sync::oneshot::Sender<Answer<R>>, timeout: Duration, f: Arc<F>) -> Job
where
    F: Fn(&Connection) -> R + Send + Sync + 'static,
    R: Send + 'static,
{
    Box::new(move |conn: &mut Connection| {
        if tx.is_closed() {
            return;
        }
        let _ = tx.send(catch_unwind(AssertUnwindSafe(|| {
            with_limits(conn, timeout, None, &*f)
        })));
    })
}

/// Waits for a read's answer; its panic is the caller's again.
async fn answer<R>(rx: tokio::sync::oneshot::Receiver<Answer<R>>) -> R {
    match rx.await {
        Ok(Ok(out)) => out,
        Ok(Err(panic)) => resume_unwind(panic),
        Err(_) => panic!("store task panicked"),
    }
}

/// How often the budget is looked at, in [`PROGRESS_STEPS`].
const _: () = assert!(FAST_BUDGET_STEPS >= PROGRESS_STEPS as u64);
