//! Server functions: thin layers that read the session, call the auth core and redirect.
//! Types here cross to the browser, so they never carry tokens.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// How the user wants to start: Logto's page, its sign-up screen, or straight to Facebook.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SignInMode {
    #[default]
    SignIn,
    Register,
    Facebook,
}

/// What the UI may know about the signed-in user.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UserView {
    pub sub: String,
    pub name: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub picture: Option<String>,
    pub identities: Vec<String>,
    pub claims: Vec<(String, String)>,
}

impl UserView {
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.username.clone())
            .or_else(|| self.email.clone())
            .unwrap_or_else(|| "Signed-in user".to_owned())
    }
}

/// How a callback ended, for the callback page.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum CallbackOutcome {
    /// Signed in; the browser has been told to go here.
    Redirected(String),
    /// A stable error code (see `app::auth_error_text`).
    Failed(String),
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use std::{sync::Arc, time::Duration};

    use axum::http::StatusCode;
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;

    use crate::{
        auth::{refresh::Refresher, AuthError, Provider},
        session::{AuthSession, SessionError},
    };

    /// What server functions need from the server; provided as Leptos context.
    #[derive(Clone)]
    pub struct AuthContext {
        pub provider: Arc<Provider>,
        pub refresher: Arc<Refresher>,
        pub max_lifetime: Duration,
    }

    pub fn auth_context() -> Result<AuthContext, ServerFnError> {
        use_context::<AuthContext>().ok_or_else(|| ServerFnError::new("auth context missing"))
    }

    pub async fn session() -> Result<AuthSession, ServerFnError> {
        crate::session::from_leptos()
            .await
            .map_err(|e| store_failure(&e))
    }

    pub fn set_status(status: u16) {
        if let Some(res) = use_context::<ResponseOptions>() {
            res.set_status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST));
        }
    }

    /// Logs the cause; the user sees only the generic "try again" page.
    pub fn store_failure(err: &SessionError) -> ServerFnError {
        tracing::error!("session store failure: {err}");
        set_status(503);
        ServerFnError::new("session_store_unavailable")
    }

    /// Sends the browser to the error page for `err` (its status is set there).
    pub fn redirect_to_error(err: &AuthError) {
        leptos_axum::redirect(&format!("/auth/error?code={}", err.code()));
    }
}

/// Starts a sign-in: remembers state, nonce and PKCE verifier server-side, then sends the browser
/// to Logto. Posted by a plain form, so it works without JavaScript.
#[server(prefix = "/api", endpoint = "sign_in")]
pub async fn sign_in(mode: SignInMode, return_to: Option<String>) -> Result<(), ServerFnError> {
    use crate::auth::{flow, return_to::sanitize_or_root, SignInOptions};
    use ssr::*;

    let ctx = auth_context()?;
    let session = session().await?;
    let accept_language = leptos_axum::extract::<axum::http::HeaderMap>()
        .await
        .ok()
        .and_then(|h| {
            h.get(axum::http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(flow::ui_locales_from_accept_language)
        });
    let options = SignInOptions {
        first_screen: (mode == SignInMode::Register).then(|| "register".to_owned()),
        direct_sign_in: (mode == SignInMode::Facebook).then(|| "social:facebook".to_owned()),
        ui_locales: accept_language,
        ..SignInOptions::default()
    };
    let return_to = sanitize_or_root(return_to.as_deref());
    let metadata = match ctx.provider.metadata().await {
        Ok(m) => m,
        Err(err) => {
            tracing::warn!("sign-in not started: {err}");
            redirect_to_error(&err);
            return Ok(());
        }
    };
    let client = match ctx.provider.client(&metadata) {
        Ok(c) => c,
        Err(err) => {
            tracing::error!("sign-in not started: {err}");
            redirect_to_error(&err);
            return Ok(());
        }
    };
    let (url, pending) =
        flow::authorization_request(ctx.provider.config(), &client, &options, return_to);
    session
        .add_pending(pending)
        .await
        .map_err(|e| store_failure(&e))?;
    tracing::info!(?mode, "sign-in started");
    leptos_axum::redirect(url.as_str());
    Ok(())
}

/// Finishes a sign-in at the registered redirect URI (rendered by the `/callback` page).
#[server(prefix = "/api", endpoint = "finish_sign_in")]
pub async fn finish_sign_in(
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
) -> Result<CallbackOutcome, ServerFnError> {
    use crate::auth::{flow, AuthError, CallbackParams};
    use ssr::*;

    let ctx = auth_context()?;
    let session = session().await?;
    let params = CallbackParams {
        code,
        state,
        error,
        error_description,
        iss,
    };
    let fail = |err: AuthError| {
        tracing::warn!(code = err.code(), "sign-in failed: {err}");
        set_status(err.status());
        Ok(CallbackOutcome::Failed(err.code().to_owned()))
    };
    let Some(state) = params.state.as_deref().filter(|s| !s.is_empty()) else {
        return fail(AuthError::MissingState);
    };
    let Some(pending) = session
        .take_pending(state)
        .await
        .map_err(|e| store_failure(&e))?
    else {
        return fail(AuthError::UnknownState);
    };
    match flow::complete_sign_in(&ctx.provider, &pending, &params).await {
        Ok(signed_in) => {
            let sub = signed_in.user.sub.clone();
            session
                .sign_in(signed_in)
                .await
                .map_err(|e| store_failure(&e))?;
            tracing::info!(%sub, "signed in");
            leptos_axum::redirect(&pending.return_to);
            Ok(CallbackOutcome::Redirected(pending.return_to))
        }
        Err(err) => fail(err),
    }
}

/// Ends the local session, then Logto's (so the next sign-in asks again).
#[server(prefix = "/api", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), ServerFnError> {
    use crate::auth::flow;
    use ssr::*;

    let ctx = auth_context()?;
    let session = session().await?;
    let signed_in = session
        .signed_in(ctx.max_lifetime)
        .await
        .map_err(|e| store_failure(&e))?;
    session.sign_out().await.map_err(|e| store_failure(&e))?;
    let Some(signed_in) = signed_in else {
        leptos_axum::redirect("/");
        return Ok(());
    };
    tracing::info!(sub = %signed_in.user.sub, "signed out locally");
    let target = match ctx.provider.metadata().await {
        Ok(metadata) => {
            flow::end_session_url(ctx.provider.config(), &metadata, Some(&signed_in.id_token))
                .map(|u| u.to_string())
        }
        Err(err) => {
            tracing::warn!("cannot end the provider session: {err}");
            None
        }
    };
    leptos_axum::redirect(target.as_deref().unwrap_or("/"));
    Ok(())
}

/// The signed-in user, if any: what every auth-aware component renders.
#[server(prefix = "/api", endpoint = "current_user")]
pub async fn current_user() -> Result<Option<UserView>, ServerFnError> {
    use crate::auth::AuthError;
    use ssr::*;

    let ctx = auth_context()?;
    let session = session().await?;
    let Some(mut signed_in) = session
        .signed_in(ctx.max_lifetime)
        .await
        .map_err(|e| store_failure(&e))?
    else {
        return Ok(None);
    };
    if signed_in.needs_refresh(crate::auth::now_unix()) {
        match ctx.refresher.refresh(&ctx.provider, &signed_in).await {
            Ok(next) => {
                session
                    .replace_tokens(next.clone())
                    .await
                    .map_err(|e| store_failure(&e))?;
                tracing::debug!(sub = %next.user.sub, "tokens refreshed");
                signed_in = next;
            }
            // Logto unreachable: the user is still who they were; try again next time.
            Err(err)
                if matches!(
                    *err,
                    AuthError::ProviderUnavailable(_) | AuthError::TokenExchange(_)
                ) =>
            {
                tracing::warn!("token refresh postponed: {err}");
            }
            Err(err) => {
                tracing::warn!(sub = %signed_in.user.sub, "token refresh rejected, signing out: {err}");
                session.sign_out().await.map_err(|e| store_failure(&e))?;
                return Ok(None);
            }
        }
    }
    let u = signed_in.user;
    Ok(Some(UserView {
        sub: u.sub,
        name: u.name,
        username: u.username,
        email: u.email,
        email_verified: u.email_verified,
        picture: u.picture,
        identities: u.identities,
        claims: u.claims,
    }))
}
