//! Where sessions (and the tokens beside them) live and how long they last, read from the
//! environment like the Logto settings. Apart from `AuthConfig` because a session store is a
//! deployment choice (one instance on SQLite, several on Redis), not a property of the tenant.

use std::time::Duration;

use crate::ConfigError;

/// Used when `SESSION_STORE_URL` is unset: SQLite survives restarts without any other service.
/// A build without the `sqlite` feature has no default: memory would lose every session at a
/// restart and, with several instances, end sessions on one instance only, so it must be asked
/// for.
pub const DEFAULT_SESSION_STORE: &str = "sqlite://.data/sessions.db";

/// Sessions unused for a week end; none lasts longer than two weeks.
const DEFAULT_IDLE_MINUTES: u64 = 60 * 24 * 7;
const DEFAULT_MAX_LIFETIME_MINUTES: u64 = 60 * 24 * 14;

/// A year and a day: longer lifetimes are far more likely a unit mistake than a wish.
const MAX_MINUTES: u64 = 60 * 24 * 366;

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

/// Session settings: `SESSION_STORE_URL`, `SESSION_IDLE_TIMEOUT_MINUTES` and
/// `SESSION_MAX_LIFETIME_MINUTES`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// `SESSION_STORE_URL`.
    pub store: SessionStoreKind,
    /// Sessions unused for this long end (server-side).
    pub idle_timeout: Duration,
    /// Sessions end this long after sign-in, however active.
    pub max_lifetime: Duration,
}

impl SessionConfig {
    /// Reads `SESSION_*` from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the three variables through `lookup` (the environment, or a test's table); each
    /// one unset or blank takes its default.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| {
            lookup(name)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let minutes = |name: &'static str, default: u64| match set(name) {
            None => Ok(Duration::from_secs(default * 60)),
            Some(raw) => match raw.parse::<u64>() {
                Ok(m) if m > 0 && m <= MAX_MINUTES => Ok(Duration::from_secs(m * 60)),
                _ => Err(ConfigError::Invalid {
                    name,
                    reason: format!(
                        "{raw:?} is not a number of minutes between 1 and {MAX_MINUTES}"
                    ),
                }),
            },
        };
        let store_url = match set("SESSION_STORE_URL") {
            Some(url) => url,
            None if cfg!(feature = "sqlite") => DEFAULT_SESSION_STORE.into(),
            None => return Err(ConfigError::Missing("SESSION_STORE_URL")),
        };
        Ok(Self {
            store: parse_store(&store_url)?,
            idle_timeout: minutes("SESSION_IDLE_TIMEOUT_MINUTES", DEFAULT_IDLE_MINUTES)?,
            max_lifetime: minutes("SESSION_MAX_LIFETIME_MINUTES", DEFAULT_MAX_LIFETIME_MINUTES)?,
        })
    }

    /// The longest a session can stay signed in: its maximum lifetime, plus the idle timeout
    /// a record may outlive it by until it is next read. Index entries and the Redis keys
    /// beside sessions must live this long.
    pub fn longest_sign_in(&self) -> Duration {
        self.max_lifetime + self.idle_timeout
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
        if !cfg!(feature = "sqlite") {
            return Err(invalid(
                "this build has no SQLite store (logto-axum's cargo feature `sqlite`)",
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
        if !cfg!(feature = "redis") {
            return Err(invalid(
                "this build has no Redis store (logto-axum's cargo feature `redis`)",
            ));
        }
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

    fn config(pairs: &[(&str, &str)]) -> Result<SessionConfig, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SessionConfig::from_lookup(move |k| {
            pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    fn kind(url: &str) -> Result<SessionStoreKind, ConfigError> {
        config(&[("SESSION_STORE_URL", url)]).map(|c| c.store)
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn defaults_to_sqlite_for_a_week_idle_and_two_weeks_at_most() {
        let c = config(&[]).unwrap();
        assert_eq!(
            c.store,
            SessionStoreKind::Sqlite(".data/sessions.db".into())
        );
        assert_eq!(c.idle_timeout, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(c.max_lifetime, Duration::from_secs(14 * 24 * 3600));
        assert_eq!(c.longest_sign_in(), Duration::from_secs(21 * 24 * 3600));
        let blank = config(&[("SESSION_STORE_URL", "  ")]).unwrap();
        assert_eq!(blank.store, c.store);
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_passwords_stay_out_of_logs_and_errors() {
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

    #[cfg(feature = "redis")]
    #[test]
    fn store_urls() {
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
    fn timeouts_must_be_positive_minutes_up_to_a_year_and_a_day() {
        for name in [
            "SESSION_IDLE_TIMEOUT_MINUTES",
            "SESSION_MAX_LIFETIME_MINUTES",
        ] {
            for bad in ["0", "-5", "soon", "527041", "99999999"] {
                let err = config(&[("SESSION_STORE_URL", "memory"), (name, bad)]).unwrap_err();
                assert!(
                    matches!(err, ConfigError::Invalid { name: n, .. } if n == name),
                    "{name}={bad}: {err}"
                );
            }
            assert!(
                config(&[("SESSION_STORE_URL", "memory"), (name, "527040")]).is_ok(),
                "{name}"
            );
        }
        let c = config(&[
            ("SESSION_STORE_URL", "memory"),
            ("SESSION_MAX_LIFETIME_MINUTES", "30"),
        ])
        .unwrap();
        assert_eq!(c.max_lifetime, Duration::from_secs(1800));
    }

    /// A build without a backend says so, naming the feature, instead of failing at connect.
    #[test]
    fn stores_this_build_lacks_are_refused_by_name() {
        assert_eq!(kind("memory").unwrap(), SessionStoreKind::Memory);
        for (url, feature, built) in [
            ("sqlite://s.db", "`sqlite`", cfg!(feature = "sqlite")),
            (
                "redis://:s3cret-pw@127.0.0.1:6379",
                "`redis`",
                cfg!(feature = "redis"),
            ),
        ] {
            match kind(url) {
                Ok(_) => assert!(built, "{url}"),
                Err(err) => {
                    let err = err.to_string();
                    assert!(!built, "{url}: {err}");
                    assert!(
                        err.contains(feature) && err.contains("SESSION_STORE_URL"),
                        "{err}"
                    );
                    assert!(!err.contains("s3cret-pw"), "{err}");
                }
            }
        }
        let default = config(&[]).map(|c| c.store);
        if cfg!(feature = "sqlite") {
            assert_eq!(
                default,
                Ok(SessionStoreKind::Sqlite(".data/sessions.db".into()))
            );
        } else {
            assert_eq!(default, Err(ConfigError::Missing("SESSION_STORE_URL")));
        }
    }
}
