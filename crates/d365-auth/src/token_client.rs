//! Sends a grant's form to a token endpoint and parses the answer, success or error.

use d365_http::{HttpClient, RetryConfig, reqwest::Method, send_with_retry};

use crate::authority::{Authority, EndpointVersion, Target};
use crate::error::AuthError;
use crate::grant::{Form, Grant};
use crate::response::{ErrorResponse, TokenResponse};

/// Talks to one authority's token endpoints.
#[derive(Debug, Clone)]
pub struct TokenClient {
    http: HttpClient,
    authority: Authority,
}

impl TokenClient {
    /// A token client for `authority` over `http`.
    pub fn new(http: HttpClient, authority: Authority) -> Self {
        Self { http, authority }
    }

    /// The authority.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// Requests a token with `grant` for `target` on the given endpoint version.
    pub async fn request(
        &self,
        version: EndpointVersion,
        target: &Target,
        grant: &dyn Grant,
    ) -> Result<TokenResponse, AuthError> {
        let url = self.authority.token_url(version);
        tracing::debug!(grant = grant.grant_type(), version = version.as_str(), url = %url, "token request");
        let (status, body) = self.post_form(url, &grant.form(version, target)).await?;
        parse_token_response(grant.grant_type(), status, &body)
    }

    /// POSTs a form to an Entra endpoint and returns the status and body.
    ///
    /// Only a request that never reached the server is retried: a token request may redeem a
    /// single-use code, so resending after an ambiguous failure is not safe. A 429 is retried
    /// after `Retry-After` (MSAL advertises `x-ms-lib-capability: retry-after, h429`).
    pub(crate) async fn post_form(
        &self,
        url: url::Url,
        form: &Form,
    ) -> Result<(u16, bytes::Bytes), AuthError> {
        let config = RetryConfig {
            max_retries: 3,
            // A token answer is a few KB; a server sending more is not Entra.
            max_body_bytes: 1024 * 1024,
            ..RetryConfig::default()
        };
        let response = send_with_retry(&config, false, || {
            let request = self
                .http
                .secure_request(Method::POST, url.clone())
                .map(|r| r.header("accept", "application/json").form(form.fields()));
            async move { request }
        })
        .await?;
        let (status, body) = (response.status.as_u16(), response.body);
        Ok((status, body))
    }
}

/// Parses a token endpoint answer into a token or the server's typed error.
pub fn parse_token_response(
    grant: &'static str,
    status: u16,
    body: &[u8],
) -> Result<TokenResponse, AuthError> {
    if (200..300).contains(&status) {
        return serde_json::from_slice(body).map_err(|source| AuthError::Parse {
            grant,
            status,
            // A success body holds tokens: never keep it.
            body: "[redacted success body]".into(),
            source,
        });
    }
    match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(response) => Err(AuthError::Server {
            grant,
            status,
            response: Box::new(response),
        }),
        Err(source) => Err(AuthError::Parse {
            grant,
            status,
            body: String::from_utf8_lossy(&body[..body.len().min(2048)]).into_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_errors_and_redacts_success_bodies() {
        let err = parse_token_response(
            "password",
            400,
            br#"{"error":"invalid_grant","error_description":"AADSTS50126: Error validating credentials due to invalid username or password.","error_codes":[50126]}"#,
        )
        .unwrap_err();
        assert_eq!(err.server_response().unwrap().aadsts(), Some(50126));
        assert!(err.to_string().contains("invalid_grant"), "{err}");
        assert!(err.hint().unwrap().contains("password"));

        let err = parse_token_response("password", 200, br#"{"access_token":"SECRET-TOKEN"}"#)
            .unwrap_err();
        assert!(!format!("{err:?} {err}").contains("SECRET-TOKEN"));

        let err = parse_token_response("password", 502, b"<html>bad gateway</html>").unwrap_err();
        assert!(matches!(err, AuthError::Parse { status: 502, .. }));
    }
}
