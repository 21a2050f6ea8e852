//! Verifying an ID token (at sign-in and at each refresh): signature with the tenant's keys
//! (refetched once on an unknown key id), issuer, audience, expiry, `iat`, nonce; `at_hash`; and
//! the claims Logto adds (`sid`).

use openidconnect::{
    core::{CoreGenderClaim, CoreIdToken, CoreJwsSigningAlgorithm},
    AccessTokenHash, AdditionalClaims, Nonce,
};
use serde::{Deserialize, Serialize};

use crate::{
    provider::checks::{asymmetric_algs, describe, iat_not_in_future},
    provider::{is_unknown_key, OidcClient},
    AuthError, Provider,
};

pub(crate) type IdClaims = openidconnect::IdTokenClaims<LogtoIdClaims, CoreGenderClaim>;

/// The ID token claims beyond the standard ones that the app reads.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct LogtoIdClaims {
    /// Logto's session id (only when the app's back-channel logout requires a session): a
    /// back-channel logout naming it ends the app sessions signed in with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl AdditionalClaims for LogtoIdClaims {}

type LogtoIdToken = openidconnect::IdToken<
    LogtoIdClaims,
    CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// `at_hash`, when the ID token has one, binds the access token to it: they must match.
pub(crate) fn check_at_hash(
    client: &OidcClient,
    id_token: &CoreIdToken,
    expected: Option<&AccessTokenHash>,
    access_token: &openidconnect::AccessToken,
) -> Result<(), AuthError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let verifier = client.id_token_verifier();
    let alg = id_token
        .signing_alg()
        .map_err(|e| AuthError::InvalidIdToken(e.to_string()))?;
    let key = id_token
        .signing_key(&verifier)
        .map_err(|e| AuthError::InvalidIdToken(e.to_string()))?;
    let actual = AccessTokenHash::from_token(access_token, alg, key)
        .map_err(|e| AuthError::InvalidIdToken(e.to_string()))?;
    if actual != *expected {
        return Err(AuthError::InvalidIdToken("at_hash mismatch".into()));
    }
    Ok(())
}

/// Verifies signature, issuer, audience, expiry and nonce; on an unknown key id, refetches the
/// provider's keys once (rate-limited) and tries again.
pub(crate) async fn verify_id_token(
    provider: &Provider,
    id_token: &CoreIdToken,
    nonce_ok: impl Fn(Option<&Nonce>) -> bool + Copy,
) -> Result<IdClaims, AuthError> {
    // The token response types the ID token with no extra claims; read it again with `sid`.
    let id_token: LogtoIdToken = id_token
        .to_string()
        .parse()
        .map_err(|e: serde_json::Error| {
            AuthError::InvalidIdToken(format!("ID token is malformed: {e}"))
        })?;
    provider
        .verify_with_current_keys(
            |metadata| {
                let client = provider
                    .client(metadata)
                    .map_err(|e| openidconnect::ClaimsVerificationError::Other(e.to_string()))?;
                // openidconnect accepts any `iat`; a token "issued" in the future is forged or broken.
                let verifier = client
                    .id_token_verifier()
                    .set_allowed_algs(asymmetric_algs(
                        metadata.id_token_signing_alg_values_supported(),
                    ))
                    .set_issue_time_verifier_fn(iat_not_in_future);
                let nonce_check = |n: Option<&Nonce>| {
                    if nonce_ok(n) {
                        Ok(())
                    } else {
                        Err("nonce mismatch".to_owned())
                    }
                };
                let claims = id_token.claims(&verifier, nonce_check)?;
                // OIDC Core 3.1.3.7 step 5, which openidconnect 4 leaves to the app: a token
                // issued to another party (`azp`) is not this app's, whatever its `aud` says.
                if let Some(azp) = claims.authorized_party() {
                    if azp.as_str() != provider.config().app_id {
                        return Err(openidconnect::ClaimsVerificationError::InvalidAudience(
                            format!("azp {} is not this app", azp.as_str()),
                        ));
                    }
                }
                Ok(claims.clone())
            },
            is_unknown_key,
        )
        .await?
        .map_err(|err| {
            let why = describe("ID token", &err);
            if is_unknown_key(&err) {
                AuthError::UnknownSigningKey(why)
            } else {
                AuthError::InvalidIdToken(why)
            }
        })
}
