//! Connecting to PostgreSQL as libpq would (<https://www.postgresql.org/docs/current/libpq-ssl.html>),
//! over rustls: `sslmode` (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`) and
//! `sslrootcert` in the URL; the password from the URL, `PGPASSWORD` or the password file.
//!
//! * `prefer` (the default) tries TLS and falls back to plain TCP, but only to a loopback
//!   host: elsewhere plain TCP needs an explicit `sslmode=disable` (the host named in the
//!   URL decides, `hostaddr` does not).
//! * `require` encrypts without checking the certificate, unless `sslrootcert` is given:
//!   then, as in libpq, it checks the chain like `verify-ca`.
//! * `verify-ca` checks the chain against `sslrootcert` (a PEM file, or `system` for the
//!   operating system's store; default `~/.postgresql/root.crt`, else the system's);
//!   `verify-full` checks the host name too.
//!
//! The password never appears in a message: URLs are shown through [`redact`].

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::{Host, SslMode as WireSslMode};

use crate::error::{Error, Result};

/// `sslmode`, as libpq spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(Error::refused(format!(
                    "sslmode '{other}' is not one of disable, prefer, require, verify-ca, verify-full"
                )));
            }
        })
    }
}

impl SslMode {
    fn name(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// A `postgres://` URL with the user's password (and any `password=` option) hidden.
pub fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(end);
            match authority.rsplit_once('@') {
                Some((userinfo, hosts)) => {
                    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                    let hidden = if user.len() < userinfo.len() {
                        ":***"
                    } else {
                        ""
                    };
                    format!("{scheme}://{user}{hidden}@{hosts}{path}")
                }
                None => base.to_owned(),
            }
        }
        // Not a URL at all: hide whatever could be a password before an '@'.
        None => match base.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => base.to_owned(),
        },
    };
    if let Some(q) = query {
        let pairs: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

/// Where and how to connect.
pub(super) struct Target {
    config: tokio_postgres::Config,
    mode: SslMode,
    root_cert: Option<String>,
    loopback: bool,
    /// `host:port`, for messages.
    shown: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("at", &self.shown)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

fn is_loopback(host: &Host) -> bool {
    match host {
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    }
}

impl Target {
    /// Reads the URL; the password, when the URL has none, from `PGPASSWORD` or the password
    /// file.
    pub(super) fn parse(url: &str) -> Result<Self> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let (mut mode, mut root_cert) = (None, None);
        let mut rest = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "sslmode" => mode = Some(v.parse::<SslMode>()?),
                "sslrootcert" => root_cert = Some(v.into_owned()),
                _ => {
                    rest.append_pair(&k, &v);
                }
            }
        }
        let rest = rest.finish();
        let url_without_tls = if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{rest}")
        };
        let mut config = tokio_postgres::Config::from_str(&url_without_tls)
            .map_err(|e| Error::refused(format!("{} is not a PostgreSQL URL: {e}", redact(url))))?;
        let Some(host) = config.get_hosts().first().cloned() else {
            return Err(Error::refused(format!("{} names no host", redact(url))));
        };
        let loopback = config.get_hosts().iter().all(is_loopback);
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let host_name = match &host {
            Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            Host::Unix(_) => "localhost".to_owned(),
        };
        if config.get_user().is_none()
            && let Some(user) = ["PGUSER", "USER"]
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        {
            config.user(user);
        }
        if config.get_password().is_none() {
            let user = config.get_user().unwrap_or_default().to_owned();
            let db = config.get_dbname().unwrap_or(&user).to_owned();
            let password = std::env::var("PGPASSWORD")
                .ok()
                .filter(|p| !p.is_empty())
                .or_else(|| {
                    super::pgpass::lookup(&super::pgpass::path()?, &host_name, port, &db, &user)
                });
            if let Some(p) = password {
                config.password(p);
            }
        }
        let mode = mode.unwrap_or(SslMode::Prefer);
        config.ssl_mode(match mode {
            SslMode::Disable => WireSslMode::Disable,
            // No quiet fall back to plain TCP across a network.
            SslMode::Prefer if loopback => WireSslMode::Prefer,
            _ => WireSslMode::Require,
        });
        Ok(Self {
            config,
            mode,
            root_cert,
            loopback,
            shown: format!("{host_name}:{port}"),
        })
    }

    /// Connects; the connection's task is spawned.
    pub(super) async fn connect(&self) -> Result<tokio_postgres::Client> {
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(self.tls_config()?);
        let (client, connection) = match self.config.connect(tls).await {
            Ok(c) => c,
            Err(e) => return Err(self.explain(e)),
        };
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "the PostgreSQL connection ended");
            }
        });
        Ok(client)
    }

    /// Which certificates a verifying mode trusts, for messages.
    fn roots_shown(&self) -> String {
        match self.roots_path() {
            Some(p) => p.display().to_string(),
            None => "the system's certificate store".to_owned(),
        }
    }

    /// `sslrootcert`, else `~/.postgresql/root.crt` when it exists; `None` is the system store.
    fn roots_path(&self) -> Option<PathBuf> {
        match self.root_cert.as_deref() {
            Some("system") => None,
            Some(p) => Some(PathBuf::from(p)),
            None => std::env::var_os("HOME")
                .map(|h| Path::new(&h).join(".postgresql/root.crt"))
                .filter(|p| p.is_file()),
        }
    }

    fn roots(&self) -> Result<RootCertStore> {
        let mut store = RootCertStore::empty();
        match self.roots_path() {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(&path)
                    .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                    .map_err(Error::tls(format!(
                        "reading sslrootcert {}",
                        path.display()
                    )))?;
                if certs.is_empty() {
                    return Err(Error::refused(format!(
                        "sslrootcert {} holds no certificate",
                        path.display()
                    )));
                }
                for c in certs {
                    store
                        .add(c)
                        .map_err(Error::tls(format!("a certificate of {}", path.display())))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                store.add_parsable_certificates(found.certs);
                if store.is_empty() {
                    return Err(Error::refused(
                        "no CA certificates in the system's store: give sslrootcert=FILE",
                    ));
                }
            }
        }
        Ok(store)
    }

    fn tls_config(&self) -> Result<ClientConfig> {
        let provider = CryptoProvider::get_default()
            .cloned()
            .ok_or_else(|| Error::refused("no TLS crypto provider is installed"))?;
        let tls = |e: Box<dyn std::error::Error + Send + Sync>| Error::Tls {
            doing: "setting up TLS for PostgreSQL".into(),
            source: e,
        };
        let chain = || -> Result<Arc<WebPkiServerVerifier>> {
            WebPkiServerVerifier::builder_with_provider(Arc::new(self.roots()?), provider.clone())
                .build()
                .map_err(|e| tls(Box::new(e)))
        };
        // verify-ca, and require with a root certificate (as libpq): the chain, not the name.
        let chain_only = self.mode == SslMode::VerifyCa
            || (self.mode == SslMode::Require && self.root_cert.is_some());
        let verifier: Arc<dyn ServerCertVerifier> = if self.mode == SslMode::VerifyFull {
            chain()?
        } else {
            Arc::new(Lenient {
                chain: if chain_only { Some(chain()?) } else { None },
                // Without a chain: encryption without authentication, as libpq's `prefer`
                // and `require` give.
                provider: provider.clone(),
            })
        };
        Ok(ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls(Box::new(e)))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }

    /// The connection error, said in terms of `sslmode` and `sslrootcert`.
    fn explain(&self, e: tokio_postgres::Error) -> Error {
        let at = format!(
            "connecting to PostgreSQL at {} (sslmode={})",
            self.shown,
            self.mode.name()
        );
        let mut causes: Vec<&(dyn std::error::Error + 'static)> = Vec::new();
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(cause) = source {
            causes.push(cause);
            // io::Error's source() skips the error it wraps: look inside.
            if let Some(inner) = cause
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                causes.push(inner);
            }
            source = cause.source();
        }
        if causes
            .iter()
            .any(|c| c.to_string() == "server does not support TLS")
        {
            return if self.mode == SslMode::Prefer && !self.loopback {
                Error::refused(format!(
                    "{at}: the server does not offer TLS, and plain TCP to a host that is not loopback needs an explicit sslmode=disable in the URL"
                ))
            } else {
                Error::refused(format!("{at}: the server does not offer TLS"))
            };
        }
        for cause in causes {
            if let Some(rustls::Error::InvalidCertificate(why)) =
                cause.downcast_ref::<rustls::Error>()
            {
                let said = match why {
                    CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                        "the server's certificate is not issued by a CA in {}",
                        self.roots_shown()
                    ),
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. } => format!(
                        "the server's certificate is not valid for the host name {} (verify-ca checks the CA only)",
                        self.shown
                            .rsplit_once(':')
                            .map_or(self.shown.as_str(), |(h, _)| h)
                    ),
                    other => format!("the server's certificate was refused: {other:?}"),
                };
                return Error::refused(format!("{at}: {said}"));
            }
        }
        Error::PostgresWhile {
            doing: at,
            source: e,
        }
    }
}

/// The verifier of `verify-ca` (`chain` given: it must lead to a trusted CA; the name is not
/// checked) and of `prefer` and `require` without a root certificate (`chain` `None`: any
/// certificate). Either way the handshake's signatures are checked against the certificate,
/// with the provider's algorithms, as `WebPkiServerVerifier` checks them.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        // The chain is checked before the name: a name error means the chain was good.
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_passwords() {
        for (url, shown) in [
            (
                "postgres://u:secretpw@db.example.com:5432/sales?sslmode=require",
                "postgres://u:***@db.example.com:5432/sales?sslmode=require",
            ),
            (
                "postgress://u:secretpw@host/db",
                "postgress://u:***@host/db",
            ),
            ("postgres://u@host/db", "postgres://u@host/db"),
            (
                "postgres://host/db?user=u&password=secretpw",
                "postgres://host/db?user=u&password=***",
            ),
            ("u:secretpw@host/db", "***@host/db"),
            ("postgres://u:p%40ss@h/db", "postgres://u:***@h/db"),
        ] {
            assert_eq!(redact(url), shown);
        }
    }

    #[test]
    fn modes_and_what_they_send() {
        let t = Target::parse("postgres://u:pw@db.example.com/d").unwrap();
        assert_eq!(t.mode, SslMode::Prefer);
        assert!(!t.loopback);
        // Prefer across a network is TLS or nothing.
        assert_eq!(t.config.get_ssl_mode(), WireSslMode::Require);
        let t = Target::parse("postgres://u:pw@127.0.0.1/d").unwrap();
        assert!(t.loopback);
        assert_eq!(t.config.get_ssl_mode(), WireSslMode::Prefer);
        let t = Target::parse("postgres://u@[::1]:5433/d?sslmode=disable").unwrap();
        assert!(t.loopback);
        assert_eq!(t.config.get_ssl_mode(), WireSslMode::Disable);
        let t = Target::parse(
            "postgres://u@db.example.com/d?sslmode=verify-full&sslrootcert=/x/ca.pem&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(t.mode, SslMode::VerifyFull);
        assert_eq!(t.root_cert.as_deref(), Some("/x/ca.pem"));
        assert_eq!(t.config.get_ssl_mode(), WireSslMode::Require);
        let e = Target::parse("postgres://u:secretpw@h/d?sslmode=allow").unwrap_err();
        assert!(format!("{e:#}").contains("sslmode 'allow'"), "{e:#}");
        let e = Target::parse("postgres://u:secretpw@h:notaport/d").unwrap_err();
        assert!(!format!("{e:#}").contains("secretpw"), "{e:#}");
        assert!(!format!("{t:?}").contains("pw"));
    }
}
