//! Where to send the user after sign-in. Only same-origin paths survive; anything that a browser
//! could read as another origin (`//evil`, `/\evil`, schemes, encoded tricks) falls back to `/`.

/// Returns a safe local path, or `None` if `raw` must not be used.
pub fn sanitize(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 2048 || !raw.starts_with('/') {
        return None;
    }
    // Browsers treat `\` like `/` and drop tabs/newlines, so `/\evil.com` and `/\t/evil.com` mean `//evil.com`.
    if raw
        .chars()
        .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
    {
        return None;
    }
    let second = raw[1..].chars().next();
    if matches!(second, Some('/')) {
        return None;
    }
    // Encoded slashes/backslashes/controls in the path could be decoded by some hop into the
    // forms above. In the query they are only data (the sign-in page's own `return_to=%2F…`).
    let path = raw.split(['?', '#']).next().unwrap_or(raw);
    let lower = path.to_ascii_lowercase();
    for bad in ["%2f", "%5c", "%09", "%0a", "%0d", "%00", "%25"] {
        if lower.contains(bad) {
            return None;
        }
    }
    // Never bounce back into the auth flow itself.
    if path == "/callback" || path.starts_with("/api/") {
        return None;
    }
    Some(raw.to_owned())
}

/// `sanitize` with `/` as the fallback.
pub fn sanitize_or_root(raw: Option<&str>) -> String {
    raw.and_then(sanitize).unwrap_or_else(|| "/".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_local_paths() {
        for ok in [
            "/",
            "/profile",
            "/profile?tab=claims#top",
            "/a/b-c_d.e~f",
            "/sign-in?return_to=%2Fprofile%3Fx%3D1",
            "/profile?q=%252F#%2F",
        ] {
            assert_eq!(sanitize(ok).as_deref(), Some(ok));
        }
    }

    #[test]
    fn rejects_other_origins_and_tricks() {
        for bad in [
            "",
            "profile",
            "//evil.com",
            "///evil.com",
            "https://evil.com",
            "http:evil.com",
            "javascript:alert(1)",
            "/\\evil.com",
            "\\\\evil.com",
            "/\t/evil.com",
            "/\n/evil.com",
            "/%2fevil.com",
            "/%2Fevil.com",
            "/%5cevil.com",
            "/%5Cevil.com",
            "/%252fevil.com",
            "/%09/evil.com",
            "/%00",
            "/%2F%2Fevil.com?x=1",
            "/a%2fb?return_to=%2F",
            "/ /evil.com",
            "/callback?code=x",
            "/api/sign_in",
        ] {
            assert_eq!(sanitize(bad), None, "{bad:?} must be rejected");
        }
        assert_eq!(sanitize_or_root(Some("//evil.com")), "/");
        // Long enough to be a mistake or an attack, not a page of ours.
        let longest = format!("/{}", "a".repeat(2047));
        assert_eq!(sanitize(&longest).as_deref(), Some(longest.as_str()));
        assert_eq!(sanitize(&format!("{longest}a")), None);
        assert_eq!(sanitize_or_root(None), "/");
    }
}
