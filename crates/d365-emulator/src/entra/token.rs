//! The token endpoints, `POST /{tenant}/oauth2/token` (v1) and `/{tenant}/oauth2/v2.0/token`
//! (v2): client authentication, grant dispatch, and the two response shapes (v1 numbers are
//! strings and echo `resource`; v2 numbers are integers and carry `scope`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::config::{AppConfig, UserConfig};
use crate::entra::claims::{self, Subject};
pub use crate::entra::endpoint::Version;
use crate::entra::endpoint::{Endpoint, has_openid, resolve_target, respond};
use crate::entra::registry::TenantRef;
use crate::entra::scope;
use crate::entra::sessions::SignInTarget;
use crate::entra::{assertion, authorize, constant_time_eq, device_code};
use crate::error::EntraError;
use crate::state::AppState;
use crate::store::RefreshTokenRecord;

/// `GET` on a token endpoint.
pub(crate) async fn token_get() -> Response {
    EntraError::post_required().into_response()
}

/// `POST /{tenant}/oauth2/token` and `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) async fn token<E: Endpoint>(
    State(st): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let version = E::VERSION;
    st.token_requests.fetch_add(1, Ordering::SeqCst);
    // Unknown fields (x-client-SKU, client-request-id, claims, …) are ignored; the first
    // occurrence of a field wins.
    let form = crate::entra::form_fields(&body);
    respond(handle(&st, &tenant, &headers, &form, version).await)
}

async fn handle(
    st: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    version: Version,
) -> Result<Value, EntraError> {
    let tenant_ref = st.registry.require_tenant(tenant)?;
    let get = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let grant_type =
        get("grant_type").ok_or_else(|| EntraError::missing_parameter("grant_type"))?;
    let (client_id, secret) = client_credentials(headers, form)?;
    let app = st
        .registry
        .app(&client_id, tenant_ref)
        .ok_or_else(|| EntraError::unknown_client(&client_id, tenant))?;
    let client_authenticated = match form.get("client_assertion").filter(|v| !v.is_empty()) {
        Some(jwt) => {
            if form.get("client_assertion_type").map(String::as_str) != Some(assertion::JWT_BEARER)
            {
                return Err(EntraError::invalid_assertion_type());
            }
            if app.public_client {
                return Err(EntraError::public_client_with_secret());
            }
            assertion::verify(st, app, tenant, jwt)?;
            true
        }
        None => authenticate_client(st, app, secret.as_deref())?,
    };
    match grant_type {
        "password" => {
            if let Some(alias @ ("common" | "consumers")) = tenant_ref.alias() {
                return Err(EntraError::grant_not_on_alias("password", alias));
            }
            if !app.public_client && !client_authenticated {
                return Err(EntraError::missing_client_credential());
            }
            let username =
                get("username").ok_or_else(|| EntraError::missing_parameter("username"))?;
            let password =
                get("password").ok_or_else(|| EntraError::missing_parameter("password"))?;
            let grant = resolve_target(st, version, form, false)?;
            let tenant_label = match tenant_ref {
                TenantRef::Tenant(t) => t.id.clone(),
                _ => tenant.to_owned(),
            };
            let user = st
                .registry
                .user_by_upn(username, tenant_ref)
                .ok_or_else(|| EntraError::unknown_user(&tenant_label))?;
            if !constant_time_eq(user.password.as_bytes(), password.as_bytes()) {
                return Err(EntraError::invalid_credentials());
            }
            if user.disabled {
                return Err(EntraError::user_disabled());
            }
            if user.mfa_required {
                return Err(EntraError::mfa_required(&grant.aud));
            }
            issue_user_tokens(st, version, app, user, &grant, client_authenticated, None).await
        }
        "client_credentials" => {
            if let Some(alias) = tenant_ref.alias() {
                return Err(EntraError::tenant_required(alias));
            }
            if app.public_client {
                return Err(EntraError::unsupported_grant_type("client_credentials"));
            }
            if !client_authenticated {
                return Err(EntraError::missing_client_credential());
            }
            let grant = resolve_target(st, version, form, true)?;
            let now = st.clock.now();
            let lifetime = st.registry.config().token_lifetime_secs as i64;
            let token = claims::access_token(
                st,
                &grant.aud,
                Subject::App(app),
                client_authenticated,
                now,
                lifetime,
            );
            Ok(shape(version, &grant, token, now, lifetime, None, None))
        }
        "refresh_token" => {
            if !app.public_client && !client_authenticated {
                return Err(EntraError::missing_client_credential());
            }
            let presented = get("refresh_token")
                .ok_or_else(|| EntraError::missing_parameter("refresh_token"))?;
            let record = st
                .store
                .find_refresh_token(presented.to_owned())
                .await
                .map_err(|_| EntraError::malformed_refresh_token())?
                .ok_or_else(EntraError::malformed_refresh_token)?;
            let now = st.clock.now();
            let max_idle = st.registry.config().refresh_token_lifetime_secs as i64;
            if record.revoked || now - record.last_used_at > max_idle {
                return Err(EntraError::refresh_token_expired());
            }
            if !record.client_id.eq_ignore_ascii_case(&app.client_id) {
                return Err(EntraError::refresh_token_wrong_client());
            }
            let user = st
                .registry
                .user_by_oid(&record.user_oid)
                .ok_or_else(EntraError::refresh_token_expired)?;
            if user.disabled {
                return Err(EntraError::user_disabled());
            }
            // Without resource/scope the new token is for the resource of the original grant.
            let mut grant = match (version, get("resource"), get("scope")) {
                (Version::V1, None, _) | (Version::V2, _, None) => {
                    // The resource may no longer be hosted (an emulator on a new port).
                    if !st.issues_tokens_for(&record.resource) {
                        return Err(EntraError::unknown_resource(
                            &record.resource,
                            st.env_tenant(),
                        ));
                    }
                    SignInTarget {
                        aud: record.resource.clone(),
                        offline: true,
                        openid: has_openid(form),
                        client_info: get("client_info") == Some("1"),
                        v2: version == Version::V2,
                        scope: None,
                    }
                }
                _ => resolve_target(st, version, form, false)?,
            };
            // A redeemed refresh token is always replaced by a new one.
            grant.offline = true;
            let _ = st
                .store
                .touch_refresh_token(presented.to_owned(), now)
                .await;
            issue_user_tokens(st, version, app, user, &grant, client_authenticated, None).await
        }
        // msal-node sends the short name; RFC 8628 and MSAL Python the URN.
        "device_code" | "urn:ietf:params:oauth:grant-type:device_code" => {
            if !app.public_client && !client_authenticated {
                return Err(EntraError::missing_client_credential());
            }
            let (target, user) = device_code::redeem(st, app, form)?;
            issue_user_tokens(st, version, app, &user, &target, client_authenticated, None).await
        }
        "authorization_code" => {
            if !app.public_client && !client_authenticated {
                return Err(EntraError::missing_client_credential());
            }
            let (target, user, nonce) = authorize::redeem(st, app, form)?;
            issue_user_tokens(
                st,
                version,
                app,
                &user,
                &target,
                client_authenticated,
                nonce.as_deref(),
            )
            .await
        }
        other => Err(EntraError::unsupported_grant_type(other)),
    }
}

/// The client id and secret, from the body or an HTTP Basic header (both are allowed).
fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<(String, Option<String>), EntraError> {
    let basic = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b64| STANDARD.decode(b64.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            Some((decode(id), decode(secret)))
        });
    let body_id = form.get("client_id").filter(|v| !v.is_empty()).cloned();
    let body_secret = form.get("client_secret").filter(|v| !v.is_empty()).cloned();
    match (body_id, basic) {
        (Some(id), Some((_, s))) => Ok((id, body_secret.or(Some(s)))),
        (Some(id), None) => Ok((id, body_secret)),
        (None, Some((id, s))) => Ok((id, Some(s))),
        (None, None) => Err(EntraError::missing_parameter("client_id")),
    }
}

/// Checks a presented secret; `Ok(true)` when the client proved its identity.
fn authenticate_client(
    st: &AppState,
    app: &AppConfig,
    secret: Option<&str>,
) -> Result<bool, EntraError> {
    let Some(secret) = secret else {
        return Ok(false);
    };
    if app.public_client {
        return Err(EntraError::public_client_with_secret());
    }
    let matching = app
        .secrets
        .iter()
        .find(|s| constant_time_eq(s.value.as_bytes(), secret.as_bytes()));
    match matching {
        None => Err(EntraError::invalid_secret(&app.client_id)),
        Some(s) if s.expires_at.is_some_and(|t| t <= st.clock.now()) => {
            Err(EntraError::expired_secret(&app.client_id))
        }
        Some(_) => Ok(true),
    }
}

/// Issues the tokens of a user sign-in: access token, refresh token (when offline access is
/// granted), ID token (when `openid` was asked for) and `client_info` (when asked for).
pub(crate) async fn issue_user_tokens(
    st: &AppState,
    version: Version,
    app: &AppConfig,
    user: &UserConfig,
    grant: &SignInTarget,
    authenticated: bool,
    nonce: Option<&str>,
) -> Result<Value, EntraError> {
    let now = st.clock.now();
    let lifetime = st.registry.config().token_lifetime_secs as i64;
    let access = claims::access_token(
        st,
        &grant.aud,
        Subject::User(user, app),
        authenticated,
        now,
        lifetime,
    );
    let refresh = if grant.offline {
        let token = new_refresh_token();
        let record = RefreshTokenRecord {
            client_id: app.client_id.clone(),
            user_oid: user.object_id.clone(),
            tenant_id: user.tenant.clone(),
            resource: grant.aud.clone(),
            issued_at: now,
            last_used_at: now,
            revoked: false,
        };
        let max_idle = st.registry.config().refresh_token_lifetime_secs;
        st.store
            .insert_refresh_token(
                token.clone(),
                record,
                i64::try_from(max_idle).unwrap_or(i64::MAX),
            )
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "storing refresh token");
                EntraError::malformed_refresh_token()
            })?;
        Some(token)
    } else {
        None
    };
    let client_info = grant.client_info.then(|| {
        URL_SAFE_NO_PAD.encode(json!({"uid": user.object_id, "utid": user.tenant}).to_string())
    });
    let scope = match version {
        Version::V1 => "user_impersonation".to_owned(),
        // What the sign-in asked for decides the answer (`entra::scope`); a refresh that
        // named no scope gets the delegated permission.
        Version::V2 => grant
            .scope
            .clone()
            .unwrap_or_else(|| scope::delegated_to_user(&grant.aud)),
    };
    let mut body = shape(version, grant, access, now, lifetime, refresh, Some(scope));
    if let Some(ci) = client_info {
        body["client_info"] = json!(ci);
    }
    if grant.openid {
        body["id_token"] = json!(claims::id_token(
            st,
            app,
            user,
            version == Version::V2,
            nonce,
            now,
            lifetime
        ));
    }
    Ok(body)
}

/// An opaque refresh token: 48 random bytes, base64url, with Entra's `1.` prefix.
fn new_refresh_token() -> String {
    let mut bytes = [0u8; 48];
    aws_lc_rs::rand::fill(&mut bytes).expect("system randomness unavailable");
    format!("1.{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The response body: v1 with string numbers, `resource`, `expires_on`, `not_before`; v2 with
/// integer numbers and `scope`.
fn shape(
    version: Version,
    grant: &SignInTarget,
    access: String,
    now: i64,
    lifetime: i64,
    refresh: Option<String>,
    scope: Option<String>,
) -> Value {
    let mut body = match version {
        Version::V1 => json!({
            "token_type": "Bearer",
            "expires_in": lifetime.to_string(),
            "ext_expires_in": lifetime.to_string(),
            "expires_on": (now + lifetime).to_string(),
            "not_before": (now - claims::NOT_BEFORE_SKEW).to_string(),
            "resource": grant.aud,
            "access_token": access,
        }),
        Version::V2 => json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access,
        }),
    };
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    if let Some(rt) = refresh {
        body["refresh_token"] = json!(rt);
    }
    body
}
