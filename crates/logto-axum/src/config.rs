//! Logto settings, read from the environment. Invalid settings stop start-up with the variable's name.

use url::Url;

pub use crate::secret::Secret;

/// Why the configuration was rejected; always names the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is not set")]
    /// The variable is unset or blank.
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    /// The variable is set but unusable.
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Everything the auth core needs to talk to one Logto tenant as one application.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// The tenant, e.g. `https://tenant.logto.app` (the issuer is `{endpoint}/oidc`).
    pub endpoint: Url,
    /// The application's id in Logto Console (a "Traditional web" application).
    pub app_id: String,
    /// The application's secret; never printed.
    pub app_secret: Secret,
    /// Where this app is reached; redirect URIs derive from it.
    pub base_url: Url,
    /// Scopes asked for at sign-in (`LOGTO_SCOPES`; `openid` is always among them).
    pub scopes: Vec<String>,
    /// API resource indicators, exactly as registered in Logto (compared as strings there).
    pub resources: Vec<String>,
    /// Upper bound for any single call to Logto (discovery, token, userinfo, JWKS).
    pub http_timeout: std::time::Duration,
    /// How long Logto's signing keys (and discovery document) are used before they are fetched
    /// again: a key Logto removed stops verifying tokens after at most this long.
    pub keys_max_age: std::time::Duration,
}

/// Logto SDKs' default plus `email` (Facebook users' address), `identities` (linked social
/// accounts; the Account API needs it for stored Facebook tokens) and organizations with roles.
pub const DEFAULT_SCOPES: &[&str] = &[
    "openid",
    "offline_access",
    "profile",
    "email",
    "identities",
    ORGANIZATIONS_SCOPE,
    "urn:logto:scope:organization_roles",
];
/// Logto's scope for the `organizations` claim and organization tokens.
pub const ORGANIZATIONS_SCOPE: &str = "urn:logto:scope:organizations";
/// The resource Logto's SDKs add at sign-in when organizations are asked for, so that the
/// refresh token can later be exchanged for organization tokens.
pub const ORGANIZATIONS_RESOURCE: &str = "urn:logto:resource:organizations";

/// Builds an `AuthConfig` in code (settings from elsewhere than the environment), checked as
/// `AuthConfig::from_lookup` checks the environment; an error names the setting by its
/// environment variable (`LOGTO_SCOPES` for `scopes`, …).
#[derive(Clone, Debug)]
pub struct AuthConfigBuilder {
    settings: std::collections::BTreeMap<&'static str, String>,
    /// Lists are checked item by item in `build`: joined, an item with a space or a comma
    /// would silently become two.
    lists: Vec<(&'static str, Vec<String>)>,
}

impl AuthConfigBuilder {
    fn set(mut self, name: &'static str, value: String) -> Self {
        self.settings.insert(name, value);
        self
    }

    fn list<I: IntoIterator<Item = S>, S: AsRef<str>>(
        mut self,
        name: &'static str,
        items: I,
    ) -> Self {
        let items: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
        self.lists.retain(|(n, _)| *n != name);
        self.lists.push((name, items));
        self
    }

    /// Scopes to ask for at sign-in, instead of `DEFAULT_SCOPES`; `openid` is always among them
    /// (an empty list asks for `openid` alone).
    pub fn scopes<I: IntoIterator<Item = S>, S: AsRef<str>>(self, scopes: I) -> Self {
        self.list("LOGTO_SCOPES", scopes)
    }

    /// API resource indicators to ask tokens for, exactly as registered in Logto.
    pub fn resources<I: IntoIterator<Item = S>, S: AsRef<str>>(self, resources: I) -> Self {
        self.list("LOGTO_RESOURCES", resources)
    }

    /// Upper bound for each call to Logto (1 to 120 whole seconds; default 10).
    pub fn http_timeout(self, timeout: std::time::Duration) -> Self {
        self.set("LOGTO_HTTP_TIMEOUT_SECONDS", timeout.as_secs().to_string())
    }

    /// How long signing keys are used before they are fetched again (60 to 86,400 whole
    /// seconds; default 3,600).
    pub fn keys_max_age(self, max_age: std::time::Duration) -> Self {
        self.set("LOGTO_KEYS_MAX_AGE_SECONDS", max_age.as_secs().to_string())
    }

    /// Allows an `http://` endpoint off this machine (a private network you vouch for).
    pub fn allow_insecure_http(self, allowed: bool) -> Self {
        self.set("LOGTO_ALLOW_INSECURE_HTTP", allowed.to_string())
    }

    /// The configuration, or the first setting that is wrong.
    pub fn build(mut self) -> Result<AuthConfig, ConfigError> {
        for (name, items) in std::mem::take(&mut self.lists) {
            if let Some(bad) = items
                .iter()
                .find(|i| i.is_empty() || i.contains([' ', ',']))
            {
                return Err(ConfigError::Invalid {
                    name,
                    reason: format!("{bad:?} is not one item"),
                });
            }
            let joined = match (name, items.is_empty()) {
                ("LOGTO_SCOPES", true) => "openid".to_owned(),
                _ => items.join(" "),
            };
            self.settings.insert(name, joined);
        }
        AuthConfig::from_lookup(|name| self.settings.get(name).cloned())
    }
}

impl AuthConfig {
    /// A builder for the tenant `endpoint` (e.g. `https://tenant.logto.app`), the application's
    /// `app_id` and `app_secret`, and `base_url`, where this app is reached.
    pub fn builder(
        endpoint: impl Into<String>,
        app_id: impl Into<String>,
        app_secret: impl Into<String>,
        base_url: impl Into<String>,
    ) -> AuthConfigBuilder {
        let settings = [
            ("LOGTO_ENDPOINT", endpoint.into()),
            ("LOGTO_APP_ID", app_id.into()),
            ("LOGTO_APP_SECRET", app_secret.into()),
            ("APP_BASE_URL", base_url.into()),
        ];
        AuthConfigBuilder {
            settings: settings.into_iter().collect(),
            lists: Vec::new(),
        }
    }

    /// Reads `LOGTO_*` and `APP_BASE_URL` from the process environment (load a `.env` file
    /// first, e.g. with `dotenvy`, if you keep them there).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads `LOGTO_*` and `APP_BASE_URL` through `lookup`, so tests need not touch the process env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let endpoint = parse_http_url("LOGTO_ENDPOINT", &get("LOGTO_ENDPOINT")?)?;
        let insecure_allowed =
            lookup("LOGTO_ALLOW_INSECURE_HTTP").is_some_and(|v| v.trim() == "true");
        check_endpoint_transport(&endpoint, insecure_allowed)?;
        let base_url = parse_http_url("APP_BASE_URL", &get("APP_BASE_URL")?)?;
        if base_url.path() != "/" {
            return Err(ConfigError::Invalid {
                name: "APP_BASE_URL",
                reason: "must be an origin without a path, e.g. http://localhost:3000".into(),
            });
        }
        let app_id = get("LOGTO_APP_ID")?;
        let app_secret = Secret::new(get("LOGTO_APP_SECRET")?);
        let scopes = match lookup("LOGTO_SCOPES").filter(|s| !s.trim().is_empty()) {
            None => DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
            Some(raw) => parse_scopes(&raw)?,
        };
        let resources = lookup("LOGTO_RESOURCES")
            .unwrap_or_default()
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(|r| parse_resource("LOGTO_RESOURCES", r))
            .collect::<Result<Vec<_>, _>>()?;

        let http_timeout = seconds(&lookup, "LOGTO_HTTP_TIMEOUT_SECONDS", 10, 1..=120)?;
        let keys_max_age = seconds(&lookup, "LOGTO_KEYS_MAX_AGE_SECONDS", 3600, 60..=86_400)?;

        Ok(Self {
            endpoint,
            app_id,
            app_secret,
            base_url,
            scopes,
            resources,
            http_timeout,
            keys_max_age,
        })
    }

    /// Every `resource` the authorization request names: the configured APIs plus, when
    /// organizations are asked for, Logto's organizations resource.
    pub fn sign_in_resources(&self) -> Vec<String> {
        let mut out = self.resources.clone();
        if self.scopes.iter().any(|s| s == ORGANIZATIONS_SCOPE)
            && !out.iter().any(|r| r == ORGANIZATIONS_RESOURCE)
        {
            out.push(ORGANIZATIONS_RESOURCE.to_owned());
        }
        out
    }

    /// Adds an API the app calls itself (its resource indicator and the permission it needs).
    pub fn add_api(&mut self, resource: &str, scope: &str) {
        if !self.resources.iter().any(|r| r == resource) {
            self.resources.push(resource.to_owned());
        }
        if !self.scopes.iter().any(|s| s == scope) {
            self.scopes.push(scope.to_owned());
        }
    }

    /// `{endpoint}/oidc`, the issuer Logto puts in every token.
    pub fn issuer(&self) -> String {
        format!("{}/oidc", self.endpoint.as_str().trim_end_matches('/'))
    }

    /// The redirect URI to register in Logto Console: `{APP_BASE_URL}/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("{}/callback", self.origin())
    }

    /// The post sign-out redirect URI to register in Logto Console: the app's start page.
    pub fn post_logout_redirect_uri(&self) -> String {
        format!("{}/", self.origin())
    }

    /// Whether browsers should be told to use https only (HSTS): not for `localhost`, where it
    /// would stick to every local port for a year.
    pub fn wants_hsts(&self) -> bool {
        self.is_https() && !is_loopback(&self.base_url)
    }

    /// Cookies must be `Secure` when the app is served over https.
    pub fn is_https(&self) -> bool {
        self.base_url.scheme() == "https"
    }

    fn origin(&self) -> String {
        self.base_url.as_str().trim_end_matches('/').to_owned()
    }
}

/// A whole number of seconds within `range`, or `default` when unset.
fn seconds(
    lookup: impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<std::time::Duration, ConfigError> {
    match lookup(name).filter(|s| !s.trim().is_empty()) {
        None => Ok(std::time::Duration::from_secs(default)),
        Some(raw) => match raw.trim().parse::<u64>() {
            Ok(s) if range.contains(&s) => Ok(std::time::Duration::from_secs(s)),
            _ => Err(ConfigError::Invalid {
                name,
                reason: format!(
                    "{raw:?} is not a number of seconds between {} and {}",
                    range.start(),
                    range.end()
                ),
            }),
        },
    }
}

/// The client secret, codes and tokens go to the endpoint: in clear only on this machine, or on
/// a private network someone vouched for (Logto OSS in a container network).
fn check_endpoint_transport(endpoint: &Url, insecure_allowed: bool) -> Result<(), ConfigError> {
    if endpoint.scheme() == "http" && !is_loopback(endpoint) && !insecure_allowed {
        return Err(ConfigError::Invalid {
            name: "LOGTO_ENDPOINT",
            reason: format!(
                "{endpoint} must be https: over http the app secret and tokens cross the \
                 network in clear (http is fine for localhost; for a private network set \
                 LOGTO_ALLOW_INSECURE_HTTP=true)"
            ),
        });
    }
    Ok(())
}

/// `LOGTO_SCOPES`: space or comma separated, each once, `openid` always first among them.
fn parse_scopes(raw: &str) -> Result<Vec<String>, ConfigError> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in raw.split([' ', ',']).filter(|s| !s.is_empty()) {
        if !is_scope_token(scope) {
            return Err(ConfigError::Invalid {
                name: "LOGTO_SCOPES",
                reason: format!("{scope:?} is not a valid scope token"),
            });
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    if !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".to_owned());
    }
    Ok(scopes)
}

/// RFC 6749's scope-token characters (printable ASCII but space, `"` and `\`): anything else
/// would break the space-separated `scope` parameter or the `WWW-Authenticate` header it
/// appears in.
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
}

/// Checks an API resource indicator as Logto accepts it (an absolute URI without fragment); `name`
/// is the variable it came from, for the error.
/// A resource indicator: an absolute URI, kept verbatim (Logto matches it character for character,
/// so `https://api.example.com` must not become `https://api.example.com/`).
pub fn parse_resource(name: &'static str, raw: &str) -> Result<String, ConfigError> {
    let url = Url::parse(raw).map_err(|e| ConfigError::Invalid {
        name,
        reason: format!("{raw:?} is not an absolute URL ({e})"),
    })?;
    if url.fragment().is_some() {
        return Err(ConfigError::Invalid {
            name,
            reason: format!("{raw:?} must not have a fragment"),
        });
    }
    Ok(raw.to_owned())
}

/// This machine: `localhost`, 127.0.0.0/8, `[::1]` (also as `[::ffff:127.x.y.z]`).
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

fn parse_http_url(name: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| ConfigError::Invalid {
        name,
        reason: format!("{raw:?} is not a URL ({e})"),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::Invalid {
            name,
            reason: format!("{raw:?} must be an http(s) URL with a host"),
        });
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::Invalid {
            name,
            reason: "must not carry a query or fragment".into(),
        });
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const GOOD: &[(&str, &str)] = &[
        ("LOGTO_ENDPOINT", "https://tenant.logto.app/"),
        ("LOGTO_APP_ID", "app123"),
        ("LOGTO_APP_SECRET", "s3cret"),
        ("APP_BASE_URL", "http://localhost:3000"),
    ];

    fn without(name: &str) -> Vec<(&'static str, &'static str)> {
        GOOD.iter().copied().filter(|(k, _)| *k != name).collect()
    }

    fn with(name: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
        let mut v = without(name);
        v.push((name, value));
        v
    }

    #[test]
    fn good_config_derives_uris() {
        let c = AuthConfig::from_lookup(env(GOOD)).unwrap();
        assert_eq!(c.issuer(), "https://tenant.logto.app/oidc");
        assert_eq!(c.redirect_uri(), "http://localhost:3000/callback");
        assert_eq!(c.post_logout_redirect_uri(), "http://localhost:3000/");
        assert_eq!(c.scopes, DEFAULT_SCOPES);
        assert!(c.resources.is_empty());
        assert!(!c.is_https());
    }

    #[test]
    fn each_missing_variable_is_named() {
        for name in [
            "LOGTO_ENDPOINT",
            "LOGTO_APP_ID",
            "LOGTO_APP_SECRET",
            "APP_BASE_URL",
        ] {
            let err = AuthConfig::from_lookup(env(&without(name))).unwrap_err();
            assert_eq!(err, ConfigError::Missing(name));
            assert!(err.to_string().contains(name));
            // Blank counts as missing.
            let err = AuthConfig::from_lookup(env(&with(name, "  "))).unwrap_err();
            assert_eq!(err, ConfigError::Missing(name), "{name} blank");
        }
    }

    #[test]
    fn malformed_urls_are_rejected_with_the_variable_name() {
        for (name, value) in [
            ("LOGTO_ENDPOINT", "tenant.logto.app"),
            ("LOGTO_ENDPOINT", "ftp://tenant.logto.app"),
            ("LOGTO_ENDPOINT", "https://tenant.logto.app/?x=1"),
            ("APP_BASE_URL", "localhost:3000"),
            ("APP_BASE_URL", "http://localhost:3000/app"),
            ("APP_BASE_URL", "http://localhost:3000/#frag"),
        ] {
            let err = AuthConfig::from_lookup(env(&with(name, value))).unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { name: n, .. } if n == name),
                "{name}={value}: {err}"
            );
        }
    }

    #[test]
    fn logto_over_http_only_on_this_machine_or_when_allowed() {
        for local in [
            "http://localhost:3001",
            "http://127.0.0.1:3001",
            "http://127.8.0.1:3001",
            "http://[::1]:3001",
            "http://[::ffff:127.0.0.1]:3001",
            "http://LOCALHOST:3001",
            "https://tenant.logto.app",
        ] {
            let c = AuthConfig::from_lookup(env(&with("LOGTO_ENDPOINT", local)));
            assert!(c.is_ok(), "{local}: {:?}", c.err());
        }
        for remote in [
            "http://tenant.logto.app",
            "http://10.0.0.5:3001",
            "http://logto:3001",
        ] {
            let err = AuthConfig::from_lookup(env(&with("LOGTO_ENDPOINT", remote))).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        name: "LOGTO_ENDPOINT",
                        ..
                    }
                ),
                "{remote}: {err}"
            );
            assert!(
                err.to_string().contains("LOGTO_ALLOW_INSECURE_HTTP"),
                "{err}"
            );
            let mut allowed = with("LOGTO_ENDPOINT", remote);
            allowed.push(("LOGTO_ALLOW_INSECURE_HTTP", "true"));
            assert!(
                AuthConfig::from_lookup(env(&allowed)).is_ok(),
                "{remote} allowed"
            );
        }
    }

    #[test]
    fn scopes_and_resources_parse() {
        let mut pairs = with("LOGTO_SCOPES", "profile email,email offline_access");
        pairs.push((
            "LOGTO_RESOURCES",
            "https://api.example.com https://b.example.com",
        ));
        let c = AuthConfig::from_lookup(env(&pairs)).unwrap();
        assert_eq!(c.scopes, ["openid", "profile", "email", "offline_access"]);
        assert_eq!(
            c.resources,
            ["https://api.example.com", "https://b.example.com"],
            "verbatim, no trailing slash added"
        );
        assert_eq!(
            c.sign_in_resources(),
            c.resources,
            "no organizations scope, no organizations resource"
        );
        let d = AuthConfig::from_lookup(env(GOOD)).unwrap();
        assert_eq!(d.sign_in_resources(), [ORGANIZATIONS_RESOURCE]);

        let err = AuthConfig::from_lookup(env(&with("LOGTO_RESOURCES", "not a url"))).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "LOGTO_RESOURCES",
                ..
            }
        ));
        let err =
            AuthConfig::from_lookup(env(&with("LOGTO_HTTP_TIMEOUT_SECONDS", "0"))).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "LOGTO_HTTP_TIMEOUT_SECONDS",
                ..
            }
        ));
        let c = AuthConfig::from_lookup(env(&with("LOGTO_HTTP_TIMEOUT_SECONDS", "3"))).unwrap();
        assert_eq!(c.http_timeout, std::time::Duration::from_secs(3));
        assert_eq!(
            d.keys_max_age,
            std::time::Duration::from_secs(3600),
            "an hour"
        );
        let c = AuthConfig::from_lookup(env(&with("LOGTO_KEYS_MAX_AGE_SECONDS", "600"))).unwrap();
        assert_eq!(c.keys_max_age, std::time::Duration::from_secs(600));
        for bad in ["59", "86401", "soon"] {
            let err =
                AuthConfig::from_lookup(env(&with("LOGTO_KEYS_MAX_AGE_SECONDS", bad))).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        name: "LOGTO_KEYS_MAX_AGE_SECONDS",
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
        let err = AuthConfig::from_lookup(env(&with("LOGTO_SCOPES", "bad\"scope"))).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: "LOGTO_SCOPES",
                ..
            }
        ));
    }

    #[test]
    fn apis_are_added_once_each() {
        let mut c = AuthConfig::from_lookup(env(GOOD)).unwrap();
        let (resources, scopes) = (c.resources.len(), c.scopes.len());
        c.add_api("https://a.example.com", "read:a");
        c.add_api("https://b.example.com", "read:b");
        c.add_api("https://a.example.com", "read:a");
        assert_eq!(
            c.resources[resources..],
            ["https://a.example.com", "https://b.example.com"]
        );
        assert_eq!(c.scopes[scopes..], ["read:a", "read:b"]);
    }

    #[test]
    fn secret_never_prints() {
        let c = AuthConfig::from_lookup(env(GOOD)).unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(
            printed.contains("app_secret: Secret(***)"),
            "set, but hidden: {printed}"
        );
    }

    #[test]
    fn the_builder_checks_as_the_environment_is_checked() {
        let c = AuthConfig::builder(
            "https://tenant.logto.app",
            "app",
            "secret",
            "https://app.example",
        )
        .scopes(["profile", "email"])
        .resources(["https://api.example"])
        .http_timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap();
        assert_eq!(c.scopes, ["openid", "profile", "email"]);
        assert_eq!(c.resources, ["https://api.example"]);
        assert_eq!(c.http_timeout, std::time::Duration::from_secs(5));
        assert_eq!(c.redirect_uri(), "https://app.example/callback");
        assert_eq!(c.app_secret.expose(), "secret");

        let plain = |endpoint: &str| AuthConfig::builder(endpoint, "a", "b", "https://app.example");
        let err = plain("http://logto.internal").build().unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: "LOGTO_ENDPOINT",
                    ..
                }
            ),
            "{err}"
        );
        assert!(plain("http://logto.internal")
            .allow_insecure_http(true)
            .build()
            .is_ok());
        let err = plain("https://t.logto.app")
            .scopes(["quote\"d"])
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: "LOGTO_SCOPES",
                    ..
                }
            ),
            "{err}"
        );
        for bad in [["read write"], ["a,b"], [""]] {
            let err = plain("https://t.logto.app")
                .scopes(bad)
                .build()
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        name: "LOGTO_SCOPES",
                        ..
                    }
                ),
                "{err}"
            );
        }
        let err = plain("https://t.logto.app")
            .resources(["https://a.example https://b.example"])
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: "LOGTO_RESOURCES",
                    ..
                }
            ),
            "{err}"
        );
        let only_openid = plain("https://t.logto.app")
            .scopes([] as [&str; 0])
            .build()
            .unwrap();
        assert_eq!(only_openid.scopes, ["openid"]);
        let defaults = plain("https://t.logto.app").build().unwrap();
        assert_eq!(defaults.scopes, DEFAULT_SCOPES);
        assert_eq!(defaults.http_timeout, std::time::Duration::from_secs(10));
        assert!(plain("http://logto.internal")
            .allow_insecure_http(false)
            .build()
            .is_err());
        let err = plain("https://t.logto.app")
            .keys_max_age(std::time::Duration::from_secs(5))
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: "LOGTO_KEYS_MAX_AGE_SECONDS",
                    ..
                }
            ),
            "{err}"
        );
    }
}
