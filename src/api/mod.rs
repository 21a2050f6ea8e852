//! Server functions: thin layers over the SDK (`logto_axum`) that read the session, call it and
//! redirect, by area: `auth` (sign-in, callback, sign-out, current user), `profile` (the profile
//! page's actions), `sessions` (the sessions page), `language`; `ssr` is what they share on the
//! server. The types here cross to the browser, so they never carry tokens.

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

/// What the UI may know about the signed-in user, made from the session's profile (page cache
/// keys compare that profile).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
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
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrganizationView {
    pub id: String,
    pub name: Option<String>,
    pub roles: Vec<String>,
}

#[cfg(feature = "ssr")]
/// From a borrowed profile: the session's user is shared (`AuthSession::user`).
impl From<&logto_axum::UserProfile> for UserView {
    fn from(u: &logto_axum::UserProfile) -> Self {
        Self {
            sub: u.sub.clone(),
            name: u.name.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            // Stored as Logto sent it; the page shows only what its CSP lets load.
            picture: u.picture.as_deref().and_then(crate::views::web_picture),
            identities: u.identities.clone(),
            organizations: u
                .organizations
                .iter()
                .map(|o| OrganizationView {
                    id: o.id.clone(),
                    name: o.name.clone(),
                    roles: o.roles.clone(),
                })
                .collect(),
            claims: u
                .claims
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect(),
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
pub mod ssr;

mod auth;
mod language;
mod profile;
mod sessions;

pub use auth::*;
pub use language::*;
pub use profile::*;
pub use sessions::*;

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
            let view = super::UserView::from(&profile);
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
