//! The authorization endpoint, `/{tenant}/oauth2[/v2.0]/authorize`: a real sign-in page
//! (username and password), then a redirect with `code` and `state`. Codes are bound to the
//! client, the redirect URI, the target, the PKCE challenge and the nonce; they live ten
//! minutes and redeem once.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::config::{AppConfig, UserConfig};
use crate::entra::constant_time_eq;
use crate::entra::endpoint::{Endpoint, Version, resolve_target};
use crate::entra::pages::{error_page, sign_in_form};
use crate::entra::registry::TenantRef;
use crate::entra::sessions::{AuthCodeSession, SignInTarget, new_opaque_code};
use crate::error::EntraError;
use crate::state::AppState;

const CODE_LIFETIME_SECS: i64 = 600;

/// Whether `requested` matches a registered redirect URI: exactly, or for loopback URIs on
/// any port (RFC 8252 §7.3, as Entra allows for native apps).
fn redirect_allowed(app: &AppConfig, requested: &str) -> bool {
    let Ok(req) = url::Url::parse(requested) else {
        return false;
    };
    app.redirect_uris.iter().any(|registered| {
        if registered == requested {
            return true;
        }
        let Ok(reg) = url::Url::parse(registered) else {
            return false;
        };
        let loopback = matches!(reg.host_str(), Some("localhost" | "127.0.0.1"));
        loopback
            && reg.scheme() == req.scheme()
            && reg.host_str() == req.host_str()
            && reg.path() == req.path()
    })
}

/// `GET /{tenant}/oauth2/authorize` and `GET /{tenant}/oauth2/v2.0/authorize`.
pub(crate) async fn get<E: Endpoint>(
    st: State<AppState>,
    tenant: Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    handle(st, tenant, q, E::VERSION, false)
}

/// `POST /{tenant}/oauth2[/v2.0]/authorize` (the sign-in form posts back here).
pub(crate) async fn post<E: Endpoint>(
    st: State<AppState>,
    tenant: Path<String>,
    body: axum::body::Bytes,
) -> Response {
    handle(
        st,
        tenant,
        crate::entra::form_fields(&body),
        E::VERSION,
        true,
    )
}

fn redirect(to: &str, params: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(to) {
        Ok(u) => u,
        Err(_) => return error_page(50_011, "The redirect URI is not a valid URL."),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

fn handle(
    State(st): State<AppState>,
    Path(tenant): Path<String>,
    params: HashMap<String, String>,
    version: Version,
    posted: bool,
) -> Response {
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(tenant_ref) = st.registry.resolve_tenant(&tenant) else {
        let e = EntraError::tenant_not_found(&tenant);
        return error_page(e.code, &e.message);
    };
    let Some(client_id) = get("client_id") else {
        return error_page(
            900_144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let Some(app) = st.registry.app(client_id, tenant_ref) else {
        return error_page(
            700_016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'."
            ),
        );
    };
    let Some(redirect_uri) = get("redirect_uri").map(str::to_owned).or_else(|| {
        (version == Version::V1)
            .then(|| app.redirect_uris.first().cloned())
            .flatten()
    }) else {
        return error_page(
            900_144,
            "The request body must contain the following parameter: 'redirect_uri'.",
        );
    };
    if !redirect_allowed(app, &redirect_uri) {
        return error_page(
            50_011,
            &format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{}'.",
                app.client_id
            ),
        );
    }
    // From here on errors go back to the app, as Entra does.
    let state = get("state").unwrap_or_default();
    let fail = |error: &str, description: &str| {
        redirect(
            &redirect_uri,
            &[
                ("error", error),
                ("error_description", description),
                ("state", state),
            ],
        )
    };
    if get("response_type") != Some("code") {
        return fail(
            "unsupported_response_type",
            "AADSTS700054: response_type must be 'code'.",
        );
    }
    let target = match resolve_target(&st, version, &params, false) {
        Ok(t) => t,
        Err(e) => return fail(e.error, &format!("AADSTS{}: {}", e.code, e.message)),
    };
    let challenge = get("code_challenge").map(|c| {
        (
            c.to_owned(),
            get("code_challenge_method").unwrap_or("plain").to_owned(),
        )
    });
    if let Some((_, method)) = &challenge
        && method != "S256"
        && method != "plain"
    {
        return fail(
            "invalid_request",
            "AADSTS501491: Invalid code_challenge_method: use S256 or plain.",
        );
    }
    // The form posts every request parameter back, plus the credentials.
    let carry: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "username" | "password" | "action"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let action = format!(
        "/{tenant}/oauth2/{}authorize",
        if version == Version::V2 { "v2.0/" } else { "" }
    );
    // Credentials only in a form body: a password in a URL lands in logs and history.
    let credentials = (
        get("username").filter(|_| posted),
        params.get("password").filter(|p| posted && !p.is_empty()),
    );
    let (Some(username), Some(password)) = credentials else {
        return sign_in_form(
            &action,
            &app.name,
            get("login_hint").unwrap_or_default(),
            None,
            &carry,
        );
    };
    let user = st
        .registry
        .user_by_upn(username, tenant_ref)
        .filter(|u| constant_time_eq(u.password.as_bytes(), password.as_bytes()) && !u.disabled);
    let Some(user) = user else {
        return sign_in_form(
            &action,
            &app.name,
            username,
            Some(
                "Your account or password is incorrect. If you don't remember your password, reset it now.",
            ),
            &carry,
        );
    };
    if let TenantRef::Tenant(t) = tenant_ref
        && !user.tenant.eq_ignore_ascii_case(&t.id)
    {
        return sign_in_form(
            &action,
            &app.name,
            username,
            Some("This account does not exist in this directory."),
            &carry,
        );
    }
    let code = new_opaque_code("0.A");
    let session = AuthCodeSession {
        client_id: app.client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        target,
        challenge,
        nonce: get("nonce").map(str::to_owned),
        user_oid: user.object_id.clone(),
        expires_at: st.clock.now() + CODE_LIFETIME_SECS,
        redeemed: false,
    };
    let stored = st
        .sessions
        .codes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(code.clone(), session, st.clock.now());
    if let Err(e) = stored {
        let e = EntraError::too_many_sign_ins(e.pending);
        return fail(e.error, &format!("AADSTS{}: {}", e.code, e.message));
    }
    let session_state = uuid::Uuid::new_v4().to_string();
    let mut out = vec![("code", code.as_str()), ("state", state)];
    if version == Version::V1 {
        out.push(("session_state", &session_state));
    }
    redirect(&redirect_uri, &out)
}

/// Redeems an authorization code at the token endpoint.
pub(crate) fn redeem(
    st: &AppState,
    app: &AppConfig,
    form: &HashMap<String, String>,
) -> Result<(SignInTarget, UserConfig, Option<String>), EntraError> {
    let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let code = get("code").ok_or_else(|| EntraError::missing_parameter("code"))?;
    let redirect_uri =
        get("redirect_uri").ok_or_else(|| EntraError::missing_parameter("redirect_uri"))?;
    let mut codes = st.sessions.codes.lock().unwrap_or_else(|e| e.into_inner());
    let session = codes.get_mut(code).ok_or_else(EntraError::bad_code)?;
    if !session.client_id.eq_ignore_ascii_case(&app.client_id) {
        return Err(EntraError::bad_code());
    }
    if session.redeemed {
        return Err(EntraError::code_redeemed());
    }
    if st.clock.now() > session.expires_at {
        return Err(EntraError::code_expired());
    }
    if session.redirect_uri != redirect_uri {
        return Err(EntraError::redirect_mismatch(redirect_uri));
    }
    if let Some((challenge, method)) = &session.challenge {
        let verifier = get("code_verifier").ok_or_else(EntraError::pkce_mismatch)?;
        let computed = if method == "S256" {
            URL_SAFE_NO_PAD.encode(
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
            )
        } else {
            verifier.to_owned()
        };
        if computed != *challenge {
            return Err(EntraError::pkce_mismatch());
        }
    }
    // Single use: marked before tokens are issued, so a racing second redemption fails.
    session.redeemed = true;
    let user = st
        .registry
        .user_by_oid(&session.user_oid)
        .cloned()
        .ok_or_else(EntraError::bad_code)?;
    let mut target = session.target.clone();
    target.client_info |= get("client_info") == Some("1");
    Ok((target, user, session.nonce.clone()))
}
