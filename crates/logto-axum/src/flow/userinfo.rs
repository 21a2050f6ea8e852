//! Logto's userinfo endpoint (`/oidc/me`): fresh claims about the signed-in user, checked to be
//! about the same `sub`.

use openidconnect::{core::CoreGenderClaim, AdditionalClaims, UserInfoClaims};
use serde::{Deserialize, Serialize};

use crate::{http::chain, provider::OidcClient, AuthError, Provider};

/// Logto's extra userinfo claims.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LogtoClaims {
    #[serde(flatten)]
    /// Every claim but the standard ones openidconnect models.
    pub extra: serde_json::Map<String, serde_json::Value>,
}
impl AdditionalClaims for LogtoClaims {}

/// Userinfo (`/oidc/me`) with the user's Logto access token; must be about `sub`.
pub async fn userinfo(
    provider: &Provider,
    access_token: &str,
    sub: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, AuthError> {
    let metadata = provider.metadata().await?;
    let client = provider.client(&metadata)?;
    fetch_userinfo(
        &client,
        openidconnect::AccessToken::new(access_token.to_owned()),
        openidconnect::SubjectIdentifier::new(sub.to_owned()),
        provider,
    )
    .await
}

pub(crate) async fn fetch_userinfo(
    client: &OidcClient,
    access_token: openidconnect::AccessToken,
    subject: openidconnect::SubjectIdentifier,
    provider: &Provider,
) -> Result<serde_json::Map<String, serde_json::Value>, AuthError> {
    let request = client
        .user_info(access_token, Some(subject))
        .map_err(|e| AuthError::UserInfo(e.to_string()))?;
    let claims: UserInfoClaims<LogtoClaims, CoreGenderClaim> = request
        .request_async(&provider.oidc_http())
        .await
        .map_err(|e| match &e {
            openidconnect::UserInfoError::ClaimsVerification(_) => {
                AuthError::UserInfoMismatch(chain(e))
            }
            _ => AuthError::UserInfo(chain(e)),
        })?;
    Ok(to_object(&claims))
}

pub(crate) fn to_object(value: &impl Serialize) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}
