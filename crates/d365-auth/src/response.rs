//! Token endpoint responses, tolerant of both shapes: v1 sends numbers as strings
//! (`"expires_in":"3599"`), v2 as integers. MSAL parses both; so do we.

use serde::{Deserialize, Deserializer};

use crate::secret::{AccessToken, IdToken, RefreshToken};

/// A successful token response (v1 or v2).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct TokenResponse {
    /// Always `Bearer`.
    pub token_type: String,
    /// The access token.
    pub access_token: AccessToken,
    /// Present for user flows (with `offline_access` on v2).
    #[serde(default)]
    pub refresh_token: Option<RefreshToken>,
    /// Lifetime in seconds.
    #[serde(deserialize_with = "number_or_string")]
    pub expires_in: u64,
    /// Extended lifetime in seconds.
    #[serde(default, deserialize_with = "opt_number_or_string")]
    pub ext_expires_in: Option<u64>,
    /// v1: absolute expiry in Unix seconds.
    #[serde(default, deserialize_with = "opt_number_or_string")]
    pub expires_on: Option<u64>,
    /// v1: start of validity in Unix seconds.
    #[serde(default, deserialize_with = "opt_number_or_string")]
    pub not_before: Option<u64>,
    /// Seconds after which to refresh proactively (MSAL honours it).
    #[serde(default, deserialize_with = "opt_number_or_string")]
    pub refresh_in: Option<u64>,
    /// v1: the resource echoed back.
    #[serde(default)]
    pub resource: Option<String>,
    /// Granted scopes, space separated.
    #[serde(default)]
    pub scope: Option<String>,
    /// An OpenID Connect ID token, when `openid` was asked for.
    #[serde(default)]
    pub id_token: Option<IdToken>,
    /// base64url JSON `{"uid","utid"}` when `client_info=1` was sent.
    #[serde(default)]
    pub client_info: Option<String>,
}

/// An error response from the token endpoint, as Entra sends it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorResponse {
    /// The OAuth error code (`invalid_grant`, `invalid_client`, …). Branch on this.
    pub error: String,
    /// `AADSTSnnnn: text` plus trace and correlation ids.
    #[serde(default)]
    pub error_description: Option<String>,
    /// The AADSTS numbers.
    #[serde(default)]
    pub error_codes: Vec<u64>,
    /// Server timestamp.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Trace id for support.
    #[serde(default)]
    pub trace_id: Option<String>,
    /// Correlation id for support.
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// Link to the error's documentation.
    #[serde(default)]
    pub error_uri: Option<String>,
    /// Finer reason, e.g. `basic_action` with AADSTS50076.
    #[serde(default)]
    pub suberror: Option<String>,
}

impl ErrorResponse {
    /// The first AADSTS code, if any.
    pub fn aadsts(&self) -> Option<u64> {
        self.error_codes.first().copied().or_else(|| {
            let d = self.error_description.as_deref()?;
            let rest = d.strip_prefix("AADSTS")?;
            let end = rest.find(|c: char| !c.is_ascii_digit())?;
            rest[..end].parse().ok()
        })
    }

    /// The first line of the description, without the trace/correlation/timestamp trailer.
    pub fn summary(&self) -> &str {
        let d = self.error_description.as_deref().unwrap_or(&self.error);
        let d = d.split(['\r', '\n']).next().unwrap_or(d);
        d.split(" Trace ID:").next().unwrap_or(d).trim()
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    Num(u64),
    Float(f64),
    Str(String),
}

fn to_u64<E: serde::de::Error>(v: NumOrStr) -> Result<u64, E> {
    match v {
        NumOrStr::Num(n) => Ok(n),
        NumOrStr::Float(f) if f >= 0.0 => Ok(f as u64),
        NumOrStr::Float(f) => Err(E::custom(format!("negative number {f}"))),
        NumOrStr::Str(s) => s
            .trim()
            .parse::<u64>()
            .or_else(|_| s.trim().parse::<f64>().map(|f| f as u64))
            .map_err(|_| E::custom(format!("expected a number, found \"{s}\""))),
    }
}

/// Deserializes an integer given as a JSON number or a numeric string (Entra v1).
pub fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    to_u64(NumOrStr::deserialize(d)?)
}

/// Like [`number_or_string`] for optional fields.
pub fn opt_number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<NumOrStr>::deserialize(d)? {
        None => Ok(None),
        Some(v) => to_u64(v).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v1_strings_and_v2_integers() {
        let v1: TokenResponse = serde_json::from_str(
            r#"{"token_type":"Bearer","expires_in":"3599","ext_expires_in":"3599","expires_on":"1622089429","not_before":"1622085529","resource":"https://contoso.crm.dynamics.com","access_token":"eyJ0"}"#,
        ).unwrap();
        assert_eq!(v1.expires_in, 3599);
        assert_eq!(v1.expires_on, Some(1_622_089_429));
        assert_eq!(
            v1.resource.as_deref(),
            Some("https://contoso.crm.dynamics.com")
        );
        let v2: TokenResponse = serde_json::from_str(
            r#"{"token_type":"Bearer","scope":"x","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0","refresh_token":"1.AV0A"}"#,
        ).unwrap();
        assert_eq!(v2.expires_in, 3599);
        assert_eq!(v2.refresh_token.unwrap().secret(), "1.AV0A");
        assert!(
            serde_json::from_str::<TokenResponse>(
                r#"{"token_type":"Bearer","expires_in":"soon","access_token":"x"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn error_summary_and_code() {
        let e: ErrorResponse = serde_json::from_str(
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1\r\nCorrelation ID: 2","error_codes":[7000215]}"#,
        ).unwrap();
        assert_eq!(e.aadsts(), Some(7_000_215));
        assert_eq!(
            e.summary(),
            "AADSTS7000215: Invalid client secret provided."
        );
        let e = ErrorResponse {
            error: "x".into(),
            error_description: Some("AADSTS50126: bad".into()),
            ..Default::default()
        };
        assert_eq!(e.aadsts(), Some(50126));
    }
}
