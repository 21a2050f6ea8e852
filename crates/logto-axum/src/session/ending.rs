//! A user's app sessions: list them, end one or all of them ("sign out everywhere"), and end
//! them when Logto says the user's Logto session ended (OpenID Connect Back-Channel Logout).
//! Built on the store's user index (`session::AnyStore::sessions_of`); no Leptos here.

use std::time::Duration;

use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Form, Json,
};
use serde::Deserialize;
use serde_json::json;
use tower_sessions::session::Id;

use crate::{
    client::LogtoClient,
    logout_token,
    session::{AnyStore, SessionError, StoredSession},
    TokenKeeper, TokenStore,
};

/// Names a session on the sessions page without revealing its id (the id is the cookie's
/// value, a credential): a hash of it, enough to pick one of a user's few sessions.
pub fn handle(id: &Id) -> String {
    crate::sha256_hex(&id.to_string())[..32].to_owned()
}

/// Ends one stored session: its tokens, then its record. With `revoke`, its refresh token is then
/// revoked at Logto (best effort), so the grant is dead too.
pub async fn end(
    store: &AnyStore,
    keeper: &TokenKeeper,
    session: &StoredSession,
    revoke: bool,
) -> Result<(), SessionError> {
    let refresh_token = end_locally(store, keeper.store().as_ref(), session, revoke).await?;
    revoke_waiting_briefly(keeper, refresh_token.into_iter().collect()).await;
    Ok(())
}

/// Deletes the session's tokens and record; returns its refresh token if `want_refresh_token`.
async fn end_locally(
    store: &AnyStore,
    tokens: &dyn TokenStore,
    session: &StoredSession,
    want_refresh_token: bool,
) -> Result<Option<String>, SessionError> {
    use tower_sessions::SessionStore;
    let refresh_token = if want_refresh_token {
        tokens
            .load(&session.user.grant)
            .await?
            .and_then(|t| t.refresh_token)
    } else {
        None
    };
    tokens.delete(&session.user.grant).await?;
    store.delete(&session.id).await?;
    Ok(refresh_token)
}

/// Revokes the refresh tokens at Logto (see `TokenKeeper::revoke`), waiting at most two seconds
/// in all: a slow Logto does not hold the user up; the revocations go on meanwhile (and a
/// shutdown waits for them).
pub async fn revoke_waiting_briefly(keeper: &TokenKeeper, refresh_tokens: Vec<String>) {
    if refresh_tokens.is_empty() {
        return;
    }
    let revoking = keeper.revoke(refresh_tokens);
    if tokio::time::timeout(Duration::from_secs(2), revoking)
        .await
        .is_err()
    {
        tracing::warn!("refresh token revocation still running; going on meanwhile");
    }
}

/// Ends every session of `sub`; with `sid`, only those signed in with that Logto session, and
/// those whose Logto session is unknown (signed in before Logto sent `sid`: "Is session
/// required" turned on later) — ending one too many beats leaving one signed in. Returns how
/// many were ended.
pub async fn end_all(
    store: &AnyStore,
    keeper: &TokenKeeper,
    sub: &str,
    sid: Option<&str>,
    revoke: bool,
) -> Result<usize, SessionError> {
    let mut ended = 0;
    let mut refresh_tokens = Vec::new();
    for session in store.sessions_of(sub).await? {
        if let (Some(sid), Some(own)) = (sid, session.user.sid.as_deref()) {
            if own != sid {
                continue;
            }
        }
        refresh_tokens.extend(end_locally(store, keeper.store().as_ref(), &session, revoke).await?);
        ended += 1;
    }
    revoke_waiting_briefly(keeper, refresh_tokens).await;
    Ok(ended)
}

#[derive(Deserialize)]
/// The form Logto posts to the back-channel logout URI.
pub struct LogoutForm {
    logout_token: Option<String>,
}

/// `POST /auth/backchannel-logout`, Logto's back-channel logout URI (spec section 2.5): verifies
/// the logout token, refuses a `jti` seen before, ends the sessions it names, and answers 200; an
/// invalid token gets 400 `invalid_request`. Never cached.
pub async fn backchannel_logout(
    State(auth): State<LogtoClient>,
    form: Result<Form<LogoutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let token = form
        .ok()
        .and_then(|Form(f)| f.logout_token)
        .unwrap_or_default();
    let mut res = answer_logout(&auth, &token).await;
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn answer_logout(auth: &LogtoClient, token: &str) -> Response {
    let request = match verified(auth, token).await {
        Ok(request) => request,
        Err(refusal) => return refusal,
    };
    let key = format!("logout-jti:{}", request.jti);
    if let Err(refusal) = claim(auth, &key, &request.jti).await {
        return refusal;
    }
    match end_named(auth, &request).await {
        Ok(ended) => {
            tracing::info!(sub = ?request.sub, sid = ?request.sid, ended, "back-channel logout");
            StatusCode::OK.into_response()
        }
        Err(err) => {
            tracing::error!("back-channel logout: {err}");
            // Not ended: the same token may try again.
            if let Err(err) = auth.sessions.release_claim(&key).await {
                tracing::error!("back-channel logout: {err}");
            }
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "session store unavailable",
            )
        }
    }
}

/// The logout token's claims once verified, or the answer for Logto: 400 for a token that is
/// missing or wrong (it would be wrong again), 503 when the keys cannot be had (try later).
async fn verified(
    auth: &LogtoClient,
    token: &str,
) -> Result<logout_token::LogoutRequest, Response> {
    if token.is_empty() {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "no logout_token",
        ));
    }
    match logout_token::verify(&auth.provider, token).await {
        Ok(r) => Ok(r),
        Err(logout_token::LogoutTokenError::Invalid(why)) => {
            tracing::warn!("back-channel logout refused: {why}");
            Err(refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "invalid logout_token",
            ))
        }
        Err(logout_token::LogoutTokenError::Provider(err)) => {
            tracing::error!("back-channel logout: {err}");
            Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "cannot verify the logout_token now",
            ))
        }
    }
}

/// Claims the token's `jti` (under `key`) once across instances: a replay is refused.
async fn claim(auth: &LogtoClient, key: &str, jti: &str) -> Result<(), Response> {
    match auth.sessions.claim_once(key).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            tracing::warn!(%jti, "back-channel logout refused: replayed jti");
            Err(refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "logout_token already used",
            ))
        }
        Err(err) => {
            tracing::error!("back-channel logout: session store: {err}");
            Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "session store unavailable",
            ))
        }
    }
}

/// OpenID Connect Back-Channel Logout 1.0, section 2.8: an error code and a description.
fn refuse(status: StatusCode, error: &str, why: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": why })),
    )
        .into_response()
}

/// Ends the sessions a logout token names: those of its `sub` (with its `sid`, only that Logto
/// session's), or, for a token naming only a `sid`, those of the user signed in with that Logto
/// session (the store remembers whose it is).
async fn end_named(
    auth: &LogtoClient,
    request: &logout_token::LogoutRequest,
) -> Result<usize, SessionError> {
    let sub = match (&request.sub, &request.sid) {
        (Some(sub), _) => sub.clone(),
        (None, Some(sid)) => match auth.sessions.user_of_logto_session(sid).await? {
            Some(sub) => sub,
            None => return Ok(0),
        },
        (None, None) => return Ok(0),
    };
    end_all(
        &auth.sessions,
        &auth.keeper,
        &sub,
        request.sid.as_deref(),
        false,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_stable_and_distinct() {
        let (a, b) = (Id::default(), Id::default());
        assert_eq!(handle(&a), handle(&a));
        assert_ne!(handle(&a), handle(&b));
        assert_eq!(handle(&a).len(), 32);
        assert!(!handle(&a).contains(&a.to_string()));
    }
}
