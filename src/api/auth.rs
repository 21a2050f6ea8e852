//! Signing in and out: the server functions the sign-in buttons, the callback page and the
//! sign-out button post to, and the current user every auth-aware component renders.

use leptos::prelude::*;

use super::*;

/// Starts a sign-in: remembers state, nonce and PKCE verifier server-side, then sends the browser
/// to Logto. Posted by a plain form, so it works without JavaScript.
#[server(prefix = "/api", endpoint = "sign_in")]
pub async fn sign_in(mode: SignInMode, return_to: Option<String>) -> Result<(), ServerFnError> {
    use logto_axum::SignInOptions;
    use ssr::*;

    let logto = auth_context()?;
    if !sign_in_allowed().await? {
        redirect_to_error(&logto_axum::AuthError::RateLimited);
        return Ok(());
    }
    let session = session().await?;
    let options = SignInOptions {
        first_screen: (mode == SignInMode::Register).then(|| "register".to_owned()),
        direct_sign_in: (mode == SignInMode::Facebook).then(|| "social:facebook".to_owned()),
        ui_locales: Some(ui_locale().to_owned()),
        ..SignInOptions::default()
    };
    match logto
        .start_sign_in(&session, &options, return_to.as_deref())
        .await
    {
        Ok(url) => {
            tracing::info!(?mode, "sign-in started");
            leptos_axum::redirect(url.as_str());
        }
        Err(err) => redirect_to_error(&flow_failure(err)?),
    }
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
    use logto_axum::{AuthError, CallbackParams};
    use ssr::*;

    let logto = auth_context()?;
    let session = session().await?;
    let fail = |err: AuthError| {
        tracing::warn!(code = err.code(), "sign-in failed: {err}");
        set_status(err.status());
        Ok(CallbackOutcome::Failed(err.code().to_owned()))
    };
    // Before the pending sign-in is used: a limited callback can be repeated as it is.
    if !sign_in_allowed().await? {
        return fail(AuthError::RateLimited);
    }
    let params = CallbackParams {
        code,
        state,
        error,
        error_description,
        iss,
    };
    let browser = leptos_axum::extract::<axum::http::HeaderMap>()
        .await
        .ok()
        .and_then(|h| {
            h.get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .and_then(crate::views::browser_summary)
        });
    match logto.finish_sign_in(&session, &params, browser).await {
        Ok(done) => {
            leptos_axum::redirect(&done.return_to);
            Ok(CallbackOutcome::Redirected(done.return_to))
        }
        Err(err) => fail(flow_failure(err)?),
    }
}

/// Revokes the refresh token, ends the local session, then Logto's (so the next sign-in asks again).
#[server(prefix = "/api", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), ServerFnError> {
    use ssr::*;

    let logto = auth_context()?;
    let session = session().await?;
    let target = logto
        .sign_out(&session, Some(ui_locale()))
        .await
        .map_err(|e| store_failure(&e))?;
    leptos_axum::redirect(&target);
    Ok(())
}

/// The signed-in user, if any: what every auth-aware component renders. Reads the session
/// record only; tokens are refreshed by the getters that need them.
#[server(prefix = "/api", endpoint = "current_user")]
pub async fn current_user() -> Result<Option<UserView>, ServerFnError> {
    use ssr::*;

    let ctx = auth_context()?;
    let session = session().await?;
    // A page request: the page cache already read the user (once, for its key and the page),
    // unless this render has signed someone in or out since.
    if let Some(earlier) = use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<ViewerRead>().cloned())
        .filter(|earlier| earlier.session_id == session.id())
    {
        return earlier
            .read
            .map(|viewer| viewer.map(|u| UserView::from(&u.user)))
            .map_err(|e| store_failure(&e));
    }
    let user = session
        .user(ctx.max_lifetime, ctx.keeper.store().as_ref())
        .await
        .map_err(|e| store_failure(&e))?;
    Ok(user.map(|u| UserView::from(&u.user)))
}
