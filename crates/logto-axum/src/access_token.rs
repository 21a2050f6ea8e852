//! Verifying Logto-issued JWT access tokens, as an API (resource server) must before trusting
//! one: signature with the issuer's keys (refetched on an unknown key id), `iss`, `aud` = the
//! API's resource indicator (or `urn:logto:organization:{id}`), `exp`, `iat`, and the scopes the
//! API needs. An ID token, a token for another API or an opaque token is refused.

use std::str::FromStr;

use openidconnect::{
    core::{CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm},
    AdditionalClaims, ClientId, IdToken, JsonWebTokenType, Nonce,
};
use serde::{Deserialize, Serialize};

use crate::{
    provider::checks::{asymmetric_algs, describe, iat_not_in_future},
    provider::is_unknown_key,
    provider::jws::Jws,
    AuthError, Provider,
};

/// The access-token claims (RFC 9068) that ID tokens do not have.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct AccessTokenClaims {
    /// The granted scopes, space-separated (RFC 9068).
    pub scope: Option<String>,
    /// The application the token was issued to.
    pub client_id: Option<String>,
    /// Logto's claim in tokens for an organization-level API resource (a token asked for with
    /// both `resource` and `organization_id`).
    pub organization_id: Option<String>,
}
impl AdditionalClaims for AccessTokenClaims {}

type AccessJwt = IdToken<
    AccessTokenClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// What an API may rely on once a token passed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedAccessToken {
    /// The user (or, for machine-to-machine tokens, the application) the token is for.
    pub sub: String,
    /// The audience the token was checked for: the API's resource indicator.
    pub audience: String,
    /// The issuer the token was checked for: the tenant's `{endpoint}/oidc`.
    pub issuer: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// The application the token was issued to.
    pub client_id: Option<String>,
    /// The organization the token is for: Logto's `organization_id` claim (an
    /// organization-level API resource), else the id in an organization token's audience
    /// (`urn:logto:organization:{id}`); `None` for a token without organization context.
    pub organization_id: Option<String>,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds; the token was refused after this.
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error)]
/// Why an access token was refused; `resource::Refusal` turns it into RFC 6750's answer.
pub enum AccessTokenError {
    #[error("no bearer token")]
    /// The request carried no bearer token.
    Missing,
    /// Refused; the text says why, about the access token ("access token expired at …").
    #[error("{0}")]
    Invalid(String),
    #[error("the token lacks scope {0:?}")]
    /// The token lacks this scope, which the API requires.
    InsufficientScope(String),
    #[error(transparent)]
    /// Logto's keys could not be fetched: the token can be neither accepted nor refused now.
    Provider(#[from] AuthError),
}

/// Verifies `token` for an API known to Logto as `audience` that needs `required_scopes`.
pub async fn verify(
    provider: &Provider,
    token: &str,
    audience: &str,
    required_scopes: &[&str],
) -> Result<VerifiedAccessToken, AccessTokenError> {
    require_at_jwt_type(token)?;
    let jwt = AccessJwt::from_str(token).map_err(|e| {
        AccessTokenError::Invalid(format!("access token claims are malformed: {e}"))
    })?;
    let claims = provider
        .verify_with_current_keys(
            |metadata| {
                let algs = asymmetric_algs(metadata.id_token_signing_alg_values_supported());
                let verifier = openidconnect::IdTokenVerifier::<
                        crate::provider::jwk::ProviderKey,
                    >::new_public_client(
                        ClientId::new(audience.to_owned()),
                        metadata.issuer().clone(),
                        metadata.jwks().clone(),
                    )
                    .set_allowed_algs(algs)
                    .set_allowed_jose_types(JsonWebTokenType::new("at+jwt".into()).normalize().ok())
                    .set_issue_time_verifier_fn(iat_not_in_future);
                jwt.claims(&verifier, |_: Option<&Nonce>| Ok::<(), String>(()))
                    .cloned()
            },
            is_unknown_key,
        )
        .await?
        .map_err(|err| AccessTokenError::Invalid(describe("access token", &err)))?;
    let extra = claims.additional_claims();
    let scopes = granted_scopes(extra.scope.as_deref(), required_scopes)?;
    Ok(VerifiedAccessToken {
        sub: claims.subject().as_str().to_owned(),
        audience: audience.to_owned(),
        issuer: claims.issuer().as_str().to_owned(),
        scopes,
        client_id: extra.client_id.clone(),
        organization_id: extra.organization_id.clone().or_else(|| {
            audience
                .strip_prefix(ORGANIZATION_AUDIENCE_PREFIX)
                .map(str::to_owned)
        }),
        issued_at: claims.issue_time().timestamp(),
        expires_at: claims.expiration().timestamp(),
    })
}

/// RFC 9068 §4: the resource server MUST check `typ` (openidconnect checks it only when
/// present): an ID token (`JWT`) or an untyped JWT is not an access token.
fn require_at_jwt_type(token: &str) -> Result<(), AccessTokenError> {
    let typ = Jws::parse(token)
        .map_err(|e| AccessTokenError::Invalid(format!("access token is {e}")))?
        .typ();
    match typ.as_deref() {
        Some("at+jwt") => Ok(()),
        Some(other) => Err(AccessTokenError::Invalid(format!(
            "access token is typed {other:?}, not at+jwt"
        ))),
        None => Err(AccessTokenError::Invalid(
            "access token has no typ (at+jwt required)".into(),
        )),
    }
}

/// The token's scopes, once every required one is among them.
fn granted_scopes(
    scope_claim: Option<&str>,
    required_scopes: &[&str],
) -> Result<Vec<String>, AccessTokenError> {
    // ID tokens carry no scope: one presented to an API stops here at the latest.
    let Some(scope_claim) = scope_claim else {
        return match required_scopes.is_empty() {
            true => Ok(Vec::new()),
            false => Err(AccessTokenError::Invalid(
                "access token has no scope claim".into(),
            )),
        };
    };
    let scopes: Vec<String> = scope_claim.split_whitespace().map(str::to_owned).collect();
    match required_scopes
        .iter()
        .find(|needed| !scopes.iter().any(|s| s == *needed))
    {
        Some(missing) => Err(AccessTokenError::InsufficientScope((*missing).to_owned())),
        None => Ok(scopes),
    }
}

const ORGANIZATION_AUDIENCE_PREFIX: &str = "urn:logto:organization:";

/// Whether `audience` is an organization token's (`urn:logto:organization:{id}`).
pub fn is_organization_audience(audience: &str) -> bool {
    audience.starts_with(ORGANIZATION_AUDIENCE_PREFIX)
}

/// The audience of an organization token.
pub fn organization_audience(organization_id: &str) -> String {
    format!("{ORGANIZATION_AUDIENCE_PREFIX}{organization_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_required_scope_must_be_granted() {
        let scopes = granted_scopes(Some("read:a  write:b"), &["write:b", "read:a"]).unwrap();
        assert_eq!(scopes, ["read:a", "write:b"]);
        match granted_scopes(Some("read:a write:b"), &["read:a", "delete:c"]) {
            Err(AccessTokenError::InsufficientScope(missing)) => assert_eq!(missing, "delete:c"),
            other => panic!("expected insufficient scope, got {other:?}"),
        }
        // A scope is a whole word, not a prefix or part of another.
        assert!(granted_scopes(Some("read:ab"), &["read:a"]).is_err());
    }

    #[test]
    fn a_token_without_scope_passes_only_where_none_is_required() {
        assert_eq!(granted_scopes(None, &[]).unwrap(), Vec::<String>::new());
        assert!(matches!(
            granted_scopes(None, &["read:a"]),
            Err(AccessTokenError::Invalid(why)) if why.contains("no scope claim")
        ));
        // An empty claim is a claim: the missing scope is named.
        assert!(matches!(
            granted_scopes(Some(""), &["read:a"]),
            Err(AccessTokenError::InsufficientScope(s)) if s == "read:a"
        ));
    }

    #[test]
    fn organization_audiences_carry_the_organization() {
        let audience = organization_audience("org-1");
        assert_eq!(audience, "urn:logto:organization:org-1");
        assert!(is_organization_audience(&audience));
        assert!(!is_organization_audience("https://api.example.com"));
    }
}
