//! Protecting an API (a resource server) with Logto access tokens. A `Verifier` holds what a
//! token must match (this API's resource indicator as audience, the scopes it needs, the realm
//! its refusals name); handlers take `AuthInfo`, the extractor Logto's API-protection guides
//! describe (`sub`, `client_id`, `organization_id`, `scopes`, `audience`). A request without a
//! good token never reaches the handler: it gets RFC 6750's answer (`WWW-Authenticate`).

use std::sync::Arc;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use headers::{authorization::Bearer, Authorization, HeaderMapExt};
use serde_json::json;

use crate::{
    access_token::{self, AccessTokenError},
    Provider,
};

/// What a bearer token must match to reach this API's handlers. Cheap to clone (one `Arc`);
/// make one per API (audience) and give it to the router as state (`FromRef`).
#[derive(Clone)]
pub struct Verifier(Arc<VerifierParts>);

#[derive(Clone)]
struct VerifierParts {
    provider: Arc<Provider>,
    audience: String,
    scopes: Vec<String>,
    realm: String,
    organizations: OrganizationTokens,
}

/// Whether an API takes tokens of Logto's organization-level API resources: tokens for the same
/// audience whose scopes come from the user's roles in one organization (they carry the
/// `organization_id` claim). Taken as global permissions they would let an organization role
/// grant what only a global role should, so a `Verifier` refuses them unless told otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OrganizationTokens {
    /// Global tokens only (the default): a token with `organization_id` is refused.
    #[default]
    Refused,
    /// Both; the handler must look at `AuthInfo::organization_id` before trusting the scopes.
    Accepted,
    /// Organization tokens only: a token without `organization_id` is refused.
    Required,
}

impl Verifier {
    /// Tokens must be issued by `provider`'s tenant for `audience` (the API's resource
    /// indicator, exactly as registered in Logto, or `urn:logto:organization:{id}`).
    pub fn new(provider: Arc<Provider>, audience: impl Into<String>) -> Self {
        Self(Arc::new(VerifierParts {
            provider,
            audience: audience.into(),
            scopes: Vec::new(),
            realm: "api".to_owned(),
            organizations: OrganizationTokens::default(),
        }))
    }

    /// Scopes (permissions) every token must carry, e.g. `read:orders`.
    ///
    /// # Panics
    /// On a string that is not one scope token (RFC 6749: printable ASCII without space, `"` or
    /// `\`): no token could carry it, and it would break the `WWW-Authenticate` header.
    pub fn require_scopes<I, T>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        if let Some(bad) = scopes.iter().find(|s| !crate::config::is_scope_token(s)) {
            panic!("Verifier::require_scopes: {bad:?} is not a single scope token");
        }
        self.with(|p| p.scopes = scopes)
    }

    /// Whether tokens of organization-level API resources are taken (default: refused).
    pub fn organization_tokens(self, policy: OrganizationTokens) -> Self {
        self.with(|p| p.organizations = policy)
    }

    /// The `realm` of the `WWW-Authenticate` challenge (default `api`); anything but printable
    /// ASCII, and quotes and backslashes (which would end the quoted value), is dropped.
    pub fn realm(self, realm: impl Into<String>) -> Self {
        let realm: String = realm
            .into()
            .chars()
            .filter(|c| (c.is_ascii_graphic() || *c == ' ') && !matches!(c, '"' | '\\'))
            .collect();
        self.with(|p| p.realm = realm)
    }

    /// The audience tokens must have.
    pub fn audience(&self) -> &str {
        &self.0.audience
    }

    fn with(self, change: impl FnOnce(&mut VerifierParts)) -> Self {
        let mut parts =
            Arc::try_unwrap(self.0).unwrap_or_else(|shared| VerifierParts::clone(&shared));
        change(&mut parts);
        Self(Arc::new(parts))
    }

    /// Checks the request's bearer token (`Authorization: Bearer`, any case of the scheme):
    /// see `access_token::verify` for what is checked.
    pub async fn verify(&self, headers: &HeaderMap) -> Result<AuthInfo, Refusal> {
        let bearer = headers.typed_get::<Authorization<Bearer>>();
        let token = bearer.as_ref().map(|b| b.token()).filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(self.refusal(AccessTokenError::Missing));
        };
        let scopes: Vec<&str> = self.0.scopes.iter().map(String::as_str).collect();
        match access_token::verify(&self.0.provider, token, &self.0.audience, &scopes)
            .await
            .and_then(|t| self.organization_allowed(t))
        {
            Ok(t) => Ok(AuthInfo {
                sub: t.sub,
                client_id: t.client_id,
                organization_id: t.organization_id,
                scopes: t.scopes,
                audience: t.audience,
            }),
            Err(err) => Err(self.refusal(err)),
        }
    }

    /// Applies `OrganizationTokens` to a token for a resource indicator. (An organization token,
    /// audience `urn:logto:organization:{id}`, is for that organization by its audience: a
    /// verifier made for that audience wants exactly those.)
    fn organization_allowed(
        &self,
        token: access_token::VerifiedAccessToken,
    ) -> Result<access_token::VerifiedAccessToken, AccessTokenError> {
        if access_token::is_organization_audience(&self.0.audience) {
            return Ok(token);
        }
        match (self.0.organizations, token.organization_id.is_some()) {
            (OrganizationTokens::Refused, true) => Err(AccessTokenError::Invalid(
                "access token is for an organization; this API takes global tokens only".into(),
            )),
            (OrganizationTokens::Required, false) => Err(AccessTokenError::Invalid(
                "access token is for no organization; this API takes organization tokens only"
                    .into(),
            )),
            _ => Ok(token),
        }
    }

    fn refusal(&self, error: AccessTokenError) -> Refusal {
        tracing::info!(audience = %self.0.audience, "API request refused: {error}");
        Refusal {
            error,
            realm: self.0.realm.clone(),
        }
    }
}

/// Who called, as a verified access token says. The extractor refuses requests without one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthInfo {
    /// The user (or, for machine-to-machine tokens, the application) the token is for.
    pub sub: String,
    /// The application that asked for the token.
    pub client_id: Option<String>,
    /// The organization the token is for (see `VerifiedAccessToken::organization_id`).
    pub organization_id: Option<String>,
    /// The scopes granted.
    pub scopes: Vec<String>,
    /// The audience the token was checked for (the `Verifier`'s).
    pub audience: String,
}

impl AuthInfo {
    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

impl<S> FromRequestParts<S> for AuthInfo
where
    S: Send + Sync,
    Verifier: FromRef<S>,
{
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Refusal> {
        Verifier::from_ref(state).verify(&parts.headers).await
    }
}

/// A refused request, answered as RFC 6750 says: 401 with a `WWW-Authenticate` challenge for a
/// missing or bad token, 403 for a missing scope, 503 when Logto's keys cannot be fetched. The
/// body says why in general terms; the log has the details.
#[derive(Debug)]
pub struct Refusal {
    error: AccessTokenError,
    realm: String,
}

impl Refusal {
    /// Why the token was refused.
    pub fn error(&self) -> &AccessTokenError {
        &self.error
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, code, description) = match &self.error {
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
        // RFC 6750: the error code goes both into the challenge and into the body.
        let mut challenge = format!("Bearer realm=\"{}\"", self.realm);
        if let Some(code) = code {
            challenge.push_str(&format!(", error=\"{code}\""));
        }
        // Scopes come from `require_scopes`, which takes scope tokens only.
        if let AccessTokenError::InsufficientScope(scope) = &self.error {
            challenge.push_str(&format!(", scope=\"{scope}\""));
        }
        let body = Json(json!({
            "error": code.unwrap_or("invalid_request"),
            "error_description": description,
        }));
        let mut res = (status, body).into_response();
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        res
    }
}
