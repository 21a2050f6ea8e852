//! Where a browser says a request comes from (Fetch Metadata's `Sec-Fetch-Site`, else `Origin`),
//! and one rule for what may change state or spend tokens: the SDK's `GET /sign-in` and
//! `POST /sign-out` use it,
//! and so can an app's own state-changing handlers (the Leptos app's server functions and its
//! profile page's actions a link can start do).
//!
//! Allowed: this app's own pages (`same-origin`), and the user themselves (`none`: typed, a
//! bookmark, the browser's UI, a link opened from a mail or chat app; the actions a link can start
//! only show the user a result and spend a token refresh). Refused: another site, or a sibling
//! subdomain (`same-site`). Without `Sec-Fetch-Site` (older browsers), `Origin` must be this app's
//! when it is sent; a request with neither header is not from a browser that could carry a user's
//! cookie against their will (a navigation in an older browser, a script outside browsers), and
//! passes.

use axum::http::{header, HeaderMap, HeaderName};

/// The `Sec-Fetch-Site` and `Origin` a request was refused with, for the log.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    /// `Sec-Fetch-Site`, when the browser sent it.
    pub site: Option<String>,
    /// `Origin`, when the browser sent it.
    pub origin: Option<String>,
}

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Whether the rule lets this request through; `own_origin` is the app's (`http://host:port`).
pub fn check(headers: &HeaderMap, own_origin: &str) -> Result<(), Refused> {
    let text = |name| {
        headers
            .get(name)
            .map(|v: &header::HeaderValue| v.to_str().unwrap_or("invalid").to_owned())
    };
    let site = text(SEC_FETCH_SITE);
    let origin = text(header::ORIGIN);
    let allowed = match (&site, &origin) {
        (Some(site), _) => matches!(site.as_str(), "same-origin" | "none"),
        (None, Some(from)) => from == own_origin,
        (None, None) => true,
    };
    if allowed {
        Ok(())
    } else {
        Err(Refused { site, origin })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "https://app.example";

    fn headers(site: Option<&str>, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(s) = site {
            h.insert(SEC_FETCH_SITE, s.parse().unwrap());
        }
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_rule_as_documented() {
        let cases = [
            (Some("same-origin"), None, true),
            (Some("none"), None, true),
            (Some("same-site"), None, false),
            (Some("cross-site"), None, false),
            (Some("nonsense"), None, false),
            // Fetch Metadata wins over Origin.
            (Some("cross-site"), Some(OWN), false),
            (Some("same-origin"), Some("https://evil.example"), true),
            (None, Some(OWN), true),
            (None, Some("https://evil.example"), false),
            (None, Some("null"), false),
            (None, Some("http://app.example"), false),
            (None, Some("https://app.example:444"), false),
            (None, None, true),
        ];
        for (site, origin, allowed) in cases {
            assert_eq!(
                check(&headers(site, origin), OWN).is_ok(),
                allowed,
                "{site:?} {origin:?}"
            );
        }
        assert_eq!(
            check(
                &headers(Some("cross-site"), Some("https://evil.example")),
                OWN
            ),
            Err(Refused {
                site: Some("cross-site".into()),
                origin: Some("https://evil.example".into())
            })
        );
    }
}
