//! Secret-bearing strings as types: `Debug` is redacted, there is no `Display`, and the value
//! is reached only through an explicit `secret()` (oauth2-rs's `new_secret_type!`).

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value. Every call site is a place where the secret leaves the type.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// Consumes the wrapper and returns the secret value.
            pub fn into_secret(self) -> String {
                self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map(Self)
            }
        }
    };
}

secret_type!(
    /// An app registration's client secret.
    ClientSecret
);
secret_type!(
    /// A user's password (resource owner password credentials grant).
    Password
);
secret_type!(
    /// An OAuth access token (a JWT for Dataverse).
    AccessToken
);
secret_type!(
    /// An OAuth refresh token (opaque).
    RefreshToken
);
secret_type!(
    /// An OpenID Connect ID token (a signed statement of who signed in).
    IdToken
);
secret_type!(
    /// A device code (redeemable for tokens once the user signs in).
    DeviceCode
);
secret_type!(
    /// An authorization code (redeemable once for tokens).
    AuthorizationCode
);
secret_type!(
    /// A signed client assertion (a JWT proving the app holds its certificate's key).
    ClientAssertion
);
secret_type!(
    /// A PKCE code verifier (RFC 7636): the secret half of the challenge.
    PkceVerifier
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let values = [
            format!("{:?}", ClientSecret::new("s3cr3t~+/=")),
            format!("{:?}", Password::new("s3cr3t~+/=")),
            format!("{:?}", AccessToken::new("s3cr3t~+/=")),
            format!("{:?}", RefreshToken::new("s3cr3t~+/=")),
            format!("{:#?}", Some(RefreshToken::new("s3cr3t~+/="))),
        ];
        for v in values {
            assert!(!v.contains("s3cr3t"), "{v}");
            assert!(v.contains("[redacted]"), "{v}");
        }
    }
}
