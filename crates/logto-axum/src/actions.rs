//! The three things a browser does with Logto, against its session: start a sign-in, come back
//! from Logto, sign out. The SDK's routes (`routes.rs`) and an app's own handlers or server
//! functions call these, so the checks that make the flow safe live in one place: a callback's
//! `state` is redeemed once across requests and instances, the grant a browser held before is
//! revoked, and a callback that failed on Logto's side stays retryable.

use url::Url;

use crate::{
    client::LogtoClient,
    flow::{self, return_to::sanitize_or_root},
    session::{ending::revoke_waiting_briefly, AuthSession, SessionError},
    sha256_hex, AuthError, CallbackParams, PendingSignIn, SignInOptions,
};

/// Why a sign-in could not start or finish. The two need different answers: a refusal or an
/// unreachable Logto is the user's error page (`AuthError::status`, `AuthError::code`); a store
/// failure is a 503 "try again" page whose cause only the log should see.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// Logto refused, could not be reached, or the callback failed a check.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The session store failed.
    #[error(transparent)]
    Store(#[from] SessionError),
}

/// A finished sign-in: who signed in, and the same-site path they started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInTo {
    /// The user's Logto id.
    pub sub: String,
    /// Where to send the browser now (checked to be a path on this site when the sign-in began).
    pub return_to: String,
}

impl LogtoClient {
    /// Starts a sign-in: remembers state, nonce and PKCE verifier in `session` and gives the
    /// Logto URL to send the browser to. `return_to` (a path on this site; anything else becomes
    /// `/`) is where `finish_sign_in` sends the browser afterwards.
    pub async fn start_sign_in(
        &self,
        session: &AuthSession,
        options: &SignInOptions,
        return_to: Option<&str>,
    ) -> Result<Url, FlowError> {
        let metadata = self.provider.metadata().await.inspect_err(|err| {
            tracing::warn!("sign-in not started: {err}");
        })?;
        let client = self.provider.client(&metadata).inspect_err(|err| {
            tracing::error!("sign-in not started: {err}");
        })?;
        let return_to = sanitize_or_root(return_to);
        let (url, pending) =
            flow::authorization_request(self.provider.config(), &client, options, return_to);
        session.add_pending(pending).await?;
        Ok(url)
    }

    /// Finishes a sign-in at the redirect URI: checks the callback against the pending sign-in
    /// its `state` names (redeemed once), exchanges the code, verifies the ID token and stores
    /// the session. `browser` labels it in the user's sessions list (e.g. "Firefox on Linux").
    ///
    /// On a failure Logto caused (5xx), the session is saved at once: tower-sessions does not
    /// save on a 5xx answer, which would make the used `state` pending again and the same
    /// callback URL good for another try at the code.
    pub async fn finish_sign_in(
        &self,
        session: &AuthSession,
        params: &CallbackParams,
        browser: Option<String>,
    ) -> Result<SignedInTo, FlowError> {
        let state = params
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(AuthError::MissingState)?;
        let pending = self
            .claim_pending(session, state)
            .await?
            .ok_or(AuthError::UnknownState)?;
        let signed_in = match flow::complete_sign_in(&self.provider, &pending, params).await {
            Ok(signed_in) => signed_in,
            Err(err) => {
                if err.status() >= 500 {
                    session.save_now().await?;
                }
                return Err(err.into());
            }
        };
        let sub = signed_in.user.sub.clone();
        let store = self.keeper.store();
        let (_, replaced) = session
            .sign_in(
                signed_in,
                browser,
                store.as_ref(),
                self.max_lifetime,
                self.idle_timeout,
            )
            .await?;
        tracing::info!(%sub, "signed in");
        // Another user's (or Logto session's) grant this browser held: dead from now on.
        drop(self.keeper.revoke(replaced.into_iter().collect()));
        Ok(SignedInTo {
            sub,
            return_to: pending.return_to,
        })
    }

    /// Signs this browser out: revokes the refresh token (waiting briefly), ends the session,
    /// and gives where to send the browser: Logto's end-session endpoint (which ends Logto's
    /// session too, so the next sign-in asks again, and comes back to the app's start page), or
    /// `/` when nobody was signed in or Logto cannot be reached. `ui_locale` words Logto's page.
    pub async fn sign_out(
        &self,
        session: &AuthSession,
        ui_locale: Option<&str>,
    ) -> Result<String, SessionError> {
        let store = self.keeper.store().clone();
        let user = session.user(self.max_lifetime, store.as_ref()).await?;
        let refresh_token = match &user {
            Some(u) => self
                .keeper
                .tokens(&u.grant)
                .await
                .ok()
                .and_then(|t| t.refresh_token),
            None => None,
        };
        session.sign_out(store.as_ref()).await?;
        let Some(user) = user else {
            return Ok("/".to_owned());
        };
        tracing::info!(sub = %user.user.sub, "signed out locally");
        revoke_waiting_briefly(&self.keeper, refresh_token.into_iter().collect()).await;
        Ok(self.end_session_target(ui_locale).await)
    }

    /// Logto's end-session URL for this app, or `/` when Logto cannot be reached.
    pub async fn end_session_target(&self, ui_locale: Option<&str>) -> String {
        match self.provider.metadata().await {
            Ok(metadata) => {
                flow::end_session_url(self.provider.config(), &metadata, ui_locale.unwrap_or(""))
                    .map_or_else(|| "/".to_owned(), |u| u.to_string())
            }
            Err(err) => {
                tracing::warn!("cannot end the provider session: {err}");
                "/".to_owned()
            }
        }
    }

    /// The pending sign-in `state` names, taken from this browser's session, once: first looked
    /// up (read only), then claimed in the store across requests and instances, then removed. A
    /// duplicated callback (a reload while the first is at Logto, a redirect delivered twice)
    /// must not redeem the code again, which makes Logto revoke the grant; the loser leaves the
    /// session untouched (no cookie that could replace the winner's).
    async fn claim_pending(
        &self,
        session: &AuthSession,
        state: &str,
    ) -> Result<Option<PendingSignIn>, SessionError> {
        if !session.has_pending(state).await? {
            return Ok(None);
        }
        let key = format!("callback-state:{}", sha256_hex(state));
        if !self.sessions.claim_once(&key).await? {
            return Ok(None);
        }
        session.take_pending(state).await
    }
}
