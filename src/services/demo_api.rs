//! A small API protected by Logto, shaped like the one you would write: it accepts only
//! Logto-issued JWT access tokens for its own resource indicator and permission, through the
//! SDK's `Verifier` and `AuthInfo` extractor. Mounted at `/demo-api` when `DEMO_API_RESOURCE` is
//! set; the profile page's "Call the API" calls it like any remote API, over HTTP with a bearer
//! token.

use axum::{routing::get, Json, Router};
use serde_json::{json, Value};

use logto_axum::{AuthInfo, Verifier};

/// The API's routes, over any app state: the verifier is their own.
pub fn router<S: Clone + Send + Sync + 'static>(verifier: Verifier) -> Router<S> {
    Router::new()
        .route("/hello", get(hello))
        .with_state(verifier.realm("demo-api"))
}

async fn hello(caller: AuthInfo) -> Json<Value> {
    Json(json!({
        "message": format!("Hello from the demo API, {}!", caller.sub),
        "sub": caller.sub,
        "audience": caller.audience,
        "scope": caller.scopes.join(" "),
        "client_id": caller.client_id,
    }))
}
