//! Access token claims in the v1 format Dataverse receives, whichever endpoint issued them
//! (<https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference>).

use serde_json::{Value, json};

use crate::config::{AppConfig, UserConfig};
use crate::state::AppState;

/// Entra backdates `nbf` by five minutes to absorb clock skew.
pub const NOT_BEFORE_SKEW: i64 = 300;

/// Who a token is for.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A signed-in user, through an app.
    User(&'a UserConfig, &'a AppConfig),
    /// The app itself (client credentials).
    App(&'a AppConfig),
}

/// Builds and signs an access token.
pub fn access_token(
    st: &AppState,
    aud: &str,
    subject: Subject<'_>,
    authenticated: bool,
    now: i64,
    lifetime: i64,
) -> String {
    // Issued in the principal's home tenant: Dataverse refuses tokens from another tenant.
    let tenant = match subject {
        Subject::User(user, _) => user.tenant.clone(),
        Subject::App(app) => app.tenant.clone(),
    };
    let mut claims = json!({
        "aud": aud,
        "iss": AppState::v1_issuer(&tenant),
        "iat": now - NOT_BEFORE_SKEW,
        "nbf": now - NOT_BEFORE_SKEW,
        "exp": now + lifetime,
        "aio": random_id(),
        "appidacr": if authenticated { "1" } else { "0" },
        "idp": AppState::v1_issuer(&tenant),
        "rh": random_id(),
        "tid": tenant,
        "uti": random_id(),
        "ver": "1.0",
    });
    match subject {
        Subject::User(user, app) => {
            claims["appid"] = json!(app.client_id);
            claims["acr"] = json!("1");
            claims["amr"] = json!(["pwd"]);
            claims["oid"] = json!(user.object_id);
            claims["sub"] = json!(pairwise_sub(&user.object_id, &app.client_id));
            claims["upn"] = json!(user.upn);
            claims["unique_name"] = json!(user.upn);
            claims["name"] = json!(user.display_name);
            claims["given_name"] = json!(user.given_name);
            claims["family_name"] = json!(user.family_name);
            claims["scp"] = json!("user_impersonation");
            claims["idtyp"] = json!("user");
            if let Some(obj) = claims.as_object_mut() {
                obj.remove("idp");
            }
        }
        Subject::App(app) => {
            claims["appid"] = json!(app.client_id);
            claims["oid"] = json!(app.service_principal_id);
            claims["sub"] = json!(app.service_principal_id);
            claims["idtyp"] = json!("app");
            // The app's roles are Dataverse's; Entra gives storage's app tokens none.
            if !app.roles.is_empty() && st.is_environment(aud) {
                claims["roles"] = json!(app.roles);
            }
        }
    }
    st.key.sign(&claims)
}

/// An OpenID Connect ID token for `user` signing in to `app`: `aud` is the client id (MSAL
/// checks it), with `preferred_username`, `oid`, `tid` and the request's `nonce`.
pub fn id_token(
    st: &AppState,
    app: &AppConfig,
    user: &UserConfig,
    v2: bool,
    nonce: Option<&str>,
    now: i64,
    lifetime: i64,
) -> String {
    let issuer = if v2 {
        format!("{}/{}/v2.0", st.base_url, user.tenant)
    } else {
        AppState::v1_issuer(&user.tenant)
    };
    let mut claims = json!({
        "aud": app.client_id,
        "iss": issuer,
        "iat": now - NOT_BEFORE_SKEW,
        "nbf": now - NOT_BEFORE_SKEW,
        "exp": now + lifetime,
        "name": user.display_name,
        "oid": user.object_id,
        "preferred_username": user.upn,
        "sub": pairwise_sub(&user.object_id, &app.client_id),
        "tid": user.tenant,
        "uti": random_id(),
        "ver": if v2 { "2.0" } else { "1.0" },
    });
    if !v2 {
        claims["upn"] = json!(user.upn);
        claims["unique_name"] = json!(user.upn);
    }
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    st.key.sign(&claims)
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("system randomness unavailable");
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}

/// `sub` is pairwise: stable per user and app, different across apps.
fn pairwise_sub(oid: &str, client_id: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{oid}|{client_id}").as_bytes(),
    );
    base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &digest.as_ref()[..32],
    )
}

/// Reads claims as a map (for validation).
pub fn as_str<'a>(claims: &'a Value, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}
