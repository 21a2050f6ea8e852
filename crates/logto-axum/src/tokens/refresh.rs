//! The refresh-token grant, for Logto itself, an API resource (`resource`) or an organization
//! (`organization_id`), and revocation. One network exchange each; who may spend which refresh
//! token, and where the result goes, is `keeper`'s business.

use openidconnect::{OAuth2TokenResponse, RefreshToken, TokenResponse};

use crate::{
    flow::{self, expires_at},
    http::chain,
    util::now_unix,
    AuthError, CachedToken, Provider, TokenSet, TokenTarget,
};

/// Why a refresh did not give tokens.
#[derive(Debug)]
pub enum RefreshFailure {
    /// The grant is over: Logto refused the refresh token (`invalid_grant`), or answered with an
    /// ID token that does not verify (another user, issuer, audience, signature…). `issued` is a
    /// refresh token that came with a refused answer: Logto has already rotated to it, so it is
    /// revoked rather than kept or dropped (prints as `RefreshToken([redacted])`).
    GrantEnded {
        why: String,
        issued: Option<RefreshToken>,
    },
    /// Logto unreachable or failing, or a resource or organization refused: worth another try
    /// later, nothing spent.
    Failed(AuthError),
}

impl From<AuthError> for RefreshFailure {
    fn from(err: AuthError) -> Self {
        RefreshFailure::Failed(err)
    }
}

/// Spends `current`'s refresh token for a token for `target` and returns the token set to store
/// in its place (with the rotated refresh token).
pub async fn refresh(
    provider: &Provider,
    current: &TokenSet,
    target: &TokenTarget,
) -> Result<TokenSet, RefreshFailure> {
    let Some(refresh_token) = current.refresh_token.clone() else {
        return Err(RefreshFailure::GrantEnded {
            why: "no refresh token".into(),
            issued: None,
        });
    };
    let metadata = provider.metadata().await?;
    let client = provider.client(&metadata)?;
    let rt = RefreshToken::new(refresh_token);
    let mut request = client
        .exchange_refresh_token(&rt)
        .map_err(|e| AuthError::TokenExchange(e.to_string()))?;
    match target {
        TokenTarget::Logto => {}
        TokenTarget::Resource(resource) => {
            request = request.add_extra_param("resource", resource.clone())
        }
        TokenTarget::Organization(id) => {
            request = request.add_extra_param("organization_id", id.clone())
        }
    }
    let token = request
        .request_async(&provider.oidc_http())
        .await
        .map_err(refresh_error)?;
    let issued = token.refresh_token().cloned();
    let mut next = current.clone();
    if let Some(id_token) = token.id_token() {
        let verified = verified_id_token(provider, id_token, &current.sub).await;
        match refreshed_claims(verified, &current.sub) {
            Ok(Some((raw, claims))) => {
                next.id_token = raw;
                next.id_token_claims = claims;
            }
            Ok(None) => {}
            Err(why) => return Err(RefreshFailure::GrantEnded { why, issued }),
        }
    }
    let now = now_unix();
    put_access_token(&mut next, target, cached_access_token(&token, now));
    // Rotation: keep the old refresh token only if the provider did not send a new one.
    if let Some(rt) = issued {
        next.refresh_token = Some(rt.secret().clone());
    }
    // Tokens that expired long ago are of no use to anyone; do not let the set grow.
    next.targeted
        .retain(|_, t| t.expires_at.is_none_or(|at| at > now));
    Ok(next)
}

/// The answer's access token, with its expiry and scopes as granted.
fn cached_access_token(token: &impl OAuth2TokenResponse, now: i64) -> CachedToken {
    CachedToken {
        token: token.access_token().secret().clone(),
        expires_at: token.expires_in().map(|d| expires_at(now, d)),
        scope: token
            .scopes()
            .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")),
    }
}

/// A verified ID token as issued, and its claims.
type VerifiedIdToken = (String, serde_json::Map<String, serde_json::Value>);

/// What a refresh answer's ID token does to the stored claims: `Some` to take it, `None` to
/// keep the previous claims (the keys could not be had: Logto away, misconfigured, or a key
/// newer than the keys held, refetched moments ago; nothing says the answer is wrong, and it is
/// Logto's, over the token endpoint's TLS to this client, so its tokens are kept, the refresh
/// token being rotated already), or why the answer is refused (which ends the grant).
fn refreshed_claims(
    verified: Result<VerifiedIdToken, AuthError>,
    sub: &str,
) -> Result<Option<VerifiedIdToken>, String> {
    match verified {
        Ok(taken) => Ok(Some(taken)),
        Err(
            why @ (AuthError::ProviderUnavailable(_)
            | AuthError::ProviderMisconfigured(_)
            | AuthError::UnknownSigningKey(_)),
        ) => {
            tracing::warn!("refreshed ID token not verified now, kept the previous claims: {why}");
            Ok(None)
        }
        Err(refused) => {
            tracing::warn!(%sub, "refresh answer refused: {refused}");
            Err(format!("the refresh answer was refused: {refused}"))
        }
    }
}

/// The new access token into the set: Logto's own, or cached for its API or organization.
fn put_access_token(next: &mut TokenSet, target: &TokenTarget, cached: CachedToken) {
    match target {
        TokenTarget::Logto => {
            next.access_token = cached.token;
            next.access_token_expires_at = cached.expires_at;
        }
        other => {
            next.targeted.insert(other.key(), cached);
        }
    }
}

/// A refreshed ID token, verified (Logto repeats the original nonce, or sends none: it is not
/// checked against a new one) and about the same user.
async fn verified_id_token(
    provider: &Provider,
    id_token: &openidconnect::core::CoreIdToken,
    sub: &str,
) -> Result<VerifiedIdToken, AuthError> {
    let claims = flow::verify_id_token(provider, id_token, |_| true).await?;
    if claims.subject().as_str() != sub {
        return Err(AuthError::InvalidIdToken(format!(
            "refreshed ID token is for another subject ({})",
            claims.subject().as_str()
        )));
    }
    Ok((id_token.to_string(), flow::to_object(&claims)))
}

/// What a refused token request means. Only a dead grant ends the session; a refused resource or
/// organization does not, and a provider having trouble is worth another try later.
fn refresh_error(
    e: openidconnect::RequestTokenError<
        crate::http::HttpError,
        openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    >,
) -> RefreshFailure {
    if let openidconnect::RequestTokenError::ServerResponse(r) = &e {
        let code = r.error().to_string();
        let description = r.error_description().cloned();
        return match code.as_str() {
            "invalid_grant" => RefreshFailure::GrantEnded {
                why: format!("{code}: {description:?}"),
                issued: None,
            },
            "server_error" | "temporarily_unavailable" => {
                AuthError::TokenExchange(format!("{code}: {description:?}")).into()
            }
            _ => AuthError::TokenRefused { code, description }.into(),
        };
    }
    AuthError::TokenExchange(chain(e)).into()
}

/// Revokes a refresh token at the provider's revocation endpoint (RFC 7009), so a copy that
/// outlives the session (a log, a backup) is worthless. Errors are for the caller to log.
/// (By hand rather than with oauth2's client, which refuses plain-http endpoints such as a local
/// development tenant.)
pub async fn revoke_refresh_token(provider: &Provider, token: &str) -> Result<(), AuthError> {
    let metadata = provider.metadata().await?;
    let Some(url) = metadata.additional_metadata().revocation_endpoint.clone() else {
        return Err(AuthError::TokenExchange(
            "the provider advertises no revocation_endpoint".into(),
        ));
    };
    let config = provider.config();
    // client_secret_basic: both parts form-urlencoded first (RFC 6749 section 2.3.1).
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let res = provider
        .http()
        .post(url.url().clone())
        .basic_auth(
            encode(&config.app_id),
            Some(encode(config.app_secret.expose())),
        )
        .form(&[("token", token), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .map_err(|e| AuthError::TokenExchange(chain(e)))?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(AuthError::TokenExchange(format!(
            "revocation answered HTTP {}",
            res.status()
        )))
    }
}
