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
pub mod session_config;
pub mod token_store;
pub mod tokens;
pub mod util;

pub use config::{AuthConfig, ConfigError, Secret};
pub use error::AuthError;
pub use flow::{CallbackParams, PendingSignIn, SignInOptions};
pub use keeper::{TokenError, TokenKeeper};
pub use provider::Provider;
pub use session_config::{without_password, SessionConfig, SessionStoreKind};
pub use token_store::{MemoryTokenStore, TokenStore, TokenStoreError};
pub use tokens::{
    AccessToken, CachedToken, ClaimValue, Organization, SignedIn, TokenSet, TokenTarget,
    UserProfile,
};
pub use util::{now_unix, sha256_hex};
