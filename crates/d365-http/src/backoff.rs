//! Decorrelated-jitter backoff (AWS Architecture Blog, "Exponential Backoff And Jitter"):
//! `sleep = min(cap, random_between(base, previous * 3))`. It spreads retries of many clients
//! better than plain exponential backoff and never synchronises them.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Backoff limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// The first and smallest wait.
    pub base: Duration,
    /// The largest wait.
    pub cap: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(30),
        }
    }
}

/// Backoff state for one request's retries.
#[derive(Debug)]
pub struct Backoff {
    config: BackoffConfig,
    previous: Duration,
    rng: u64,
}

impl Backoff {
    /// A fresh backoff sequence.
    pub fn new(config: BackoffConfig) -> Self {
        // RandomState is seeded per process from OS randomness: enough for jitter, no rand crate.
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(config.base.as_nanos() as u64);
        Self {
            config,
            previous: config.base,
            rng: hasher.finish() | 1,
        }
    }

    /// The next wait.
    pub fn next_wait(&mut self) -> Duration {
        let lo = self.config.base.as_secs_f64();
        let hi = (self.previous.as_secs_f64() * 3.0).max(lo);
        let wait = lo + (hi - lo) * self.next_unit();
        let wait = Duration::from_secs_f64(wait).min(self.config.cap);
        self.previous = wait;
        wait
    }

    /// xorshift64*: a uniform number in [0, 1).
    fn next_unit(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let x = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_stay_within_base_and_cap() {
        let config = BackoffConfig {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
        };
        let mut backoff = Backoff::new(config);
        let waits: Vec<_> = (0..50).map(|_| backoff.next_wait()).collect();
        assert!(waits.iter().all(|w| *w >= config.base && *w <= config.cap));
        // It grows: some wait beyond three times the base shows up within 50 draws.
        assert!(waits.iter().any(|w| *w > config.base * 3));
    }
}
