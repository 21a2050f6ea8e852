//! What a signed-in session holds. Tokens stay server-side; `UserProfile` is what the UI may see.

use serde::{Deserialize, Serialize};

/// The signed-in state kept in the session store.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignedIn {
    /// Raw ID token, kept as `id_token_hint` for sign-out.
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Unix seconds; `None` when the provider did not say.
    pub access_token_expires_at: Option<i64>,
    pub signed_in_at: i64,
    pub user: UserProfile,
}

/// Who the user is, from the verified ID token and userinfo. Contains no tokens.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserProfile {
    pub sub: String,
    pub name: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub picture: Option<String>,
    /// Social identities linked in Logto, e.g. `facebook`.
    pub identities: Vec<String>,
    /// Every claim as (name, display value), sorted by name, for the claims view.
    pub claims: Vec<(String, String)>,
}

impl UserProfile {
    /// Builds the profile from merged claims (ID token first, userinfo over it).
    pub fn from_claims(claims: &serde_json::Map<String, serde_json::Value>) -> Self {
        let text = |k: &str| {
            claims
                .get(k)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let identities = claims
            .get("identities")
            .and_then(|v| v.as_object())
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let mut display: Vec<(String, String)> = claims
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                let shown = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) if is_time_claim(k) => {
                        readable_time(n.as_i64().unwrap_or_default())
                    }
                    other => other.to_string(),
                };
                (k.clone(), shown)
            })
            .collect();
        display.sort();
        Self {
            sub: text("sub").unwrap_or_default(),
            name: text("name"),
            username: text("username"),
            email: text("email"),
            email_verified: claims.get("email_verified").and_then(|v| v.as_bool()),
            picture: text("picture")
                .filter(|p| p.starts_with("https://") || p.starts_with("http://")),
            identities,
            claims: display,
        }
    }
}

fn is_time_claim(name: &str) -> bool {
    matches!(
        name,
        "exp" | "iat" | "auth_time" | "nbf" | "updated_at" | "created_at"
    )
}

/// `1795580344` → `2026-11-25 04:19:04 UTC`; Logto's `created_at`/`updated_at` are milliseconds.
fn readable_time(value: i64) -> String {
    let secs = if value > 100_000_000_000 {
        value / 1000
    } else {
        value
    };
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_from_claims() {
        let claims = serde_json::json!({
            "sub": "u1", "name": "Jamie", "email": "j@x.test", "email_verified": true,
            "picture": "javascript:alert(1)", "username": null,
            "identities": {"facebook": {"userId": "1"}}, "iat": 5,
            "created_at": 1_795_580_344_718_i64, "custom": 7
        });
        let p = UserProfile::from_claims(claims.as_object().unwrap());
        assert_eq!(p.sub, "u1");
        assert_eq!(p.name.as_deref(), Some("Jamie"));
        assert_eq!(p.picture, None, "non-http pictures are dropped");
        assert_eq!(p.username, None);
        assert_eq!(p.identities, ["facebook"]);
        assert_eq!(
            p.claims.first().map(|c| c.0.as_str()),
            Some("created_at"),
            "sorted by name"
        );
        assert!(p
            .claims
            .iter()
            .any(|(k, v)| k == "iat" && v == "1970-01-01 00:00:05 UTC"));
        assert!(!p.claims.iter().any(|(k, _)| k == "username"));
        assert!(p
            .claims
            .iter()
            .any(|(k, v)| k == "created_at" && v == "2026-11-25 04:19:04 UTC"));
        assert!(p.claims.iter().any(|(k, v)| k == "custom" && v == "7"));
    }
}
