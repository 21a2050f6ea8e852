//! The sign-in routes for a plain axum app, to merge into its router: `GET /sign-in`,
//! `GET /callback` (the redirect URI registered in Logto), `POST /sign-out` and
//! `POST /auth/backchannel-logout`. Each is a thin answer over `LogtoClient`'s actions; an app
//! that wants its own pages (errors in its language, a sign-in rate limit) calls those actions
//! from handlers of its own instead, as the Leptos app beside this crate does.

use axum::{
    extract::{FromRef, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use serde::Deserialize;

use crate::{
    actions::FlowError, fetch_site, session::ending::backchannel_logout, session::AuthSession,
    CallbackParams, LogtoClient, SignInOptions,
};

/// The four routes, for any router state the client can be taken from (`FromRef`): the client
/// itself, or an app state holding one. Needs `LogtoClient::session_layer` on the router. The
/// paths are fixed: `/callback` is the redirect URI `AuthConfig::redirect_uri` names, and
/// Logto's end-session endpoint comes back to `/`.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    LogtoClient: FromRef<S>,
{
    Router::new()
        .route("/sign-in", get(sign_in))
        .route("/callback", get(callback))
        .route("/sign-out", post(sign_out))
        .route("/auth/backchannel-logout", post(backchannel_logout))
}

/// `GET /sign-in` takes Logto's `first_screen` (e.g. `register`), `direct_sign_in` (e.g.
/// `social:facebook`), `login_hint` and `ui_locales` as they are, and `return_to`: a path on
/// this site to come back to (anything else is `/`).
#[derive(Debug, Default, Deserialize)]
struct SignInQuery {
    return_to: Option<String>,
    first_screen: Option<String>,
    direct_sign_in: Option<String>,
    login_hint: Option<String>,
    ui_locales: Option<String>,
}

/// From this site's pages or the user themselves only (`fetch_site`): another site must not
/// start sign-ins in the user's browser (each takes one of the few pending slots, and one Logto
/// approves without asking would replace the user's sign-in with one the other site shaped).
async fn sign_in(
    State(client): State<LogtoClient>,
    session: AuthSession,
    headers: HeaderMap,
    Query(query): Query<SignInQuery>,
) -> Response {
    if let Some(refused) = cross_site(&client, &headers, "sign-in") {
        return refused;
    }
    let options = SignInOptions {
        first_screen: query.first_screen,
        direct_sign_in: query.direct_sign_in,
        login_hint: query.login_hint,
        ui_locales: query.ui_locales,
    };
    match client
        .start_sign_in(&session, &options, query.return_to.as_deref())
        .await
    {
        Ok(url) => Redirect::to(url.as_str()).into_response(),
        Err(err) => failure(err),
    }
}

async fn callback(
    State(client): State<LogtoClient>,
    session: AuthSession,
    Query(params): Query<CallbackParams>,
) -> Response {
    match client.finish_sign_in(&session, &params, None).await {
        Ok(done) => Redirect::to(&done.return_to).into_response(),
        Err(err) => failure(err),
    }
}

/// A form post from this site's pages only (`fetch_site`): a link on another site must not
/// sign the user out.
async fn sign_out(
    State(client): State<LogtoClient>,
    session: AuthSession,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = cross_site(&client, &headers, "sign-out") {
        return refused;
    }
    match client.sign_out(&session, None).await {
        Ok(target) => Redirect::to(&target).into_response(),
        Err(err) => failure(FlowError::Store(err)),
    }
}

/// 403 for a request another site made the browser send (`fetch_site`'s rule).
fn cross_site(client: &LogtoClient, headers: &HeaderMap, what: &str) -> Option<Response> {
    let origin = client
        .provider
        .config()
        .base_url
        .origin()
        .ascii_serialization();
    let refused = fetch_site::check(headers, &origin).err()?;
    tracing::warn!(?refused, "cross-site {what} refused");
    Some(text(
        StatusCode::FORBIDDEN,
        &format!("Start the {what} from this site's own page."),
    ))
}

/// The user sees what to do and the error's code; the log has the cause.
fn failure(err: FlowError) -> Response {
    match err {
        FlowError::Auth(err) => {
            tracing::warn!(code = err.code(), "sign-in failed: {err}");
            let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_GATEWAY);
            text(
                status,
                &format!(
                    "Signing in did not work ({}). Please try again.",
                    err.code()
                ),
            )
        }
        FlowError::Store(err) => {
            tracing::error!("session store failure: {err}");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "The session store is unavailable. Please try again in a moment.",
            )
        }
    }
}

fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        message.to_owned(),
    )
        .into_response()
}
