//! The OpenID provider (a Logto tenant): discovered lazily and retried, so Logto being down neither
//! crashes the server nor slows pages that do not need it.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

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
use tokio::sync::{Mutex, RwLock};

use super::{jwk::ProviderKey, AuthConfig, AuthError};

/// Discovery fields openidconnect does not model but Logto sends and we rely on.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct LogtoMetadata {
    pub end_session_endpoint: Option<EndSessionUrl>,
    /// RFC 9207: the provider puts `iss` in authorization responses.
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// RFC 7009: where sign-out revokes the refresh token.
    pub revocation_endpoint: Option<openidconnect::RevocationUrl>,
}
impl AdditionalProviderMetadata for LogtoMetadata {}

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
pub type ProviderKeySet = JsonWebKeySet<ProviderKey>;

/// After a failed discovery, callers within this window get the failure without a new request.
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// Unknown `kid`s may refetch the JWKS at most this often (a flood of bogus kids cannot hammer
/// Logto). Discovery's own fetch does not count, so a rotation right after start is still followed.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

pub struct Provider {
    config: AuthConfig,
    http: reqwest::Client,
    metadata: RwLock<Option<Arc<Metadata>>>,
    last_failure: Mutex<Option<(Instant, String)>>,
    last_jwks_fetch: Mutex<Option<Instant>>,
}

impl Provider {
    pub fn new(config: AuthConfig) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            // Never follow redirects from the provider (SSRF, token leakage).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.http_timeout.min(Duration::from_secs(5)))
            .timeout(config.http_timeout)
            .user_agent(concat!("logto-leptos/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AuthError::ProviderUnavailable(format!("HTTP client: {e}")))?;
        Ok(Self {
            config,
            http,
            metadata: RwLock::new(None),
            last_failure: Mutex::new(None),
            last_jwks_fetch: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The provider's metadata, discovering it on first use and after failures.
    pub async fn metadata(&self) -> Result<Arc<Metadata>, AuthError> {
        if let Some(m) = self.metadata.read().await.as_ref() {
            return Ok(m.clone());
        }
        let mut last_failure = self.last_failure.lock().await;
        // Another request may have discovered it while we waited for the lock.
        if let Some(m) = self.metadata.read().await.as_ref() {
            return Ok(m.clone());
        }
        if let Some((at, why)) = last_failure.as_ref() {
            if at.elapsed() < RETRY_AFTER {
                return Err(AuthError::ProviderUnavailable(why.clone()));
            }
        }
        match self.discover().await {
            Ok(metadata) => {
                let metadata = Arc::new(metadata);
                *self.metadata.write().await = Some(metadata.clone());
                *last_failure = None;
                tracing::info!(issuer = %self.config.issuer(), "provider discovered");
                Ok(metadata)
            }
            Err(why) => {
                tracing::warn!(issuer = %self.config.issuer(), "provider discovery failed: {why}");
                *last_failure = Some((Instant::now(), why.clone()));
                Err(AuthError::ProviderUnavailable(why))
            }
        }
    }

    async fn discover(&self) -> Result<Metadata, String> {
        let issuer = IssuerUrl::new(self.config.issuer()).map_err(|e| e.to_string())?;
        Metadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| error_chain(&e))
    }

    /// Refetches the JWKS after an ID token named a key we do not have (key rotation).
    /// Returns whether a fresh key set was installed.
    pub async fn refresh_jwks(&self) -> bool {
        let Some(current) = self.metadata.read().await.clone() else {
            return false;
        };
        {
            let mut last = self.last_jwks_fetch.lock().await;
            if last.is_some_and(|at| at.elapsed() < JWKS_REFETCH_INTERVAL) {
                tracing::debug!("JWKS refetch skipped (rate limit)");
                return false;
            }
            *last = Some(Instant::now());
        }
        match ProviderKeySet::fetch_async(current.jwks_uri(), &self.http).await {
            Ok(jwks) => {
                let updated = (*current).clone().set_jwks(jwks);
                *self.metadata.write().await = Some(Arc::new(updated));
                tracing::info!("JWKS refetched after unknown key id");
                true
            }
            Err(e) => {
                tracing::warn!("JWKS refetch failed: {}", error_chain(&e));
                false
            }
        }
    }

    /// Runs `verify` with the provider's current keys; when the token names a key we do not have
    /// (key rotation), refetches the JWKS once (rate-limited) and runs it again.
    pub async fn verify_with_current_keys<T>(
        &self,
        verify: impl Fn(&Metadata) -> Result<T, ClaimsVerificationError>,
    ) -> Result<Result<T, ClaimsVerificationError>, AuthError> {
        let metadata = self.metadata().await?;
        match verify(&metadata) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) if self.refresh_jwks().await => Ok(verify(&*self.metadata().await?)),
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

/// An error with its sources, for logs.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
