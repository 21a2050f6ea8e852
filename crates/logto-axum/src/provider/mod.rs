//! The OpenID provider (a Logto tenant): discovered lazily and retried, so Logto being down neither
//! crashes the server nor slows pages that do not need it; its keys age out (see `Provider`).

pub(crate) mod checks;
pub(crate) mod jwk;
pub(crate) mod jws;

use std::{sync::Arc, time::Duration};

use openidconnect::{
    core::{
        CoreAuthDisplay, CoreAuthPrompt, CoreClaimName, CoreClaimType, CoreClientAuthMethod,
        CoreErrorResponseType, CoreGenderClaim, CoreGrantType, CoreJweContentEncryptionAlgorithm,
        CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreRevocableToken,
        CoreRevocationErrorResponse, CoreSubjectIdentifierType, CoreTokenIntrospectionResponse,
        CoreTokenResponse,
    },
    AdditionalProviderMetadata, ClaimsVerificationError, Client, ClientId, ClientSecret,
    EmptyAdditionalClaims, EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    JsonWebKeySet, ProviderMetadata, RedirectUrl, SignatureVerificationError,
    StandardErrorResponse,
};
use serde::{Deserialize, Serialize};
use tokio::{sync::Mutex, time::Instant};

use crate::{
    http::{chain, LogtoHttp},
    provider::jwk::ProviderKey,
    AuthConfig, AuthError,
};

/// Discovery fields openidconnect does not model but Logto sends and we rely on.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct LogtoMetadata {
    /// RP-Initiated Logout: where sign-out sends the browser to end Logto's session too.
    pub end_session_endpoint: Option<EndSessionUrl>,
    /// RFC 9207: the provider puts `iss` in authorization responses.
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// RFC 7009: where sign-out revokes the refresh token.
    pub revocation_endpoint: Option<openidconnect::RevocationUrl>,
}
impl AdditionalProviderMetadata for LogtoMetadata {}

/// Logto's discovery document, with the fields above.
pub type Metadata = ProviderMetadata<
    LogtoMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    ProviderKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;
/// openidconnect's `CoreClient` with `ProviderKey` (faster ES384) as the key type.
pub type OidcClient = Client<
    EmptyAdditionalClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    ProviderKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    CoreTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;
/// The tenant's signing keys (JWKS).
pub type ProviderKeySet = JsonWebKeySet<ProviderKey>;

/// After a failed discovery, callers within this window get the failure without a new request.
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// A discovery document naming another issuer will not change by itself: try it again less often.
const RETRY_MISCONFIGURED_AFTER: Duration = Duration::from_secs(60);
/// Unknown `kid`s may refetch the JWKS at most this often (a flood of bogus kids cannot hammer
/// Logto). Scheduled refetches do not count, so a rotation right after one is still followed.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// The shortest time keys are kept, whatever `Cache-Control` says (`no-store` included): below
/// it, every verification would be a request to Logto.
pub const MIN_KEYS_MAX_AGE: Duration = Duration::from_secs(60);

/// What discovery found, with the keys, and when each was fetched.
struct Discovered {
    metadata: Arc<Metadata>,
    discovered_at: Instant,
    keys_fetched_at: Instant,
    /// How long these keys may be used: the configured maximum, or less if Logto said so.
    keys_max_age: Duration,
}

#[derive(Default)]
struct FetchState {
    last_failure: Option<(Instant, Failure)>,
    last_kid_refetch: Option<Instant>,
}

/// Whether something fetched (or tried) at `at` is `max_age` old or older at `now`: every age
/// and back-off here is decided by this one rule.
fn aged(at: Instant, now: Instant, max_age: Duration) -> bool {
    now.saturating_duration_since(at) >= max_age
}

#[derive(Clone)]
enum Failure {
    Unavailable(String),
    Misconfigured(String),
}

impl Failure {
    fn error(&self) -> AuthError {
        match self {
            Failure::Unavailable(why) => AuthError::ProviderUnavailable(why.clone()),
            Failure::Misconfigured(why) => AuthError::ProviderMisconfigured(why.clone()),
        }
    }

    fn retry_after(&self) -> Duration {
        match self {
            Failure::Unavailable(_) => RETRY_AFTER,
            Failure::Misconfigured(_) => RETRY_MISCONFIGURED_AFTER,
        }
    }
}

/// The Logto tenant as this app sees it: its discovery document and signing keys, fetched on first
/// use, kept at most `AuthConfig::keys_max_age` (less when Logto's `Cache-Control` says so) and
/// then fetched again, so a key Logto removed stops verifying tokens within that time. Fetches are
/// single flight: concurrent callers wait for one request and share its answer.
pub struct Provider {
    config: AuthConfig,
    http: reqwest::Client,
    current: std::sync::RwLock<Option<Arc<Discovered>>>,
    /// Held while fetching (discovery or keys), so that only one caller fetches at a time.
    fetching: Mutex<FetchState>,
}

impl Provider {
    /// A provider for `config`'s tenant; nothing is fetched until first use.
    pub fn new(config: AuthConfig) -> Result<Self, AuthError> {
        let http = super::http::client(config.http_timeout)
            .map_err(|e| AuthError::ProviderUnavailable(format!("HTTP client: {e}")))?;
        Ok(Self {
            config,
            http,
            current: std::sync::RwLock::new(None),
            fetching: Mutex::new(FetchState::default()),
        })
    }

    /// The settings it was made with.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// The plain client (no redirects, bounded time), for Logto's REST APIs.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The client openidconnect's requests go through (bodies capped).
    pub fn oidc_http(&self) -> LogtoHttp<'_> {
        LogtoHttp::new(&self.http)
    }

    /// The provider's metadata with its current keys, fetched on first use and again when they
    /// are older than their maximum age.
    pub async fn metadata(&self) -> Result<Arc<Metadata>, AuthError> {
        Ok(self.current().await?.metadata.clone())
    }

    fn snapshot(&self) -> Option<Arc<Discovered>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn install(&self, discovered: Discovered) -> Arc<Discovered> {
        let discovered = Arc::new(discovered);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(discovered.clone());
        discovered
    }

    fn is_fresh(&self, d: &Discovered, now: Instant) -> bool {
        !aged(d.discovered_at, now, self.config.keys_max_age)
            && !aged(d.keys_fetched_at, now, d.keys_max_age)
    }

    async fn current(&self) -> Result<Arc<Discovered>, AuthError> {
        if let Some(d) = self.snapshot().filter(|d| self.is_fresh(d, Instant::now())) {
            return Ok(d);
        }
        let mut state = self.fetching.lock().await;
        // Another caller may have fetched while this one waited.
        if let Some(d) = self.snapshot().filter(|d| self.is_fresh(d, Instant::now())) {
            return Ok(d);
        }
        if let Some((at, failure)) = &state.last_failure {
            if !aged(*at, Instant::now(), failure.retry_after()) {
                return Err(failure.error());
            }
        }
        let fetched = self.fetch_stale().await;
        match fetched {
            Ok((metadata, discovered_at, keys_max_age)) => {
                state.last_failure = None;
                tracing::info!(issuer = %self.config.issuer(), ?keys_max_age, "provider metadata and keys fetched");
                Ok(self.install(Discovered {
                    metadata: Arc::new(metadata),
                    discovered_at,
                    keys_fetched_at: Instant::now(),
                    keys_max_age,
                }))
            }
            Err(failure) => {
                match &failure {
                    Failure::Unavailable(why) => {
                        tracing::warn!(issuer = %self.config.issuer(), "provider discovery failed: {why}")
                    }
                    Failure::Misconfigured(why) => {
                        tracing::error!(issuer = %self.config.issuer(), "LOGTO_ENDPOINT is misconfigured: {why}")
                    }
                }
                let err = failure.error();
                state.last_failure = Some((Instant::now(), failure));
                Err(err)
            }
        }
    }

    /// What is out of date fetched again: the keys alone while the discovery document is within
    /// its age, else both. The metadata, when it was discovered, and the keys' max age.
    async fn fetch_stale(&self) -> Result<(Metadata, Instant, Duration), Failure> {
        match self.snapshot() {
            Some(old) if !aged(old.discovered_at, Instant::now(), self.config.keys_max_age) => {
                let (metadata, age) = self.fetch_keys(&old.metadata).await?;
                Ok((metadata, old.discovered_at, age))
            }
            _ => {
                let (metadata, age) = self.discover().await?;
                Ok((metadata, Instant::now(), age))
            }
        }
    }

    /// Discovery and keys, through openidconnect (which checks that the document names the
    /// configured issuer).
    async fn discover(&self) -> Result<(Metadata, Duration), Failure> {
        let issuer = IssuerUrl::new(self.config.issuer())
            .map_err(|e| Failure::Misconfigured(e.to_string()))?;
        let http = self.oidc_http();
        let metadata = Metadata::discover_async(issuer, &http)
            .await
            .map_err(|e| match e {
                // The document answered but is not this issuer's (or not a discovery document):
                // a configuration to fix, not an outage to wait out.
                openidconnect::DiscoveryError::Validation(why) => Failure::Misconfigured(format!(
                    "the discovery document at {}/.well-known/openid-configuration does not \
                     fit: {why}",
                    self.config.issuer()
                )),
                other => Failure::Unavailable(chain(other)),
            })?;
        Ok((metadata, self.keys_max_age(&http)))
    }

    /// The keys again (same discovery document); the new set replaces the old one whole.
    async fn fetch_keys(&self, metadata: &Metadata) -> Result<(Metadata, Duration), Failure> {
        let http = self.oidc_http();
        let keys = ProviderKeySet::fetch_async(metadata.jwks_uri(), &http)
            .await
            .map_err(|e| Failure::Unavailable(format!("signing keys: {}", chain(e))))?;
        Ok((metadata.clone().set_jwks(keys), self.keys_max_age(&http)))
    }

    /// The configured maximum, or the keys answer's `Cache-Control: max-age` when shorter (but
    /// not below `MIN_KEYS_MAX_AGE`).
    fn keys_max_age(&self, http: &LogtoHttp<'_>) -> Duration {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(value) = http.cache_control() {
            headers.insert(reqwest::header::CACHE_CONTROL, value);
        }
        let said = super::http::max_age(&headers).map(|age| age.max(MIN_KEYS_MAX_AGE));
        said.map_or(self.config.keys_max_age, |age| {
            age.min(self.config.keys_max_age)
        })
    }

    /// Refetches the keys after a token named one we do not have (key rotation), once for all
    /// callers that saw the same keys (`seen`): those waiting meanwhile get the new set. At most
    /// every `JWKS_REFETCH_INTERVAL`. `None`: no newer keys.
    async fn keys_after_unknown_kid(
        &self,
        seen: &Arc<Discovered>,
    ) -> Result<Option<Arc<Discovered>>, AuthError> {
        let mut state = self.fetching.lock().await;
        let Some(current) = self.snapshot() else {
            return Ok(None);
        };
        if !Arc::ptr_eq(&current, seen) {
            return Ok(Some(current));
        }
        if state
            .last_kid_refetch
            .is_some_and(|at| !aged(at, Instant::now(), JWKS_REFETCH_INTERVAL))
        {
            tracing::debug!("JWKS refetch skipped (rate limit)");
            return Ok(None);
        }
        state.last_kid_refetch = Some(Instant::now());
        match self.fetch_keys(&current.metadata).await {
            Ok((metadata, keys_max_age)) => {
                tracing::info!("JWKS refetched after an unknown key id");
                Ok(Some(self.install(Discovered {
                    metadata: Arc::new(metadata),
                    discovered_at: current.discovered_at,
                    keys_fetched_at: Instant::now(),
                    keys_max_age,
                })))
            }
            Err(failure) => {
                let err = failure.error();
                tracing::warn!("JWKS refetch failed: {err}");
                Err(err)
            }
        }
    }

    /// Runs `verify` with the provider's current keys; when the token names a key we do not have
    /// (`unknown_key`), refetches the keys (single flight, rate-limited) and runs it again.
    pub async fn verify_with_current_keys<T, E>(
        &self,
        verify: impl Fn(&Metadata) -> Result<T, E>,
        unknown_key: impl Fn(&E) -> bool,
    ) -> Result<Result<T, E>, AuthError> {
        let current = self.current().await?;
        match verify(&current.metadata) {
            Err(e) if unknown_key(&e) => match self.keys_after_unknown_kid(&current).await? {
                Some(newer) => Ok(verify(&newer.metadata)),
                None => Ok(Err(e)),
            },
            other => Ok(other),
        }
    }

    /// A client for this app; cheap, so built per use rather than stored with its many type parameters.
    pub fn client(&self, metadata: &Metadata) -> Result<OidcClient, AuthError> {
        let redirect = RedirectUrl::new(self.config.redirect_uri())
            .map_err(|e| AuthError::ProviderUnavailable(format!("redirect URI: {e}")))?;
        Ok(OidcClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.config.app_id.clone()),
            Some(ClientSecret::new(
                self.config.app_secret.expose().to_owned(),
            )),
        )
        .set_redirect_uri(redirect))
    }
}

/// openidconnect's "the token names a key we do not have".
pub fn is_unknown_key(err: &ClaimsVerificationError) -> bool {
    matches!(
        err,
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exactly the max age old is too old; a nanosecond less is not; a clock read before `at`
    /// (another thread's instant) is not.
    #[test]
    fn ages_end_at_their_last_instant() {
        let at = Instant::now();
        let age = Duration::from_secs(600);
        assert!(aged(at, at + age, age));
        assert!(!aged(at, at + age - Duration::from_nanos(1), age));
        assert!(aged(at, at + age + Duration::from_secs(1), age));
        assert!(!aged(at + Duration::from_secs(1), at, age));
    }
}
