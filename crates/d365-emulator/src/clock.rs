//! The emulator's clock: system time plus an adjustable offset, so tests can move time
//! forward to expire tokens without waiting.

use std::sync::atomic::{AtomicI64, Ordering};

/// Wall-clock time in Unix seconds, shiftable.
#[derive(Debug, Default)]
pub struct Clock {
    offset_secs: AtomicI64,
}

impl Clock {
    /// Now, in Unix seconds.
    pub fn now(&self) -> i64 {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        real + self.offset_secs.load(Ordering::Relaxed)
    }

    /// Now, in Unix milliseconds.
    pub fn now_millis(&self) -> i64 {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        real + self.offset_secs.load(Ordering::Relaxed) * 1000
    }

    /// Moves the clock forward (or back, with a negative value).
    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::Relaxed);
    }
}
