//! The in-memory token cache: double-checked locking per key (object_store's `TokenCache`),
//! so concurrent callers across an expiry cause exactly one token request.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::RwLock;
use tokio::time::Instant;

use crate::error::AuthError;
use crate::secret::AccessToken;

/// Refresh at the latest this long before expiry.
const MIN_TTL: Duration = Duration::from_secs(5 * 60);

/// After a failed refresh, wait at most this long before trying again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// A cached access token with its expiry and the moment to refresh it.
#[derive(Debug, Clone)]
pub struct CachedToken {
    /// The token.
    pub token: AccessToken,
    /// When it stops being valid.
    pub expires_at: Instant,
    /// When to get a new one.
    pub refresh_at: Instant,
}

impl CachedToken {
    /// A token received now with `lifetime` (`expires_in`) and an optional `refresh_in` hint.
    pub fn new(token: AccessToken, lifetime: Duration, refresh_in: Option<Duration>) -> Self {
        let now = Instant::now();
        Self {
            token,
            expires_at: now + lifetime,
            refresh_at: now + Self::refresh_after(lifetime, refresh_in),
        }
    }

    /// When to refresh a token of `lifetime`: at `refresh_in` when the server sent it (MSAL
    /// honours it), else at half the lifetime, and never later than five minutes before expiry
    /// (for tokens shorter than ten minutes, half the lifetime is the earlier of the two).
    pub fn refresh_after(lifetime: Duration, refresh_in: Option<Duration>) -> Duration {
        let latest = lifetime.saturating_sub(MIN_TTL).max(lifetime / 2);
        refresh_in.unwrap_or(lifetime / 2).min(latest)
    }

    fn is_fresh(&self) -> bool {
        Instant::now() < self.refresh_at
    }

    fn is_valid(&self) -> bool {
        Instant::now() < self.expires_at
    }
}

type Slot = Arc<RwLock<Option<CachedToken>>>;

/// Access tokens per key (authority, client, resource, account), refreshed ahead of expiry.
#[derive(Debug, Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<String, Slot>>,
}

impl TokenCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self, key: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(key.to_owned()).or_default().clone()
    }

    /// Forgets `key`'s token if it is still `token` (a newer one stays): the resource refused
    /// it. Returns whether it was there.
    pub async fn remove_if(&self, key: &str, token: &AccessToken) -> bool {
        let slot = self.slot(key);
        let mut guard = slot.write().await;
        if guard
            .as_ref()
            .is_some_and(|c| c.token.secret() == token.secret())
        {
            *guard = None;
            return true;
        }
        false
    }

    /// Returns the cached token for `key` while fresh; otherwise runs `fetch` (only one caller
    /// at a time per key; the others wait and take its result). If the refresh fails while the
    /// old token is still valid, the old token is returned and a warning logged.
    pub async fn get_or_refresh<F, Fut>(
        &self,
        key: &str,
        fetch: F,
    ) -> Result<AccessToken, AuthError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedToken, AuthError>>,
    {
        let slot = self.slot(key);
        if let Some(cached) = slot.read().await.as_ref()
            && cached.is_fresh()
        {
            return Ok(cached.token.clone());
        }
        let mut guard = slot.write().await;
        if let Some(cached) = guard.as_ref()
            && cached.is_fresh()
        {
            // Another task refreshed while we waited for the lock.
            return Ok(cached.token.clone());
        }
        match fetch().await {
            Ok(new) => {
                let token = new.token.clone();
                *guard = Some(new);
                Ok(token)
            }
            Err(err) => match guard.as_mut() {
                Some(old) if old.is_valid() => {
                    tracing::warn!(key, error = %err, "token refresh failed; using the current token until it expires");
                    // Try again later, not once per waiting caller: the tasks queued on this
                    // lock take the still-valid token instead of each hitting a failing endpoint.
                    let now = Instant::now();
                    let retry_in = RETRY_AFTER_FAILURE.min((old.expires_at - now) / 2);
                    old.refresh_at = now + retry_in;
                    Ok(old.token.clone())
                }
                _ => Err(err),
            },
        }
    }

    /// Forgets the token for `key` (e.g. after the resource rejected it).
    pub async fn invalidate(&self, key: &str) {
        *self.slot(key).write().await = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn token(lifetime: u64) -> CachedToken {
        CachedToken::new(AccessToken::new("t"), Duration::from_secs(lifetime), None)
    }

    #[test]
    fn refresh_point() {
        let s = Duration::from_secs;
        assert_eq!(
            CachedToken::refresh_after(s(3600), None),
            s(1800),
            "half the lifetime"
        );
        assert_eq!(
            CachedToken::refresh_after(s(3600), Some(s(3500))),
            s(3300),
            "never later than 5 min before expiry"
        );
        assert_eq!(
            CachedToken::refresh_after(s(3600), Some(s(600))),
            s(600),
            "refresh_in wins when earlier"
        );
        assert_eq!(CachedToken::refresh_after(s(60), None), s(30));
        assert_eq!(CachedToken::refresh_after(s(60), Some(s(50))), s(30));
    }

    #[tokio::test(start_paused = true)]
    async fn one_fetch_for_many_concurrent_callers_per_expiry() {
        let cache = Arc::new(TokenCache::new());
        let fetches = Arc::new(AtomicU32::new(0));
        let run = || {
            let tasks: Vec<_> = (0..100)
                .map(|_| {
                    let cache = cache.clone();
                    let fetches = fetches.clone();
                    tokio::spawn(async move {
                        cache
                            .get_or_refresh("k", || async move {
                                fetches.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                Ok(token(600))
                            })
                            .await
                            .unwrap()
                    })
                })
                .collect();
            futures_util::future::join_all(tasks)
        };
        run().await;
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(100)).await;
        run().await;
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "still fresh");
        tokio::time::advance(Duration::from_secs(250)).await; // past refresh_at (half of 600 s)
        run().await;
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_refresh_is_not_retried_by_every_waiting_caller() {
        let cache = Arc::new(TokenCache::new());
        cache
            .get_or_refresh("k", || async { Ok(token(600)) })
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(400)).await;
        let attempts = Arc::new(AtomicU32::new(0));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (cache, attempts) = (cache.clone(), attempts.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_refresh("k", || async move {
                            attempts.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            Err(AuthError::InvalidConfig("down".into()))
                        })
                        .await
                })
            })
            .collect();
        for t in futures_util::future::join_all(tasks).await {
            assert_eq!(t.unwrap().unwrap().secret(), "t");
        }
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_refresh_keeps_a_still_valid_token() {
        let cache = TokenCache::new();
        cache
            .get_or_refresh("k", || async { Ok(token(600)) })
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(400)).await;
        let t = cache
            .get_or_refresh("k", || async {
                Err(AuthError::InvalidConfig("down".into()))
            })
            .await
            .unwrap();
        assert_eq!(t.secret(), "t");
        tokio::time::advance(Duration::from_secs(300)).await; // now expired
        assert!(
            cache
                .get_or_refresh("k", || async {
                    Err(AuthError::InvalidConfig("down".into()))
                })
                .await
                .is_err()
        );
    }
}
