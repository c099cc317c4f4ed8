//! OpenID discovery documents (v1 and v2) and the JWKS, at the paths Entra serves them.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::entra::registry::TenantRef;
use crate::error::EntraError;
use crate::state::AppState;

fn cacheable(body: serde_json::Value) -> Response {
    let mut response = axum::Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=86400, private"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// The tenant segment as documents show it: the GUID for real tenants; for aliases, the alias
/// in endpoints and the literal `{tenantid}` in issuers.
fn tenant_parts(st: &AppState, segment: &str) -> Result<(String, String), EntraError> {
    match st.registry.resolve_tenant(segment) {
        Some(TenantRef::Tenant(t)) => Ok((t.id.clone(), t.id.clone())),
        Some(alias) => Ok((
            alias.alias().unwrap_or("common").to_owned(),
            "{tenantid}".to_owned(),
        )),
        None => Err(EntraError::tenant_not_found(segment)),
    }
}

/// The authority URL the documents of `segment` name (`{base}/{tenant or alias}`) and the
/// tenant their issuer names.
fn authority(st: &AppState, segment: &str) -> Result<(String, String), EntraError> {
    let (path_tenant, issuer_tenant) = tenant_parts(st, segment)?;
    Ok((format!("{}/{path_tenant}", st.base_url), issuer_tenant))
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`
pub(crate) async fn openid_v2(State(st): State<AppState>, Path(tenant): Path<String>) -> Response {
    let (a, issuer_tenant) = match authority(&st, &tenant) {
        Ok(parts) => parts,
        Err(e) => return e.into_response(),
    };
    cacheable(json!({
        "token_endpoint": format!("{a}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{a}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{}/{issuer_tenant}/v2.0", st.base_url),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{}/oidc/userinfo", st.base_url),
        "authorization_endpoint": format!("{a}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{a}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{a}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{a}/kerberos"),
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net"
    }))
}

/// `GET /{tenant}/.well-known/openid-configuration` (v1).
pub(crate) async fn openid_v1(State(st): State<AppState>, Path(tenant): Path<String>) -> Response {
    let (a, issuer_tenant) = match authority(&st, &tenant) {
        Ok(parts) => parts,
        Err(e) => return e.into_response(),
    };
    cacheable(json!({
        "authorization_endpoint": format!("{a}/oauth2/authorize"),
        "token_endpoint": format!("{a}/oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{a}/discovery/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{a}/oauth2/logout"),
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": AppState::v1_issuer(&issuer_tenant),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email", "given_name", "family_name", "nickname"],
        "microsoft_multi_refresh_token": true,
        "check_session_iframe": format!("{a}/oauth2/checksession"),
        "userinfo_endpoint": format!("{a}/openid/userinfo"),
        "device_authorization_endpoint": format!("{a}/oauth2/devicecode"),
        "kerberos_endpoint": format!("{a}/kerberos"),
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net"
    }))
}

/// `GET /{tenant}/discovery/v2.0/keys`
pub(crate) async fn jwks_v2(State(st): State<AppState>, Path(tenant): Path<String>) -> Response {
    match tenant_parts(&st, &tenant) {
        Ok((_, issuer_tenant)) => cacheable(
            st.key
                .jwks(&format!("{}/{issuer_tenant}/v2.0", st.base_url)),
        ),
        Err(e) => e.into_response(),
    }
}

/// `GET /{tenant}/discovery/keys` (v1).
pub(crate) async fn jwks_v1(State(st): State<AppState>, Path(tenant): Path<String>) -> Response {
    match tenant_parts(&st, &tenant) {
        Ok((_, issuer_tenant)) => cacheable(st.key.jwks(&AppState::v1_issuer(&issuer_tenant))),
        Err(e) => e.into_response(),
    }
}
