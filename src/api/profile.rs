//! The profile page's actions: userinfo, an API call with the user's access token, an
//! organization token, the Facebook card.

use leptos::prelude::*;

use super::*;

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
