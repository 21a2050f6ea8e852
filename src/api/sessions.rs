//! The sessions page: the user's sessions in this app, ending one, signing out everywhere.

use leptos::prelude::*;

use super::*;

/// One of the signed-in user's app sessions, as the sessions page shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionView {
    /// Names the session for `end_session` (not its id: that is a credential).
    pub handle: String,
    /// Unix seconds (the page writes them in the reader's language).
    pub signed_in: i64,
    pub last_seen: i64,
    /// "Firefox on Linux" (as stored at sign-in, joined by
    /// [`BROWSER_ON_OS`](crate::views::BROWSER_ON_OS); the page words the "on" in its language),
    /// when the browser was recognised.
    pub browser: Option<String>,
    /// The session of the browser asking.
    pub current: bool,
}

/// The signed-in user's sessions in this app, oldest first.
#[server(prefix = "/api", endpoint = "my_sessions")]
pub async fn my_sessions() -> Result<Vec<SessionView>, AppError> {
    use ssr::*;

    let logto = require_user().await?;
    let sessions = logto.sessions().await.map_err(app_error_from)?;
    Ok(sessions
        .into_iter()
        .map(|s| SessionView {
            handle: s.handle,
            signed_in: s.signed_in_at,
            last_seen: s.last_seen,
            browser: s.browser,
            current: s.current,
        })
        .collect())
}

/// Ends one of the user's other sessions (its refresh token is revoked too); back to the
/// sessions page. Ending this browser's own session is signing out (as the Sign out button).
#[server(prefix = "/api", endpoint = "end_session")]
pub async fn end_session(handle: String) -> Result<(), AppError> {
    use logto_axum::user_sessions::SessionEnded;
    use ssr::*;

    let logto = require_user().await?;
    match logto.end_session(&handle).await.map_err(app_error_from)? {
        SessionEnded::ThisBrowser => {
            drop(logto);
            sign_out().await.map_err(|e| {
                tracing::error!("ending this browser's session: {e}");
                AppError::Internal
            })
        }
        // Already ended (another tab, expiry): the page shows what is left.
        SessionEnded::Other | SessionEnded::NotFound => {
            leptos_axum::redirect("/sessions");
            Ok(())
        }
    }
}

/// "Sign out everywhere": ends every session of this user in this app, revoking their refresh
/// tokens, then Logto's session (as signing out does).
#[server(prefix = "/api", endpoint = "sign_out_everywhere")]
pub async fn sign_out_everywhere() -> Result<(), AppError> {
    use ssr::*;

    let logto = require_user().await?;
    logto.sign_out_everywhere().await.map_err(app_error_from)?;
    let target = logto.context().end_session_target(Some(ui_locale())).await;
    leptos_axum::redirect(&target);
    Ok(())
}
