//! OpenID Connect Back-Channel Logout 1.0: verifying the `logout_token` Logto POSTs to the app
//! when a user's Logto session ends (sign-out elsewhere, an admin ending it). Verified like an ID
//! token (signature with the issuer's keys and algorithms, `iss`, `aud`, `exp`), plus what makes it
//! a logout token: a recent `iat`, a `jti`, the back-channel `events` member, and no `nonce`.
//! Ending sessions and refusing replays is the app's part (`crate::sessions`).

use std::str::FromStr;

use openidconnect::{
    core::{CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm},
    AdditionalClaims, ClientId, IdToken, JsonWebTokenType, Nonce,
};
use serde::{Deserialize, Serialize};

use super::{
    flow::{asymmetric_algs, iat_not_in_future_at},
    provider::error_chain,
    AuthError, Provider,
};

/// The event a logout token must carry (spec section 2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A logout token issued longer ago than this is refused even if its `exp` says otherwise (Logto's
/// live 120 s); it also bounds how long a `jti` must be remembered.
pub const MAX_AGE_SECS: i64 = 5 * 60;

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct LogoutClaims {
    pub events: Option<serde_json::Map<String, serde_json::Value>>,
    pub jti: Option<String>,
    pub sid: Option<String>,
}
impl AdditionalClaims for LogoutClaims {}

type LogoutJwt = IdToken<
    LogoutClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// What a verified logout token asks for: end the sessions of `sub` (only those signed in with
/// Logto session `sid`, when it names one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutRequest {
    pub sub: String,
    pub sid: Option<String>,
    /// Unique per token: the app refuses a second use until `expires_at`.
    pub jti: String,
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum LogoutTokenError {
    /// The token is not a valid logout token for this app (answered 400 `invalid_request`).
    #[error("invalid logout token: {0}")]
    Invalid(String),
    /// The keys could not be fetched (answered 503).
    #[error(transparent)]
    Provider(#[from] AuthError),
}

/// Verifies a `logout_token`. `sub` is required: Logto always sends it (a token with only `sid`,
/// which the spec allows, is refused by the ID-token claim types openidconnect provides).
pub async fn verify(provider: &Provider, token: &str) -> Result<LogoutRequest, LogoutTokenError> {
    let invalid = |why: String| LogoutTokenError::Invalid(why);
    let jwt = LogoutJwt::from_str(token).map_err(|e| invalid(format!("not a signed JWT: {e}")))?;
    let app_id = provider.config().app_id.clone();
    let claims = provider
        .verify_with_current_keys(|metadata| {
            let verifier =
                openidconnect::IdTokenVerifier::<super::jwk::ProviderKey>::new_public_client(
                    ClientId::new(app_id.clone()),
                    metadata.issuer().clone(),
                    metadata.jwks().clone(),
                )
                .set_allowed_algs(asymmetric_algs(
                    metadata.id_token_signing_alg_values_supported(),
                ))
                // Typed `logout+jwt` (spec 2.4), or untyped; an ID token (`JWT`) is refused here.
                .set_allowed_jose_types(JsonWebTokenType::new("logout+jwt".into()).normalize().ok())
                .set_issue_time_verifier_fn(recent);
            // Spec 2.4: a logout token must not contain a nonce (so an ID token cannot pass).
            let no_nonce = |n: Option<&Nonce>| match n {
                None => Ok(()),
                Some(_) => Err("a logout token must not contain a nonce".to_owned()),
            };
            jwt.claims(&verifier, no_nonce).cloned()
        })
        .await?
        .map_err(|err| invalid(error_chain(&err)))?;
    if let Some(azp) = claims.authorized_party() {
        if azp.as_str() != app_id {
            return Err(invalid(format!("azp {} is not this app", azp.as_str())));
        }
    }
    let extra = claims.additional_claims();
    let has_event = extra
        .events
        .as_ref()
        .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT))
        .is_some_and(serde_json::Value::is_object);
    if !has_event {
        return Err(invalid("no back-channel logout event".into()));
    }
    let jti = extra
        .jti
        .clone()
        .filter(|j| !j.is_empty())
        .ok_or_else(|| invalid("no jti".into()))?;
    Ok(LogoutRequest {
        sub: claims.subject().as_str().to_owned(),
        sid: extra.sid.clone().filter(|s| !s.is_empty()),
        jti,
        expires_at: claims.expiration().timestamp(),
    })
}

/// `iat` neither in the future nor older than `MAX_AGE_SECS`.
fn recent(iat: chrono::DateTime<chrono::Utc>) -> Result<(), String> {
    recent_at(iat, chrono::Utc::now())
}

fn recent_at(
    iat: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    iat_not_in_future_at(iat, now)?;
    if iat < now - chrono::Duration::seconds(MAX_AGE_SECS) {
        return Err(format!("iat {iat} is too old for a logout token"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iat_window() {
        let now = chrono::Utc::now();
        assert!(recent(now).is_ok());
        assert!(recent(now - chrono::Duration::seconds(MAX_AGE_SECS - 5)).is_ok());
        assert!(recent(now - chrono::Duration::seconds(MAX_AGE_SECS + 5)).is_err());
        assert!(recent(now + chrono::Duration::seconds(3600)).is_err());
    }

    #[test]
    fn iat_window_edges_are_inclusive() {
        let now = chrono::Utc::now();
        let age = chrono::Duration::seconds(MAX_AGE_SECS);
        let skew = chrono::Duration::seconds(crate::auth::flow::MAX_CLOCK_SKEW_SECS);
        let tick = chrono::Duration::milliseconds(1);
        assert!(
            recent_at(now - age, now).is_ok(),
            "exactly the oldest allowed"
        );
        assert!(recent_at(now - age - tick, now).is_err());
        assert!(
            recent_at(now + skew, now).is_ok(),
            "exactly the skew allowed"
        );
        assert!(recent_at(now + skew + tick, now).is_err());
    }
}
