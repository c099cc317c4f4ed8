//! Short-lived sign-in state kept in memory: pending device codes, authorization codes, and
//! client-assertion ids already seen (replay protection). None of it outlives the process,
//! as none of it outlives a sign-in.

use std::collections::HashMap;
use std::sync::Mutex;

/// What a sign-in was for, resolved when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInTarget {
    /// The token audience (the environment URL as the client spelled it).
    pub aud: String,
    /// v2 `offline_access` (v1 user flows always get a refresh token).
    pub offline: bool,
    /// `openid` was asked for: issue an ID token.
    pub openid: bool,
    /// `client_info=1` was sent.
    pub client_info: bool,
    /// The v2 endpoint started it.
    pub v2: bool,
}

/// Where a device code stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Waiting for the user.
    Pending,
    /// The user signed in (object id).
    Approved(String),
    /// The user declined.
    Declined,
}

/// A device-code sign-in in progress.
#[derive(Debug, Clone)]
pub struct DeviceSession {
    /// The short code the user types.
    pub user_code: String,
    /// The app.
    pub client_id: String,
    /// The tenant the sign-in started at (`None` for `organizations`/`common`).
    pub tenant: Option<String>,
    /// What the token is for.
    pub target: SignInTarget,
    /// Unix seconds.
    pub expires_at: i64,
    /// Seconds between polls.
    pub interval: i64,
    /// When the client last polled (Unix milliseconds).
    pub last_poll_ms: Option<i64>,
    /// Where it stands.
    pub status: DeviceStatus,
}

/// An issued authorization code.
#[derive(Debug, Clone)]
pub struct AuthCodeSession {
    /// The app.
    pub client_id: String,
    /// The redirect URI it was issued for.
    pub redirect_uri: String,
    /// What the token is for.
    pub target: SignInTarget,
    /// The PKCE challenge and method, if any.
    pub challenge: Option<(String, String)>,
    /// `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
    /// The user's object id.
    pub user_oid: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// Redeemed already (a second use is AADSTS54005).
    pub redeemed: bool,
}

/// All in-flight sign-in state.
#[derive(Debug, Default)]
pub struct Sessions {
    /// By device code.
    pub devices: Mutex<HashMap<String, DeviceSession>>,
    /// By authorization code.
    pub codes: Mutex<HashMap<String, AuthCodeSession>>,
    /// Client assertion `jti`s seen, with their expiry (Unix seconds).
    pub jtis: Mutex<HashMap<String, i64>>,
}

impl Sessions {
    /// Records an assertion id; `false` if it was seen before. Ids whose assertion has expired
    /// (plus skew) are forgotten: such an assertion is refused on its time anyway.
    pub fn first_use_of_jti(&self, jti: String, exp: i64, now: i64) -> bool {
        let mut seen = self.jtis.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, e| *e + 600 > now);
        if seen.contains_key(&jti) {
            return false;
        }
        seen.insert(jti, exp);
        true
    }

    /// Forgets codes and device sign-ins that can no longer be used.
    pub fn prune(&self, now: i64) {
        // Kept ten minutes past expiry so a late redemption hears "expired", not "unknown".
        self.codes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, c| c.expires_at + 600 > now);
        self.devices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, d| d.expires_at + 60 > now);
    }

    /// Finds the device code of a user code.
    pub fn device_code_for(&self, user_code: &str) -> Option<String> {
        let devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        devices
            .iter()
            .find(|(_, s)| s.user_code.eq_ignore_ascii_case(user_code.trim()))
            .map(|(k, _)| k.clone())
    }
}

/// A user code as Entra shows them: nine upper-case letters and digits, no look-alikes.
pub fn new_user_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 9];
    aws_lc_rs::rand::fill(&mut bytes).expect("system randomness unavailable");
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// An opaque code: 48 random bytes, base64url.
pub fn new_opaque_code(prefix: &str) -> String {
    let mut bytes = [0u8; 48];
    aws_lc_rs::rand::fill(&mut bytes).expect("system randomness unavailable");
    format!(
        "{prefix}{}",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
    )
}
