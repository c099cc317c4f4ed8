//! Fault injection and the request log. Rules, set through the control API
//! (`/_emulator/faults`) or `d365 emulator --fault JSON`, pick requests by method and path
//! pattern and answer them, for the next N matches or a share of them, with a throttle (429),
//! a server error, a delay, a dropped connection (before or after serving the request), or an
//! expired paging cookie. Every request
//! outside the control API is logged (method, path, status, time; never bodies or headers).

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::store::seed::Rng;

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// 429 with `Retry-After` and the request-count code, as service protection answers.
    Throttle,
    /// An error status (`status`, default 503), with `Retry-After` if given.
    Error,
    /// Waits `delay_ms`, then serves the request.
    Delay,
    /// Starts the answer and drops the connection (the request is not served).
    Drop,
    /// Serves the request, then drops the connection instead of answering: the write happened
    /// and the client cannot know, the case that must never make a client resend a POST.
    DropAfter,
    /// A paging request (`$skiptoken` or a FetchXML paging cookie) answered with the expired
    /// cookie error.
    ExpiredCookie,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// What to do.
    pub kind: FaultKind,
    /// Only this method (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Only paths (with the query) matching this pattern, `*` matching any run of characters;
    /// default `/api/data/*`.
    #[serde(default = "default_path")]
    pub path: String,
    /// The next N matching requests (with neither `count` nor `share`: all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Or this share (0–1) of matching requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    /// For `error`: the status (500, 502, 503, 504 …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// For `delay`: milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// `Retry-After` seconds for `throttle` (default 2) and `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

fn default_path() -> String {
    "/api/data/*".into()
}

impl FaultRule {
    /// Checks the numbers.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(s) = self.share
            && !(0.0..=1.0).contains(&s)
        {
            return Err(format!("share must be between 0 and 1, not {s}"));
        }
        if self.count.is_some() && self.share.is_some() {
            return Err("give count or share, not both".into());
        }
        if self.count == Some(0) {
            return Err("count must be at least 1".into());
        }
        if let Some(status) = self.status
            && !(400..=599).contains(&status)
        {
            return Err(format!(
                "status must be an error status (400 to 599), not {status}"
            ));
        }
        if self.kind == FaultKind::Delay && self.delay_ms.is_none() {
            return Err("a delay needs delay_ms".into());
        }
        Ok(())
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && glob(&self.path, path)
            && (self.kind != FaultKind::ExpiredCookie
                || path.contains("skiptoken")
                || path.contains("paging-cookie"))
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// A logged request.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    /// Unix milliseconds (emulator clock).
    pub at_ms: i64,
    /// The method.
    pub method: String,
    /// Path and query (no secrets travel there on the Web API; token requests carry theirs
    /// in the body, which is not logged).
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// Milliseconds to answer.
    pub elapsed_ms: u64,
    /// The injected fault, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultKind>,
}

/// The most requests the log keeps.
pub const LOG_CAPACITY: usize = 10_000;

/// The most bytes of a path (with its query) the log keeps: a full log of 64 KB URLs would
/// hold 640 MB.
pub const LOG_PATH_BYTES: usize = 1024;

/// `path` cut to [`LOG_PATH_BYTES`] at a character boundary, marked with `…` when cut.
pub(crate) fn log_path(mut path: String) -> String {
    if path.len() > LOG_PATH_BYTES {
        let mut end = LOG_PATH_BYTES;
        while !path.is_char_boundary(end) {
            end -= 1;
        }
        path.truncate(end);
        path.push('…');
    }
    path
}

/// Rules and log.
#[derive(Debug)]
pub struct Faults {
    rules: Mutex<Vec<(u64, FaultRule)>>,
    next_id: Mutex<u64>,
    rng: Mutex<Rng>,
    log: Mutex<VecDeque<LoggedRequest>>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            rules: Mutex::default(),
            next_id: Mutex::new(1),
            rng: Mutex::new(Rng::new(0x5eed)),
            log: Mutex::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Faults {
    /// Adds a rule; returns its id.
    pub fn add(&self, rule: FaultRule) -> Result<u64, String> {
        rule.validate()?;
        let mut next = lock(&self.next_id);
        let id = *next;
        *next += 1;
        lock(&self.rules).push((id, rule));
        Ok(id)
    }

    /// The rules in force, with the counts left.
    pub fn list(&self) -> Vec<(u64, FaultRule)> {
        lock(&self.rules).clone()
    }

    /// Removes every rule.
    pub fn clear(&self) {
        lock(&self.rules).clear();
    }

    /// The fault for this request: rules are tried in order and the first that picks it wins;
    /// a `share` rule that does not pick it lets the next rule try, so shares compose
    /// (5 % errors, then 3 % drops, then a delay for the rest).
    pub(crate) fn take(&self, method: &str, path: &str) -> Option<FaultRule> {
        let mut rules = lock(&self.rules);
        for index in 0..rules.len() {
            let rule = &mut rules[index].1;
            if !rule.matches(method, path) {
                continue;
            }
            if let Some(share) = rule.share {
                let roll = (lock(&self.rng).next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                if roll < share {
                    return Some(rule.clone());
                }
                continue;
            }
            let picked = rule.clone();
            if let Some(n) = &mut rule.count {
                *n -= 1;
                if *n == 0 {
                    rules.remove(index);
                }
            }
            return Some(picked);
        }
        None
    }

    /// The last `limit` requests, oldest first.
    pub fn log(&self, limit: usize) -> Vec<LoggedRequest> {
        let log = lock(&self.log);
        log.iter()
            .skip(log.len().saturating_sub(limit))
            .cloned()
            .collect()
    }

    /// Forgets the log.
    pub fn clear_log(&self) {
        lock(&self.log).clear();
    }

    pub(crate) fn record(&self, entry: LoggedRequest) {
        let mut log = lock(&self.log);
        if log.len() == LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: FaultKind) -> FaultRule {
        FaultRule {
            kind,
            method: None,
            path: default_path(),
            count: None,
            share: None,
            status: None,
            delay_ms: None,
            retry_after: None,
        }
    }

    #[test]
    fn long_paths_are_cut_at_a_character_boundary() {
        assert_eq!(log_path("/api/data".into()), "/api/data");
        let cut = log_path(format!("/{}", "é".repeat(2000)));
        assert!(
            cut.len() <= LOG_PATH_BYTES + '…'.len_utf8(),
            "{}",
            cut.len()
        );
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn globs() {
        assert!(glob("/api/data/*", "/api/data/v9.2/accounts?$top=1"));
        assert!(glob("*/accounts*", "/api/data/v9.2/accounts"));
        assert!(glob("/x", "/x"));
        assert!(!glob("/api/data/*/contacts", "/api/data/v9.2/accounts"));
        assert!(!glob("/a*a", "/a"));
    }

    #[test]
    fn count_and_share() {
        let f = Faults::default();
        f.add(FaultRule {
            count: Some(2),
            method: Some("POST".into()),
            ..rule(FaultKind::Error)
        })
        .unwrap();
        assert!(f.take("GET", "/api/data/v9.2/accounts").is_none());
        assert!(f.take("POST", "/api/data/v9.2/accounts").is_some());
        assert!(f.take("POST", "/api/data/v9.2/accounts").is_some());
        assert!(
            f.take("POST", "/api/data/v9.2/accounts").is_none(),
            "used up"
        );
        assert!(f.list().is_empty());

        f.add(FaultRule {
            share: Some(0.25),
            ..rule(FaultKind::Throttle)
        })
        .unwrap();
        let hits = (0..4000)
            .filter(|_| f.take("GET", "/api/data/v9.2/accounts").is_some())
            .count();
        assert!((800..1200).contains(&hits), "{hits}");

        assert!(
            f.add(FaultRule {
                share: Some(2.0),
                ..rule(FaultKind::Drop)
            })
            .is_err()
        );
        assert!(
            f.add(rule(FaultKind::Delay)).is_err(),
            "a delay needs delay_ms"
        );
        f.clear();
        f.add(rule(FaultKind::ExpiredCookie)).unwrap();
        assert!(f.take("GET", "/api/data/v9.2/accounts").is_none());
        assert!(
            f.take("GET", "/api/data/v9.2/accounts?$skiptoken=x")
                .is_some()
        );
    }
}
