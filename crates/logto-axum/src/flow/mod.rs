//! The authorization-code flow with PKCE: building the sign-in request, completing the callback
//! and building the sign-out URL. Refresh lives in `refresh`, its coordination in `keeper`.

mod id_token;
pub mod return_to;
mod userinfo;

pub use id_token::LogtoIdClaims;
pub(crate) use id_token::{check_at_hash, verify_id_token};
pub(crate) use userinfo::{fetch_userinfo, to_object};
pub use userinfo::{userinfo, LogtoClaims};

use openidconnect::{
    core::CoreAuthenticationFlow, AuthorizationCode, ClientId, CsrfToken, LanguageTag, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl, Scope,
    TokenResponse,
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::{
    http::chain,
    provider::{Metadata, OidcClient},
    util::now_unix,
    AuthConfig, AuthError, Provider, SignedIn, TokenSet, UserProfile,
};

/// How long a started sign-in may take before its state is no longer accepted.
pub const PENDING_TTL_SECS: i64 = 10 * 60;

/// Logto's optional authorization parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignInOptions {
    /// `first_screen`, e.g. `register` for "create account".
    pub first_screen: Option<String>,
    /// `direct_sign_in`, e.g. `social:facebook` to skip Logto's page.
    pub direct_sign_in: Option<String>,
    /// `ui_locales`, e.g. `th en`.
    pub ui_locales: Option<String>,
    /// `login_hint`: an email or username to fill in on Logto's page.
    pub login_hint: Option<String>,
}

/// What the callback needs to finish a sign-in this browser started. Single use. Its `Debug`
/// leaves out the state, nonce and PKCE verifier (whoever reads a log must not be able to finish
/// the sign-in).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingSignIn {
    /// Echoed by Logto to the callback: names this sign-in, and ties it to this browser.
    pub state: String,
    /// Must come back in the ID token: ties the token to this sign-in.
    pub nonce: String,
    /// PKCE (S256): proves at the token exchange that the code went to whoever started the sign-in.
    pub pkce_verifier: String,
    /// A path on this site to go to after the callback.
    pub return_to: String,
    /// Unix seconds; pending sign-ins expire after `PENDING_TTL_SECS`.
    pub created_at: i64,
}

impl std::fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSignIn")
            .field("return_to", &self.return_to)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl PendingSignIn {
    /// Whether it is too old to finish at `now` (Unix seconds).
    pub fn is_expired(&self, now: i64) -> bool {
        now - self.created_at > PENDING_TTL_SECS || now < self.created_at - 60
    }
}

/// Query parameters Logto sends to the redirect URI.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallbackParams {
    /// The authorization code to exchange.
    pub code: Option<String>,
    /// The pending sign-in's `state`.
    pub state: Option<String>,
    /// An OAuth error instead of a code.
    pub error: Option<String>,
    /// Logto's description of that error.
    pub error_description: Option<String>,
    /// RFC 9207: the issuer that sent the response.
    pub iss: Option<String>,
}

/// Builds the authorization URL and the pending state to remember. No network access.
pub fn authorization_request(
    config: &AuthConfig,
    client: &OidcClient,
    options: &SignInOptions,
    return_to: String,
) -> (Url, PendingSignIn) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in config.scopes.iter().filter(|s| *s != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    // Logto issues refresh tokens only for offline_access *with* prompt=consent.
    if config.scopes.iter().any(|s| s == "offline_access") {
        request = request.add_extra_param("prompt", "consent");
    }
    for resource in config.sign_in_resources() {
        request = request.add_extra_param("resource", resource);
    }
    if let Some(v) = &options.first_screen {
        request = request.add_extra_param("first_screen", v.clone());
    }
    if let Some(v) = &options.direct_sign_in {
        request = request.add_extra_param("direct_sign_in", v.clone());
    }
    if let Some(v) = &options.ui_locales {
        request = request.add_extra_param("ui_locales", v.clone());
    }
    if let Some(v) = &options.login_hint {
        request = request.add_extra_param("login_hint", v.clone());
    }
    let (url, state, nonce) = request.url();
    let pending = PendingSignIn {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        return_to,
        created_at: now_unix(),
    };
    (url, pending)
}

/// Checks the authorization response against the pending sign-in that `state` selected.
/// The caller has already removed `pending` from the session (single use).
pub fn check_authorization_response<'p>(
    metadata: &Metadata,
    params: &'p CallbackParams,
) -> Result<&'p str, AuthError> {
    // RFC 9207: when the provider says it sends `iss`, it must be there and be our issuer.
    let expected = metadata.issuer().as_str();
    let advertised = metadata
        .additional_metadata()
        .authorization_response_iss_parameter_supported
        .unwrap_or(false);
    match &params.iss {
        Some(got) if got != expected => {
            return Err(AuthError::IssuerMismatch {
                expected: expected.to_owned(),
                got: Some(got.clone()),
            })
        }
        None if advertised => {
            return Err(AuthError::IssuerMismatch {
                expected: expected.to_owned(),
                got: None,
            })
        }
        _ => {}
    }
    if let Some(code) = &params.error {
        return Err(AuthError::ProviderError {
            code: code.chars().take(64).collect(),
            description: params
                .error_description
                .as_ref()
                .map(|d| d.chars().take(300).collect()),
        });
    }
    params
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(AuthError::MissingCode)
}

/// Exchanges the code, verifies the ID token and fetches userinfo.
pub async fn complete_sign_in(
    provider: &Provider,
    pending: &PendingSignIn,
    params: &CallbackParams,
) -> Result<SignedIn, AuthError> {
    let metadata = provider.metadata().await?;
    let code = check_authorization_response(&metadata, params)?;
    let client = provider.client(&metadata)?;
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| AuthError::TokenExchange(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
        .request_async(&provider.oidc_http())
        .await
        .map_err(code_exchange_error)?;
    let id_token = token.id_token().ok_or(AuthError::MissingIdToken)?;
    let nonce = Nonce::new(pending.nonce.clone());
    let id_claims = verify_id_token(provider, id_token, |claims_nonce| {
        claims_nonce.is_some_and(|n| n.secret() == nonce.secret())
    })
    .await?;
    // Verification may have refetched the keys: use the current metadata from here on.
    let client = provider.client(&*provider.metadata().await?)?;
    check_at_hash(
        &client,
        id_token,
        id_claims.access_token_hash(),
        token.access_token(),
    )?;
    let mut claims = to_object(&id_claims);
    let userinfo = fetch_userinfo(
        &client,
        token.access_token().clone(),
        id_claims.subject().clone(),
        provider,
    )
    .await?;
    for (k, v) in userinfo {
        claims.insert(k, v);
    }
    let now = now_unix();
    Ok(SignedIn {
        tokens: TokenSet {
            sub: id_claims.subject().as_str().to_owned(),
            id_token: id_token.to_string(),
            id_token_claims: to_object(&id_claims),
            access_token: token.access_token().secret().clone(),
            access_token_expires_at: token.expires_in().map(|d| expires_at(now, d)),
            refresh_token: token.refresh_token().map(|t| t.secret().clone()),
            targeted: Default::default(),
            ended: None,
        },
        signed_in_at: now,
        user: UserProfile::from_claims(&claims),
    })
}

/// A failed code exchange: a refusal or an unreachable token endpoint, or an answer whose ID token
/// is refused already by its shape.
fn code_exchange_error<RE, T>(e: openidconnect::RequestTokenError<RE, T>) -> AuthError
where
    RE: std::error::Error + Send + Sync + 'static,
    T: openidconnect::ErrorResponse + Send + Sync + 'static,
{
    match &e {
        // The response arrived but its ID token is not even well-formed (no `sub`, no `aud`…).
        openidconnect::RequestTokenError::Parse(..) => {
            AuthError::InvalidIdToken(format!("token response rejected: {}", chain(e)))
        }
        _ => AuthError::TokenExchange(chain(e)),
    }
}

/// `now + expires_in`, saturating: a provider saying "never" must not overflow.
pub(crate) fn expires_at(now: i64, expires_in: std::time::Duration) -> i64 {
    now.saturating_add(i64::try_from(expires_in.as_secs()).unwrap_or(i64::MAX))
}

/// Logto's end-session URL, or `None` when the provider has none. `ui_locale` is the app's
/// language (RP-Initiated Logout's `ui_locales`; Logto's own sign-out page shows nothing to read).
/// Like Logto's own SDKs, it names the app by `client_id` and sends no `id_token_hint`: the ID
/// token (with the user's name and email) would end up in browser history and access logs.
pub fn end_session_url(config: &AuthConfig, metadata: &Metadata, ui_locale: &str) -> Option<Url> {
    let endpoint = metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()?;
    let mut request = openidconnect::LogoutRequest::from(endpoint)
        .set_client_id(ClientId::new(config.app_id.clone()));
    if let Ok(redirect) = PostLogoutRedirectUrl::new(config.post_logout_redirect_uri()) {
        request = request.set_post_logout_redirect_uri(redirect);
    }
    if !ui_locale.is_empty() {
        request = request.add_ui_locale(LanguageTag::new(ui_locale.to_owned()));
    }
    Some(request.http_get_url())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use openidconnect::{
        core::{CoreResponseType, CoreSubjectIdentifierType},
        AuthUrl, IssuerUrl, JsonWebKeySetUrl, ResponseTypes,
    };

    use super::*;
    use crate::provider::LogtoMetadata;

    fn config(scopes: &str, resources: &str) -> AuthConfig {
        let vars: HashMap<&str, &str> = [
            ("LOGTO_ENDPOINT", "https://tenant.logto.app"),
            ("LOGTO_APP_ID", "app"),
            ("LOGTO_APP_SECRET", "secret"),
            ("APP_BASE_URL", "https://app.example.com"),
            ("LOGTO_SCOPES", scopes),
            ("LOGTO_RESOURCES", resources),
        ]
        .into();
        AuthConfig::from_lookup(|k| vars.get(k).map(|v| v.to_string())).unwrap()
    }

    fn metadata(iss_supported: Option<bool>) -> Metadata {
        let issuer = "https://tenant.logto.app/oidc";
        Metadata::new(
            IssuerUrl::new(issuer.into()).unwrap(),
            AuthUrl::new(format!("{issuer}/auth")).unwrap(),
            JsonWebKeySetUrl::new(format!("{issuer}/jwks")).unwrap(),
            vec![ResponseTypes::new(vec![CoreResponseType::Code])],
            vec![CoreSubjectIdentifierType::Public],
            vec![],
            LogtoMetadata {
                end_session_endpoint: Some(
                    openidconnect::EndSessionUrl::new(format!("{issuer}/session/end")).unwrap(),
                ),
                authorization_response_iss_parameter_supported: iss_supported,
                revocation_endpoint: None,
            },
        )
        .set_jwks(crate::provider::ProviderKeySet::new(vec![]))
    }

    fn params(
        config: &AuthConfig,
        options: &SignInOptions,
    ) -> (HashMap<String, Vec<String>>, PendingSignIn) {
        let provider = Provider::new(config.clone()).unwrap();
        let client = provider.client(&metadata(Some(true))).unwrap();
        let (url, pending) = authorization_request(config, &client, options, "/here".into());
        assert!(url
            .as_str()
            .starts_with("https://tenant.logto.app/oidc/auth?"));
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in url.query_pairs() {
            map.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        (map, pending)
    }

    #[test]
    fn plain_sign_in_has_pkce_state_nonce_and_consent() {
        let cfg = config("", "");
        let (p, pending) = params(&cfg, &SignInOptions::default());
        assert_eq!(p["response_type"], ["code"]);
        assert_eq!(p["client_id"], ["app"]);
        assert_eq!(p["redirect_uri"], ["https://app.example.com/callback"]);
        assert_eq!(p["code_challenge_method"], ["S256"]);
        assert_eq!(p["prompt"], ["consent"]);
        assert_eq!(p["state"][0], pending.state);
        assert_eq!(p["nonce"][0], pending.nonce);
        assert!(pending.pkce_verifier.len() >= 43);
        assert_ne!(
            p["code_challenge"][0], pending.pkce_verifier,
            "only the S256 challenge is sent"
        );
        let scopes: Vec<&str> = p["scope"][0].split(' ').collect();
        assert_eq!(
            scopes,
            [
                "openid",
                "offline_access",
                "profile",
                "email",
                "identities",
                "urn:logto:scope:organizations",
                "urn:logto:scope:organization_roles"
            ]
        );
        assert_eq!(p["resource"], ["urn:logto:resource:organizations"]);
        for absent in ["first_screen", "direct_sign_in", "ui_locales", "login_hint"] {
            assert!(!p.contains_key(absent), "{absent}");
        }
        assert_eq!(pending.return_to, "/here");
    }

    #[test]
    fn each_option_maps_to_its_logto_parameter() {
        let cfg = config("", "https://api.example.com https://b.example.com");
        let (register, _) = params(
            &cfg,
            &SignInOptions {
                first_screen: Some("register".into()),
                ..Default::default()
            },
        );
        assert_eq!(register["first_screen"], ["register"]);
        let (facebook, _) = params(
            &cfg,
            &SignInOptions {
                direct_sign_in: Some("social:facebook".into()),
                ..Default::default()
            },
        );
        assert_eq!(facebook["direct_sign_in"], ["social:facebook"]);
        assert!(!facebook.contains_key("first_screen"));
        let (locales, _) = params(
            &cfg,
            &SignInOptions {
                ui_locales: Some("th en".into()),
                ..Default::default()
            },
        );
        assert_eq!(locales["ui_locales"], ["th en"]);
        assert_eq!(
            locales["resource"],
            [
                "https://api.example.com",
                "https://b.example.com",
                "urn:logto:resource:organizations"
            ]
        );
    }

    #[test]
    fn no_consent_prompt_without_offline_access() {
        let (p, _) = params(&config("openid profile", ""), &SignInOptions::default());
        assert!(!p.contains_key("prompt"));
        assert_eq!(p["scope"], ["openid profile"]);
    }

    #[test]
    fn each_request_has_fresh_secrets() {
        let cfg = config("", "");
        let (_, a) = params(&cfg, &SignInOptions::default());
        let (_, b) = params(&cfg, &SignInOptions::default());
        assert_ne!(a.state, b.state);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.pkce_verifier, b.pkce_verifier);
    }

    #[test]
    fn authorization_response_checks() {
        let m = metadata(Some(true));
        let ok = CallbackParams {
            code: Some("c".into()),
            state: Some("s".into()),
            iss: Some("https://tenant.logto.app/oidc".into()),
            ..Default::default()
        };
        assert_eq!(check_authorization_response(&m, &ok).unwrap(), "c");
        let wrong_iss = CallbackParams {
            iss: Some("https://evil/oidc".into()),
            ..ok.clone()
        };
        assert!(matches!(
            check_authorization_response(&m, &wrong_iss),
            Err(AuthError::IssuerMismatch { .. })
        ));
        let no_iss = CallbackParams {
            iss: None,
            ..ok.clone()
        };
        assert!(matches!(
            check_authorization_response(&m, &no_iss),
            Err(AuthError::IssuerMismatch { .. })
        ));
        // A provider that does not advertise RFC 9207 may omit iss.
        assert!(check_authorization_response(&metadata(None), &no_iss).is_ok());
        let error = CallbackParams {
            error: Some("access_denied".into()),
            code: None,
            ..ok.clone()
        };
        let err = check_authorization_response(&m, &error).unwrap_err();
        assert_eq!((err.code(), err.status()), ("access_denied", 403));
        let no_code = CallbackParams { code: None, ..ok };
        assert!(matches!(
            check_authorization_response(&m, &no_code),
            Err(AuthError::MissingCode)
        ));
    }

    #[test]
    fn end_session_url_has_client_id_and_post_logout_redirect() {
        let cfg = config("", "");
        let url = end_session_url(&cfg, &metadata(Some(true)), "th").unwrap();
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert!(url
            .as_str()
            .starts_with("https://tenant.logto.app/oidc/session/end?"));
        assert_eq!(q["client_id"], "app");
        assert_eq!(q["post_logout_redirect_uri"], "https://app.example.com/");
        assert_eq!(q["ui_locales"], "th");
        assert!(!q.contains_key("id_token_hint"), "no token in the URL");
        let url = end_session_url(&cfg, &metadata(Some(true)), "").unwrap();
        assert!(!url.query_pairs().any(|(k, _)| k == "ui_locales"));
    }

    #[test]
    fn pending_sign_ins_print_without_their_secrets() {
        let p = PendingSignIn {
            state: "state-secret".into(),
            nonce: "nonce-secret".into(),
            pkce_verifier: "verifier-secret".into(),
            return_to: "/profile".into(),
            created_at: 1_000,
        };
        let printed = format!("{p:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(
            printed.contains("/profile") && printed.contains("1000"),
            "{printed}"
        );
    }

    #[test]
    fn pending_sign_ins_expire() {
        let p = PendingSignIn {
            state: "s".into(),
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            return_to: "/".into(),
            created_at: 1_000,
        };
        assert!(!p.is_expired(1_000 + PENDING_TTL_SECS));
        assert!(p.is_expired(1_001 + PENDING_TTL_SECS));
        // A clock that went back a little is tolerated; more than a minute, and it is expired.
        assert!(!p.is_expired(1_000 - 60));
        assert!(p.is_expired(1_000 - 61));
    }
}
