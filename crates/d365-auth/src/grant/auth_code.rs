//! Authorization code with PKCE (S256) for native apps
//! (<https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow>, RFC 7636).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use url::Url;

use super::{Form, Grant, client_fields, target_fields};
use crate::authority::{Authority, EndpointVersion, Target};
use crate::secret::{AuthorizationCode, ClientSecret, PkceVerifier};

/// A PKCE verifier and its S256 challenge.
#[derive(Debug)]
pub struct Pkce {
    /// The verifier (43 characters from 32 random bytes), sent when redeeming the code.
    pub verifier: PkceVerifier,
    /// `base64url(SHA-256(verifier))`, sent to `/authorize`.
    pub challenge: String,
}

/// 32 random bytes, base64url: for PKCE verifiers and `state`.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("system randomness unavailable");
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Pkce {
    /// A fresh verifier and challenge.
    pub fn new() -> Self {
        Self::from_verifier(PkceVerifier::new(random_token()))
    }

    /// The challenge for a given verifier.
    pub fn from_verifier(verifier: PkceVerifier) -> Self {
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.secret().as_bytes());
        Self {
            challenge: URL_SAFE_NO_PAD.encode(digest.as_ref()),
            verifier,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// The `/authorize` URL that starts a browser sign-in.
pub fn authorize_url(
    authority: &Authority,
    version: EndpointVersion,
    client_id: &str,
    redirect_uri: &str,
    target: &Target,
    state: &str,
    challenge: &str,
) -> Url {
    let mut url = authority.authorize_url(version);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", client_id);
        q.append_pair("response_type", "code");
        q.append_pair("redirect_uri", redirect_uri);
        q.append_pair("response_mode", "query");
        for (name, value) in target.form_fields(version) {
            // A user sign-in wants an ID token and a refresh token: add what is missing.
            let value = if name == "scope" {
                let mut scopes: Vec<&str> = value.split_whitespace().collect();
                for extra in ["openid", "profile", "offline_access"] {
                    if !scopes.contains(&extra) {
                        scopes.push(extra);
                    }
                }
                scopes.join(" ")
            } else {
                value
            };
            q.append_pair(name, &value);
        }
        q.append_pair("state", state);
        q.append_pair("code_challenge", challenge);
        q.append_pair("code_challenge_method", "S256");
    }
    url
}

/// `grant_type=authorization_code`.
#[derive(Debug)]
pub struct AuthorizationCodeGrant {
    /// The client id.
    pub client_id: String,
    /// The app's secret, for a confidential (web) client.
    pub client_secret: Option<ClientSecret>,
    /// The code from the redirect.
    pub code: AuthorizationCode,
    /// The same redirect URI as sent to `/authorize`.
    pub redirect_uri: String,
    /// The PKCE verifier.
    pub code_verifier: PkceVerifier,
}

impl Grant for AuthorizationCodeGrant {
    fn grant_type(&self) -> &'static str {
        "authorization_code"
    }

    fn form(&self, version: EndpointVersion, target: &Target) -> Form {
        let mut form = Form::default();
        form.push("grant_type", "authorization_code");
        client_fields(&mut form, &self.client_id, self.client_secret.as_ref());
        form.push("code", self.code.secret());
        form.push("redirect_uri", &self.redirect_uri);
        form.push("code_verifier", self.code_verifier.secret());
        target_fields(&mut form, version, target);
        form
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let pkce = Pkce::from_verifier(PkceVerifier::new(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        ));
        assert_eq!(
            pkce.challenge,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(Pkce::new().verifier.secret().len(), 43);
    }

    #[test]
    fn authorize_url_carries_pkce_and_state() {
        let a = Authority::new("https://login.microsoftonline.com", "t").unwrap();
        let url = authorize_url(
            &a,
            EndpointVersion::V2,
            "c",
            "http://localhost:1234",
            &Target::Resource("https://org".into()),
            "st",
            "ch",
        );
        assert!(url.as_str().starts_with("https://login.microsoftonline.com/t/oauth2/v2.0/authorize?client_id=c&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A1234"), "{url}");
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(
            q["scope"],
            "https://org/.default openid profile offline_access"
        );
        assert_eq!(
            (q["state"].as_str(), q["code_challenge_method"].as_str()),
            ("st", "S256")
        );
    }
}
