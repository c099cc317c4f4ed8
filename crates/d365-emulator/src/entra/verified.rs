//! Bearer tokens whose signature the Web API has already verified, with the claims it checks.
//!
//! Verifying an RS256 signature is an RSA public-key operation, the largest single cost of a
//! cheap Web API request (a fifth of its CPU under load, measured with `perf`), and a client
//! sends the same token with every request for as long as it lives. What the verification
//! decides (the header's `alg` and `kid`, the signature, the claims' JSON) depends on the
//! token's bytes and on the emulator's signing key alone, and the key is fixed for the life of
//! the process (`AppState::key`). So its outcome is kept here, keyed by the exact token string:
//! another string, even one character apart, is verified afresh. Everything that can change
//! while a token lives (the clock against `exp` and `nbf`; audience, issuer and tenant against
//! the environment; the user or application) is still checked on every request by
//! [`super::validate::authenticate`]. Tokens that fail verification are not kept.
//!
//! The cache is bounded: at most [`CAPACITY`] tokens of at most [`MAX_TOKEN_BYTES`] each.
//! When it is full, expired tokens are dropped first, then all of them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::clock::SKEW_SECS;

/// The most tokens kept.
pub const CAPACITY: usize = 1_024;

/// Longer tokens are verified on every request, never kept (so the cache holds at most
/// `CAPACITY * MAX_TOKEN_BYTES` of token text).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The claims of a verified token that the Web API checks on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims {
    /// `aud`, when a string.
    pub aud: Option<String>,
    /// `iss`, when a string.
    pub iss: Option<String>,
    /// `tid`, when a string.
    pub tid: Option<String>,
    /// `exp`, when an integer.
    pub exp: Option<i64>,
    /// `nbf`, when an integer.
    pub nbf: Option<i64>,
    /// `appid`, when a string.
    pub appid: Option<String>,
    /// `oid`, when a string.
    pub oid: Option<String>,
    /// Whether the token carries `scp` (a user's delegated token; app-only tokens have none).
    pub delegated: bool,
}

impl VerifiedClaims {
    /// The checked claims of a verified token's payload.
    pub fn from_claims(claims: &Value) -> Self {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let int = |name: &str| claims.get(name).and_then(Value::as_i64);
        Self {
            aud: text("aud"),
            iss: text("iss"),
            tid: text("tid"),
            exp: int("exp"),
            nbf: int("nbf"),
            appid: text("appid"),
            oid: text("oid"),
            delegated: claims.get("scp").is_some(),
        }
    }

    /// Whether the token has expired at `now` (Unix seconds), skew included; a token without
    /// `exp` counts as expired here (the Web API refuses it anyway).
    fn expired(&self, now: i64) -> bool {
        self.exp
            .is_none_or(|exp| now > exp.saturating_add(SKEW_SECS))
    }
}

/// Verified tokens, by their exact text.
#[derive(Debug, Default)]
pub struct VerifiedTokens {
    tokens: RwLock<HashMap<Box<str>, Arc<VerifiedClaims>>>,
}

impl VerifiedTokens {
    /// The claims of `token` if its signature was verified before.
    pub fn get(&self, token: &str) -> Option<Arc<VerifiedClaims>> {
        self.tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }

    /// Keeps `token`, whose signature was just verified, with its claims; `now` (Unix
    /// seconds) decides which tokens to drop first when the cache is full.
    pub fn insert(&self, token: &str, claims: Arc<VerifiedClaims>, now: i64) {
        if token.len() > MAX_TOKEN_BYTES {
            return;
        }
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        if tokens.len() >= CAPACITY && !tokens.contains_key(token) {
            tokens.retain(|_, c| !c.expired(now));
            if tokens.len() >= CAPACITY {
                tokens.clear();
            }
        }
        tokens.insert(token.into(), claims);
    }

    /// How many tokens are kept.
    pub fn len(&self) -> usize {
        self.tokens.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no token is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(exp: i64) -> Arc<VerifiedClaims> {
        Arc::new(VerifiedClaims::from_claims(&json!({"exp": exp})))
    }

    #[test]
    fn the_claims_keep_the_types_the_checks_read() {
        let c = VerifiedClaims::from_claims(&json!({
            "aud": "https://org", "iss": 5, "tid": "t", "exp": 10, "nbf": 1.5,
            "appid": "a", "oid": "o", "scp": null
        }));
        assert_eq!(c.aud.as_deref(), Some("https://org"));
        assert_eq!(c.iss, None, "a number is no issuer");
        assert_eq!((c.exp, c.nbf), (Some(10), None), "nbf must be an integer");
        assert!(c.delegated, "scp present, even null");
        assert!(!VerifiedClaims::from_claims(&json!({})).delegated);
    }

    #[test]
    fn the_cache_is_bounded_and_drops_expired_tokens_first() {
        let cache = VerifiedTokens::default();
        let now = 1_000_000;
        cache.insert("live", claims(now + 3600), now);
        for i in 0..CAPACITY - 1 {
            cache.insert(&format!("expired-{i}"), claims(now - SKEW_SECS - 1), now);
        }
        assert_eq!(cache.len(), CAPACITY);
        cache.insert("new", claims(now + 3600), now);
        assert_eq!(cache.len(), 2, "the expired tokens made room");
        assert!(cache.get("live").is_some() && cache.get("new").is_some());

        for i in 0..CAPACITY * 3 {
            cache.insert(&format!("live-{i}"), claims(now + 3600), now);
            assert!(cache.len() <= CAPACITY);
        }
        assert!(cache.get(&format!("live-{}", CAPACITY * 3 - 1)).is_some());

        let long = "x".repeat(MAX_TOKEN_BYTES + 1);
        cache.insert(&long, claims(now + 3600), now);
        assert!(cache.get(&long).is_none(), "oversized tokens are not kept");
    }
}
