//! Everything that can go wrong signing a user in or out. Each variant knows the HTTP status and the
//! message a user may see; the `Display` form (with causes) is for logs only.

/// Stable codes for the UI (and for translations): never contain provider-supplied text.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("identity provider unavailable: {0}")]
    /// Logto could not be reached or answered with a server error; worth retrying later.
    ProviderUnavailable(String),
    /// Logto answered, but not as the configured issuer (LOGTO_ENDPOINT names another tenant, or
    /// a proxy rewrites the discovery document): a setting to fix, not an outage.
    #[error("LOGTO_ENDPOINT is misconfigured: {0}")]
    ProviderMisconfigured(String),
    #[error("callback without state")]
    /// The callback came without `state`: not a redirect from Logto for a sign-in started here.
    MissingState,
    #[error("callback state matches no pending sign-in (unknown, expired or already used)")]
    /// The callback's `state` names no pending sign-in of this browser (unknown, expired, or
    /// already used: a replay).
    UnknownState,
    #[error("authorization response iss {got:?} does not match issuer {expected:?}")]
    /// RFC 9207: the callback's `iss` is not the configured issuer (a mix-up attack, or another
    /// tenant).
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// What the callback said, if anything.
        got: Option<String>,
    },
    #[error("provider returned error {code:?}: {description:?}")]
    /// Logto sent the user back with an OAuth error (e.g. `access_denied` when they cancelled).
    ProviderError {
        /// The OAuth error code.
        code: String,
        /// Logto's description, for the log.
        description: Option<String>,
    },
    #[error("callback without code")]
    /// The callback had neither a code nor an error.
    MissingCode,
    #[error("token exchange failed: {0}")]
    /// Logto refused to exchange the code for tokens (expired, used, or for another client).
    TokenExchange(String),
    #[error("token response has no ID token")]
    /// The token response lacked the ID token sign-in requires.
    MissingIdToken,
    #[error("ID token rejected: {0}")]
    /// The ID token failed a check (signature, issuer, audience, expiry, nonce, `at_hash`).
    InvalidIdToken(String),
    /// The token names a key the provider does not list, and the keys could not be fetched again
    /// now (refetched moments ago, or Logto away): it may be Logto's newest key, or a forgery.
    #[error("ID token signed with an unknown key: {0}")]
    UnknownSigningKey(String),
    #[error("userinfo request failed: {0}")]
    /// Logto's userinfo endpoint could not be read.
    UserInfo(String),
    #[error("userinfo rejected: {0}")]
    /// Userinfo answered for another user than the ID token's (`sub` differs).
    UserInfoMismatch(String),
    /// The grant is alive, but the provider will not issue a token for that resource or
    /// organization (e.g. `access_denied`: not a member; `invalid_target`: unknown resource).
    #[error("provider refused the token: {code} ({description:?})")]
    TokenRefused {
        /// The OAuth error code.
        code: String,
        /// Logto's description, for the log.
        description: Option<String>,
    },
    /// This client started or finished too many sign-ins lately.
    #[error("too many sign-in attempts from this client")]
    RateLimited,
}

impl AuthError {
    /// The HTTP status the user's page gets.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::ProviderUnavailable(_) => 503,
            AuthError::ProviderMisconfigured(_) => 500,
            AuthError::TokenExchange(_) | AuthError::UserInfo(_) => 502,
            AuthError::ProviderError { code, .. } if code == "access_denied" => 403,
            AuthError::TokenRefused { .. } => 403,
            AuthError::RateLimited => 429,
            // Every variant named: a new one must be given its status, not fall into 400.
            AuthError::ProviderError { .. }
            | AuthError::MissingState
            | AuthError::UnknownState
            | AuthError::IssuerMismatch { .. }
            | AuthError::MissingCode
            | AuthError::MissingIdToken
            | AuthError::InvalidIdToken(_)
            | AuthError::UnknownSigningKey(_)
            | AuthError::UserInfoMismatch(_) => 400,
        }
    }

    /// Logto unreachable or failing (worth another try later), as opposed to Logto saying no.
    pub fn is_provider_trouble(&self) -> bool {
        matches!(
            self,
            AuthError::ProviderUnavailable(_)
                | AuthError::TokenExchange(_)
                | AuthError::UserInfo(_)
        )
    }

    /// A stable, machine-readable code the UI maps to a translated message.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::ProviderUnavailable(_) => "provider_unavailable",
            AuthError::ProviderMisconfigured(_) => "provider_misconfigured",
            AuthError::MissingState | AuthError::UnknownState => "state_mismatch",
            AuthError::IssuerMismatch { .. } => "issuer_mismatch",
            AuthError::ProviderError { code, .. } => match code.as_str() {
                "access_denied" => "access_denied",
                "login_required" | "consent_required" | "interaction_required" => "login_required",
                _ => "provider_error",
            },
            AuthError::MissingCode => "missing_code",
            AuthError::TokenExchange(_) => "token_exchange_failed",
            AuthError::MissingIdToken
            | AuthError::InvalidIdToken(_)
            | AuthError::UnknownSigningKey(_) => "invalid_id_token",
            AuthError::UserInfo(_) => "userinfo_failed",
            AuthError::UserInfoMismatch(_) => "invalid_id_token",
            AuthError::TokenRefused { .. } => "token_refused",
            AuthError::RateLimited => "rate_limited",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AuthError::{self, *};

    /// What the browser is told: 5xx only for Logto's own trouble, 4xx for what was refused.
    #[test]
    fn each_failure_has_its_status() {
        let refused = |code: &str| ProviderError {
            code: code.into(),
            description: None,
        };
        let cases: [(AuthError, u16); 16] = [
            (UnknownSigningKey("kid".into()), 400),
            (ProviderUnavailable("down".into()), 503),
            (ProviderMisconfigured("issuer".into()), 500),
            (TokenExchange("502".into()), 502),
            (UserInfo("timeout".into()), 502),
            (refused("access_denied"), 403),
            (refused("invalid_request"), 400),
            (
                TokenRefused {
                    code: "invalid_target".into(),
                    description: None,
                },
                403,
            ),
            (RateLimited, 429),
            (MissingState, 400),
            (UnknownState, 400),
            (MissingCode, 400),
            (InvalidIdToken("bad signature".into()), 400),
            (UserInfoMismatch("sub".into()), 400),
            (MissingIdToken, 400),
            (
                IssuerMismatch {
                    expected: "https://a/oidc".into(),
                    got: None,
                },
                400,
            ),
        ];
        for (err, status) in cases {
            assert_eq!(err.status(), status, "{err}");
        }
    }

    /// Logto's "the user must sign in again" answers read the same; other provider errors are
    /// told as such, never with the provider's own text.
    #[test]
    fn provider_errors_have_stable_codes() {
        let code = |c: &str| {
            ProviderError {
                code: c.into(),
                description: Some("text from the provider".into()),
            }
            .code()
        };
        for c in ["login_required", "consent_required", "interaction_required"] {
            assert_eq!(code(c), "login_required", "{c}");
        }
        assert_eq!(code("access_denied"), "access_denied");
        assert_eq!(code("server_error"), "provider_error");
    }
}
