//! What the server and the pages share: the types the profile page's server functions return
//! (what the browser may see of the user's tokens and APIs; none of them carries a token), and
//! conventions both halves read (`BROWSER_ON_OS` with `browser_summary`, `web_picture`).

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

/// "Firefox on Linux" from a User-Agent, for the sessions page; `None` if nothing is recognised.
pub fn browser_summary(user_agent: &str) -> Option<String> {
    let has = |s: &str| user_agent.contains(s);
    // iOS browsers are all WebKit and name themselves separately (CriOS, FxiOS, EdgiOS).
    let browser = if has("Edg/") || has("EdgiOS/") {
        Some("Edge")
    } else if has("OPR/") {
        Some("Opera")
    } else if has("Firefox/") || has("FxiOS/") {
        Some("Firefox")
    } else if has("Chromium/") {
        Some("Chromium")
    } else if has("Chrome/") || has("CriOS/") {
        Some("Chrome")
    } else if has("Safari/") {
        Some("Safari")
    } else {
        None
    };
    let os = if has("Android") {
        Some("Android")
    } else if has("iPhone") || has("iPad") {
        Some("iOS")
    } else if has("Windows") {
        Some("Windows")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Mac OS X") {
        Some("macOS")
    } else if has("Linux") {
        Some("Linux")
    } else {
        None
    };
    match (browser, os) {
        (Some(b), Some(o)) => Some(format!("{b}{}{o}", BROWSER_ON_OS)),
        (Some(x), None) | (None, Some(x)) => Some(x.to_owned()),
        (None, None) => None,
    }
}

/// A picture the pages may show (the profile's, Facebook's): `https://` as it is, `http://` upgraded (the page's CSP allows
/// images over https only, so an http picture would be a broken image; hosts of profile pictures
/// serve both), anything else (`javascript:`, `data:`) dropped.
pub fn web_picture(url: &str) -> Option<String> {
    let lower = url
        .get(..8)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if lower.starts_with("https://") {
        Some(url.to_owned())
    } else if lower.starts_with("http://") {
        Some(format!("https://{}", &url[7..]))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{browser_summary, web_picture};

    #[test]
    fn browser_summaries() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", Some("Firefox on Linux")),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0", Some("Edge on Windows")),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", Some("Safari on macOS")),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", Some("Safari on iOS")),
            ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36", Some("Chrome on Android")),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36", Some("Chrome on Linux")),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0 Mobile/15E148 Safari/604.1", Some("Chrome on iOS")),
            ("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/120.0 Mobile/15E148 Safari/605.1.15", Some("Firefox on iOS")),
            ("curl/8.5.0", None),
        ];
        for (ua, expected) in cases {
            assert_eq!(browser_summary(ua).as_deref(), expected, "{ua}");
        }
    }

    #[test]
    fn web_pictures_are_kept_over_https() {
        for (url, shown) in [
            ("https://x.test/p.png", Some("https://x.test/p.png")),
            ("http://x.test/p.png", Some("https://x.test/p.png")),
            ("HTTP://x.test/p.png", Some("https://x.test/p.png")),
            ("ftp://x.test/p.png", None),
            ("data:image/png;base64,AAAA", None),
            ("javascript:alert(1)", None),
            ("http:", None),
        ] {
            assert_eq!(web_picture(url).as_deref(), shown, "{url}");
        }
    }
}
