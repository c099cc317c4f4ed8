//! What the token, device-code and authorization endpoints share: the endpoint generation
//! (v1 `resource=`, v2.0 `scope=`) as a value and as a type, the sign-in target a request
//! names, and the JSON answer. Below all three, so that none imports another for these.

use std::collections::HashMap;

use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::entra::scope::Requested;
use crate::entra::sessions::SignInTarget;
use crate::error::{EntraError, no_store};
use crate::state::AppState;

/// Endpoint generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `resource=`, string numbers.
    V1,
    /// `scope=`, integer numbers.
    V2,
}

/// The endpoint generation as a type, so that one handler serves the v1 and the v2 route
/// ([`crate::router`] lists `token::<V1>` and `token::<V2>`).
pub(crate) trait Endpoint {
    /// The generation.
    const VERSION: Version;
}

/// The v1 endpoints (`/oauth2/token`, `resource=`).
#[derive(Debug)]
pub(crate) struct V1;

/// The v2.0 endpoints (`/oauth2/v2.0/token`, `scope=`).
#[derive(Debug)]
pub(crate) struct V2;

impl Endpoint for V1 {
    const VERSION: Version = Version::V1;
}

impl Endpoint for V2 {
    const VERSION: Version = Version::V2;
}

/// A token endpoint's answer: the JSON body, never cached; or Entra's error.
pub(crate) fn respond(result: Result<Value, EntraError>) -> Response {
    match result {
        Ok(body) => {
            let mut response = axum::Json(body).into_response();
            no_store(response.headers_mut());
            response
        }
        Err(e) => e.into_response(),
    }
}

/// `openid` among the scopes: an ID token is wanted.
pub(crate) fn has_openid(form: &HashMap<String, String>) -> bool {
    form.get("scope")
        .is_some_and(|s| s.split_whitespace().any(|x| x == "openid"))
}

/// Resolves `resource` (v1) or `scope` (v2) to a resource this emulator issues tokens for (its
/// environment, or Azure Storage).
pub(crate) fn resolve_target(
    st: &AppState,
    version: Version,
    form: &HashMap<String, String>,
    app_only: bool,
) -> Result<SignInTarget, EntraError> {
    let client_info = form.get("client_info").map(String::as_str) == Some("1");
    let known = |resource: &str| st.issues_tokens_for(resource);
    match version {
        Version::V1 => {
            let resource = form
                .get("resource")
                .filter(|v| !v.is_empty())
                .ok_or_else(|| EntraError::missing_parameter("resource"))?;
            if !known(resource) {
                return Err(EntraError::unknown_resource(resource, st.env_tenant()));
            }
            Ok(SignInTarget {
                aud: resource.clone(),
                offline: true,
                openid: has_openid(form),
                client_info,
                v2: false,
                scope: None,
            })
        }
        Version::V2 => {
            let scope = form
                .get("scope")
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| EntraError::missing_parameter("scope"))?;
            let requested = Requested::parse(scope, app_only)?;
            if !known(requested.resource()) {
                return Err(EntraError::unknown_resource(
                    requested.resource(),
                    st.env_tenant(),
                ));
            }
            Ok(SignInTarget {
                aud: requested.resource().to_owned(),
                offline: requested.offline && !app_only,
                openid: requested.openid && !app_only,
                client_info,
                v2: true,
                // Client credentials answer no `scope` (see `entra::scope`).
                scope: (!app_only).then(|| requested.granted_to_user()),
            })
        }
    }
}
