//! The client an app builds once at start and shares with every request (cloning it costs one
//! reference count): the Logto tenant (discovery, keys), the token keeper, the session store and
//! the session lifetimes. Also what a server needs around it: the session cookie layer and a
//! clean shutdown.

use std::{sync::Arc, time::Duration};

use tower_sessions::SessionManagerLayer;

use crate::{
    session::{self, AnyStore, Stores},
    AuthConfig, AuthError, Provider, SessionConfig, TokenKeeper,
};

/// What the handle needs from the server: an axum state part (or any context). Behind one
/// `Arc`: cloned into every request, it costs one reference count.
#[derive(Clone)]
pub struct LogtoClient(Arc<LogtoShared>);

impl LogtoClient {
    /// Puts the parts behind one `Arc`; `connect` and `with_stores` build them for you.
    pub fn new(shared: LogtoShared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for LogtoClient {
    type Target = LogtoShared;
    fn deref(&self) -> &LogtoShared {
        &self.0
    }
}

/// The parts of `LogtoClient`.
pub struct LogtoShared {
    /// The Logto tenant: discovery, keys, the app's settings.
    pub provider: Arc<Provider>,
    /// Tokens by grant: refreshed with single flight, stored, revoked.
    pub keeper: Arc<TokenKeeper>,
    /// The session store, for what spans sessions (the sessions page, back-channel logout).
    pub sessions: AnyStore,
    /// Sessions end this long after sign-in, however active.
    pub max_lifetime: Duration,
    /// Sessions unused for this long end.
    pub idle_timeout: Duration,
}

/// Why `LogtoClient::connect` failed; the message names the setting to look at.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The session store (`SESSION_STORE_URL`) could not be opened: a SQLite file another
    /// process writes, a directory that cannot be made, Redis unreachable.
    #[error("session store: {0}")]
    Store(String),
    /// The HTTP client for Logto could not be built.
    #[error(transparent)]
    Provider(#[from] AuthError),
}

impl LogtoClient {
    /// Opens the session and token stores `sessions` names and makes the client for `config`'s
    /// tenant. Logto is not contacted yet: discovery happens at first use (and is retried), so
    /// a Logto that is down does not stop the app from starting.
    pub async fn connect(
        config: AuthConfig,
        sessions: &SessionConfig,
    ) -> Result<Self, ConnectError> {
        let stores = session::open_store(&sessions.store, sessions.longest_sign_in())
            .await
            .map_err(|e| ConnectError::Store(format!("{e:#}")))?;
        Ok(Self::with_stores(config, sessions, stores)?)
    }

    /// As `connect`, with stores opened by the caller (`session::open_store`; tests share one
    /// store between several clients, as instances behind a load balancer do).
    pub fn with_stores(
        config: AuthConfig,
        sessions: &SessionConfig,
        stores: Stores,
    ) -> Result<Self, AuthError> {
        let provider = Arc::new(Provider::new(config)?);
        Ok(Self::new(LogtoShared {
            keeper: Arc::new(TokenKeeper::new(provider.clone(), stores.tokens)),
            sessions: stores.sessions,
            provider,
            max_lifetime: sessions.max_lifetime,
            idle_timeout: sessions.idle_timeout,
        }))
    }

    /// The session cookie layer over this client's store: `HttpOnly`, `SameSite=Lax`, `Secure`
    /// and `__Host-` prefixed when the app is reached over https (see `session::layer`).
    pub fn session_layer(&self) -> SessionManagerLayer<AnyStore> {
        session::layer(
            self.sessions.clone(),
            self.idle_timeout,
            self.provider.config().is_https(),
        )
    }

    /// Waits for the token refreshes and revocations still running (`TokenKeeper::tasks`), after
    /// the server stopped taking requests: a refresh Logto has answered must store its rotated
    /// token, or the next start sends the spent one and Logto ends the sign-in. Bounded by the
    /// longest a refresh can take (two calls to Logto and a few store commands), so a hung Logto
    /// cannot hold the shutdown forever.
    pub async fn shutdown(&self) {
        let tasks = self.keeper.tasks();
        tasks.close();
        if tasks.is_empty() {
            return;
        }
        tracing::info!(
            running = tasks.len(),
            "waiting for token refreshes and revocations to finish"
        );
        let grace = self.provider.config().http_timeout * 2 + Duration::from_secs(5);
        if tokio::time::timeout(grace, tasks.wait()).await.is_err() {
            tracing::warn!(
                running = tasks.len(),
                "stopping with token refreshes or revocations unfinished"
            );
        }
    }
}
