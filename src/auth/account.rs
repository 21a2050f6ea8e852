//! Logto's Account API, for what the Secret Vault keeps: the third-party token a social connector
//! stored at sign-in ("Store tokens" on the Facebook connector), fetched with the user's own
//! (opaque) Logto access token. Logto core: `routes/account/third-party-tokens.ts`.

use serde::Deserialize;

use super::{provider::error_chain, AccessToken, AuthConfig};

/// A stored third-party token. Prints without the token.
#[derive(Clone, Deserialize)]
pub struct FederatedToken {
    pub access_token: String,
    pub scope: Option<String>,
    pub token_type: Option<String>,
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
        .map_err(|e| AccountApiError::Unavailable(error_chain(&e)))?;
    let status = res.status().as_u16();
    if res.status().is_success() {
        return res
            .json::<FederatedToken>()
            .await
            .map_err(|e| AccountApiError::Unavailable(format!("unexpected answer: {e}")));
    }
    let code = res
        .json::<LogtoErrorBody>()
        .await
        .ok()
        .and_then(|b| b.code)
        .unwrap_or_default();
    let why = format!("HTTP {status} {code}");
    Err(match status {
        404 => AccountApiError::NotStored(why),
        401 if code.ends_with("access_token_expired") => AccountApiError::Expired(why),
        401 => AccountApiError::Unauthorized(why),
        403 => AccountApiError::NotEnabled(why),
        400 if code == "account_center.not_enabled" => AccountApiError::NotEnabled(why),
        _ => AccountApiError::Unavailable(why),
    })
}
