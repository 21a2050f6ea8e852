//! The signed-in user's sessions in this app, for a sessions page: list them, end one, end them
//! all ("sign out everywhere"). Methods of the request's `Logto` handle, so only the user's own
//! sessions are ever named, and only by a handle (a session's id is its cookie: a credential).

use crate::{
    handle::{Logto, LogtoError},
    session::{ending, SessionError},
};

/// One of the user's sessions, as a sessions page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// Names the session for `Logto::end_session` without revealing its id.
    pub handle: String,
    /// Unix seconds of the sign-in.
    pub signed_in_at: i64,
    /// Unix seconds of the last request that extended the idle timeout.
    pub last_seen: i64,
    /// The browser label given at sign-in (`LogtoClient::finish_sign_in`), if any.
    pub browser: Option<String>,
    /// The session of the browser asking.
    pub current: bool,
}

/// What `Logto::end_session` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnded {
    /// Another session of the user's: its tokens and record are gone, its refresh token revoked.
    Other,
    /// The handle names the asking browser's own session, which was left alone: ending it is
    /// signing out (`LogtoClient::sign_out`), Logto's session included.
    ThisBrowser,
    /// No session of the user's has that handle (already ended in another tab, or expired).
    NotFound,
}

impl Logto {
    /// The user's sessions in this app, oldest first.
    pub async fn sessions(&self) -> Result<Vec<SessionSummary>, LogtoError> {
        let sub = &self.require_user()?.sub;
        let current = self.session().id();
        let sessions = self
            .context()
            .sessions
            .sessions_of(sub)
            .await
            .map_err(SessionError::from)?;
        Ok(sessions
            .into_iter()
            .map(|s| SessionSummary {
                handle: ending::handle(&s.id),
                signed_in_at: s.user.signed_in_at,
                last_seen: s.last_seen,
                browser: s.user.browser,
                current: Some(s.id) == current,
            })
            .collect())
    }

    /// Ends the user's session named `handle` (see `SessionEnded` for this browser's own).
    pub async fn end_session(&self, handle: &str) -> Result<SessionEnded, LogtoError> {
        let sub = &self.require_user()?.sub;
        let ctx = self.context();
        let sessions = ctx
            .sessions
            .sessions_of(sub)
            .await
            .map_err(SessionError::from)?;
        let Some(found) = sessions.iter().find(|s| ending::handle(&s.id) == handle) else {
            return Ok(SessionEnded::NotFound);
        };
        if Some(found.id) == self.session().id() {
            return Ok(SessionEnded::ThisBrowser);
        }
        ending::end(&ctx.sessions, &ctx.keeper, found, true).await?;
        tracing::info!(%sub, "ended another session");
        Ok(SessionEnded::Other)
    }

    /// Ends every session of the user in this app, this one included, revoking their refresh
    /// tokens; returns how many there were. Send the browser on to
    /// `LogtoClient::end_session_target` to end Logto's session too, as signing out does.
    pub async fn sign_out_everywhere(&self) -> Result<usize, LogtoError> {
        let sub = &self.require_user()?.sub;
        let ctx = self.context();
        let ended = ending::end_all(&ctx.sessions, &ctx.keeper, sub, None, true).await?;
        self.session().sign_out(ctx.keeper.store().as_ref()).await?;
        tracing::info!(%sub, ended, "signed out everywhere");
        Ok(ended)
    }
}
