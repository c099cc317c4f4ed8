//! The emulator's clock: system time plus an adjustable offset, so tests can move time
//! forward to expire tokens without waiting.

use std::sync::atomic::{AtomicI64, Ordering};

/// Clock skew tolerated on `nbf` and `exp`.
pub const SKEW_SECS: i64 = 300;

/// The latest time the clock shows: 9999-12-31T23:59:59Z, the last second OData's
/// `DateTimeOffset` can write. Everything that adds a lifetime to "now" stays far from `i64`
/// overflow.
pub const END_OF_TIME: i64 = 253_402_300_799;

/// Wall-clock time in Unix seconds, shiftable.
#[derive(Debug, Default)]
pub struct Clock {
    offset_secs: AtomicI64,
}

fn real_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Clock {
    /// Now, in Unix seconds, between the epoch and [`END_OF_TIME`].
    pub fn now(&self) -> i64 {
        real_secs()
            .saturating_add(self.offset_secs.load(Ordering::Relaxed))
            .clamp(0, END_OF_TIME)
    }

    /// Now, in Unix milliseconds.
    pub fn now_millis(&self) -> i64 {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let offset = self
            .offset_secs
            .load(Ordering::Relaxed)
            .saturating_mul(1000);
        real.saturating_add(offset).clamp(0, END_OF_TIME * 1000)
    }

    /// Moves the clock forward (or back, with a negative value). The offset saturates at the
    /// clock's range: an absurd shift pins the clock at the end of time (or the epoch)
    /// instead of wrapping around, and a shift back from there moves it at once.
    pub fn advance(&self, secs: i64) {
        let real = real_secs();
        // `fetch_update` with a closure that never fails cannot return `Err`.
        let _ = self
            .offset_secs
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |offset| {
                Some(offset.saturating_add(secs).clamp(-real, END_OF_TIME - real))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_saturates_instead_of_wrapping() {
        let clock = Clock::default();
        clock.advance(i64::MAX);
        clock.advance(i64::MAX);
        assert_eq!(clock.now(), END_OF_TIME);
        assert_eq!(clock.now_millis() / 1000, END_OF_TIME);
        clock.advance(-3600);
        // (a second may tick between the shift and the reading)
        let back = clock.now();
        assert!(
            (END_OF_TIME - 3600..END_OF_TIME - 3598).contains(&back),
            "{back}"
        );
        clock.advance(i64::MIN);
        clock.advance(i64::MIN);
        assert_eq!(clock.now(), 0);
        assert!((0..1000).contains(&clock.now_millis()));
    }
}
