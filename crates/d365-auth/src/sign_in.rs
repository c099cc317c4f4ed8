//! Choosing how to sign in from settings, written once for every caller: `d365-webapi`'s
//! `ClientBuilder::from_env` fills the settings from the azure-identity environment variables,
//! the CLI from flags, the environment and its profiles (adding only profiles, prompts and
//! cached interactive sessions on top).
//!
//! The secrets are a type parameter `S`: the value itself, or where to read it (the CLI's
//! `--secret-file`, `--secret-prompt`), read only when the credential is built, so choosing
//! never prompts. `Debug` never shows an `S`, whatever it is.
//!
//! ```
//! use d365_auth::SignIn;
//!
//! let chosen = SignIn::choose(Some("s3cret"), None, Some("someone@contoso.com"), None);
//! assert!(matches!(chosen, Some(SignIn::ClientSecret(_))), "no password: the app signs in");
//! let chosen = SignIn::choose(Some("s3cret"), None, Some("someone@contoso.com"), Some("pw"));
//! assert_eq!(
//!     format!("{chosen:?}"),
//!     "Some(Password { username: \"someone@contoso.com\", password: [redacted], client_secret: Some([redacted]) })"
//! );
//! ```

use std::path::PathBuf;

use crate::{ClientCertificate, ClientSecret, OAuthCredential, Password, TokenClient};

/// How to sign in, chosen from settings by [`SignIn::choose`].
#[derive(Clone, PartialEq, Eq)]
pub enum SignIn<S> {
    /// App-only, with a client secret (client-credentials grant).
    ClientSecret(S),
    /// App-only, with a certificate (PEM file with the key and the certificate).
    Certificate(PathBuf),
    /// A user with a password (ROPC); `client_secret` for a confidential client.
    Password {
        /// The user principal name.
        username: String,
        /// The password.
        password: S,
        /// The app's secret, when the app is a confidential client.
        client_secret: Option<S>,
    },
}

impl<S> SignIn<S> {
    /// The one rule: a certificate first, then a username with a password (with the client
    /// secret too, for a confidential client), then a client secret. `None` when the
    /// settings name none of these: `from_env` refuses then, the CLI turns to its profile
    /// and to the sessions an interactive sign-in cached.
    pub fn choose(
        client_secret: Option<S>,
        certificate: Option<PathBuf>,
        username: Option<&str>,
        password: Option<S>,
    ) -> Option<Self> {
        if let Some(path) = certificate {
            return Some(Self::Certificate(path));
        }
        match (username, password) {
            (Some(username), Some(password)) => Some(Self::Password {
                username: username.to_owned(),
                password,
                client_secret,
            }),
            _ => client_secret.map(Self::ClientSecret),
        }
    }

    /// The credential for this sign-in through `tokens`, each secret read by `read` (given
    /// what it is: `"client secret"` or `"password"`) only now.
    pub fn credential<E: From<crate::AuthError>>(
        &self,
        tokens: TokenClient,
        client_id: &str,
        read: impl Fn(&S, &'static str) -> Result<String, E>,
    ) -> Result<OAuthCredential, E> {
        Ok(match self {
            Self::ClientSecret(secret) => OAuthCredential::client_secret(
                tokens,
                client_id,
                ClientSecret::new(read(secret, "client secret")?),
            ),
            Self::Certificate(path) => OAuthCredential::certificate(
                tokens,
                client_id,
                ClientCertificate::from_pem_file(path)?,
            ),
            Self::Password {
                username,
                password,
                client_secret,
            } => {
                let client_secret = match client_secret {
                    Some(s) => Some(ClientSecret::new(read(s, "client secret")?)),
                    None => None,
                };
                OAuthCredential::password(
                    tokens,
                    client_id,
                    client_secret,
                    username,
                    Password::new(read(password, "password")?),
                )
            }
        })
    }
}

/// Redacted whatever `S` is: a username and a certificate path show, a secret never does.
impl<S> std::fmt::Debug for SignIn<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct Redacted;
        impl std::fmt::Debug for Redacted {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("[redacted]")
            }
        }
        match self {
            Self::ClientSecret(_) => f.debug_tuple("ClientSecret").field(&Redacted).finish(),
            Self::Certificate(path) => f.debug_tuple("Certificate").field(path).finish(),
            Self::Password {
                username,
                client_secret,
                ..
            } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &Redacted)
                .field("client_secret", &client_secret.as_ref().map(|_| Redacted))
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose(
        secret: Option<&'static str>,
        cert: Option<&str>,
        user: Option<&str>,
        password: Option<&'static str>,
    ) -> Option<SignIn<&'static str>> {
        SignIn::choose(secret, cert.map(PathBuf::from), user, password)
    }

    #[test]
    fn certificate_then_password_then_secret() {
        assert_eq!(
            choose(Some("s"), Some("c.pem"), Some("u"), Some("p")),
            Some(SignIn::Certificate("c.pem".into()))
        );
        assert_eq!(
            choose(Some("s"), None, Some("u"), Some("p")),
            Some(SignIn::Password {
                username: "u".into(),
                password: "p",
                client_secret: Some("s")
            })
        );
        assert_eq!(
            choose(None, None, Some("u"), Some("p")),
            Some(SignIn::Password {
                username: "u".into(),
                password: "p",
                client_secret: None
            })
        );
        assert_eq!(
            choose(Some("s"), None, Some("u"), None),
            Some(SignIn::ClientSecret("s"))
        );
        assert_eq!(choose(None, None, Some("u"), None), None);
        assert_eq!(choose(None, None, None, Some("p")), None);
        assert_eq!(choose(None, None, None, None), None);
    }

    #[test]
    fn debug_shows_no_secret() {
        for chosen in [
            choose(Some("s3cret/;&+'"), None, None, None),
            choose(Some("s3cret/;&+'"), None, Some("u"), Some("pa55/;&+'")),
        ] {
            let text = format!("{chosen:?}");
            assert!(!text.contains("s3cret") && !text.contains("pa55"), "{text}");
            assert!(text.contains("[redacted]"), "{text}");
        }
    }
}
