//! Logto's Account API, for what the Secret Vault keeps: the third-party token a social connector
//! stored at sign-in ("Store tokens" on the Facebook connector), fetched with the user's own
//! (opaque) Logto access token. Logto core: `routes/account/third-party-tokens.ts`.

use serde::Deserialize;

use crate::{
    handle::{Logto, LogtoError},
    http::{chain, read_capped},
    AccessToken, AuthConfig, TokenTarget,
};

/// Logto's answers here are a few hundred bytes.
const BODY_LIMIT: usize = 64 * 1024;

/// A stored third-party token. Prints without the token.
#[derive(Clone, Deserialize)]
pub struct FederatedToken {
    /// The token for the third party's API (e.g. Facebook's Graph API). Never for the browser.
    pub access_token: String,
    /// The scopes the third party granted, as it stated them.
    pub scope: Option<String>,
    /// Usually `Bearer`.
    pub token_type: Option<String>,
    /// Seconds the token was valid for when it was stored.
    pub expires_in: Option<i64>,
}

impl std::fmt::Debug for FederatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FederatedToken")
            .field("scope", &self.scope)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
/// How Logto's Account API answered a request for a stored third-party token.
pub enum AccountApiError {
    /// 404: nothing stored (token storage off, or this user has no such identity).
    #[error("no token stored ({0})")]
    NotStored(String),
    /// 401 `secrets.third_party_token_set.access_token_expired`: Logto dropped the expired token.
    #[error("stored token expired ({0})")]
    Expired(String),
    /// 401 otherwise: our Logto access token was not accepted (retry with a fresh one).
    #[error("access token not accepted ({0})")]
    Unauthorized(String),
    /// 403 (e.g. the `identities` scope missing) or 400 `account_center.not_enabled`.
    #[error("Account API not available for this app ({0})")]
    NotEnabled(String),
    #[error("Account API unreachable or failing: {0}")]
    /// Logto could not be reached, or answered with a server error.
    Unavailable(String),
}

#[derive(Deserialize)]
struct LogtoErrorBody {
    code: Option<String>,
}

/// `GET {endpoint}/api/my-account/identities/{target}/access-token`.
pub async fn federated_token(
    http: &reqwest::Client,
    config: &AuthConfig,
    access_token: &AccessToken,
    target: &str,
) -> Result<FederatedToken, AccountApiError> {
    let mut url = config.endpoint.clone();
    url.path_segments_mut()
        .map_err(|_| AccountApiError::Unavailable("LOGTO_ENDPOINT cannot be a base URL".into()))?
        .pop_if_empty()
        .extend(["api", "my-account", "identities", target, "access-token"]);
    let res = http
        .get(url)
        .bearer_auth(access_token.secret())
        .send()
        .await
        .map_err(|e| AccountApiError::Unavailable(chain(e)))?;
    let status = res.status();
    let body = read_capped(res, BODY_LIMIT)
        .await
        .map_err(|e| AccountApiError::Unavailable(chain(e)))?;
    if status.is_success() {
        return serde_json::from_slice::<FederatedToken>(&body)
            .map_err(|e| AccountApiError::Unavailable(format!("unexpected answer: {e}")));
    }
    let code = serde_json::from_slice::<LogtoErrorBody>(&body)
        .ok()
        .and_then(|b| b.code)
        .unwrap_or_default();
    Err(error_for(status.as_u16(), &code))
}

/// What a failed answer means, from its status and Logto's error `code`.
fn error_for(status: u16, code: &str) -> AccountApiError {
    let why = format!("HTTP {status} {code}");
    match status {
        404 => AccountApiError::NotStored(why),
        401 if code.ends_with("access_token_expired") => AccountApiError::Expired(why),
        401 => AccountApiError::Unauthorized(why),
        403 => AccountApiError::NotEnabled(why),
        400 if code == "account_center.not_enabled" => AccountApiError::NotEnabled(why),
        _ => AccountApiError::Unavailable(why),
    }
}

/// Why `Logto::federated_token` gave no token: Logto's Account API said no (see
/// `AccountApiError` for what each answer means), or this request's own Logto access token could
/// not be had (signed out, Logto away).
#[derive(Debug, thiserror::Error)]
pub enum FederatedTokenError {
    /// The Account API's answer.
    #[error(transparent)]
    Account(#[from] AccountApiError),
    /// No Logto access token to ask with.
    #[error(transparent)]
    Logto(#[from] LogtoError),
}

impl Logto {
    /// The third-party token Logto stored when the user signed in with social connector
    /// `target` (e.g. `facebook`), from the Account API ("Store tokens for persistent API access"
    /// on the connector, the Account API enabled, the `identities` scope). Asked with the user's
    /// Logto access token; when the Account API refuses that token (revoked or expired early), it
    /// is refreshed once and the request tried again.
    pub async fn federated_token(
        &self,
        target: &str,
    ) -> Result<FederatedToken, FederatedTokenError> {
        let provider = &self.context().provider;
        let mut token = self.logto_access_token().await?;
        let mut retried = false;
        loop {
            match federated_token(provider.http(), provider.config(), &token, target).await {
                Err(AccountApiError::Unauthorized(why)) if !retried => {
                    tracing::info!("Account API refused the access token ({why}); refreshing once");
                    token = self
                        .token_after_rejection(&TokenTarget::Logto, &token)
                        .await?;
                    retried = true;
                }
                answer => return Ok(answer?),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logto_errors_are_told_apart() {
        use AccountApiError::*;
        let cases = [
            (
                404,
                "entity.not_found",
                NotStored("HTTP 404 entity.not_found".into()),
            ),
            (
                401,
                "secrets.third_party_token_set.access_token_expired",
                Expired("HTTP 401 secrets.third_party_token_set.access_token_expired".into()),
            ),
            (
                401,
                "auth.unauthorized",
                Unauthorized("HTTP 401 auth.unauthorized".into()),
            ),
            (
                403,
                "auth.forbidden",
                NotEnabled("HTTP 403 auth.forbidden".into()),
            ),
            (
                400,
                "account_center.not_enabled",
                NotEnabled("HTTP 400 account_center.not_enabled".into()),
            ),
            (
                400,
                "guard.invalid_input",
                Unavailable("HTTP 400 guard.invalid_input".into()),
            ),
            (
                400,
                "account_center.not_enabled_x",
                Unavailable("HTTP 400 account_center.not_enabled_x".into()),
            ),
            (500, "", Unavailable("HTTP 500 ".into())),
        ];
        for (status, code, want) in cases {
            assert_eq!(error_for(status, code), want, "{status} {code}");
        }
    }

    #[test]
    fn debug_output_has_no_token() {
        let token = FederatedToken {
            access_token: "EAAG-secret-facebook-token".into(),
            scope: Some("public_profile".into()),
            token_type: Some("Bearer".into()),
            expires_in: Some(3600),
        };
        let printed = format!("{token:?}");
        assert!(!printed.contains("EAAG"), "{printed}");
        assert!(
            printed.contains("public_profile") && printed.contains("3600"),
            "{printed}"
        );
    }
}
