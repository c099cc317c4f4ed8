//! `Connection: close` on an HTTP/1.1 answer sent before its request's body was read to the
//! end (an injected fault, a 401, a 429, a body over the limit). hyper cannot reuse such a
//! connection and closes it after the answer; without the header a keep-alive client sends its
//! next request on the connection being closed and gets a transport error instead of an
//! answer. With it, the client opens a new connection, as it does with IIS and Dataverse.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

/// A request body that records when it has been read to the end.
struct Tracked {
    inner: Body,
    done: Arc<AtomicBool>,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || this.inner.is_end_stream() {
            this.done.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The middleware: tracks the body of every HTTP/1 request that has one.
pub(crate) async fn close_if_unread(request: Request, next: Next) -> Response {
    use http_body::Body as _;
    let http1 = matches!(request.version(), Version::HTTP_10 | Version::HTTP_11);
    if !http1 || request.body().is_end_stream() {
        return next.run(request).await;
    }
    let done = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let body = Body::new(Tracked {
        inner: body,
        done: done.clone(),
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if !done.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
