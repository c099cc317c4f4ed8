//! Bearer token validation at the Web API: signature (RS256 only, by our key's `kid`),
//! audience, issuer, tenant and lifetime with five minutes of skew. Any failure is a 401 with
//! the challenge that tells clients where to sign in. A token's signature is verified once
//! ([`crate::entra::verified`]); every other check runs on every request.

use std::sync::Arc;

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use crate::entra::verified::VerifiedClaims;
use crate::error::DataverseError;
use crate::state::AppState;

use crate::clock::SKEW_SECS;

/// Who is calling the Web API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The caller's `systemuserid`.
    pub systemuser_id: String,
    /// The Entra object id (user or service principal).
    pub object_id: String,
    /// The client id the token was issued to.
    pub app_id: String,
    /// `true` for app-only tokens.
    pub is_app: bool,
    /// When the call impersonates a user (`CallerObjectId`/`MSCRMCallerID`), the
    /// `systemuserid` of the real caller: what `createdonbehalfby`/`modifiedonbehalfby` record.
    pub on_behalf_of: Option<String>,
}

/// Validates the request's bearer token and maps it to a Dataverse principal.
pub fn authenticate(st: &AppState, headers: &HeaderMap) -> Result<Principal, DataverseError> {
    let reject = |why: &str| {
        DataverseError::unauthorized(
            &format!("{}/{}/oauth2/authorize", st.base_url, st.env_tenant()),
            &format!("{}/", st.env_url),
            why.to_owned(),
        )
    };
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| reject("Bearer token is missing from the request."))?;
    let (scheme, token) = header
        .split_once(' ')
        .ok_or_else(|| reject("Malformed Authorization header."))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(reject("Only Bearer authentication is supported."));
    }
    let claims = verified_claims(st, token.trim()).map_err(|why| reject(&why))?;
    let now = st.clock.now();
    if !st.is_environment(claims.aud.as_deref().unwrap_or_default()) {
        return Err(reject(
            "The token audience does not match this environment.",
        ));
    }
    let tenant = st.env_tenant();
    if claims.iss.as_deref() != Some(AppState::v1_issuer(tenant).as_str()) {
        return Err(reject(
            "The token issuer is not trusted by this environment.",
        ));
    }
    if !claims
        .tid
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case(tenant))
    {
        return Err(reject("The token was issued for another tenant."));
    }
    let exp = claims
        .exp
        .ok_or_else(|| reject("The token has no expiry."))?;
    if now > exp.saturating_add(SKEW_SECS) {
        return Err(reject("Lifetime validation failed. The token is expired."));
    }
    if claims
        .nbf
        .is_some_and(|nbf| now.saturating_add(SKEW_SECS) < nbf)
    {
        return Err(reject(
            "Lifetime validation failed. The token is not yet valid.",
        ));
    }
    let app_id = claims.appid.clone().unwrap_or_default();
    let object_id = claims.oid.clone().unwrap_or_default();
    if claims.delegated {
        let user = st
            .registry
            .user_by_oid(&object_id)
            .filter(|u| !u.disabled && u.tenant.eq_ignore_ascii_case(tenant))
            .ok_or_else(|| reject("The user is not a member of the organization."))?;
        Ok(Principal {
            systemuser_id: user.systemuser_id.clone(),
            object_id,
            app_id,
            is_app: false,
            on_behalf_of: None,
        })
    } else {
        let app = st
            .registry
            .app_by_id(&app_id)
            .filter(|a| {
                a.service_principal_id.eq_ignore_ascii_case(&object_id)
                    && a.tenant.eq_ignore_ascii_case(tenant)
            })
            .ok_or_else(|| {
                reject("The application is not an application user of the organization.")
            })?;
        Ok(Principal {
            systemuser_id: app.application_user_id.clone(),
            object_id,
            app_id,
            is_app: true,
            on_behalf_of: None,
        })
    }
}

/// The checked claims of `token`: from the verified tokens ([`VerifiedTokens`]) when its
/// signature was verified before, else verified now (and kept when it verifies).
///
/// [`VerifiedTokens`]: crate::entra::verified::VerifiedTokens
fn verified_claims(st: &AppState, token: &str) -> Result<Arc<VerifiedClaims>, String> {
    if let Some(claims) = st.verified_tokens.get(token) {
        return Ok(claims);
    }
    let claims = Arc::new(VerifiedClaims::from_claims(&verify_signature(st, token)?));
    st.verified_tokens
        .insert(token, claims.clone(), st.clock.now());
    Ok(claims)
}

/// Checks the JWS: RS256 only (no `none`, no HMAC keyed with the public key), our `kid`.
fn verify_signature(st: &AppState, token: &str) -> Result<Value, String> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| "The token is malformed.".to_owned())?;
    if header.alg != Algorithm::RS256 {
        return Err(format!(
            "The token algorithm {:?} is not accepted.",
            header.alg
        ));
    }
    if header.kid.as_deref() != Some(st.key.kid()) {
        return Err("The token was signed by an unknown key.".to_owned());
    }
    let mut validation = Validation::new(Algorithm::RS256);
    // Time and audience are checked above against the emulator's (shiftable) clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(token, st.key.decoding_key(), &validation)
        .map(|data| data.claims)
        .map_err(|_| "The token signature is invalid.".to_owned())
}
