//! HTTPS for the emulator: a CA of its own and a server certificate it signs (SANs
//! `localhost`, `127.0.0.1`, `::1`; server-auth key usage), kept in the data directory (or a
//! temporary one) so clients can trust the CA file: `SSL_CERT_FILE`/`REQUESTS_CA_BUNDLE` for
//! Python, `NODE_EXTRA_CA_CERTS` for Node, `--ca-file` for d365.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::error::StartError;
use crate::private_files::write_private;
pub use crate::private_files::{create_private_dir, private_temp_dir};

/// The files of the emulator's TLS setup.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate clients should trust.
    pub ca_path: PathBuf,
    /// The server certificate chain (PEM).
    pub cert_pem: String,
    /// The server private key (PEM).
    pub key_pem: String,
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> StartError {
    move |source| StartError::Io { what, source }
}

fn key_err(e: rcgen::Error) -> StartError {
    StartError::Key(format!("TLS certificate: {e}"))
}

/// Loads the CA and server certificate from `dir`, creating them on first use.
pub fn load_or_create(dir: &Path) -> Result<TlsFiles, StartError> {
    let (ca_path, cert_path, key_path) = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server-key.pem"),
    );
    if ca_path.exists() && cert_path.exists() && key_path.exists() {
        let read =
            |p: &Path| std::fs::read_to_string(p).map_err(io(format!("reading {}", p.display())));
        return Ok(TlsFiles {
            cert_pem: read(&cert_path)?,
            key_pem: read(&key_path)?,
            ca_path,
        });
    }
    create_private_dir(dir)?;
    let ca_key = KeyPair::generate().map_err(key_err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(key_err)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "d365 emulator local CA");
    ca_params
        .distinguished_name
        .push(DnType::OrganizationName, "d365");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(key_err)?;
    let issuer = Issuer::new(ca_params, &ca_key);

    let server_key = KeyPair::generate().map_err(key_err)?;
    let mut params = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])
    .map_err(key_err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = params.signed_by(&server_key, &issuer).map_err(key_err)?;

    let files = TlsFiles {
        ca_path: ca_path.clone(),
        cert_pem: server_cert.pem() + &ca_cert.pem(),
        key_pem: server_key.serialize_pem(),
    };
    write_private(&key_path, &files.key_pem)?;
    // The CA key is not kept: nothing else will ever be signed with it. The certificates
    // are written as the key is: a CA file planted here would be the one clients trust.
    write_private(&cert_path, &files.cert_pem)?;
    write_private(&ca_path, &ca_cert.pem())?;
    Ok(files)
}
