//! A small API protected by Logto, shaped like the one you would write: it accepts only
//! Logto-issued JWT access tokens for its own resource indicator and permission (see
//! `auth::access_token`). Mounted at `/demo-api` when `DEMO_API_RESOURCE` is set; the profile
//! page's "Call the API" calls it like any remote API, over HTTP with a bearer token.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use headers::{authorization::Bearer, Authorization, HeaderMapExt};
use serde_json::json;

use logto_axum::{
    access_token::{self, AccessTokenError, VerifiedAccessToken},
    Provider,
};

pub struct ResourceServer {
    pub provider: Arc<Provider>,
    /// The API's resource indicator: tokens must have it as `aud`.
    pub audience: String,
    /// The permission `/hello` needs.
    pub scope: String,
}

pub fn router<S: Clone + Send + Sync + 'static>(server: ResourceServer) -> Router<S> {
    Router::new()
        .route("/hello", get(hello))
        .with_state(Arc::new(server))
}

impl ResourceServer {
    /// The bearer token's verified claims, or the RFC 6750 response to send.
    pub async fn authorize(&self, headers: &HeaderMap) -> Result<VerifiedAccessToken, Response> {
        // RFC 6750 with RFC 7235's case-insensitive scheme (`bearer`, `BEARER`), as `headers`
        // parses it.
        let bearer = headers.typed_get::<Authorization<Bearer>>();
        let token = bearer.as_ref().map(|b| b.token()).filter(|t| !t.is_empty());
        let result = match token {
            None => Err(AccessTokenError::Missing),
            Some(token) => {
                access_token::verify(&self.provider, token, &self.audience, &[&self.scope]).await
            }
        };
        result.map_err(|err| self.refusal(err))
    }

    fn refusal(&self, err: AccessTokenError) -> Response {
        tracing::info!(audience = %self.audience, "API request refused: {err}");
        // RFC 6750: the error code goes both into the challenge and into the body.
        let (status, error, description) = match &err {
            AccessTokenError::Missing => {
                (StatusCode::UNAUTHORIZED, None, "a bearer token is required")
            }
            AccessTokenError::Invalid(_) => (
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                "the access token is invalid, expired or for another API",
            ),
            AccessTokenError::InsufficientScope(_) => (
                StatusCode::FORBIDDEN,
                Some("insufficient_scope"),
                "the access token lacks the permission this API needs",
            ),
            AccessTokenError::Provider(_) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({ "error": "temporarily_unavailable" })),
                )
                    .into_response()
            }
        };
        let mut challenge = "Bearer realm=\"demo-api\"".to_owned();
        if let Some(error) = error {
            challenge.push_str(&format!(", error=\"{error}\""));
        }
        if let AccessTokenError::InsufficientScope(scope) = &err {
            challenge.push_str(&format!(", scope=\"{scope}\""));
        }
        let mut res = (
            status,
            Json(json!({
                "error": error.unwrap_or("invalid_request"),
                "error_description": description,
            })),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        res
    }
}

async fn hello(State(server): State<Arc<ResourceServer>>, headers: HeaderMap) -> Response {
    match server.authorize(&headers).await {
        Ok(token) => Json(json!({
            "message": format!("Hello from the demo API, {}!", token.sub),
            "sub": token.sub,
            "audience": token.audience,
            "scope": token.scopes.join(" "),
            "client_id": token.client_id,
        }))
        .into_response(),
        Err(refusal) => refusal,
    }
}
