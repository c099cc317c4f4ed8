//! The bare HTTPS ceiling: an axum server on the emulator's TLS stack (axum-server with
//! rustls, the emulator's own certificate) answering every GET with one fixed body. What the
//! HTTP and TLS layers alone cost on this machine, client included.

use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;

/// A running bare server; stops when dropped.
#[derive(Debug)]
pub(crate) struct Bare {
    /// Its origin, `https://127.0.0.1:PORT`.
    pub(crate) origin: String,
    handle: Handle<SocketAddr>,
}

impl Drop for Bare {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// Serves `body` (as OData JSON) to every request, over HTTPS with the certificate in
/// `tls_dir` (the emulator's `tls` folder).
pub(crate) async fn serve(tls_dir: &Path, body: Bytes) -> Bare {
    let files = d365_emulator::tls::load_or_create(tls_dir).expect("the emulator's TLS files");
    let config = RustlsConfig::from_pem(files.cert_pem.into_bytes(), files.key_pem.into_bytes())
        .await
        .expect("a TLS configuration");
    let app = Router::new().fallback(move || {
        let body = body.clone();
        async move {
            (
                [(
                    CONTENT_TYPE,
                    "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8",
                )],
                body,
            )
        }
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener
        .set_nonblocking(true)
        .expect("a non-blocking socket");
    let addr = listener.local_addr().expect("the bound address");
    let handle = Handle::new();
    let server = axum_server::tls_rustls::from_tcp_rustls(listener, config)
        .expect("a TLS server")
        .handle(handle.clone());
    tokio::spawn(async move { server.serve(app.into_make_service()).await });
    Bare {
        origin: format!("https://{addr}"),
        handle,
    }
}
