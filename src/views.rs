//! What the server and the pages share: the types the profile page's server functions return
//! (what the browser may see of the user's tokens and APIs; none of them carries a token), and
//! conventions both halves read (`BROWSER_ON_OS`).

use serde::{Deserialize, Serialize};

/// A claim's value as the claims tables show it: times stay numbers here and are written out in
/// the reader's language by the page (`lang::format_datetime`). Untagged, so `current_user`,
/// `user_info` and `/auth/me` send each value as a plain string or number (README). Not the auth
/// layer's `ClaimValue` (the server converts): this one is compiled for the browser too, where
/// the auth layer is not.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClaimValue {
    Text(String),
    /// Unix seconds.
    Time(i64),
}

/// How "Call the API" went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApiOutcome {
    /// 2xx: the API accepted the token.
    Ok,
    /// 401 even with a freshly refreshed token.
    Unauthorized,
    /// 403: the token lacks the permission (scope) the API needs.
    Forbidden,
    /// Another status from the API.
    Failed,
    /// The API could not be reached.
    Unreachable,
    /// Logto would not issue a token for the API (e.g. unknown resource, no permission).
    TokenRefused,
    /// Logto could not be reached for a token.
    LogtoUnavailable,
    /// No API configured (`DEMO_API_RESOURCE`).
    NotConfigured,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCallView {
    pub outcome: ApiOutcome,
    pub status: Option<u16>,
    /// The API's answer (JSON pretty-printed, at most 2 KB).
    pub body: Option<String>,
    /// The first token was refused (401) and the call was made again with a refreshed one.
    pub retried: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrgTokenView {
    /// The organization token's non-secret claims.
    Issued {
        organization_id: String,
        claims: Vec<(String, ClaimValue)>,
    },
    /// Logto refused (e.g. the user is no longer a member).
    Refused {
        organization_id: String,
    },
    LogtoUnavailable,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FacebookView {
    Profile {
        id: String,
        name: Option<String>,
        picture: Option<String>,
    },
    /// The user did not sign in with Facebook.
    NotLinked,
    /// Logto has no stored Facebook token: "Store tokens" is off on the connector.
    NotStored,
    /// Logto's stored token expired (Logto dropped it); signing in with Facebook again stores a new one.
    Expired,
    /// Facebook refused the stored token (revoked, password changed, app removed).
    RejectedByFacebook,
    /// The Account API is not enabled for this tenant or app.
    AccountApiDisabled,
    Unavailable,
}

/// How the browser and its system are joined in a stored session's `browser` (`Chrome on Linux`):
/// written so by the server at sign-in, split again by the sessions page to word the "on" in the
/// reader's language.
pub const BROWSER_ON_OS: &str = " on ";
