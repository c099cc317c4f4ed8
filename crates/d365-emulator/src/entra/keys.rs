//! The token-signing key: RSA-2048 with a self-signed certificate, as Entra publishes it.
//! `kid` and `x5t` are both the base64url SHA-1 thumbprint of the certificate.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{Value, json};

use crate::error::StartError;

/// The emulator's signing key and its published forms.
pub struct SigningKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    jwk: Value,
    private_pem: String,
    cert_pem: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Generates a fresh RSA-2048 private key as PKCS#8 PEM.
pub fn generate_private_key_pem() -> Result<String, StartError> {
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .map_err(|e| StartError::Key(format!("generating RSA key: {e}")))?;
    Ok(key.serialize_pem())
}

impl SigningKey {
    /// Builds the key from a PKCS#8 PEM private key and, when persisted, its certificate (PEM).
    /// Without a certificate a self-signed one is made; keep it to keep `kid` stable.
    pub fn from_pems(key_pem: &str, cert_pem: Option<&str>) -> Result<Self, StartError> {
        let pem = key_pem;
        let key_pair = rcgen::KeyPair::from_pem(pem)
            .map_err(|e| StartError::Key(format!("reading RSA key: {e}")))?;
        let cert_pem = match cert_pem {
            Some(c) => c.to_owned(),
            None => {
                let mut params = rcgen::CertificateParams::new(vec!["d365-emulator".to_owned()])
                    .map_err(|e| StartError::Key(e.to_string()))?;
                params
                    .distinguished_name
                    .push(rcgen::DnType::CommonName, "d365 emulator token signing");
                params
                    .self_signed(&key_pair)
                    .map_err(|e| StartError::Key(format!("self-signing certificate: {e}")))?
                    .pem()
            }
        };
        let cert_der = pem_body(&cert_pem)
            .ok_or_else(|| StartError::Key("signing certificate is not PEM".into()))?;
        let thumb =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert_der);
        let kid = URL_SAFE_NO_PAD.encode(thumb.as_ref());
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| StartError::Key(format!("loading RSA key: {e}")))?;
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, Algorithm::RS256)
            .map_err(|e| StartError::Key(format!("building JWK: {e}")))?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| StartError::Key(e.to_string()))?;
        let mut jwk = serde_json::to_value(&jwk).map_err(|e| StartError::Key(e.to_string()))?;
        // Entra's JWKS entries carry x5t and the certificate chain besides n/e.
        jwk["x5t"] = json!(kid);
        jwk["x5c"] = json!([STANDARD.encode(&cert_der)]);
        if let Some(obj) = jwk.as_object_mut() {
            obj.remove("alg");
        }
        Ok(Self {
            encoding,
            decoding,
            kid,
            jwk,
            private_pem: pem.to_owned(),
            cert_pem,
        })
    }

    /// The key id (`kid`, equal to `x5t`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key as PEM, for persisting in the data directory.
    pub fn private_pem(&self) -> &str {
        &self.private_pem
    }

    /// The certificate as PEM, for persisting beside the key.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Signs claims as an RS256 JWT with `typ`, `kid` and `x5t` in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        header.kid = Some(self.kid.clone());
        header.x5t = Some(self.kid.clone());
        // Signing a JSON value with our own key cannot fail short of a broken crypto library.
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("RS256 signing failed")
    }

    /// The key for verifying tokens.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The JWKS document, with the issuer Entra adds to each key.
    pub fn jwks(&self, issuer: &str) -> Value {
        let mut jwk = self.jwk.clone();
        jwk["issuer"] = json!(issuer);
        json!({ "keys": [jwk] })
    }
}

/// The DER bytes of the first PEM block.
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let start = pem.find("-----BEGIN")?;
    let body_start = start + pem[start..].find('\n')? + 1;
    let body_end = body_start + pem[body_start..].find("-----END")?;
    let b64: String = pem[body_start..body_end].split_whitespace().collect();
    STANDARD.decode(b64).ok()
}

/// Installs aws-lc-rs as jsonwebtoken's and rustls's provider (idempotent). Having both
/// backends compiled in makes the first use panic otherwise.
pub fn install_crypto_providers() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_with_published_key() {
        install_crypto_providers();
        let pem = generate_private_key_pem().unwrap();
        let key = SigningKey::from_pems(&pem, None).unwrap();
        let token = key.sign(&json!({"aud": "x", "exp": 4_000_000_000u64}));
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        assert_eq!(header.x5t.as_deref(), Some(key.kid()));
        let jwks = key.jwks("https://issuer/");
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
        let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
        v.set_audience(&["x"]);
        jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_jwk(&jwk).unwrap(), &v).unwrap();
        // Same key and certificate, same kid.
        let again = SigningKey::from_pems(&pem, Some(key.cert_pem())).unwrap();
        assert_eq!(again.kid(), key.kid());
    }
}
