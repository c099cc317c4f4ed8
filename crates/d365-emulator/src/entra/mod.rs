//! The Entra ID side: directory, keys, discovery, the token endpoints, and the validation
//! of bearer tokens presented to the Web API.

pub mod assertion;
pub mod authorize;
pub mod claims;
pub mod device_code;
pub mod discovery;
pub(crate) mod endpoint;
pub mod keys;
pub mod pages;
pub mod registry;
pub(crate) mod scope;
pub mod sessions;
pub mod storage;
pub mod token;
pub mod userrealm;
pub mod validate;
pub mod verified;

/// The fields of a form body (`application/x-www-form-urlencoded`). The first occurrence of a
/// field wins; unknown fields are kept and ignored by the handlers (Entra ignores them too).
pub(crate) fn form_fields(body: &[u8]) -> std::collections::HashMap<String, String> {
    let mut form = std::collections::HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        form.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    form
}

/// Compares secrets (passwords, client secrets) in time independent of where they differ: a
/// timing oracle on a password is a bug even in an emulator.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
