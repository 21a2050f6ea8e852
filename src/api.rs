//! Server functions: thin layers that read the session, call the auth core and redirect.
//! Types here cross to the browser, so they never carry tokens.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::views::ClaimValue;

/// How the user wants to start: Logto's page, its sign-up screen, or straight to Facebook.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SignInMode {
    #[default]
    SignIn,
    Register,
    Facebook,
}

/// What the UI may know about the signed-in user. (`Hash`/`Eq`: it keys the page cache.)
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct UserView {
    pub sub: String,
    pub name: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub picture: Option<String>,
    pub identities: Vec<String>,
    pub organizations: Vec<OrganizationView>,
    pub claims: Vec<(String, ClaimValue)>,
}

/// An organization the user belongs to, with their roles in it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct OrganizationView {
    pub id: String,
    pub name: Option<String>,
    pub roles: Vec<String>,
}

#[cfg(feature = "ssr")]
impl From<logto_axum::UserProfile> for UserView {
    fn from(u: logto_axum::UserProfile) -> Self {
        Self {
            sub: u.sub,
            name: u.name,
            username: u.username,
            email: u.email,
            email_verified: u.email_verified,
            // Stored as Logto sent it; the page shows only what its CSP lets load.
            picture: u.picture.as_deref().and_then(crate::views::web_picture),
            identities: u.identities,
            organizations: u
                .organizations
                .into_iter()
                .map(|o| OrganizationView {
                    id: o.id,
                    name: o.name,
                    roles: o.roles,
                })
                .collect(),
            claims: u.claims.into_iter().map(|(k, v)| (k, v.into())).collect(),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<logto_axum::ClaimValue> for ClaimValue {
    fn from(v: logto_axum::ClaimValue) -> Self {
        match v {
            logto_axum::ClaimValue::Text(t) => Self::Text(t),
            logto_axum::ClaimValue::Time(t) => Self::Time(t),
        }
    }
}

/// Errors of the server functions that need a signed-in user, for the UI to show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Answered with 401.
    #[error("Please sign in to do that.")]
    Unauthenticated,
    #[error("We could not load your session. Please try again in a moment.")]
    SessionStore,
    #[error("The sign-in service could not be reached. Please try again in a moment.")]
    ProviderUnavailable,
    /// Logto refused a token for that (not a member of the organization, no access to the API).
    #[error("You do not have access to that.")]
    Forbidden,
    /// The action was started from another site (a link or form elsewhere), not from this app.
    #[error(
        "For your safety, this runs only from its button on this site. Please use the button."
    )]
    CrossSite,
    /// The language switch was sent a language there is no catalogue for.
    #[error("That language is not available.")]
    UnknownLanguage,
    #[error("Something went wrong. Please try again.")]
    Internal,
}

impl leptos::server_fn::error::FromServerFnError for AppError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(_: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        AppError::Internal
    }
}

impl UserView {
    /// Name, else username, else email; `None` when Logto gave none of them (the page then says
    /// "Signed-in user" in its language).
    pub fn display_name(&self) -> Option<String> {
        self.name
            .clone()
            .or_else(|| self.username.clone())
            .or_else(|| self.email.clone())
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
    use axum::http::StatusCode;
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;

    use crate::services::AppServices;
    pub use logto_axum::LogtoClient;
    use logto_axum::{
        handle::{Logto, LogtoError},
        session::{AuthSession, SessionError},
        AuthError,
    };

    use super::{AppError, UserView};

    /// The page cache middleware's read of the signed-in user (a request extension), so the
    /// page's own `current_user` does not read the session again. Valid while the session id is
    /// the one it was read under: signing in and signing out both change it.
    #[derive(Clone)]
    pub struct ViewerRead {
        pub session_id: Option<tower_sessions::session::Id>,
        pub read: Result<Option<UserView>, std::sync::Arc<SessionError>>,
    }

    pub fn auth_context() -> Result<LogtoClient, ServerFnError> {
        use_context::<LogtoClient>().ok_or_else(|| ServerFnError::new("auth context missing"))
    }

    pub async fn session() -> Result<AuthSession, ServerFnError> {
        request_session().await.map_err(|e| store_failure(&e))
    }

    /// The request's session, from the session layer as axum handlers get it: the session code
    /// knows nothing of Leptos, so server functions fetch it here.
    async fn request_session() -> Result<AuthSession, SessionError> {
        leptos_axum::extract::<tower_sessions::Session>()
            .await
            .map(AuthSession::new)
            .map_err(|_| SessionError::Missing)
    }

    /// The handle for server functions (what the `Logto` extractor is for axum handlers).
    pub async fn use_logto() -> Result<Logto, AppError> {
        let ctx = use_context::<LogtoClient>().ok_or_else(|| {
            tracing::error!("auth context missing");
            app_error(AppError::Internal)
        })?;
        let session = request_session()
            .await
            .map_err(|e| app_error_from(LogtoError::Session(e)))?;
        Logto::load(session, ctx).await.map_err(app_error_from)
    }

    /// The guard for server functions: the handle of a signed-in user, or a 401 `Unauthenticated`.
    pub async fn require_user() -> Result<Logto, AppError> {
        let logto = use_logto().await?;
        logto.require_user().map_err(app_error_from)?;
        Ok(logto)
    }

    /// Logs the cause, sets the status and gives the error the UI shows.
    pub fn app_error_from(err: LogtoError) -> AppError {
        let app = match &err {
            LogtoError::Unauthenticated => AppError::Unauthenticated,
            LogtoError::Session(_) => AppError::SessionStore,
            LogtoError::Auth(e) if e.is_provider_trouble() => AppError::ProviderUnavailable,
            LogtoError::Auth(AuthError::TokenRefused { .. }) => AppError::Forbidden,
            _ => AppError::Internal,
        };
        match app {
            AppError::Unauthenticated | AppError::Forbidden => tracing::info!("refused: {err}"),
            _ => tracing::error!("{err}"),
        }
        app_error(app)
    }

    pub fn app_error(err: AppError) -> AppError {
        set_status(match err {
            AppError::UnknownLanguage => 400,
            AppError::Unauthenticated => 401,
            AppError::Forbidden | AppError::CrossSite => 403,
            AppError::SessionStore | AppError::ProviderUnavailable => 503,
            AppError::Internal => 500,
        });
        err
    }

    /// For actions a plain link can start (the profile page's GET forms): run them only when the
    /// browser says the request comes from this site or from the user (`logto_axum::fetch_site`), so
    /// another site cannot make a signed-in user's browser spend their tokens. A page render
    /// (GET) is not refused as a whole: it shows the note and a working button (that is also
    /// where Logto's redirect back after sign-in lands); a direct call gets 403.
    pub async fn require_same_site() -> Result<(), AppError> {
        let (method, headers) =
            leptos_axum::extract::<(axum::http::Method, axum::http::HeaderMap)>()
                .await
                .map_err(|_| app_error(AppError::Internal))?;
        let ctx = use_context::<LogtoClient>().ok_or_else(|| app_error(AppError::Internal))?;
        let own = ctx
            .provider
            .config()
            .base_url
            .origin()
            .ascii_serialization();
        let Err(refused) = logto_axum::fetch_site::check(&headers, &own) else {
            return Ok(());
        };
        tracing::info!(
            sec_fetch_site = refused.site,
            origin = refused.origin,
            "refused an action started from another site"
        );
        if method == axum::http::Method::GET {
            Err(AppError::CrossSite)
        } else {
            Err(app_error(AppError::CrossSite))
        }
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

    /// The app's own services (`crate::services::AppServices`), from the context
    /// `server::dynamic_routes` gives pages and server functions (the 404 fallback has none).
    pub fn app_services() -> Result<std::sync::Arc<AppServices>, ServerFnError> {
        use_context::<std::sync::Arc<AppServices>>().ok_or_else(|| {
            tracing::error!("app services missing");
            set_status(500);
            ServerFnError::new("app services missing")
        })
    }

    /// False (with `Retry-After` set) when this client has started or finished too many
    /// sign-ins; an error when the app's services are missing from the context.
    pub async fn sign_in_allowed() -> Result<bool, ServerFnError> {
        let services = app_services()?;
        let peer = leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .await
            .ok()
            .map(|c| c.0.ip());
        let headers = leptos_axum::extract::<axum::http::HeaderMap>()
            .await
            .unwrap_or_default();
        match services.sign_in_limiter.check(peer, &headers) {
            Ok(()) => Ok(true),
            Err(wait) => {
                if let Some(res) = use_context::<ResponseOptions>() {
                    res.insert_header(
                        axum::http::header::RETRY_AFTER,
                        axum::http::HeaderValue::from(wait),
                    );
                }
                Ok(false)
            }
        }
    }

    /// Sends the browser to the error page for `err` (its status is set there).
    pub fn redirect_to_error(err: &AuthError) {
        leptos_axum::redirect(&format!("/auth/error?code={}", err.code()));
    }

    /// Logto's pages in the app's language (Logto's tags are `en` and `th`).
    pub fn ui_locale() -> &'static str {
        crate::lang::tag(crate::lang::of_current_request())
    }

    /// The answer for a sign-in that could not start or finish: the error page's code for the
    /// user, or the store failure (503, cause in the log).
    pub fn flow_failure(err: logto_axum::actions::FlowError) -> Result<AuthError, ServerFnError> {
        match err {
            logto_axum::actions::FlowError::Auth(err) => Ok(err),
            logto_axum::actions::FlowError::Store(err) => Err(store_failure(&err)),
        }
    }
}

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
        return earlier.read.map_err(|e| store_failure(&e));
    }
    let user = session
        .user(ctx.max_lifetime, ctx.keeper.store().as_ref())
        .await
        .map_err(|e| store_failure(&e))?;
    Ok(user.map(|u| u.user.into()))
}

/// Fresh claims from Logto's userinfo endpoint (signed-in users only).
#[server(prefix = "/api", endpoint = "user_info")]
pub async fn user_info() -> Result<Vec<(String, ClaimValue)>, AppError> {
    use ssr::*;

    let logto = require_user().await?;
    let claims = logto.fetch_user_info().await.map_err(app_error_from)?;
    Ok(logto_axum::UserProfile::from_claims(&claims)
        .claims
        .into_iter()
        .map(|(k, v)| (k, v.into()))
        .collect())
}

/// "Call the API": a request to the configured API with the user's access token for it.
#[server(prefix = "/api", endpoint = "call_api")]
pub async fn call_api() -> Result<crate::views::ApiCallView, AppError> {
    use ssr::*;

    let logto = require_user().await?;
    require_same_site().await?;
    let services = app_services().map_err(|_| app_error(AppError::Internal))?;
    crate::services::call_api(&logto, &services)
        .await
        .map_err(app_error_from)
}

/// An organization token for one of the user's organizations, as its non-secret claims.
#[server(prefix = "/api", endpoint = "organization_token")]
pub async fn organization_token(
    organization_id: String,
) -> Result<crate::views::OrgTokenView, AppError> {
    use ssr::*;

    let logto = require_user().await?;
    require_same_site().await?;
    crate::services::organization_token(&logto, &organization_id)
        .await
        .map_err(app_error_from)
}

/// The "From Facebook" card: the user's Facebook profile via the token Logto stored.
#[server(prefix = "/api", endpoint = "facebook_profile")]
pub async fn facebook_profile() -> Result<crate::views::FacebookView, AppError> {
    use ssr::*;

    let logto = require_user().await?;
    require_same_site().await?;
    let services = app_services().map_err(|_| app_error(AppError::Internal))?;
    crate::services::facebook_profile(&logto, &services)
        .await
        .map_err(app_error_from)
}

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

/// Remembers the reader's language (the switch in the header: a plain form post, so it works the
/// same without JavaScript) and goes back to the page it was pressed on. `lang` is `en` or `th`.
#[server(prefix = "/api", endpoint = "set_language")]
pub async fn set_language(lang: String, return_to: Option<String>) -> Result<(), AppError> {
    use logto_axum::flow::return_to::sanitize_or_root;
    use ssr::*;

    let locale = match lang.as_str() {
        "en" => crate::lang::Locale::en,
        "th" => crate::lang::Locale::th,
        _ => return Err(app_error(AppError::UnknownLanguage)),
    };
    let ctx = use_context::<LogtoClient>().ok_or_else(|| app_error(AppError::Internal))?;
    let cookie = crate::lang::choice_cookie(locale, ctx.provider.config().is_https());
    let response = use_context::<leptos_axum::ResponseOptions>()
        .ok_or_else(|| app_error(AppError::Internal))?;
    match axum::http::HeaderValue::from_str(&cookie) {
        Ok(value) => response.append_header(axum::http::header::SET_COOKIE, value),
        Err(_) => return Err(app_error(AppError::Internal)),
    }
    leptos_axum::redirect(&sanitize_or_root(return_to.as_deref()));
    Ok(())
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::{ssr::app_error_from, AppError};
    use logto_axum::{handle::LogtoError, session::SessionError, AuthError};

    #[test]
    fn the_pages_get_only_pictures_they_may_load() {
        for (stored, shown) in [
            ("javascript:alert(1)", None),
            ("http://x.test/p.png", Some("https://x.test/p.png")),
            ("https://x.test/p.png", Some("https://x.test/p.png")),
        ] {
            let claims = serde_json::json!({"sub": "u1", "picture": stored});
            let profile = logto_axum::UserProfile::from_claims(claims.as_object().unwrap());
            let view = super::UserView::from(profile);
            assert_eq!(view.picture.as_deref(), shown, "{stored}");
        }
    }

    #[test]
    fn what_the_user_is_told_for_each_failure() {
        let refused = AuthError::TokenRefused {
            code: "access_denied".into(),
            description: None,
        };
        let cases = [
            (LogtoError::Unauthenticated, AppError::Unauthenticated),
            (
                LogtoError::Session(SessionError::Missing),
                AppError::SessionStore,
            ),
            // Logto unreachable, or failing to answer: "try again", not "signed out".
            (
                LogtoError::Auth(AuthError::ProviderUnavailable("timeout".into())),
                AppError::ProviderUnavailable,
            ),
            (
                LogtoError::Auth(AuthError::TokenExchange("502".into())),
                AppError::ProviderUnavailable,
            ),
            (LogtoError::Auth(refused), AppError::Forbidden),
            (
                LogtoError::Auth(AuthError::InvalidIdToken("bad signature".into())),
                AppError::Internal,
            ),
            (
                LogtoError::NotRequestedAtSignIn("https://api".into()),
                AppError::Internal,
            ),
        ];
        for (err, expected) in cases {
            let shown = format!("{err}");
            assert_eq!(app_error_from(err), expected, "{shown}");
        }
    }
}
