//! The device authorization grant, server side: `POST /{tenant}/oauth2[/v2.0]/devicecode`
//! (v1: `verification_url`, string numbers; v2: `verification_uri`, integers), the
//! `/devicelogin` page where the user enters the code and signs in, and redemption with
//! `authorization_pending`, `slow_down`, `expired_token` and `authorization_declined`.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Value, json};

use crate::config::{AppConfig, UserConfig};
use crate::entra::constant_time_eq;
use crate::entra::endpoint::{Endpoint, Version, resolve_target, respond};
use crate::entra::pages::{escape, hidden, page};
use crate::entra::sessions::{
    DeviceSession, DeviceStatus, SignInTarget, new_opaque_code, new_user_code,
};
use crate::error::EntraError;
use crate::state::AppState;

/// `POST /{tenant}/oauth2/devicecode` and `POST /{tenant}/oauth2/v2.0/devicecode`.
pub(crate) async fn start<E: Endpoint>(
    State(st): State<AppState>,
    Path(tenant): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    respond(begin(
        &st,
        &tenant,
        &crate::entra::form_fields(&body),
        E::VERSION,
    ))
}

fn begin(
    st: &AppState,
    tenant: &str,
    form: &HashMap<String, String>,
    version: Version,
) -> Result<Value, EntraError> {
    let tenant_ref = st.registry.require_tenant(tenant)?;
    let client_id = form
        .get("client_id")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| EntraError::missing_parameter("client_id"))?;
    let app = st
        .registry
        .app(client_id, tenant_ref)
        .ok_or_else(|| EntraError::unknown_client(client_id, tenant))?;
    let target = resolve_target(st, version, form, false)?;
    let config = st.registry.config();
    let (lifetime, interval) = (
        config.device_code_lifetime_secs as i64,
        config.device_code_interval_secs as i64,
    );
    let device_code = new_opaque_code("DAQ");
    let now = st.clock.now();
    let mut devices = st
        .sessions
        .devices
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    // User codes are short: a new one must not shadow one in use.
    let mut user_code = new_user_code();
    while devices.user_code_taken(&user_code) {
        user_code = new_user_code();
    }
    let session = DeviceSession {
        user_code: user_code.clone(),
        client_id: app.client_id.clone(),
        tenant: match tenant_ref {
            crate::entra::registry::TenantRef::Tenant(t) => Some(t.id.clone()),
            _ => None,
        },
        target,
        expires_at: now.saturating_add(lifetime),
        interval,
        last_poll_ms: None,
        status: DeviceStatus::Pending,
    };
    devices
        .insert(device_code.clone(), session, now)
        .map_err(|e| EntraError::too_many_sign_ins(e.pending))?;
    drop(devices);
    let verification = format!("{}/devicelogin", st.base_url);
    let message = format!(
        "To sign in, use a web browser to open the page {verification} and enter the code {user_code} to authenticate."
    );
    Ok(match version {
        Version::V1 => json!({
            "user_code": user_code, "device_code": device_code, "verification_url": verification,
            "expires_in": lifetime.to_string(), "interval": interval.to_string(), "message": message,
        }),
        Version::V2 => json!({
            "user_code": user_code, "device_code": device_code, "verification_uri": verification,
            "expires_in": lifetime, "interval": interval, "message": message,
        }),
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Redeems a device code at the token endpoint.
pub(crate) fn redeem(
    st: &AppState,
    app: &AppConfig,
    form: &HashMap<String, String>,
) -> Result<(SignInTarget, UserConfig), EntraError> {
    // v1 clients historically sent `code=`.
    let code = form
        .get("device_code")
        .or_else(|| form.get("code"))
        .filter(|v| !v.is_empty())
        .ok_or_else(|| EntraError::missing_parameter("device_code"))?;
    let mut devices = st
        .sessions
        .devices
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let session = devices
        .get_mut(code)
        .filter(|s| s.client_id.eq_ignore_ascii_case(&app.client_id))
        .ok_or_else(EntraError::bad_verification_code)?;
    if st.clock.now() > session.expires_at {
        devices.remove(code);
        return Err(EntraError::expired_token());
    }
    match session.status.clone() {
        DeviceStatus::Declined => {
            devices.remove(code);
            Err(EntraError::authorization_declined())
        }
        DeviceStatus::Pending => {
            let now = now_ms();
            // A little leeway: clients that wait exactly `interval` must not be told to slow down.
            let too_fast = session
                .last_poll_ms
                .is_some_and(|last| now - last < session.interval * 1000 * 8 / 10);
            session.last_poll_ms = Some(now);
            if too_fast {
                Err(EntraError::slow_down())
            } else {
                Err(EntraError::authorization_pending())
            }
        }
        DeviceStatus::Approved(oid) => {
            let session = devices.remove(code).expect("present");
            let user = st
                .registry
                .user_by_oid(&oid)
                .cloned()
                .ok_or_else(EntraError::bad_verification_code)?;
            Ok((session.target, user))
        }
    }
}

/// Approves a pending code for a user (the control API and the page both end here). A user
/// of another tenant than the one the sign-in started at cannot approve it (AADSTS50020).
pub(crate) fn approve(st: &AppState, user_code: &str, oid: &str) -> bool {
    let Some(user) = st.registry.user_by_oid(oid) else {
        return false;
    };
    let Some(code) = st.sessions.device_code_for(user_code) else {
        return false;
    };
    let tenant = st
        .sessions
        .devices
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&code)
        .and_then(|s| s.tenant.clone());
    if tenant.is_some_and(|t| !t.eq_ignore_ascii_case(&user.tenant)) {
        return false;
    }
    set_status(st, user_code, DeviceStatus::Approved(oid.to_owned()))
}

/// Declines a pending code.
pub(crate) fn decline(st: &AppState, user_code: &str) -> bool {
    set_status(st, user_code, DeviceStatus::Declined)
}

fn set_status(st: &AppState, user_code: &str, status: DeviceStatus) -> bool {
    let Some(code) = st.sessions.device_code_for(user_code) else {
        return false;
    };
    let mut devices = st
        .sessions
        .devices
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    match devices.get_mut(&code) {
        Some(s) if s.status == DeviceStatus::Pending && st.clock.now() <= s.expires_at => {
            s.status = status;
            true
        }
        _ => false,
    }
}

fn code_form(error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", escape(e)))
        .unwrap_or_default();
    page(
        "Enter code",
        &format!(
            "<h1>Enter code</h1><p>Enter the code displayed on your app or device.</p>{error}\
             <form method=\"post\" action=\"/devicelogin\"><label for=\"code\">Code</label>\
             <input type=\"text\" id=\"code\" name=\"code\" autocomplete=\"off\" required>\
             <div class=\"buttons\"><button type=\"submit\" class=\"primary\" id=\"next\">Next</button></div></form>"
        ),
    )
}

/// `GET /devicelogin`: the code entry page.
pub(crate) async fn page_get() -> Response {
    code_form(None)
}

/// `POST /devicelogin`: code, then username and password (or cancel).
pub(crate) async fn page_post(State(st): State<AppState>, body: axum::body::Bytes) -> Response {
    let form = crate::entra::form_fields(&body);
    let get = |k: &str| form.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let Some(user_code) = get("code") else {
        return code_form(Some("Enter a code."));
    };
    let Some(device_code) = st.sessions.device_code_for(user_code) else {
        return code_form(Some("That code didn't work. Check the code and try again."));
    };
    let (client_id, aud, pending) = {
        let devices = st
            .sessions
            .devices
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match devices.get(&device_code) {
            Some(s) => (
                s.client_id.clone(),
                s.target.aud.clone(),
                s.status == DeviceStatus::Pending && st.clock.now() <= s.expires_at,
            ),
            None => return code_form(Some("That code didn't work. Check the code and try again.")),
        }
    };
    if !pending {
        return code_form(Some("That code has expired or was already used."));
    }
    let app_name = st
        .registry
        .app_by_id(&client_id)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    if get("action") == Some("cancel") {
        decline(&st, user_code);
        return page(
            "Sign-in cancelled",
            "<h1>Sign-in cancelled</h1><p>You declined to sign in. You may now close this window.</p>",
        );
    }
    let carry = [("code".to_owned(), user_code.to_owned())];
    let form_page = |error: Option<&str>| {
        let error = error
            .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>", escape(e)))
            .unwrap_or_default();
        page(
            "Sign in",
            &format!(
                "<h1>Sign in</h1><p>to continue to <b>{}</b> on your device</p>{error}\
                 <form method=\"post\" action=\"/devicelogin\">{}\
                 <label for=\"username\">Email or phone</label><input type=\"email\" id=\"username\" name=\"username\" required>\
                 <label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" required>\
                 <div class=\"buttons\"><button type=\"submit\" class=\"secondary\" name=\"action\" value=\"cancel\" formnovalidate>Cancel</button>\
                 <button type=\"submit\" class=\"primary\" id=\"signin\" name=\"action\" value=\"signin\">Sign in</button></div></form>",
                escape(&app_name),
                hidden(&carry)
            ),
        )
    };
    let (Some(username), Some(password)) = (
        get("username"),
        form.get("password").filter(|p| !p.is_empty()),
    ) else {
        return form_page(None);
    };
    let user = st
        .registry
        .config()
        .users
        .iter()
        .find(|u| u.upn.eq_ignore_ascii_case(username));
    let user = user.filter(|u| constant_time_eq(u.password.as_bytes(), password.as_bytes()));
    match user {
        // As at the token endpoint (AADSTS50076): the emulator has no second factor to offer.
        Some(u) if u.mfa_required && !u.disabled => form_page(Some(&format!(
            "AADSTS50076: {}",
            EntraError::mfa_required(&aud).message
        ))),
        Some(u) if !u.disabled => {
            if !approve(&st, user_code, &u.object_id) {
                return form_page(Some(
                    "This account does not exist in the directory this sign-in is for.",
                ));
            }
            page(
                "Signed in",
                &format!(
                    "<h1>You're signed in</h1><p>You have signed in to <b>{}</b> on your device. You may now close this window.</p>",
                    escape(&app_name)
                ),
            )
        }
        _ => form_page(Some("Your account or password is incorrect.")),
    }
}
