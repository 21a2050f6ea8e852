//! The one per-request handle app code uses: who is signed in, a guard for anonymous callers, ID
//! token claims, userinfo, and access tokens for APIs and organizations, refreshed as needed.
//! An axum extractor (`Logto`, or `SignedInUser` to refuse anonymous callers with 401); code
//! that has the session its own way (a Leptos server function, say) uses `Logto::load`. Tokens
//! stay on the server.

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Map, Value};
use std::sync::Arc;

use crate::{
    client::LogtoClient,
    config::ORGANIZATIONS_SCOPE,
    flow, now_unix,
    session::{AuthSession, SessionError, SessionUser},
    tokens::keeper::REFRESH_MARGIN_SECS,
    AccessToken, AuthError, Organization, TokenError, TokenTarget, UserProfile,
};

#[derive(Debug, thiserror::Error)]
/// Why a `Logto` getter failed; as a response: 401, 503, or the status of Logto's answer.
pub enum LogtoError {
    #[error("not signed in")]
    /// Nobody is signed in (or the session just ended).
    Unauthenticated,
    #[error(transparent)]
    /// The session store failed.
    Session(#[from] SessionError),
    #[error(transparent)]
    /// Logto refused or could not be reached.
    Auth(#[from] AuthError),
    /// Asking Logto for a resource not named at sign-in would spend the refresh token for nothing
    /// (the grant cannot cover it), so it is refused here.
    #[error("{0:?} was not requested at sign-in (add it to LOGTO_RESOURCES)")]
    NotRequestedAtSignIn(String),
}

impl IntoResponse for LogtoError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            LogtoError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            LogtoError::Session(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "session_store_unavailable")
            }
            LogtoError::Auth(e) => (
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY),
                e.code(),
            ),
            LogtoError::NotRequestedAtSignIn(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::error!("{self}");
        } else {
            tracing::info!("{self}");
        }
        (status, Json(json!({ "error": code }))).into_response()
    }
}

/// The request's view of the signed-in user. Cheap to make: the session record is read once;
/// tokens are read (and refreshed) only when a getter needs them.
#[derive(Clone)]
pub struct Logto {
    session: AuthSession,
    ctx: LogtoClient,
    user: Option<Arc<SessionUser>>,
}

impl Logto {
    /// The handle for `session`: reads who is signed in (one store read; no tokens yet).
    pub async fn load(session: AuthSession, ctx: LogtoClient) -> Result<Self, LogtoError> {
        let user = session
            .user(ctx.max_lifetime, ctx.keeper.store().as_ref())
            .await?;
        Ok(Self { session, ctx, user })
    }

    /// The shared client, for what spans requests (the provider, the session store).
    pub fn context(&self) -> &LogtoClient {
        &self.ctx
    }

    /// This request's session.
    pub fn session(&self) -> &AuthSession {
        &self.session
    }

    /// The signed-in user, or `None`.
    pub fn user(&self) -> Option<&UserProfile> {
        self.user.as_ref().map(|u| &u.user)
    }

    /// The guard: the signed-in user, or `Unauthenticated` (401 as a response).
    pub fn require_user(&self) -> Result<&UserProfile, LogtoError> {
        self.user().ok_or(LogtoError::Unauthenticated)
    }

    /// The user's Logto organizations with their roles, as of sign-in.
    pub fn organizations(&self) -> Result<&[Organization], LogtoError> {
        Ok(&self.require_user()?.organizations)
    }

    /// Claims of the newest verified ID token. Like every getter it refreshes tokens that are
    /// about to expire (a refresh brings a new ID token), but the stored claims are still good when
    /// that cannot happen now (Logto down, or no refresh token).
    pub async fn id_token_claims(&self) -> Result<Map<String, Value>, LogtoError> {
        let grant = self.grant()?;
        let tokens = self.ctx.keeper.tokens(grant).await;
        let tokens = self.settle(tokens).await?;
        // Fresh enough, or nothing to refresh with: no second trip to the store.
        let fresh = tokens
            .usable(&TokenTarget::Logto, now_unix(), REFRESH_MARGIN_SECS, None)
            .is_some();
        if fresh || tokens.refresh_token.is_none() {
            return Ok(tokens.id_token_claims);
        }
        match self.token(&TokenTarget::Logto, None).await {
            Ok(_) => {}
            Err(LogtoError::Auth(err)) => {
                tracing::warn!("ID token claims as stored; refresh failed: {err}");
                return Ok(tokens.id_token_claims);
            }
            Err(other) => return Err(other),
        }
        let tokens = self.ctx.keeper.tokens(grant).await;
        Ok(self.settle(tokens).await?.id_token_claims)
    }

    /// The newest ID token as issued, if the tokens are there. Not for the browser.
    pub async fn id_token(&self) -> Option<String> {
        let grant = self.grant().ok()?;
        self.ctx.keeper.tokens(grant).await.ok().map(|t| t.id_token)
    }

    /// Fresh claims from Logto's userinfo endpoint.
    pub async fn fetch_user_info(&self) -> Result<Map<String, Value>, LogtoError> {
        let sub = self.require_user()?.sub.clone();
        let token = self.token(&TokenTarget::Logto, None).await?;
        Ok(flow::userinfo(&self.ctx.provider, token.secret(), &sub).await?)
    }

    /// An access token (JWT) for the API with this resource indicator.
    pub async fn access_token(&self, resource: &str) -> Result<AccessToken, LogtoError> {
        self.token(&self.resource_target(resource)?, None).await
    }

    /// An access token (JWT, audience `urn:logto:organization:{id}`) for an organization.
    pub async fn organization_token(
        &self,
        organization_id: &str,
    ) -> Result<AccessToken, LogtoError> {
        self.token(&self.organization_target(organization_id)?, None)
            .await
    }

    /// Logto's own (opaque) access token: userinfo and the Account API.
    pub async fn logto_access_token(&self) -> Result<AccessToken, LogtoError> {
        self.token(&TokenTarget::Logto, None).await
    }

    /// A new token after `rejected` was refused by an API (revoked or expired early): refreshes
    /// unless another request already has.
    pub async fn token_after_rejection(
        &self,
        target: &TokenTarget,
        rejected: &AccessToken,
    ) -> Result<AccessToken, LogtoError> {
        self.token(target, Some(rejected)).await
    }

    /// The token target for API `resource`, if it was requested at sign-in (else no grant can cover
    /// it).
    pub fn resource_target(&self, resource: &str) -> Result<TokenTarget, LogtoError> {
        if !self
            .ctx
            .provider
            .config()
            .sign_in_resources()
            .iter()
            .any(|r| r == resource)
        {
            return Err(LogtoError::NotRequestedAtSignIn(resource.to_owned()));
        }
        Ok(TokenTarget::Resource(resource.to_owned()))
    }

    /// The token target for an organization, if the organizations scope was requested at sign-in.
    pub fn organization_target(&self, organization_id: &str) -> Result<TokenTarget, LogtoError> {
        if !self
            .ctx
            .provider
            .config()
            .scopes
            .iter()
            .any(|s| s == ORGANIZATIONS_SCOPE)
        {
            return Err(LogtoError::NotRequestedAtSignIn(ORGANIZATIONS_SCOPE.into()));
        }
        Ok(TokenTarget::Organization(organization_id.to_owned()))
    }

    async fn token(
        &self,
        target: &TokenTarget,
        rejected: Option<&AccessToken>,
    ) -> Result<AccessToken, LogtoError> {
        let grant = self.grant()?;
        let token = self.ctx.keeper.token(grant, target, rejected).await;
        self.settle(token).await
    }

    fn grant(&self) -> Result<&str, LogtoError> {
        self.user
            .as_ref()
            .map(|u| u.grant.as_str())
            .ok_or(LogtoError::Unauthenticated)
    }

    /// A grant Logto ended ends this session too, as does one whose tokens are gone from the
    /// store while the record still names it (they expired, or were evicted). A grant the
    /// record no longer names was signed out or replaced by another request, whose response sets
    /// the cookie: this one leaves the session alone (clearing it could drop the newer cookie).
    async fn settle<T>(&self, result: Result<T, TokenError>) -> Result<T, LogtoError> {
        match result {
            Ok(t) => Ok(t),
            Err(TokenError::Ended(why)) => {
                tracing::info!("signing the session out: {why}");
                self.session
                    .sign_out(self.ctx.keeper.store().as_ref())
                    .await?;
                Err(LogtoError::Unauthenticated)
            }
            Err(TokenError::Missing) => {
                self.end_if_still_named().await?;
                Err(LogtoError::Unauthenticated)
            }
            Err(TokenError::Superseded) => Err(LogtoError::Unauthenticated),
            Err(TokenError::Auth(e)) => Err(e.into()),
            Err(TokenError::Store(e)) => Err(SessionError::from(e).into()),
        }
    }

    /// Deletes this session's record, by id (no cookie sent), if it still names this request's
    /// grant: its tokens are gone, so it would show a user signed in who can do nothing.
    async fn end_if_still_named(&self) -> Result<(), LogtoError> {
        use tower_sessions::SessionStore;
        let (Some(id), Ok(grant)) = (self.session.id(), self.grant()) else {
            return Ok(());
        };
        let stored = self
            .ctx
            .sessions
            .load(&id)
            .await
            .map_err(SessionError::from)?;
        let still_named = stored
            .as_ref()
            .and_then(crate::session::StoredSession::from_record)
            .is_some_and(|s| s.user.grant == grant);
        if still_named {
            tracing::info!("the session's tokens are gone: session ended");
            self.ctx
                .sessions
                .delete(&id)
                .await
                .map_err(SessionError::from)?;
        }
        Ok(())
    }
}

impl<S> FromRequestParts<S> for Logto
where
    S: Send + Sync,
    LogtoClient: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = AuthSession::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Logto::load(session, LogtoClient::from_ref(state))
            .await
            .map_err(IntoResponse::into_response)
    }
}

/// An extractor for handlers only signed-in users may reach: anonymous callers get 401.
pub struct SignedInUser(pub Logto);

impl<S> FromRequestParts<S> for SignedInUser
where
    S: Send + Sync,
    LogtoClient: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let logto = Logto::from_request_parts(parts, state).await?;
        logto.require_user().map_err(IntoResponse::into_response)?;
        Ok(SignedInUser(logto))
    }
}
