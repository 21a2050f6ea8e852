//! What the profile page does with the sign-in: call the API with its access token (refreshing and
//! retrying once on 401), fetch an organization token, and read the user's Facebook profile with
//! the token Logto's Secret Vault stored. Each answer is a view without tokens. And
//! [`AppServices`], what the app's own features share.

pub mod demo_api;
pub mod rate_limit;

use serde::Deserialize;

use logto_axum::{
    access_token::{self, organization_audience, AccessTokenError},
    account::{AccountApiError, FederatedTokenError},
    handle::{Logto, LogtoError},
    http::read_capped,
    AuthError,
};

use crate::{
    config::DemoApi,
    services::rate_limit::SignInLimiter,
    views::{ApiCallView, ApiOutcome, ClaimValue, FacebookView, OrgTokenView},
};

/// What the app's own features use: the demo API, the Facebook card's Graph URL, a client for
/// APIs other than Logto, and the sign-in limit (the app's policy: `SIGN_IN_RATE_LIMIT_PER_MINUTE`
/// and the client IP header, not part of the OpenID Connect flow). Kept apart from the auth
/// layer's `LogtoClient`, which the SDK crate will own; shared by every request behind one `Arc`
/// (`AppState`, and Leptos context for server functions: `server::dynamic_routes`).
pub struct AppServices {
    pub demo_api: Option<DemoApi>,
    pub facebook_graph_url: url::Url,
    /// For calls to APIs other than Logto: bounded, and never following redirects.
    pub http: reqwest::Client,
    pub sign_in_limiter: SignInLimiter,
}

/// The API's answer is shown on the page; more than this is cut.
const MAX_BODY: usize = 2048;
/// Answers from other servers (the API, Facebook) are read up to this much; more is refused
/// rather than held in memory.
const READ_LIMIT: usize = 64 * 1024;

/// Whether a token failure is Logto saying no (shown) or Logto being away (shown differently).
fn token_failure(err: LogtoError) -> Result<ApiOutcome, LogtoError> {
    match err {
        LogtoError::Auth(AuthError::TokenRefused { .. }) => Ok(ApiOutcome::TokenRefused),
        LogtoError::Auth(e) if e.is_provider_trouble() => Ok(ApiOutcome::LogtoUnavailable),
        other => Err(other),
    }
}

pub async fn call_api(logto: &Logto, services: &AppServices) -> Result<ApiCallView, LogtoError> {
    logto.require_user()?;
    let view = |outcome, status, body, retried| ApiCallView {
        outcome,
        status,
        body,
        retried,
    };
    let Some(api) = services.demo_api.clone() else {
        return Ok(view(ApiOutcome::NotConfigured, None, None, false));
    };
    let target = logto.resource_target(&api.resource)?;
    let mut token = match logto.access_token(&api.resource).await {
        Ok(t) => t,
        Err(e) => return Ok(view(token_failure(e)?, None, None, false)),
    };
    let mut retried = false;
    loop {
        let res = match services
            .http
            .get(api.url.clone())
            .bearer_auth(token.secret())
            .send()
            .await
        {
            Ok(res) => res,
            Err(err) => {
                tracing::warn!(url = %api.url, "API unreachable: {err}");
                return Ok(view(ApiOutcome::Unreachable, None, None, retried));
            }
        };
        let status = res.status().as_u16();
        if status == 401 && !retried {
            // Revoked or expired early: one fresh token, one more try.
            tracing::info!(url = %api.url, "API refused the token; refreshing once");
            token = match logto.token_after_rejection(&target, &token).await {
                Ok(t) => t,
                Err(e) => return Ok(view(token_failure(e)?, None, None, true)),
            };
            retried = true;
            continue;
        }
        // An API that echoes requests must not carry the token into the page.
        let text = answer_text(res).await.replace(token.secret(), "***");
        let body = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or(text);
        let body = (!body.is_empty()).then(|| body.chars().take(MAX_BODY).collect());
        let outcome = match status {
            200..=299 => ApiOutcome::Ok,
            401 => ApiOutcome::Unauthorized,
            403 => ApiOutcome::Forbidden,
            _ => ApiOutcome::Failed,
        };
        return Ok(view(outcome, Some(status), body, retried));
    }
}

/// The answer's body as text, read up to `READ_LIMIT` (a larger one is not held in memory).
async fn answer_text(res: reqwest::Response) -> String {
    match read_capped(res, READ_LIMIT).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(err) => {
            tracing::info!("API answer not read: {err}");
            String::new()
        }
    }
}

/// An organization token, shown as its verified, non-secret claims.
pub async fn organization_token(
    logto: &Logto,
    organization_id: &str,
) -> Result<OrgTokenView, LogtoError> {
    logto.require_user()?;
    let organization_id = organization_id.to_owned();
    let token = match logto.organization_token(&organization_id).await {
        Ok(t) => t,
        Err(e) => {
            return Ok(match token_failure(e)? {
                ApiOutcome::TokenRefused => OrgTokenView::Refused { organization_id },
                _ => OrgTokenView::LogtoUnavailable,
            })
        }
    };
    let provider = &logto.context().provider;
    let audience = organization_audience(&organization_id);
    let verified = match access_token::verify(provider, token.secret(), &audience, &[]).await {
        Ok(v) => v,
        Err(AccessTokenError::Provider(err)) => {
            tracing::warn!("organization token not verified: {err}");
            return Ok(OrgTokenView::LogtoUnavailable);
        }
        Err(err) => {
            return Err(LogtoError::Auth(AuthError::InvalidIdToken(format!(
                "organization token: {err}"
            ))))
        }
    };
    let claims = vec![
        ("aud".to_owned(), ClaimValue::Text(verified.audience)),
        ("iss".to_owned(), ClaimValue::Text(verified.issuer)),
        ("sub".to_owned(), ClaimValue::Text(verified.sub)),
        (
            "scope".to_owned(),
            ClaimValue::Text(verified.scopes.join(" ")),
        ),
        (
            "client_id".to_owned(),
            ClaimValue::Text(verified.client_id.unwrap_or_default()),
        ),
        ("iat".to_owned(), ClaimValue::Time(verified.issued_at)),
        ("exp".to_owned(), ClaimValue::Time(verified.expires_at)),
    ];
    Ok(OrgTokenView::Issued {
        organization_id,
        claims,
    })
}

#[derive(Deserialize)]
struct GraphMe {
    id: String,
    name: Option<String>,
    picture: Option<GraphPicture>,
}
#[derive(Deserialize)]
struct GraphPicture {
    data: Option<GraphPictureData>,
}
#[derive(Deserialize)]
struct GraphPictureData {
    url: Option<String>,
}
#[derive(Deserialize)]
struct GraphErrorBody {
    error: Option<GraphError>,
}
#[derive(Deserialize)]
struct GraphError {
    code: Option<i64>,
}

/// The Facebook card shows trouble getting a Logto token as "unavailable" (never a 500); only a
/// session that ended or cannot be read is an error.
fn facebook_token_failure(err: LogtoError) -> Result<FacebookView, LogtoError> {
    match err {
        LogtoError::Unauthenticated | LogtoError::Session(_) => Err(err),
        other => {
            tracing::warn!("no Logto access token for the Account API: {other}");
            Ok(FacebookView::Unavailable)
        }
    }
}

/// The user's Facebook profile, with the Facebook token Logto stored at sign-in.
pub async fn facebook_profile(
    logto: &Logto,
    services: &AppServices,
) -> Result<FacebookView, LogtoError> {
    let user = logto.require_user()?;
    if !user.identities.iter().any(|i| i == "facebook") {
        return Ok(FacebookView::NotLinked);
    }
    let stored = match logto.federated_token("facebook").await {
        Ok(stored) => stored,
        Err(FederatedTokenError::Logto(e)) => return facebook_token_failure(e),
        Err(FederatedTokenError::Account(err)) => {
            tracing::info!("no Facebook token from Logto: {err}");
            return Ok(match err {
                AccountApiError::NotStored(_) => FacebookView::NotStored,
                AccountApiError::Expired(_) => FacebookView::Expired,
                AccountApiError::NotEnabled(_) => FacebookView::AccountApiDisabled,
                AccountApiError::Unauthorized(_) | AccountApiError::Unavailable(_) => {
                    FacebookView::Unavailable
                }
            });
        }
    };
    Ok(graph_me(services, &stored.access_token).await)
}

/// `GET /me` of Facebook's Graph API with the stored token: the profile, or why not.
async fn graph_me(services: &AppServices, token: &str) -> FacebookView {
    let mut url = services.facebook_graph_url.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().push("me");
    }
    url.query_pairs_mut()
        .append_pair("fields", "id,name,picture");
    let res = match services.http.get(url).bearer_auth(token).send().await {
        Ok(res) => res,
        Err(err) => {
            tracing::warn!("Facebook Graph API unreachable: {err}");
            return FacebookView::Unavailable;
        }
    };
    let status = res.status();
    let body = read_capped(res, READ_LIMIT).await.unwrap_or_default();
    if status.is_success() {
        return match serde_json::from_slice::<GraphMe>(&body) {
            Ok(me) => FacebookView::Profile {
                id: me.id,
                name: me.name,
                picture: me
                    .picture
                    .and_then(|p| p.data)
                    .and_then(|d| d.url)
                    .and_then(|u| crate::views::web_picture(&u)),
            },
            Err(err) => {
                tracing::warn!("unexpected Graph API answer: {err}");
                FacebookView::Unavailable
            }
        };
    }
    let code = serde_json::from_slice::<GraphErrorBody>(&body)
        .ok()
        .and_then(|b| b.error)
        .and_then(|e| e.code);
    tracing::info!(%status, ?code, "Facebook refused the stored token");
    if code == Some(190) {
        FacebookView::RejectedByFacebook
    } else {
        FacebookView::Unavailable
    }
}
