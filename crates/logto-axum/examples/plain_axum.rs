//! A plain axum app signing in with Logto: who is signed in, sign-in and sign-out, and a call to
//! an API with the user's access token. The API (`/api/hello`, for the first of `LOGTO_RESOURCES`)
//! is served here too, checking the token. Run it against the dev IdP: see the crate README.

use std::time::Duration;

use axum::{
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::get,
    Router,
};
use logto_axum::{fetch_site, AuthConfig, AuthInfo, Logto, LogtoClient, LogtoError, SessionConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    logto_axum::http::install_crypto();
    let config = AuthConfig::from_env()?;
    let port = config.base_url.port_or_known_default().unwrap_or(3000);
    let client = LogtoClient::connect(config, &SessionConfig::from_env()?).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://127.0.0.1:{port}");
    axum::serve(listener, app(client.clone()))
        .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.unwrap_or(()) })
        .await?;
    client.shutdown().await; // lets a refresh Logto has answered store its new token
    Ok(())
}

/// The whole app as a router (the tests drive it without a socket).
pub fn app(client: LogtoClient) -> Router {
    let http = logto_axum::http::client(Duration::from_secs(10)).expect("an HTTP client");
    let mut router = Router::new()
        .route("/", get(home))
        .route("/call-api", get(move |l, h| call_api(l, h, http.clone())))
        .merge(logto_axum::routes()); // /sign-in, /callback, /sign-out, back-channel logout
    if let Some(api) = client.provider.config().resources.first() {
        let verifier = logto_axum::Verifier::new(client.provider.clone(), api.clone());
        let api = Router::new().route("/api/hello", get(hello));
        router = router.merge(api.with_state(verifier));
    }
    router.layer(client.session_layer()).with_state(client)
}

async fn home(logto: Logto) -> Html<String> {
    Html(match logto.user() {
        Some(user) => format!(
            "<p>Signed in as {}.</p><p><a href=\"/call-api\">Call the API</a></p>\
             <form method=\"post\" action=\"/sign-out\"><button>Sign out</button></form>",
            escape(user.name.as_deref().unwrap_or(&user.sub))
        ),
        None => "<p><a href=\"/sign-in\">Sign in</a></p>".to_owned(),
    })
}

/// Asks the API with the user's access token for it (refreshed when about to expire). A link
/// can start it, so only this site's pages (or the user, typing it) may: not another site.
async fn call_api(logto: Logto, headers: HeaderMap, http: reqwest::Client) -> Response {
    let config = logto.context().provider.config();
    let own = config.base_url.origin().ascii_serialization();
    if fetch_site::check(&headers, &own).is_err() {
        return StatusCode::FORBIDDEN.into_response();
    }
    ask_api(&logto, &http)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn ask_api(logto: &Logto, http: &reqwest::Client) -> Result<Response, LogtoError> {
    let config = logto.context().provider.config();
    let Some(api) = config.resources.first() else {
        return Ok("No API: set LOGTO_RESOURCES.".into_response());
    };
    let token = logto.access_token(api).await?; // 401 when signed out
    let answer = http
        .get(format!("{}api/hello", config.base_url))
        .bearer_auth(token.secret())
        .send()
        .await
        .and_then(|res| res.error_for_status());
    Ok(match answer {
        Ok(res) => res.text().await.unwrap_or_default().into_response(),
        Err(err) => (StatusCode::BAD_GATEWAY, format!("The API failed: {err}")).into_response(),
    })
}

/// The API: only requests with a good access token for it get here.
async fn hello(caller: AuthInfo) -> String {
    format!("Hello, {}!", caller.sub)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
