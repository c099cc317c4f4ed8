//! Certificate client assertions (`private_key_jwt`;
//! <https://learn.microsoft.com/entra/identity-platform/certificate-credentials>): the JWT must
//! be signed (RS256 or PS256) by the key of a certificate registered for the app, found by its
//! `x5t` (SHA-1) or `x5t#S256` thumbprint; `aud` is this tenant's v1 or v2 token endpoint;
//! `iss` = `sub` = client id; `exp`/`nbf` hold with five minutes of skew; a `jti` is accepted once.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::clock::SKEW_SECS;
use crate::config::AppConfig;
use crate::entra::claims::as_str;
use crate::error::EntraError;
use crate::state::AppState;

/// `client_assertion_type` for JWT assertions.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn der_of(pem: &str) -> Option<Vec<u8>> {
    let start = pem.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = start + pem[start..].find("-----END CERTIFICATE-----")?;
    STANDARD
        .decode(pem[start..end].split_whitespace().collect::<String>())
        .ok()
}

fn thumbprint(der: &[u8], sha256: bool) -> String {
    let alg = if sha256 {
        &aws_lc_rs::digest::SHA256
    } else {
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY
    };
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(alg, der).as_ref())
}

/// Verifies a client assertion for `app` presented at `/{tenant}/…/token`.
pub fn verify(st: &AppState, app: &AppConfig, tenant: &str, jwt: &str) -> Result<(), EntraError> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| {
        EntraError::invalid_assertion(700_027, "Client assertion is not a valid JWT.")
    })?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(EntraError::invalid_assertion(
            700_027,
            format!(
                "Client assertion algorithm {:?} is not supported; use RS256 or PS256.",
                header.alg
            ),
        ));
    }
    let wanted = header
        .x5t_s256
        .as_ref()
        .map(|t| (t.clone(), true))
        .or_else(|| header.x5t.as_ref().map(|t| (t.clone(), false)));
    // Clients differ: base64url without padding (RFC 7515), or padded base64 (MSAL Python).
    let wanted = wanted.map(|(t, s)| {
        (
            t.trim_end_matches('=').replace('+', "-").replace('/', "_"),
            s,
        )
    });
    let Some((thumb, sha256)) = wanted else {
        return Err(EntraError::invalid_assertion(
            700_027,
            "Client assertion header has no x5t or x5t#S256 thumbprint.",
        ));
    };
    let cert = app
        .certificates
        .iter()
        .find(|pem| der_of(pem).is_some_and(|der| thumbprint(&der, sha256) == thumb))
        .ok_or_else(|| {
            EntraError::invalid_assertion(700_027, format!("Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '{thumb}']"))
        })?;
    // Only the certificate block: a registered PEM may also hold the private key (first).
    let cert_block = der_of(cert)
        .map(|der| {
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                STANDARD.encode(der)
            )
        })
        .unwrap_or_default();
    let key = DecodingKey::from_rsa_pem(cert_block.as_bytes()).map_err(|_| {
        EntraError::invalid_assertion(
            700_027,
            "The registered certificate is not an RSA certificate.",
        )
    })?;
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims: Value = jsonwebtoken::decode(jwt, &key, &validation)
        .map_err(|e| {
            EntraError::invalid_assertion(
                700_027,
                format!("Client assertion contains an invalid signature. [Reason - {e}]"),
            )
        })?
        .claims;
    let (iss, sub) = (as_str(&claims, "iss"), as_str(&claims, "sub"));
    if iss != sub {
        return Err(EntraError::invalid_assertion(
            50_048,
            "Subject mismatches Issuer claim in the client assertion.",
        ));
    }
    if !iss.is_some_and(|i| i.eq_ignore_ascii_case(&app.client_id)) {
        return Err(EntraError::invalid_assertion(
            700_021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    let aud = as_str(&claims, "aud").unwrap_or_default();
    let tenants = [tenant.to_owned(), app.tenant.clone()];
    let audience_ok = tenants.iter().any(|t| {
        ["oauth2/token", "oauth2/v2.0/token"]
            .iter()
            .any(|p| aud.eq_ignore_ascii_case(&format!("{}/{t}/{p}", st.base_url)))
    });
    if !audience_ok {
        return Err(EntraError::invalid_assertion(
            700_212,
            format!(
                "No matching federated identity record found for presented assertion audience '{aud}'."
            ),
        ));
    }
    // NumericDate may have a fraction (MSAL Python sends `time.time() + 600`).
    let now = st.clock.now();
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .map(|t| t as i64)
        .unwrap_or(0);
    let nbf = claims
        .get("nbf")
        .and_then(Value::as_f64)
        .map(|t| t as i64)
        .unwrap_or(now);
    // Saturating: `exp` is the client's number (an absurd one must not wrap around).
    if now > exp.saturating_add(SKEW_SECS) || now.saturating_add(SKEW_SECS) < nbf {
        return Err(EntraError::invalid_assertion(
            700_024,
            format!(
                "Client assertion is not within its valid time range. Current time: {now}, assertion valid from {nbf}, expiry time of assertion {exp}."
            ),
        ));
    }
    let jti = as_str(&claims, "jti").ok_or_else(|| {
        EntraError::invalid_assertion(700_027, "Client assertion has no jti claim.")
    })?;
    if !st.sessions.first_use_of_jti(
        format!("{}|{jti}", app.client_id.to_ascii_lowercase()),
        exp,
        now,
    ) {
        return Err(EntraError::invalid_assertion(
            700_027,
            "Client assertion has already been used (replayed jti).",
        ));
    }
    Ok(())
}
