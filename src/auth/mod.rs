//! The Logto auth core: configuration, provider discovery, sign-in request, callback, tokens,
//! refresh and sign-out, the Account API and access-token verification for APIs. Nothing here
//! knows about Leptos, so it can serve a plain axum app just as well.

pub mod access_token;
pub mod account;
pub mod checks;
pub mod config;
pub mod error;
pub mod flow;
pub mod http;
pub mod jwk;
pub mod jws;
pub mod keeper;
pub mod logout_token;
pub mod provider;
pub mod refresh;
pub mod return_to;
pub mod token_store;
pub mod tokens;

pub use config::{AuthConfig, ConfigError, Secret};
pub use error::AuthError;
pub use flow::{CallbackParams, PendingSignIn, SignInOptions};
pub use keeper::{TokenError, TokenKeeper};
pub use provider::Provider;
pub use token_store::{MemoryTokenStore, TokenStore, TokenStoreError};
pub use tokens::{
    AccessToken, CachedToken, ClaimValue, Organization, SignedIn, TokenSet, TokenTarget,
    UserProfile,
};

/// SHA-256 of `secret`, hex: names a secret (a refresh token in a store's compare-and-swap
/// column, a session id on a page, a callback's `state` in its once-only key) without revealing
/// it. Stored values are compared with it: its output must never change.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        secret.as_bytes(),
    ))
}

/// Seconds since the Unix epoch; the unit every stored timestamp uses.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
