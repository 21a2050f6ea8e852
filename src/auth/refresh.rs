//! The refresh-token grant, for Logto itself, an API resource (`resource`) or an organization
//! (`organization_id`), and revocation. One network exchange each; who may spend which refresh
//! token, and where the result goes, is `keeper`'s business.

use openidconnect::{OAuth2TokenResponse, RefreshToken, TokenResponse};

use super::{
    flow::{self, expires_at},
    now_unix,
    provider::error_chain,
    AuthError, CachedToken, Provider, TokenSet, TokenTarget,
};

/// Spends `current`'s refresh token for a token for `target` and returns the token set to store
/// in its place (with the rotated refresh token).
pub async fn refresh(
    provider: &Provider,
    current: &TokenSet,
    target: &TokenTarget,
) -> Result<TokenSet, AuthError> {
    let Some(refresh_token) = current.refresh_token.clone() else {
        return Err(AuthError::RefreshRejected("no refresh token".into()));
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
        .request_async(provider.http())
        .await
        .map_err(|e| match &e {
            openidconnect::RequestTokenError::ServerResponse(r) => {
                let code = r.error().to_string();
                let description = r.error_description().cloned();
                // Only a dead grant ends the session; a refused resource or organization does not,
                // and a provider having trouble is worth another try later.
                match code.as_str() {
                    "invalid_grant" => {
                        AuthError::RefreshRejected(format!("{code}: {description:?}"))
                    }
                    "server_error" | "temporarily_unavailable" => {
                        AuthError::TokenExchange(format!("{code}: {description:?}"))
                    }
                    _ => AuthError::TokenRefused { code, description },
                }
            }
            _ => AuthError::TokenExchange(error_chain(&e)),
        })?;
    let mut next = current.clone();
    if let Some(id_token) = token.id_token() {
        // Logto repeats the original nonce, or sends none: do not check it against a new one.
        let claims = flow::verify_id_token(provider, id_token, |_| true).await?;
        if claims.subject().as_str() != current.sub {
            return Err(AuthError::RefreshRejected(format!(
                "refreshed ID token is for another subject ({})",
                claims.subject().as_str()
            )));
        }
        next.id_token = id_token.to_string();
        next.id_token_claims = flow::to_object(&claims);
    }
    let now = now_unix();
    let access_token = token.access_token().secret().clone();
    let expiry = token.expires_in().map(|d| expires_at(now, d));
    match target {
        TokenTarget::Logto => {
            next.access_token = access_token;
            next.access_token_expires_at = expiry;
        }
        other => {
            next.targeted.insert(
                other.key(),
                CachedToken {
                    token: access_token,
                    expires_at: expiry,
                    scope: token
                        .scopes()
                        .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")),
                },
            );
        }
    }
    // Rotation: keep the old refresh token only if the provider did not send a new one.
    if let Some(rt) = token.refresh_token() {
        next.refresh_token = Some(rt.secret().clone());
    }
    // Tokens that expired long ago are of no use to anyone; do not let the set grow.
    next.targeted
        .retain(|_, t| t.expires_at.is_none_or(|at| at > now));
    Ok(next)
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
        .map_err(|e| AuthError::TokenExchange(error_chain(&e)))?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(AuthError::TokenExchange(format!(
            "revocation answered HTTP {}",
            res.status()
        )))
    }
}
