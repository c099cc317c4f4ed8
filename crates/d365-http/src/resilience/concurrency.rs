//! Adaptive concurrency for parallel work (AIMD, as TCP does it): the limit starts at the
//! server's `x-ms-dop-hint` (Dataverse's recommended degree of parallelism), grows by one per
//! window of successes, and halves on a 429. Requests wait for a permit in FIFO order.
//!
//! Only answers to requests sent after the last decrease count as new congestion, so one burst
//! of 429s halves the limit once, not once per rejected request.

use std::sync::Mutex;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Bounds and start of the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcurrencyConfig {
    /// The limit before the server gives a hint.
    pub initial: usize,
    /// The lowest limit (at least 1).
    pub min: usize,
    /// The highest limit (Dataverse allows 52 concurrent requests per user).
    pub max: usize,
    /// The response header carrying the server's hint; `None` ignores hints.
    pub hint_header: Option<String>,
}

impl Default for ConcurrencyConfig {
    fn default() -> Self {
        Self {
            initial: 4,
            min: 1,
            max: 52,
            hint_header: Some("x-ms-dop-hint".into()),
        }
    }
}

impl ConcurrencyConfig {
    /// A fixed limit: no hint, no adaptation.
    pub fn fixed(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            initial: limit,
            min: limit,
            max: limit,
            hint_header: None,
        }
    }
}

#[derive(Debug)]
struct State {
    /// The limit, fractional so additive increase can add `1 / limit` per success.
    limit: f64,
    /// Permits the semaphore holds beyond the limit, to be forgotten as they come back.
    debt: usize,
    /// Bumped on every decrease.
    epoch: u64,
    /// Whether the limit came from the server's hint or a 429 already.
    settled_start: bool,
    in_flight: usize,
    stats: ConcurrencyStats,
}

/// What the controller has done (for logs, tests and benchmarks).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ConcurrencyStats {
    /// The limit now (rounded down).
    pub limit: usize,
    /// Most requests in flight at once.
    pub peak_in_flight: usize,
    /// Times the limit was halved.
    pub decreases: u64,
    /// Throttled answers seen.
    pub throttled: u64,
}

/// The controller. Share it behind an `Arc`; every request holds a [`Permit`] while in flight.
#[derive(Debug)]
pub struct ConcurrencyController {
    config: ConcurrencyConfig,
    semaphore: Semaphore,
    state: Mutex<State>,
}

/// A slot for one request; report the outcome with [`Permit::observe`] or just drop it.
#[derive(Debug)]
pub struct Permit<'a> {
    controller: &'a ConcurrencyController,
    permit: Option<SemaphorePermit<'a>>,
    epoch: u64,
}

impl ConcurrencyController {
    /// A controller at `config.initial`.
    pub fn new(config: ConcurrencyConfig) -> Self {
        let min = config.min.max(1);
        let max = config.max.max(min);
        let initial = config.initial.clamp(min, max);
        let config = ConcurrencyConfig {
            min,
            max,
            initial,
            ..config
        };
        Self {
            semaphore: Semaphore::new(initial),
            state: Mutex::new(State {
                limit: initial as f64,
                debt: 0,
                epoch: 0,
                settled_start: false,
                in_flight: 0,
                stats: ConcurrencyStats {
                    limit: initial,
                    ..ConcurrencyStats::default()
                },
            }),
            config,
        }
    }

    /// The header to read hints from.
    pub fn hint_header(&self) -> Option<&str> {
        self.config.hint_header.as_deref()
    }

    /// Waits for a slot.
    pub async fn acquire(&self) -> Permit<'_> {
        let permit = self
            .semaphore
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let mut state = self.lock();
        state.in_flight += 1;
        state.stats.peak_in_flight = state.stats.peak_in_flight.max(state.in_flight);
        Permit {
            controller: self,
            permit: Some(permit),
            epoch: state.epoch,
        }
    }

    /// The numbers so far.
    pub fn stats(&self) -> ConcurrencyStats {
        self.lock().stats
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the limit to `target` (clamped), adding permits or taking on debt.
    fn set_limit(&self, state: &mut State, target: f64) {
        let target = target.clamp(self.config.min as f64, self.config.max as f64);
        let (old, new) = (state.limit as usize, target as usize);
        state.limit = target;
        state.stats.limit = new;
        if new > old {
            let mut grow = new - old;
            let paid = grow.min(state.debt);
            state.debt -= paid;
            grow -= paid;
            self.semaphore.add_permits(grow);
        } else {
            state.debt += old - new;
        }
    }

    fn release(&self, permit: SemaphorePermit<'_>) {
        let mut state = self.lock();
        state.in_flight -= 1;
        if state.debt > 0 {
            state.debt -= 1;
            permit.forget();
        }
    }
}

impl Permit<'_> {
    /// The header the controller reads hints from.
    pub fn hint_header(&self) -> Option<&str> {
        self.controller.hint_header()
    }

    /// Reports the answer: `throttled` for a 429, and the server's hint if it sent one.
    pub fn observe(&self, throttled: bool, hint: Option<usize>) {
        let c = self.controller;
        let mut state = c.lock();
        if throttled {
            state.stats.throttled += 1;
            state.settled_start = true;
            if self.epoch == state.epoch {
                state.epoch += 1;
                state.stats.decreases += 1;
                let halved = (state.limit / 2.0).floor();
                c.set_limit(&mut state, halved);
            }
            return;
        }
        if !state.settled_start
            && c.config.hint_header.is_some()
            && let Some(hint) = hint
        {
            state.settled_start = true;
            c.set_limit(&mut state, hint as f64);
            return;
        }
        let grown = state.limit + 1.0 / state.limit;
        c.set_limit(&mut state, grown);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.controller.release(permit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn starts_at_the_hint_halves_once_per_burst_and_grows_back() {
        let c = ConcurrencyController::new(ConcurrencyConfig::default());
        assert_eq!(c.stats().limit, 4);
        c.acquire().await.observe(false, Some(8));
        assert_eq!(c.stats().limit, 8, "the first hint sets the start");
        // Eight requests in flight, all throttled: one decrease, not eight.
        let mut permits = Vec::new();
        for _ in 0..8 {
            permits.push(c.acquire().await);
        }
        assert_eq!(c.stats().peak_in_flight, 8);
        for p in &permits {
            p.observe(true, Some(8));
        }
        drop(permits);
        let s = c.stats();
        assert_eq!((s.limit, s.decreases, s.throttled), (4, 1, 8));
        // Only four fit now.
        let held: Vec<_> = futures_like_take(&c, 4).await;
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), c.acquire())
                .await
                .is_err(),
            "a fifth request waits"
        );
        drop(held);
        // Additive increase: about one per `limit` successes (4 + 1/4 + 1/4.25 + … passes 5
        // on the fifth).
        for _ in 0..5 {
            c.acquire().await.observe(false, Some(8));
        }
        assert_eq!(c.stats().limit, 5);
    }

    #[tokio::test]
    async fn stays_within_bounds() {
        let c = ConcurrencyController::new(ConcurrencyConfig {
            initial: 2,
            min: 2,
            max: 3,
            hint_header: None,
        });
        for _ in 0..10 {
            c.acquire().await.observe(true, None);
        }
        assert_eq!(c.stats().limit, 2);
        for _ in 0..100 {
            c.acquire().await.observe(false, None);
        }
        assert_eq!(c.stats().limit, 3);
        let fixed = ConcurrencyController::new(ConcurrencyConfig::fixed(5));
        fixed.acquire().await.observe(true, Some(50));
        assert_eq!(fixed.stats().limit, 5);
    }

    async fn futures_like_take(c: &ConcurrencyController, n: usize) -> Vec<Permit<'_>> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(c.acquire().await);
        }
        out
    }
}
