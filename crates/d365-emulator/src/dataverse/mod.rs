//! The Dataverse Web API side: one dispatcher for `/api/data/v9.x/…` that authenticates the
//! bearer token, parses the resource path with `d365-odata`, and hands over to the handler of
//! the API group.

mod apply;
pub(crate) mod batch;
mod bulk;
pub(crate) use bulk::resume_jobs;
mod changes;
mod entity;
mod entity_set;
mod expand;
mod fetch;
mod filter;
pub(crate) mod headers;
pub mod keys;
mod messages;
pub(crate) mod metadata;
pub mod model;
mod modify;
mod record;
mod resource;
mod response;
mod route;
mod service;
pub(crate) mod version;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};

use crate::entra::validate::{Principal, authenticate};
use crate::error::DataverseError;
use crate::state::AppState;
use route::Route;

use version::{API_VERSION, VERSIONS};

/// Handles every request under `/api/data/`.
pub(crate) async fn dispatch(State(st): State<AppState>, request: Request) -> Response {
    match authorize_and_serve(&st, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// `/XRMServices/2011/Organization.svc/web`, the Organization service's SOAP endpoint. Without
/// a valid token it answers as the Web API does, 401 with the `WWW-Authenticate` challenge: the
/// .NET ServiceClient and tools like it probe it to learn the authority and the resource
/// (PROTOCOL.md C4). With one, 501: the emulator serves the Web API, not SOAP.
pub(crate) async fn organization_service(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    match authenticate(&st, &headers) {
        Ok(_) => DataverseError::soap_not_served(&st.api_root()).into_response(),
        Err(challenge) => challenge.into_response(),
    }
}

async fn authorize_and_serve(st: &AppState, request: Request) -> Result<Response, DataverseError> {
    // The raw (still percent-encoded) path after `/api/data/`.
    let rest = request
        .uri()
        .path()
        .strip_prefix("/api/data/")
        .unwrap_or_default();
    let version = rest.split_once('/').map_or(rest, |(v, _)| v);
    let Some(version) = VERSIONS.iter().copied().find(|v| *v == version) else {
        return Err(DataverseError::no_resource(&request.uri().to_string()));
    };
    let caller = authenticate(st, request.headers())?;
    // Service protection counts the authenticated caller, impersonating or not.
    let admission = match st.limiter.admit(&st.clock, &caller.systemuser_id) {
        Ok(a) => a,
        Err(throttled) => {
            let mut response = throttled.into_response();
            if let Some(limits) = st.limiter.limits() {
                response
                    .headers_mut()
                    .insert("x-ms-dop-hint", limits.dop_hint.into());
            }
            return Ok(response);
        }
    };
    let principal = impersonate(st, caller, request.headers())?;
    let mut request = request;
    if let Some(a) = &admission {
        request.extensions_mut().insert(batch::ExecutionLeft(
            std::time::Instant::now() + a.execution_left,
        ));
    }
    if let Some(delay) = request
        .extensions()
        .get::<crate::middleware::InjectedDelay>()
        .copied()
    {
        tokio::time::sleep(std::time::Duration::from_millis(delay.0)).await;
    }
    let guid = |s: &str| uuid::Uuid::parse_str(s).unwrap_or_default();
    let caller = (
        guid(&principal.systemuser_id),
        guid(&st.registry.config().environment.business_unit_id),
    );
    let mut response = API_VERSION
        .scope(
            version,
            filter::CALLER.scope(caller, serve(st, &principal, request)),
        )
        .await
        .unwrap_or_else(IntoResponse::into_response);
    if let Some(a) = &admission {
        response.headers_mut().extend(a.headers.clone());
    }
    drop(admission);
    Ok(response)
}

/// `$batch`, or one request (whose URL Dataverse caps at 32,768 characters).
async fn serve(
    st: &AppState,
    principal: &Principal,
    request: Request,
) -> Result<Response, DataverseError> {
    let route = route::parse(request.method(), request.uri(), &st.model.model);
    if let Ok(Route::Batch) = route {
        return batch::execute(st, principal, request).await;
    }
    let length = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if length > batch::MAX_URL {
        return Err(DataverseError::uri_too_long(length, batch::MAX_URL));
    }
    dispatch_route(st, principal, request, route).await
}

/// One request, outside a batch or as a part of one.
async fn handle(
    st: &AppState,
    principal: &Principal,
    request: Request,
) -> Result<Response, DataverseError> {
    let route = route::parse(request.method(), request.uri(), &st.model.model);
    dispatch_route(st, principal, request, route).await
}

/// Reads the body and calls the handler of the [`Route`] (a routing error is answered after
/// the body is read, as before any handler).
async fn dispatch_route(
    st: &AppState,
    principal: &Principal,
    request: Request,
    route: Result<Route<'_>, DataverseError>,
) -> Result<Response, DataverseError> {
    let (
        axum::http::request::Parts {
            uri,
            method,
            headers,
            ..
        },
        body,
    ) = request.into_parts();
    let path = route::resource_path(&uri);
    // Bodies of writes; Dataverse caps requests far above this, bulk goes through $batch.
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .map_err(|_| {
            DataverseError::payload(
                "",
                "The request body could not be read or is larger than 16 MB.",
            )
        })?;
    let query = uri.query().unwrap_or_default();
    match route? {
        Route::ServiceDocument => Ok(service::service_document(st)),
        Route::Metadata => Ok(service::metadata(st)),
        // A `$batch` inside a `$batch`.
        Route::Batch => Err(DataverseError::no_resource(&uri.to_string())),
        Route::EntityDefinitions { key, rest } => {
            metadata::route(st, &method, key.as_ref(), &rest, &body, query, &uri).await
        }
        Route::Count(entity) => entity_set::count(st, entity, query, None).await,
        Route::RetrieveVersion => Ok(service::retrieve_version(st)),
        Route::WhoAmI => Ok(service::who_am_i(st, principal)),
        Route::Function { name, key, args } => {
            messages::function(st, &name, key.as_ref(), args.as_deref(), query).await
        }
        Route::Action(name) => messages::action(st, principal, &name, &body).await,
        Route::KeyAction(name) => metadata::keys::action(st, &name, &body).await,
        Route::Bulk { entity, message } => {
            bulk::bulk(st, principal, entity, &message, &body, &headers).await
        }
        Route::BoundAction { set, id, action } => {
            messages::bound_action(st, principal, &set, id, &action, &body).await
        }
        Route::FetchXml(entity, xml) => {
            fetch::query(st, entity, principal, fetch::Text::FetchXml(&xml), &headers).await
        }
        Route::Apply(entity, options) => apply::apply(st, entity, &options, &headers).await,
        Route::Sql(entity, text) => {
            fetch::query(st, entity, principal, fetch::Text::Sql(&text), &headers).await
        }
        Route::Query(entity) => entity_set::query(st, entity, path, query, &headers, None).await,
        Route::Create(entity) => {
            modify::create(st, entity, principal, &headers, &body, query).await
        }
        Route::Record { entity, key, rest } => {
            let call = resource::Call {
                st,
                principal,
                method: &method,
                uri: &uri,
                path,
                query,
                headers: &headers,
                body: &body,
            };
            resource::serve(&call, entity, &key, &rest).await
        }
    }
}

/// `CallerObjectId` (an Entra object id) or `MSCRMCallerID` (a `systemuserid`): the request
/// runs as that user (<https://learn.microsoft.com/power-apps/developer/data-platform/impersonate-another-user-web-api>).
/// The caller must hold `prvActOnBehalfOfAnotherUser` (403 otherwise); the user must be one
/// of the environment's (its tenant's: 404 otherwise, as for an unknown id, since no such
/// `systemuser` row exists) and enabled (403), the same checks as a sign-in of that user.
fn impersonate(
    st: &AppState,
    mut principal: Principal,
    headers: &axum::http::HeaderMap,
) -> Result<Principal, DataverseError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let (by_oid, by_id) = (header("callerobjectid"), header("mscrmcallerid"));
    if by_oid.is_none() && by_id.is_none() {
        return Ok(principal);
    }
    let config = st.registry.config();
    let may_act_on_behalf = if principal.is_app {
        st.registry
            .app_by_id(&principal.app_id)
            .is_some_and(|a| a.act_on_behalf)
    } else {
        st.registry
            .user_by_oid(&principal.object_id)
            .is_some_and(|u| u.act_on_behalf)
    };
    if !may_act_on_behalf {
        return Err(DataverseError::missing_act_on_behalf(
            &principal.systemuser_id,
        ));
    }
    let tenant = st.env_tenant();
    let in_environment = |u: &&crate::config::UserConfig| u.tenant.eq_ignore_ascii_case(tenant);
    let user = if let Some(oid) = by_oid {
        config
            .users
            .iter()
            .filter(in_environment)
            .find(|u| u.object_id.eq_ignore_ascii_case(oid))
            .ok_or_else(|| {
                DataverseError::systemuser_not_found("azureactivedirectoryobjectid", oid)
            })?
    } else {
        let id = by_id.unwrap_or_default();
        config
            .users
            .iter()
            .filter(in_environment)
            .find(|u| u.systemuser_id.eq_ignore_ascii_case(id))
            .ok_or_else(|| DataverseError::systemuser_not_found("Id", id))?
    };
    if user.disabled {
        return Err(DataverseError::user_not_enabled(
            &user.systemuser_id,
            &config.environment.organization_id,
        ));
    }
    principal.on_behalf_of = Some(std::mem::replace(
        &mut principal.systemuser_id,
        user.systemuser_id.clone(),
    ));
    principal.object_id = user.object_id.clone();
    principal.is_app = false;
    Ok(principal)
}
