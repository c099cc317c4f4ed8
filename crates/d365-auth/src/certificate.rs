//! Client certificates: a private key and its certificate (PEM, as azure-identity's
//! `AZURE_CLIENT_CERTIFICATE_PATH` holds them, in one file or two), and the signed client
//! assertion an app presents instead of a secret
//! (<https://learn.microsoft.com/entra/identity-platform/certificate-credentials>).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::error::AuthError;
use crate::secret::ClientAssertion;

/// How to sign assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionAlgorithm {
    /// RS256 with the SHA-1 thumbprint in `x5t`: accepted everywhere (the default).
    Rs256,
    /// PS256 with the SHA-256 thumbprint in `x5t#S256`, as newer MSALs send.
    Ps256,
}

/// A certificate and its private key. `Debug` shows only the thumbprint.
pub struct ClientCertificate {
    key: EncodingKey,
    sha1: String,
    sha256: String,
    algorithm: AssertionAlgorithm,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("x5t", &self.sha1)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

fn pem_block(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let end = start + pem[start..].find(&format!("-----END {label}-----"))?;
    STANDARD
        .decode(pem[start..end].split_whitespace().collect::<String>())
        .ok()
}

impl ClientCertificate {
    /// From PEM text holding the private key (`PRIVATE KEY` or `RSA PRIVATE KEY`) and the
    /// certificate; they may be one text or two.
    pub fn from_pem(key_pem: &str, cert_pem: &str) -> Result<Self, AuthError> {
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        let der = pem_block(cert_pem, "CERTIFICATE").ok_or_else(|| {
            AuthError::InvalidConfig("no CERTIFICATE block in the certificate PEM".into())
        })?;
        let key = EncodingKey::from_rsa_pem(key_pem.as_bytes()).map_err(|e| {
            AuthError::InvalidConfig(format!(
                "the certificate's private key is not an RSA key in PEM form: {e}"
            ))
        })?;
        let thumb = |alg| URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(alg, &der).as_ref());
        Ok(Self {
            key,
            sha1: thumb(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY),
            sha256: thumb(&aws_lc_rs::digest::SHA256),
            algorithm: AssertionAlgorithm::Rs256,
        })
    }

    /// From a file holding both the key and the certificate.
    pub fn from_pem_file(path: &std::path::Path) -> Result<Self, AuthError> {
        let pem = std::fs::read_to_string(path).map_err(|e| {
            AuthError::InvalidConfig(format!("reading certificate {}: {e}", path.display()))
        })?;
        Self::from_pem(&pem, &pem)
    }

    /// Signs with PS256 and `x5t#S256` instead of RS256 and `x5t`.
    pub fn with_algorithm(mut self, algorithm: AssertionAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The base64url SHA-1 thumbprint (`x5t`).
    pub fn thumbprint(&self) -> &str {
        &self.sha1
    }

    /// A fresh assertion for `audience` (the token endpoint URL): `iss` = `sub` = client id, a
    /// new `jti`, valid for ten minutes.
    pub fn assertion(&self, client_id: &str, audience: &str) -> Result<ClientAssertion, AuthError> {
        let mut header = match self.algorithm {
            AssertionAlgorithm::Rs256 => {
                let mut h = Header::new(Algorithm::RS256);
                h.x5t = Some(self.sha1.clone());
                h
            }
            AssertionAlgorithm::Ps256 => {
                let mut h = Header::new(Algorithm::PS256);
                h.x5t_s256 = Some(self.sha256.clone());
                h
            }
        };
        header.typ = Some("JWT".into());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti)
            .map_err(|_| AuthError::InvalidConfig("no system randomness".into()))?;
        let claims = json!({
            "aud": audience, "iss": client_id, "sub": client_id,
            "jti": URL_SAFE_NO_PAD.encode(jti), "iat": now, "nbf": now, "exp": now + 600,
        });
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(ClientAssertion::new)
            .map_err(|e| AuthError::InvalidConfig(format!("signing the client assertion: {e}")))
    }
}
