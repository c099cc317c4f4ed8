//! Dataverse's service protection limits, per user, over a sliding window
//! (<https://learn.microsoft.com/power-apps/developer/data-platform/api-limits>): requests,
//! combined execution time and concurrent requests. Over a limit the request gets 429 with
//! `Retry-After` and one of the three documented error codes; every Web API answer carries
//! the `x-ms-ratelimit-*` headers and `x-ms-dop-hint`. On by default, as in every real org;
//! `--limits off` (or `limits = "off"` in the configuration file) is for benchmarks.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::{DataverseError, StartError};

/// The numbers. Tests set them small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceLimits {
    /// Requests per user per window (Dataverse: 6,000).
    pub requests: u64,
    /// Combined execution time per user per window, in milliseconds (Dataverse: 1,200,000).
    pub execution_ms: u64,
    /// The sliding window in seconds (Dataverse: 300).
    pub window_secs: u64,
    /// Concurrent requests per user (Dataverse: 52).
    pub concurrent: u64,
    /// The `x-ms-dop-hint` value: the parallelism the server recommends.
    pub dop_hint: u64,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        Self::real()
    }
}

impl ServiceLimits {
    /// The documented defaults.
    pub fn real() -> Self {
        Self {
            requests: 6_000,
            execution_ms: 1_200_000,
            window_secs: 300,
            concurrent: 52,
            dop_hint: 4,
        }
    }

    /// Numbers the limiter can work with: a request, a second of window and one concurrent
    /// request at least; a window of at most a day (its milliseconds stay far inside `i64`).
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.window_secs == 0 || self.concurrent == 0 || self.requests == 0 {
            return Err("requests, window_secs and concurrent must be above 0".into());
        }
        if self.window_secs > 86_400 {
            return Err("window_secs is at most 86400 (a day)".into());
        }
        Ok(())
    }

    /// `--limits real|off|FILE`: `None` for off; a FILE is TOML with any of the fields above
    /// (the rest keep the real values).
    pub fn from_flag(flag: &str) -> Result<Option<Self>, StartError> {
        match flag {
            "off" => Ok(None),
            "real" => Ok(Some(Self::real())),
            path => {
                let text =
                    std::fs::read_to_string(Path::new(path)).map_err(|source| StartError::Io {
                        what: format!("reading limits file {path}"),
                        source,
                    })?;
                let limits: Self = toml::from_str(&text).map_err(|e| {
                    StartError::Config(format!("limits file {path}: {}", e.message()))
                })?;
                limits
                    .check()
                    .map_err(|e| StartError::Config(format!("limits file {path}: {e}")))?;
                Ok(Some(limits))
            }
        }
    }
}

/// The configuration file's `limits`: a `[limits]` table (fields not given keep the real
/// values), or `"real"` / `"off"`.
pub(crate) mod setting {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::ServiceLimits;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Setting {
        Word(String),
        Table(ServiceLimits),
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<ServiceLimits>, D::Error> {
        match Setting::deserialize(d)? {
            Setting::Table(limits) => {
                limits.check().map_err(serde::de::Error::custom)?;
                Ok(Some(limits))
            }
            Setting::Word(w) if w == "real" => Ok(Some(ServiceLimits::real())),
            Setting::Word(w) if w == "off" => Ok(None),
            Setting::Word(w) => Err(serde::de::Error::custom(format!(
                "limits is \"real\", \"off\" or a [limits] table, not \"{w}\""
            ))),
        }
    }

    pub(crate) fn serialize<S: Serializer>(
        limits: &Option<ServiceLimits>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match limits {
            Some(l) => l.serialize(s),
            None => s.serialize_str("off"),
        }
    }
}

#[derive(Debug, Default)]
struct UserWindow {
    /// Admission times (ms) of requests in the window.
    starts: VecDeque<i64>,
    /// Completion times (ms) and execution times (ms) in the window.
    executions: VecDeque<(i64, u64)>,
    /// Sum of `executions`.
    execution_total: u64,
    /// Requests running now.
    running: u64,
}

impl UserWindow {
    fn prune(&mut self, horizon: i64) {
        while self.starts.front().is_some_and(|&t| t <= horizon) {
            self.starts.pop_front();
        }
        while let Some(&(t, ms)) = self.executions.front() {
            if t > horizon {
                break;
            }
            self.execution_total -= ms;
            self.executions.pop_front();
        }
    }
}

/// The limiter: one window per user.
#[derive(Debug, Default)]
pub struct Limiter {
    limits: Mutex<Option<ServiceLimits>>,
    users: Mutex<HashMap<String, UserWindow>>,
    /// Bumped when the windows are forgotten, so requests admitted before do not touch the
    /// new windows when they finish.
    generation: std::sync::atomic::AtomicU64,
}

/// An admitted request: counts as running until dropped, then adds its execution time.
#[derive(Debug)]
pub struct Admission {
    limiter: Arc<Limiter>,
    user: String,
    generation: u64,
    /// Admission on the emulator's clock, and on the monotonic one.
    admitted_ms: i64,
    started: Instant,
    /// The informational headers for the answer.
    pub headers: HeaderMap,
    /// The caller's combined execution time left in the window when admitted: what a `$batch`
    /// may spend on its parts.
    pub execution_left: std::time::Duration,
}

/// 429: the caller's combined execution time is used up; `retry` seconds.
pub(crate) fn execution_time_exceeded(l: &ServiceLimits, retry: u64) -> DataverseError {
    DataverseError::execution_time_exceeded(l.execution_ms, l.window_secs, retry)
}

impl Drop for Admission {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed().as_millis() as u64;
        let now = self.admitted_ms + elapsed as i64;
        let mut users = self.limiter.users.lock().unwrap_or_else(|e| e.into_inner());
        if self
            .limiter
            .generation
            .load(std::sync::atomic::Ordering::SeqCst)
            != self.generation
        {
            return;
        }
        if let Some(w) = users.get_mut(&self.user) {
            w.running = w.running.saturating_sub(1);
            w.executions.push_back((now, elapsed));
            w.execution_total += elapsed;
        }
    }
}

/// `1,199.46`: seconds with a thousands separator and two decimals, as Dataverse writes them.
fn seconds_text(ms: u64) -> String {
    let whole = (ms / 1000).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{:02}", (ms % 1000) / 10)
}

impl Limiter {
    /// A limiter with these limits (`None`: off).
    pub fn new(limits: Option<ServiceLimits>) -> Self {
        Self {
            limits: Mutex::new(limits),
            users: Mutex::default(),
            generation: Default::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Option<ServiceLimits> {
        *self.limits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the limits at run time (the control API) and forgets the windows.
    pub fn set(&self, limits: Option<ServiceLimits>) {
        *self.limits.lock().unwrap_or_else(|e| e.into_inner()) = limits;
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        users.clear();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Admits a request by `user`, or answers the 429 Dataverse would.
    pub fn admit(
        self: &Arc<Self>,
        clock: &Clock,
        user: &str,
    ) -> Result<Option<Admission>, DataverseError> {
        let Some(l) = self.limits() else {
            return Ok(None);
        };
        let now = clock.now_millis();
        let window_ms = l.window_secs as i64 * 1000;
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        let w = users.entry(user.to_owned()).or_default();
        w.prune(now - window_ms);
        // Seconds until the oldest entry leaves the window.
        let until = |t: Option<i64>| {
            t.map_or(1, |t| {
                ((t + window_ms - now).max(0) as u64).div_ceil(1000).max(1)
            })
        };
        if w.running >= l.concurrent {
            return Err(DataverseError::too_many_concurrent_requests(
                l.concurrent,
                1,
            ));
        }
        if w.starts.len() as u64 >= l.requests {
            return Err(DataverseError::too_many_requests(
                l.requests,
                l.window_secs,
                until(w.starts.front().copied()),
            ));
        }
        if w.execution_total >= l.execution_ms {
            return Err(execution_time_exceeded(
                &l,
                until(w.executions.front().map(|e| e.0)),
            ));
        }
        w.starts.push_back(now);
        w.running += 1;
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-ms-ratelimit-burst-remaining-xrm-requests",
            HeaderValue::from(l.requests - w.starts.len() as u64),
        );
        if let Ok(v) = HeaderValue::from_str(&seconds_text(
            l.execution_ms.saturating_sub(w.execution_total),
        )) {
            headers.insert("x-ms-ratelimit-time-remaining-xrm-requests", v);
        }
        headers.insert("x-ms-dop-hint", HeaderValue::from(l.dop_hint));
        Ok(Some(Admission {
            execution_left: std::time::Duration::from_millis(
                l.execution_ms.saturating_sub(w.execution_total),
            ),
            limiter: self.clone(),
            user: user.to_owned(),
            generation: self.generation.load(std::sync::atomic::Ordering::SeqCst),
            admitted_ms: now,
            started: Instant::now(),
            headers,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_written_as_dataverse_does() {
        assert_eq!(seconds_text(1_200_000), "1,200.00");
        assert_eq!(seconds_text(1_199_460), "1,199.46");
        assert_eq!(seconds_text(5), "0.00");
    }

    #[test]
    fn the_three_limits() {
        let clock = Clock::default();
        let limiter = Arc::new(Limiter::new(Some(ServiceLimits {
            requests: 3,
            execution_ms: 1_000_000,
            window_secs: 10,
            concurrent: 2,
            dop_hint: 2,
        })));
        let a = limiter.admit(&clock, "u").unwrap().unwrap();
        assert_eq!(
            a.headers["x-ms-ratelimit-burst-remaining-xrm-requests"],
            "2"
        );
        let b = limiter.admit(&clock, "u").unwrap().unwrap();
        let e = limiter.admit(&clock, "u").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (429, "0x80072326"));
        assert!(
            limiter.admit(&clock, "other").unwrap().is_some(),
            "per user"
        );
        drop((a, b));
        let _c = limiter.admit(&clock, "u").unwrap().unwrap();
        let e = limiter.admit(&clock, "u").unwrap_err();
        assert_eq!(e.code, "0x80072322");
        assert!((1..=10).contains(&e.retry_after.unwrap()));
        clock.advance(11);
        assert!(
            limiter.admit(&clock, "u").unwrap().is_some(),
            "the window slid"
        );

        limiter.set(Some(ServiceLimits {
            execution_ms: 0,
            ..ServiceLimits::real()
        }));
        drop(limiter.admit(&clock, "u").unwrap_err());
        limiter.set(None);
        assert!(limiter.admit(&clock, "u").unwrap().is_none(), "off");
    }
}
