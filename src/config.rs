//! The app's settings: Logto (see `auth::config`) plus where sessions live and for how long.

use std::time::Duration;

use crate::auth::{AuthConfig, ConfigError};

/// `Debug` (what the start-up log and errors print) hides a Redis password.
#[derive(Clone, PartialEq, Eq)]
pub enum SessionStoreKind {
    /// `sqlite://path/to/file.db` (the default, `sqlite://.data/sessions.db`).
    Sqlite(String),
    /// `redis://host:port[/db]`.
    Redis(String),
    /// `memory`: lost on restart; only when asked for explicitly.
    Memory,
}

impl std::fmt::Debug for SessionStoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Redis(url) => f
                .debug_tuple("Redis")
                .field(&without_password(url))
                .finish(),
            Self::Memory => f.write_str("Memory"),
        }
    }
}

/// A store URL fit for logs: the password replaced by `***` (a lone user name too: some write
/// the password there).
pub fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(mut parsed) if !parsed.username().is_empty() => {
            let _ = parsed.set_username("***");
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        // Unparsable: drop whatever could be credentials (`scheme://<this>@host`).
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(start), Some(at)) if at > start => {
                format!("{}***{}", &url[..start + 3], &url[at..])
            }
            _ => url.to_owned(),
        },
    }
}

#[derive(Clone, Debug)]
pub struct AppConfig {
    pub auth: AuthConfig,
    pub session_store: SessionStoreKind,
    /// Sessions unused for this long end (server-side).
    pub session_idle_timeout: Duration,
    /// Sessions end this long after sign-in, however active.
    pub session_max_lifetime: Duration,
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

pub const DEFAULT_SESSION_STORE: &str = "sqlite://.data/sessions.db";

impl AppConfig {
    /// The longest a session can stay signed in: its maximum lifetime, plus the idle timeout
    /// a record may outlive it by until it is next read.
    pub fn longest_sign_in(&self) -> Duration {
        self.session_max_lifetime + self.session_idle_timeout
    }

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
        let http_url = |name: &'static str, raw: String| {
            url::Url::parse(&raw)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .ok_or_else(|| ConfigError::Invalid {
                    name,
                    reason: format!("{raw:?} is not an http(s) URL"),
                })
        };
        let demo_api = match set("DEMO_API_RESOURCE") {
            None => None,
            Some(raw) => {
                let resource = crate::auth::config::parse_resource("DEMO_API_RESOURCE", &raw)?;
                let scope = set("DEMO_API_SCOPE").unwrap_or_else(|| DEFAULT_DEMO_API_SCOPE.into());
                if !scope
                    .chars()
                    .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
                {
                    return Err(ConfigError::Invalid {
                        name: "DEMO_API_SCOPE",
                        reason: format!("{scope:?} is not a single scope token"),
                    });
                }
                let url = http_url(
                    "DEMO_API_URL",
                    set("DEMO_API_URL")
                        .unwrap_or_else(|| format!("{}demo-api/hello", auth.base_url.as_str())),
                )?;
                auth.add_api(&resource, &scope);
                Some(DemoApi {
                    resource,
                    scope,
                    url,
                })
            }
        };
        let facebook_graph_url = http_url(
            "FACEBOOK_GRAPH_URL",
            set("FACEBOOK_GRAPH_URL").unwrap_or_else(|| DEFAULT_FACEBOOK_GRAPH_URL.into()),
        )?;
        let store_url = lookup("SESSION_STORE_URL")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_SESSION_STORE.to_owned());
        let session_store = parse_store(&store_url)?;
        let minutes = |name: &'static str, default: u64| -> Result<Duration, ConfigError> {
            match lookup(name)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
            {
                None => Ok(Duration::from_secs(default * 60)),
                Some(raw) => match raw.parse::<u64>() {
                    Ok(m) if m > 0 && m <= 60 * 24 * 366 => Ok(Duration::from_secs(m * 60)),
                    _ => Err(ConfigError::Invalid {
                        name,
                        reason: format!("{raw:?} is not a number of minutes between 1 and 527040"),
                    }),
                },
            }
        };
        Ok(Self {
            auth,
            session_store,
            session_idle_timeout: minutes("SESSION_IDLE_TIMEOUT_MINUTES", 60 * 24 * 7)?,
            session_max_lifetime: minutes("SESSION_MAX_LIFETIME_MINUTES", 60 * 24 * 14)?,
            demo_api,
            facebook_graph_url,
            sign_in_rate_limit_per_minute: match lookup("SIGN_IN_RATE_LIMIT_PER_MINUTE")
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
            {
                None => DEFAULT_SIGN_IN_RATE_LIMIT,
                Some(raw) => raw.parse::<u32>().map_err(|_| ConfigError::Invalid {
                    name: "SIGN_IN_RATE_LIMIT_PER_MINUTE",
                    reason: format!("{raw:?} is not a whole number (0 turns the limit off)"),
                })?,
            },
            client_ip_header: match lookup("CLIENT_IP_HEADER")
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
            {
                None => None,
                Some(raw) => Some(raw.parse::<axum::http::HeaderName>().map_err(|_| {
                    ConfigError::Invalid {
                        name: "CLIENT_IP_HEADER",
                        reason: format!("{raw:?} is not an HTTP header name"),
                    }
                })?),
            },
        })
    }
}

fn parse_store(url: &str) -> Result<SessionStoreKind, ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        name: "SESSION_STORE_URL",
        reason: format!("{:?}: {reason}", without_password(url)),
    };
    if url == "memory" {
        Ok(SessionStoreKind::Memory)
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(invalid(
                "needs a file path, e.g. sqlite://.data/sessions.db",
            ));
        }
        Ok(SessionStoreKind::Sqlite(path.to_owned()))
    } else if url.starts_with("rediss://") {
        // The Redis client here is built without TLS: it would connect in clear and send the
        // password that way. Refuse rather than pretend.
        Err(invalid(
            "rediss:// (TLS) is not supported by this build; use redis:// on a private network \
             or through a TLS tunnel",
        ))
    } else if url.starts_with("redis://") {
        url::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        Ok(SessionStoreKind::Redis(url.to_owned()))
    } else {
        Err(invalid(
            "use sqlite://<file>, redis://<host>:<port> or memory",
        ))
    }
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
    fn defaults_to_sqlite() {
        let c = AppConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(
            c.session_store,
            SessionStoreKind::Sqlite(".data/sessions.db".into())
        );
        assert_eq!(c.session_idle_timeout, Duration::from_secs(7 * 24 * 3600));
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
    fn redis_passwords_stay_out_of_logs_and_errors() {
        let kind = |u| {
            AppConfig::from_lookup(lookup(&[("SESSION_STORE_URL", u)])).map(|c| c.session_store)
        };
        let store = kind("redis://:s3cret-pw@127.0.0.1:6379/0").unwrap();
        assert_eq!(
            store,
            SessionStoreKind::Redis("redis://:s3cret-pw@127.0.0.1:6379/0".into()),
            "the app itself still gets the password"
        );
        let logged = format!("{store:?}");
        assert!(!logged.contains("s3cret-pw"), "{logged}");
        assert!(logged.contains("127.0.0.1:6379"), "{logged}");
        let with_user = format!(
            "{:?}",
            kind("redis://app:s3cret-pw@redis.example:6380").unwrap()
        );
        assert!(
            !with_user.contains("s3cret-pw") && with_user.contains("app:***@"),
            "{with_user}"
        );
        // A URL too broken to parse still has its credentials hidden in the error.
        let err = kind("redis://:s3cret-pw@[::1").unwrap_err().to_string();
        assert!(!err.contains("s3cret-pw"), "{err}");
        assert!(err.contains("SESSION_STORE_URL"), "{err}");
        let user_only = format!("{:?}", kind("redis://s3cret-pw@redis.example").unwrap());
        assert!(!user_only.contains("s3cret-pw"), "{user_only}");
        // TLS to Redis is refused (this build would connect in clear), without echoing the secret.
        let err = kind("rediss://:s3cret-pw@redis.example:6380")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rediss://") && err.contains("not supported"),
            "{err}"
        );
        assert!(!err.contains("s3cret-pw"), "{err}");
        // Nothing to hide: unchanged.
        assert_eq!(
            without_password("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }

    #[test]
    fn store_urls() {
        let kind = |u| {
            AppConfig::from_lookup(lookup(&[("SESSION_STORE_URL", u)])).map(|c| c.session_store)
        };
        assert_eq!(kind("memory").unwrap(), SessionStoreKind::Memory);
        assert_eq!(
            kind("redis://127.0.0.1:6379").unwrap(),
            SessionStoreKind::Redis("redis://127.0.0.1:6379".into())
        );
        for bad in ["postgres://x", "sqlite://", "mem", "redis://[::1"] {
            assert!(
                matches!(
                    kind(bad),
                    Err(ConfigError::Invalid {
                        name: "SESSION_STORE_URL",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn timeouts_must_be_positive_minutes() {
        for bad in ["0", "-5", "soon", "99999999"] {
            let err = AppConfig::from_lookup(lookup(&[("SESSION_IDLE_TIMEOUT_MINUTES", bad)]))
                .unwrap_err();
            assert!(matches!(
                err,
                ConfigError::Invalid {
                    name: "SESSION_IDLE_TIMEOUT_MINUTES",
                    ..
                }
            ));
        }
        let c = AppConfig::from_lookup(lookup(&[("SESSION_MAX_LIFETIME_MINUTES", "30")])).unwrap();
        assert_eq!(c.session_max_lifetime, Duration::from_secs(1800));
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
