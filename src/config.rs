//! The app's settings: Logto and sessions (see `auth::config`, `auth::session_config`) plus the
//! app's own: the demo API, Facebook's Graph API, the sign-in rate limit, the client-IP header.

use logto_axum::{AuthConfig, ConfigError, SessionConfig};

#[derive(Clone, Debug)]
pub struct AppConfig {
    pub auth: AuthConfig,
    /// Where sessions live and how long they last.
    pub sessions: SessionConfig,
    /// The API behind the profile page's "Call the API" (off unless `DEMO_API_RESOURCE` is set).
    pub demo_api: Option<DemoApi>,
    /// Facebook's Graph API, for the "From Facebook" card (a stand-in in development).
    pub facebook_graph_url: url::Url,
    /// Sign-in starts plus callbacks one client may make per minute (0: no limit).
    pub sign_in_rate_limit_per_minute: u32,
    /// Behind a reverse proxy: the header it puts the client's address in (e.g.
    /// `X-Forwarded-For`, whose last entry is used); otherwise the peer address is the client.
    pub client_ip_header: Option<axum::http::HeaderName>,
}

/// An API protected by Logto: its resource indicator, the permission it needs, and where to call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoApi {
    pub resource: String,
    pub scope: String,
    pub url: url::Url,
}

pub const DEFAULT_DEMO_API_SCOPE: &str = "read:hello";
pub const DEFAULT_FACEBOOK_GRAPH_URL: &str = "https://graph.facebook.com";

/// A person signing in needs two (start, callback), a few times over at most.
pub const DEFAULT_SIGN_IN_RATE_LIMIT: u32 = 30;

impl AppConfig {
    /// Loads `.env` (if present) and then reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is not.
        if let Err(err) = dotenvy::dotenv() {
            if !err.not_found() {
                return Err(ConfigError::Invalid {
                    name: ".env",
                    reason: err.to_string(),
                });
            }
        }
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut auth = AuthConfig::from_lookup(&lookup)?;
        let set = |name: &str| {
            lookup(name)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let demo_api = demo_api(&set, &mut auth)?;
        let facebook_graph_url = http_url(
            "FACEBOOK_GRAPH_URL",
            set("FACEBOOK_GRAPH_URL").unwrap_or_else(|| DEFAULT_FACEBOOK_GRAPH_URL.into()),
        )?;
        let sign_in_rate_limit_per_minute = match set("SIGN_IN_RATE_LIMIT_PER_MINUTE") {
            None => DEFAULT_SIGN_IN_RATE_LIMIT,
            Some(raw) => raw.parse::<u32>().map_err(|_| ConfigError::Invalid {
                name: "SIGN_IN_RATE_LIMIT_PER_MINUTE",
                reason: format!("{raw:?} is not a whole number (0 turns the limit off)"),
            })?,
        };
        let client_ip_header =
            match set("CLIENT_IP_HEADER") {
                None => None,
                Some(raw) => Some(raw.parse::<axum::http::HeaderName>().map_err(|_| {
                    ConfigError::Invalid {
                        name: "CLIENT_IP_HEADER",
                        reason: format!("{raw:?} is not an HTTP header name"),
                    }
                })?),
            };
        Ok(Self {
            auth,
            sessions: SessionConfig::from_lookup(&lookup)?,
            demo_api,
            facebook_graph_url,
            sign_in_rate_limit_per_minute,
            client_ip_header,
        })
    }
}

/// `DEMO_API_RESOURCE` and its scope and URL; the API joins the sign-in request (`auth`), so
/// users get tokens for it.
fn demo_api(
    set: &impl Fn(&str) -> Option<String>,
    auth: &mut AuthConfig,
) -> Result<Option<DemoApi>, ConfigError> {
    let Some(raw) = set("DEMO_API_RESOURCE") else {
        return Ok(None);
    };
    let resource = logto_axum::config::parse_resource("DEMO_API_RESOURCE", &raw)?;
    let scope = set("DEMO_API_SCOPE").unwrap_or_else(|| DEFAULT_DEMO_API_SCOPE.into());
    if !logto_axum::config::is_scope_token(&scope) {
        return Err(ConfigError::Invalid {
            name: "DEMO_API_SCOPE",
            reason: format!("{scope:?} is not a single scope token"),
        });
    }
    let url = http_url(
        "DEMO_API_URL",
        set("DEMO_API_URL").unwrap_or_else(|| format!("{}demo-api/hello", auth.base_url.as_str())),
    )?;
    auth.add_api(&resource, &scope);
    Ok(Some(DemoApi {
        resource,
        scope,
        url,
    }))
}

fn http_url(name: &'static str, raw: String) -> Result<url::Url, ConfigError> {
    url::Url::parse(&raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| ConfigError::Invalid {
            name,
            reason: format!("{raw:?} is not an http(s) URL"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let mut pairs: Vec<(String, String)> = [
            ("LOGTO_ENDPOINT", "http://127.0.0.1:3100"),
            ("LOGTO_APP_ID", "a"),
            ("LOGTO_APP_SECRET", "b"),
            ("APP_BASE_URL", "http://127.0.0.1:3000"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        move |k| {
            pairs
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn sessions_are_read_with_the_rest() {
        let c = AppConfig::from_lookup(lookup(&[("SESSION_STORE_URL", "memory")])).unwrap();
        assert_eq!(c.sessions.store, logto_axum::SessionStoreKind::Memory);
        let err =
            AppConfig::from_lookup(lookup(&[("SESSION_IDLE_TIMEOUT_MINUTES", "0")])).unwrap_err();
        assert!(
            err.to_string().contains("SESSION_IDLE_TIMEOUT_MINUTES"),
            "{err}"
        );
    }

    #[test]
    fn sign_in_rate_limit_and_client_ip_header() {
        let c = AppConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.sign_in_rate_limit_per_minute, DEFAULT_SIGN_IN_RATE_LIMIT);
        assert_eq!(c.client_ip_header, None);
        let c = AppConfig::from_lookup(lookup(&[
            ("SIGN_IN_RATE_LIMIT_PER_MINUTE", "0"),
            ("CLIENT_IP_HEADER", "X-Forwarded-For"),
        ]))
        .unwrap();
        assert_eq!(c.sign_in_rate_limit_per_minute, 0);
        assert_eq!(c.client_ip_header.unwrap().as_str(), "x-forwarded-for");
        for (name, bad) in [
            ("SIGN_IN_RATE_LIMIT_PER_MINUTE", "-1"),
            ("SIGN_IN_RATE_LIMIT_PER_MINUTE", "lots"),
            ("CLIENT_IP_HEADER", "X Forwarded For"),
        ] {
            let err = AppConfig::from_lookup(lookup(&[(name, bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn demo_api_is_off_by_default_and_joins_the_sign_in_request_when_set() {
        let c = AppConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.demo_api, None);
        assert!(!c.auth.scopes.iter().any(|s| s == "read:hello"));
        let c =
            AppConfig::from_lookup(lookup(&[("DEMO_API_RESOURCE", "https://api.test")])).unwrap();
        let api = c.demo_api.unwrap();
        assert_eq!(api.resource, "https://api.test");
        assert_eq!(api.scope, "read:hello");
        assert_eq!(api.url.as_str(), "http://127.0.0.1:3000/demo-api/hello");
        assert!(c.auth.resources.iter().any(|r| r == "https://api.test"));
        assert!(c.auth.scopes.iter().any(|s| s == "read:hello"));
        for (name, bad) in [
            ("DEMO_API_RESOURCE", "not a url"),
            ("DEMO_API_URL", "ftp://x"),
            ("DEMO_API_SCOPE", "two\"words"),
            ("FACEBOOK_GRAPH_URL", "graph"),
        ] {
            let err = AppConfig::from_lookup(lookup(&[
                ("DEMO_API_RESOURCE", "https://api.test"),
                (name, bad),
            ]))
            .unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { name: n, .. } if n == name),
                "{name}: {err}"
            );
        }
    }
}
