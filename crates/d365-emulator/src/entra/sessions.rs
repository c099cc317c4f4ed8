//! Short-lived sign-in state kept in memory: pending device codes, authorization codes, and
//! client-assertion ids already seen (replay protection). None of it outlives the process,
//! as none of it outlives a sign-in.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// What a sign-in was for, resolved when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInTarget {
    /// The token audience (the environment URL, or a storage resource, as the client spelled
    /// it).
    pub aud: String,
    /// v2 `offline_access` (v1 user flows always get a refresh token).
    pub offline: bool,
    /// `openid` was asked for: issue an ID token.
    pub openid: bool,
    /// `client_info=1` was sent.
    pub client_info: bool,
    /// The v2 endpoint started it.
    pub v2: bool,
    /// The v2 answer's `scope`, decided by what the sign-in asked for (`entra::scope`);
    /// `None` for v1 sign-ins and v2 refreshes that named no scope.
    pub scope: Option<String>,
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

/// Pending sign-ins one client may have of each kind (device codes, authorization codes).
pub const MAX_PENDING_PER_CLIENT: usize = 1_000;
/// Pending sign-ins of each kind, all clients together.
pub const MAX_PENDING: usize = 10_000;

/// A sign-in refused because too many of its kind are pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many sign-ins pending ({pending})")]
pub struct TooManySignIns {
    /// How many are pending (for the client, or overall when that cap was hit).
    pub pending: usize,
}

/// What [`Pending`] needs to know of a sign-in.
pub trait SignIn {
    /// The app it is for.
    fn client_id(&self) -> &str;
    /// When it can be forgotten (Unix seconds): a while after it expires, so that a late
    /// redemption hears "expired", not "unknown".
    fn forget_at(&self) -> i64;
    /// The code the user types, if any (looked up case-insensitively).
    fn user_code(&self) -> Option<&str> {
        None
    }
}

impl SignIn for DeviceSession {
    fn client_id(&self) -> &str {
        &self.client_id
    }
    fn forget_at(&self) -> i64 {
        self.expires_at.saturating_add(60)
    }
    fn user_code(&self) -> Option<&str> {
        Some(&self.user_code)
    }
}

impl SignIn for AuthCodeSession {
    fn client_id(&self) -> &str {
        &self.client_id
    }
    fn forget_at(&self) -> i64 {
        self.expires_at.saturating_add(600)
    }
}

/// Sign-ins of one kind by their code, capped per client and overall, with indexes so that
/// nothing is found by scanning: by user code, by client (a count), by time to forget.
#[derive(Debug)]
pub struct Pending<S> {
    by_code: HashMap<String, S>,
    by_user_code: HashMap<String, String>,
    per_client: HashMap<String, usize>,
    forget: BTreeSet<(i64, String)>,
    max_per_client: usize,
    max_total: usize,
}

impl<S: SignIn> Default for Pending<S> {
    fn default() -> Self {
        Self::with_caps(MAX_PENDING_PER_CLIENT, MAX_PENDING)
    }
}

impl<S: SignIn> Pending<S> {
    /// An empty table with these caps.
    pub fn with_caps(max_per_client: usize, max_total: usize) -> Self {
        Self {
            by_code: HashMap::new(),
            by_user_code: HashMap::new(),
            per_client: HashMap::new(),
            forget: BTreeSet::new(),
            max_per_client,
            max_total,
        }
    }

    /// Adds a sign-in, unless its client (or everyone) has too many pending; first forgets
    /// those whose time is up.
    pub fn insert(&mut self, code: String, session: S, now: i64) -> Result<(), TooManySignIns> {
        self.prune(now);
        // Codes are 48 random bytes: a repeat cannot happen, but must not break the indexes.
        self.remove(&code);
        let client = session.client_id().to_ascii_lowercase();
        let of_client = self.per_client.get(&client).copied().unwrap_or(0);
        if of_client >= self.max_per_client {
            return Err(TooManySignIns { pending: of_client });
        }
        if self.by_code.len() >= self.max_total {
            return Err(TooManySignIns {
                pending: self.by_code.len(),
            });
        }
        *self.per_client.entry(client).or_default() += 1;
        if let Some(user_code) = session.user_code() {
            self.by_user_code
                .insert(user_code.to_ascii_uppercase(), code.clone());
        }
        self.forget.insert((session.forget_at(), code.clone()));
        self.by_code.insert(code, session);
        Ok(())
    }

    /// Whether a user code is in use (new ones must differ).
    pub fn user_code_taken(&self, user_code: &str) -> bool {
        self.by_user_code
            .contains_key(&user_code.trim().to_ascii_uppercase())
    }

    /// The code of a user code.
    pub fn code_for(&self, user_code: &str) -> Option<String> {
        self.by_user_code
            .get(&user_code.trim().to_ascii_uppercase())
            .cloned()
    }

    /// A sign-in by its code.
    pub fn get(&self, code: &str) -> Option<&S> {
        self.by_code.get(code)
    }

    /// A sign-in by its code, to change its state (not its client, codes or expiry).
    pub fn get_mut(&mut self, code: &str) -> Option<&mut S> {
        self.by_code.get_mut(code)
    }

    /// Removes a sign-in.
    pub fn remove(&mut self, code: &str) -> Option<S> {
        let session = self.by_code.remove(code)?;
        self.forget.remove(&(session.forget_at(), code.to_owned()));
        self.unindex(&session);
        Some(session)
    }

    /// How many are kept.
    pub fn len(&self) -> usize {
        self.by_code.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.by_code.is_empty()
    }

    /// Forgets the sign-ins whose time is up.
    pub fn prune(&mut self, now: i64) {
        while let Some((at, code)) = self.forget.first().cloned() {
            if at > now {
                break;
            }
            self.forget.pop_first();
            if let Some(session) = self.by_code.remove(&code) {
                self.unindex(&session);
            }
        }
    }

    fn unindex(&mut self, session: &S) {
        if let Some(user_code) = session.user_code() {
            self.by_user_code.remove(&user_code.to_ascii_uppercase());
        }
        let client = session.client_id().to_ascii_lowercase();
        if let Some(n) = self.per_client.get_mut(&client) {
            *n -= 1;
            if *n == 0 {
                self.per_client.remove(&client);
            }
        }
    }
}

/// Client assertion ids seen, each kept until its assertion has expired (plus the skew the
/// time check allows): after that the assertion is refused on its time, so the id can go.
#[derive(Debug, Default)]
pub struct SeenAssertions {
    expiry: HashMap<String, i64>,
    forget: BTreeSet<(i64, String)>,
}

impl SeenAssertions {
    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.expiry.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.expiry.is_empty()
    }
}

/// All in-flight sign-in state.
#[derive(Debug, Default)]
pub struct Sessions {
    /// By device code.
    pub devices: Mutex<Pending<DeviceSession>>,
    /// By authorization code.
    pub codes: Mutex<Pending<AuthCodeSession>>,
    /// Client assertion `jti`s seen.
    pub jtis: Mutex<SeenAssertions>,
}

impl Sessions {
    /// Records an assertion id; `false` if it was seen before. Ids whose assertion has expired
    /// (plus skew) are forgotten: such an assertion is refused on its time anyway.
    pub fn first_use_of_jti(&self, jti: String, exp: i64, now: i64) -> bool {
        let mut seen = self.jtis.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((at, id)) = seen.forget.first().cloned() {
            if at >= now {
                break;
            }
            seen.forget.pop_first();
            seen.expiry.remove(&id);
        }
        if seen.expiry.contains_key(&jti) {
            return false;
        }
        let forget_at = exp.saturating_add(crate::clock::SKEW_SECS);
        seen.forget.insert((forget_at, jti.clone()));
        seen.expiry.insert(jti, forget_at);
        true
    }

    /// Finds the device code of a user code.
    pub fn device_code_for(&self, user_code: &str) -> Option<String> {
        self.devices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .code_for(user_code)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn code(client: &str, expires_at: i64) -> AuthCodeSession {
        AuthCodeSession {
            client_id: client.into(),
            redirect_uri: "http://localhost".into(),
            target: SignInTarget {
                aud: "http://127.0.0.1".into(),
                offline: false,
                openid: false,
                client_info: false,
                v2: true,
                scope: None,
            },
            challenge: None,
            nonce: None,
            user_oid: String::new(),
            expires_at,
            redeemed: false,
        }
    }

    #[test]
    fn pending_sign_ins_are_capped_per_client_and_overall_and_pruned_in_order() {
        let mut table = Pending::with_caps(2, 3);
        table.insert("a1".into(), code("A", 100), 0).unwrap();
        table.insert("a2".into(), code("a", 200), 0).unwrap();
        assert_eq!(
            table.insert("a3".into(), code("A", 100), 0),
            Err(TooManySignIns { pending: 2 }),
            "the client's cap, whatever the case of its id"
        );
        table.insert("b1".into(), code("B", 300), 0).unwrap();
        assert_eq!(
            table.insert("c1".into(), code("C", 100), 0),
            Err(TooManySignIns { pending: 3 }),
            "the overall cap"
        );
        // Codes are kept ten minutes past expiry, then forgotten oldest first.
        table.insert("c1".into(), code("C", 100), 700).unwrap();
        assert!(table.get("a1").is_none() && table.get("a2").is_some());
        assert_eq!(table.len(), 3);
        assert!(table.remove("a2").is_some());
        table.insert("a3".into(), code("A", 1000), 700).unwrap();
        table.prune(i64::MAX);
        assert!(table.is_empty());
        assert!(table.per_client.is_empty() && table.forget.is_empty());
    }

    #[test]
    fn device_codes_are_found_by_user_code_and_leave_no_index_behind() {
        let mut table: Pending<DeviceSession> = Pending::default();
        let session = DeviceSession {
            user_code: "ABCD23456".into(),
            client_id: "A".into(),
            tenant: None,
            target: code("A", 0).target,
            expires_at: 100,
            interval: 5,
            last_poll_ms: None,
            status: DeviceStatus::Pending,
        };
        table.insert("DAQ1".into(), session, 0).unwrap();
        assert!(table.user_code_taken("abcd23456"));
        assert_eq!(table.code_for(" abcd23456 ").as_deref(), Some("DAQ1"));
        table.prune(160);
        assert!(table.code_for("ABCD23456").is_none());
        assert!(table.by_user_code.is_empty());
    }

    #[test]
    fn assertion_ids_are_kept_until_their_expiry_plus_skew() {
        let sessions = Sessions::default();
        assert!(sessions.first_use_of_jti("a".into(), 1000, 0));
        assert!(!sessions.first_use_of_jti("a".into(), 1000, 1300));
        assert!(sessions.first_use_of_jti("b".into(), i64::MAX, 1300));
        assert!(sessions.first_use_of_jti("c".into(), 2000, 1301));
        assert_eq!(sessions.jtis.lock().unwrap().len(), 2, "a is forgotten");
        assert!(!sessions.first_use_of_jti("b".into(), i64::MAX, i64::MAX));
    }
}
