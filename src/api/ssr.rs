//! What the server functions share on the server: the request's session and `Logto` handle,
//! the app's services, statuses and redirects, and how failures reach the user.

use axum::http::StatusCode;
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

use crate::services::AppServices;
pub use logto_axum::LogtoClient;
use logto_axum::{
    handle::{Logto, LogtoError},
    session::{AuthSession, SessionError, SessionUser},
    AuthError,
};

use super::AppError;

/// The page cache middleware's read of the signed-in user (a request extension), so the
/// page's own `current_user` does not read the session again. Valid while the session id is
/// the one it was read under: signing in and signing out both change it.
#[derive(Clone)]
pub struct ViewerRead {
    pub session_id: Option<tower_sessions::session::Id>,
    pub read: Result<Option<std::sync::Arc<SessionUser>>, std::sync::Arc<SessionError>>,
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
    let (method, headers) = leptos_axum::extract::<(axum::http::Method, axum::http::HeaderMap)>()
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
