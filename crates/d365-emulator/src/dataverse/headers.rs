//! Headers every Web API response carries, and JSON bodies with OData's content type.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Adds `OData-Version`, the request ids and `x-ms-dop-hint` to every Web API response.
pub(crate) async fn odata_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let id = uuid::Uuid::new_v4().to_string();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert("x-ms-service-request-id", v.clone());
        headers.insert("req_id", v);
    }
    headers.insert("odata-version", HeaderValue::from_static("4.0"));
    // The limiter sets its own hint when service protection is on.
    if !headers.contains_key("x-ms-dop-hint") {
        headers.insert("x-ms-dop-hint", HeaderValue::from_static("4"));
    }
    response
}

/// A 200 JSON response with `Content-Type: application/json; odata.metadata=minimal`.
pub(crate) fn json_response(body: String) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; odata.metadata=minimal"),
    );
    response
}
