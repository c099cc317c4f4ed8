//! Reading a JWT's claims for display. This does not verify anything: a client has no business
//! validating tokens meant for Dataverse; it only shows a person what they hold.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The claims of a JWT (its decoded payload), or `None` if it is not a JWT.
pub fn decode_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The signed-in account of an access or ID token (`upn`, else `preferred_username`, else
/// `unique_name`), or `None` for app-only tokens.
pub fn account_of(token: &str) -> Option<String> {
    let claims = decode_claims(token)?;
    ["upn", "preferred_username", "unique_name"]
        .iter()
        .find_map(|k| claims.get(*k).and_then(|v| v.as_str()).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_payload() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"aud":"https://org","exp":1}"#);
        let claims = decode_claims(&format!("e30.{payload}.sig")).unwrap();
        assert_eq!(claims["aud"], "https://org");
        assert!(decode_claims("not a jwt").is_none());
    }
}
