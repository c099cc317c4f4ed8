//! The read-only pool: [`READERS`](super::READERS) threads, each owning one connection, taking
//! reads from one queue, first come first served.
//!
//! A read is a closure sent to the queue; the request's task waits for its answer on a
//! oneshot channel. Under load a reader goes from one read to the next without sleeping, and
//! a request's task is not woken until its answer is there: one hand-over each way, where
//! tokio's blocking pool took a semaphore permit, a hand-over to a blocking thread and a
//! join. A slow read holds its reader only; the others, and the async workers, go on.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use rusqlite::Connection;

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

    /// The next job, waiting for one; `None` once the pool is closed and drained.
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
}

/// The reader threads; dropping the pool lets them finish the queued reads, close their
/// connections and end.
pub(super) struct Readers {
    queue: Arc<Queue>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("threads", &self.threads.len())
            .finish()
    }
}

impl Readers {
    /// A thread per connection.
    pub(super) fn start(connections: Vec<Connection>) -> std::io::Result<Self> {
        let queue = Arc::new(Queue::default());
        let mut pool = Self {
            queue: queue.clone(),
            threads: Vec::with_capacity(connections.len()),
        };
        for (i, mut conn) in connections.into_iter().enumerate() {
            let queue = queue.clone();
            let thread = std::thread::Builder::new()
                .name(format!("d365-reader-{i}"))
                .spawn(move || {
                    while let Some(job) = queue.next() {
                        job(&mut conn);
                    }
                })?;
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    /// Runs `f` on the first free reader and waits for its answer. A panic in `f` is the
    /// caller's again; the reader goes on. If the caller stops waiting (its request was
    /// dropped) before a reader takes `f`, `f` does not run.
    pub(super) async fn run<R, F>(&self, f: F) -> R
    where
        F: FnOnce(&mut Connection) -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn: &mut Connection| {
            if tx.is_closed() {
                return;
            }
            let _ = tx.send(catch_unwind(AssertUnwindSafe(|| f(conn))));
        });
        self.queue.lock().jobs.push_back(job);
        self.queue.ready.notify_one();
        match rx.await {
            Ok(Ok(out)) => out,
            Ok(Err(panic)) => resume_unwind(panic),
            Err(_) => panic!("store task panicked"),
        }
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        self.queue.lock().closed = true;
        self.queue.ready.notify_all();
        let me = std::thread::current().id();
        for thread in self.threads.drain(..) {
            // The last handle may go with a read's closure, on a reader itself.
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
    }
}
