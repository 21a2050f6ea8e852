#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod access_token;
pub mod account;
pub mod actions;
pub mod client;
pub mod config;
pub mod error;
pub mod fetch_site;
pub mod flow;
pub mod handle;
pub mod http;
pub(crate) mod logout_token;
pub mod provider;
pub mod resource;
pub mod routes;
mod secret;
pub mod session;
pub mod session_config;
pub mod store;
pub mod tokens;
pub mod user_sessions;
pub(crate) mod util;

pub use account::FederatedTokenError;
pub use actions::{FlowError, SignedInTo};
pub use client::{ConnectError, LogtoClient};
pub use config::{AuthConfig, AuthConfigBuilder, ConfigError, Secret};
pub use error::AuthError;
pub use flow::{CallbackParams, PendingSignIn, SignInOptions};
pub use handle::{Logto, LogtoError, SignedInUser};
pub use provider::Provider;
pub use resource::{AuthInfo, OrganizationTokens, Refusal, Verifier};
pub use routes::routes;
pub use session_config::{without_password, SessionConfig, SessionStoreKind};
pub use store::{MemoryTokenStore, TokenStore, TokenStoreError};
pub use tokens::keeper::{TokenError, TokenKeeper};
pub use tokens::{
    AccessToken, CachedToken, ClaimValue, Organization, SignedIn, TokenSet, TokenTarget,
    UserProfile,
};
pub use user_sessions::{SessionEnded, SessionSummary};
pub use util::{now_unix, sha256_hex};
