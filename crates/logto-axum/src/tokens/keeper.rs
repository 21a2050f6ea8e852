//! Hands out access tokens and refreshes them safely. Logto rotates refresh tokens and revokes the
//! whole grant when a spent one comes back, so:
//! - one refresh per grant at a time (per process): later callers wait, then find the new token;
//! - the refresh runs in its own task that stores its result itself, so a request that goes away
//!   (browser closed, timeout) cannot lose a refresh token Logto has already rotated;
//! - the result is stored only if the grant still holds the refresh token that was spent
//!   (compare-and-swap): a sign-out or a newer sign-in in the meantime wins;
//! - failures are not remembered: the next call tries again.
//!
//! Several app instances on one store (Redis) also take a lock in the store, with an expiry, behind
//! the per-process one: across instances too, one refresh per grant at a time.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use openidconnect::RefreshToken;
use tokio_util::task::TaskTracker;

use crate::{
    store::{TokenStore, TokenStoreError},
    tokens::refresh::{self, RefreshFailure},
    util::now_unix,
    AccessToken, AuthError, Provider, TokenSet, TokenTarget,
};

/// Refresh when a token has less than this left, so requests never carry an expired one.
pub const REFRESH_MARGIN_SECS: i64 = 30;

#[derive(Debug, thiserror::Error)]
/// Why no token could be given.
pub enum TokenError {
    /// Logto ended the grant (`invalid_grant`, or a refreshed ID token for another user): the
    /// session that names it should end too.
    #[error("grant ended: {0}")]
    Ended(String),
    /// No tokens under this grant: the session was signed out or replaced by a newer sign-in
    /// (whose own response sets the cookie), or they expired.
    #[error("no tokens for this grant")]
    Missing,
    /// A sign-out or a newer sign-in happened while this refresh was at Logto; it was discarded.
    #[error("the session changed during the refresh")]
    Superseded,
    #[error(transparent)]
    /// Logto refused or could not be reached.
    Auth(#[from] AuthError),
    #[error(transparent)]
    /// The token store failed.
    Store(#[from] TokenStoreError),
}

/// Tokens by grant: gives fresh access tokens, refreshing with single flight (one refresh per grant
/// across requests, and across instances through the store's lock), and revokes grants. Detached
/// work (refreshes a client gave up on, revocations) is tracked so a shutdown can wait for it.
pub struct TokenKeeper {
    provider: Arc<Provider>,
    store: Arc<dyn TokenStore>,
    /// One lock per grant being refreshed; entries vanish with their last user.
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    /// Work that outlives the request that started it (refreshes, revocations): a graceful
    /// shutdown waits for it (`tasks().close()`, then `wait()`), so a refresh token Logto has
    /// rotated is stored and a revocation reaches Logto.
    tasks: TaskTracker,
}

impl TokenKeeper {
    /// A keeper over `store`, talking to `provider`.
    pub fn new(provider: Arc<Provider>, store: Arc<dyn TokenStore>) -> Self {
        Self {
            provider,
            store,
            locks: Mutex::default(),
            tasks: TaskTracker::new(),
        }
    }

    /// The token store.
    pub fn store(&self) -> &Arc<dyn TokenStore> {
        &self.store
    }

    /// The provider tokens come from.
    pub fn provider(&self) -> &Arc<Provider> {
        &self.provider
    }

    /// The detached work in flight (see the field).
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Revokes the refresh tokens at Logto, all at once, in tracked tasks of their own (a request
    /// that goes away does not stop them). Failures are logged. Await the handle to wait for
    /// them, or drop it.
    pub fn revoke(&self, refresh_tokens: Vec<String>) -> tokio::task::JoinHandle<()> {
        let provider = self.provider.clone();
        let all: Vec<_> = refresh_tokens
            .into_iter()
            .map(|token| {
                let provider = provider.clone();
                self.tasks.spawn(async move {
                    match refresh::revoke_refresh_token(&provider, &token).await {
                        Ok(()) => tracing::info!("refresh token revoked"),
                        Err(err) => tracing::warn!("could not revoke a refresh token: {err}"),
                    }
                })
            })
            .collect();
        self.tasks.spawn(async move {
            for task in all {
                let _ = task.await;
            }
        })
    }

    /// The grant's tokens as stored now.
    pub async fn tokens(&self, grant: &str) -> Result<TokenSet, TokenError> {
        match self.store.load(grant).await? {
            None => Err(TokenError::Missing),
            Some(set) => match &set.ended {
                Some(why) => Err(TokenError::Ended(why.clone())),
                None => Ok(set),
            },
        }
    }

    /// A token for `target` with at least `REFRESH_MARGIN_SECS` left, refreshing if needed.
    /// `rejected`: a token an API just refused; it is not handed out again.
    pub async fn token(
        self: &Arc<Self>,
        grant: &str,
        target: &TokenTarget,
        rejected: Option<&AccessToken>,
    ) -> Result<AccessToken, TokenError> {
        let rejected = rejected.map(|t| t.secret().to_owned());
        let set = self.tokens(grant).await?;
        if let Some(token) =
            set.usable(target, now_unix(), REFRESH_MARGIN_SECS, rejected.as_deref())
        {
            return Ok(token);
        }
        let seen = set.token_for(target).map(str::to_owned);
        let keeper = self.clone();
        let (grant, target) = (grant.to_owned(), target.clone());
        // Spawned: it finishes and stores its result even if this request is dropped (and a
        // shutdown waits for it).
        self.tasks
            .spawn(async move { keeper.refresh_locked(&grant, &target, seen, rejected).await })
            .await
            .map_err(|e| TokenError::Store(TokenStoreError(format!("refresh task failed: {e}"))))?
    }

    /// `seen`: the target's token when the caller found it wanting.
    async fn refresh_locked(
        &self,
        grant: &str,
        target: &TokenTarget,
        seen: Option<String>,
        rejected: Option<String>,
    ) -> Result<AccessToken, TokenError> {
        // Discovery (two requests when not cached) before the locks, so that the shared lock
        // covers only the refresh itself (see `shared_lock_ttl`).
        self.provider.metadata().await?;
        let lock = self.lock_for(grant);
        let _one_at_a_time = lock.lock().await;
        let owner = openidconnect::CsrfToken::new_random().secret().clone();
        self.lock_across_instances(grant, &owner).await?;
        let result = self
            .refresh_holding_locks(grant, target, seen, rejected)
            .await;
        if let Err(err) = self.store.unlock_refresh(grant, &owner).await {
            // It expires by itself; meanwhile other instances wait for it.
            tracing::warn!("could not release the refresh lock: {err}");
        }
        result
    }

    /// The shared lock's lifetime: longer than a refresh can take, so it only runs out if its
    /// holder died. Under the lock a refresh makes at most two requests to Logto (the token
    /// request; the signing keys again if the ID token names a new key), each bounded by the
    /// HTTP timeout, and a few store commands (a couple of seconds each at worst): 3x + 5 s.
    fn shared_lock_ttl(&self) -> Duration {
        self.provider.config().http_timeout * 3 + Duration::from_secs(5)
    }

    /// Waits for the store's refresh lock of `grant`: another instance holding it is refreshing
    /// that grant, and this one will find its result.
    async fn lock_across_instances(&self, grant: &str, owner: &str) -> Result<(), TokenError> {
        let ttl = self.shared_lock_ttl();
        // A little past the lock's expiry: a holder that died frees it by then.
        let deadline = tokio::time::Instant::now() + ttl + Duration::from_secs(2);
        loop {
            if self.store.try_lock_refresh(grant, owner, ttl).await? {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(TokenError::Store(TokenStoreError(
                    "the refresh lock was not released in time".into(),
                )));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn refresh_holding_locks(
        &self,
        grant: &str,
        target: &TokenTarget,
        seen: Option<String>,
        rejected: Option<String>,
    ) -> Result<AccessToken, TokenError> {
        // Whoever held the lock before may have done the work already: a token for this target
        // that is new since the caller looked is good as long as it has not expired (even if the
        // provider issues tokens shorter-lived than the margin).
        let current = self.tokens(grant).await?;
        let renewed = current.token_for(target) != seen.as_deref();
        let margin = if renewed { 0 } else { REFRESH_MARGIN_SECS };
        if let Some(token) = current.usable(target, now_unix(), margin, rejected.as_deref()) {
            return Ok(token);
        }
        let spent = current.refresh_token.clone();
        let next = match refresh::refresh(&self.provider, &current, target).await {
            Ok(next) => next,
            Err(RefreshFailure::GrantEnded { why, issued }) => {
                return Err(self.end_grant(grant, &current, spent, why, issued).await);
            }
            Err(RefreshFailure::Failed(err)) => return Err(err.into()),
        };
        if !self
            .store
            .replace_if(grant, spent.as_deref(), &next)
            .await?
        {
            // Signed out or signed in anew while we were at Logto: their state wins. The refresh
            // token we just got is dropped, not revoked: Logto revokes a refresh token's whole
            // grant, which a newer sign-in of the same user in this browser shares. (A sign-out
            // has revoked that grant already.)
            tracing::info!(sub = %current.sub, "refreshed tokens discarded: the session changed meanwhile");
            return Err(TokenError::Superseded);
        }
        tracing::debug!(sub = %next.sub, target = %target.key(), "tokens refreshed");
        next.usable(target, now_unix(), 0, None).ok_or_else(|| {
            TokenError::Auth(AuthError::TokenExchange(
                "the provider answered with an already expired token".into(),
            ))
        })
    }

    /// The grant is dead at Logto, or its answer cannot be trusted. A refresh token that came
    /// with that answer is revoked; the spent one is never sent again. Leaves a tombstone (tokens
    /// dropped) rather than delete, so that every later request of this session knows to end it.
    async fn end_grant(
        &self,
        grant: &str,
        current: &TokenSet,
        spent: Option<String>,
        why: String,
        issued: Option<RefreshToken>,
    ) -> TokenError {
        tracing::info!(sub = %current.sub, "token refresh refused, grant ended: {why}");
        if let Some(issued) = issued {
            drop(self.revoke(vec![issued.secret().clone()]));
        }
        let tombstone = current.ended_because(&why);
        match self
            .store
            .replace_if(grant, spent.as_deref(), &tombstone)
            .await
        {
            Ok(true) => TokenError::Ended(why),
            // Signed out or signed in anew meanwhile: that request owns the cookie now.
            Ok(false) => TokenError::Superseded,
            Err(err) => {
                tracing::error!("could not mark a dead grant: {err}");
                TokenError::Ended(why)
            }
        }
    }

    fn lock_for(&self, grant: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = locks.get(grant).and_then(Weak::upgrade) {
            return lock;
        }
        locks.retain(|_, l| l.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(grant.to_owned(), Arc::downgrade(&lock));
        lock
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuthConfig, MemoryTokenStore};

    fn keeper() -> TokenKeeper {
        keeper_on(Arc::new(MemoryTokenStore::default()))
    }

    fn keeper_on(store: Arc<dyn TokenStore>) -> TokenKeeper {
        let vars = [
            ("LOGTO_ENDPOINT", "https://tenant.logto.app"),
            ("LOGTO_APP_ID", "app"),
            ("LOGTO_APP_SECRET", "secret"),
            ("APP_BASE_URL", "https://app.example.com"),
        ];
        let config = AuthConfig::from_lookup(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap();
        TokenKeeper::new(Arc::new(Provider::new(config).unwrap()), store)
    }

    /// A store on which another instance holds every refresh lock (and never gives it back).
    #[derive(Default)]
    struct LockedElsewhere {
        tokens: MemoryTokenStore,
        asked_ttl: std::sync::Mutex<Option<Duration>>,
    }

    #[async_trait::async_trait]
    impl TokenStore for LockedElsewhere {
        async fn load(&self, grant: &str) -> Result<Option<TokenSet>, TokenStoreError> {
            self.tokens.load(grant).await
        }
        async fn insert(
            &self,
            grant: &str,
            tokens: &TokenSet,
            ttl: Duration,
        ) -> Result<(), TokenStoreError> {
            self.tokens.insert(grant, tokens, ttl).await
        }
        async fn replace_if(
            &self,
            grant: &str,
            spent: Option<&str>,
            tokens: &TokenSet,
        ) -> Result<bool, TokenStoreError> {
            self.tokens.replace_if(grant, spent, tokens).await
        }
        async fn delete(&self, grant: &str) -> Result<(), TokenStoreError> {
            self.tokens.delete(grant).await
        }
        async fn try_lock_refresh(
            &self,
            _grant: &str,
            _owner: &str,
            ttl: Duration,
        ) -> Result<bool, TokenStoreError> {
            *self.asked_ttl.lock().unwrap() = Some(ttl);
            Ok(false)
        }
    }

    /// The lock outlives the slowest refresh, and an instance waits for a lock held elsewhere
    /// until a little past its expiry (its holder died), then gives up with an error.
    #[tokio::test(start_paused = true)]
    async fn a_lock_held_elsewhere_is_waited_for_until_just_past_its_expiry() {
        let store = Arc::new(LockedElsewhere::default());
        let keeper = keeper_on(store.clone());
        let store_commands = Duration::from_secs(2) * 3;
        let slowest_refresh = keeper.provider.config().http_timeout * 2 + store_commands;
        let start = tokio::time::Instant::now();
        let result = keeper.lock_across_instances("g", "me").await;
        let waited = start.elapsed();
        assert!(matches!(result, Err(TokenError::Store(_))), "{result:?}");
        let ttl = store.asked_ttl.lock().unwrap().unwrap();
        assert!(ttl > slowest_refresh, "{ttl:?}");
        let past_expiry = ttl + Duration::from_secs(2);
        assert!(
            waited >= past_expiry && waited < past_expiry + Duration::from_millis(100),
            "waited {waited:?} for a lock of {ttl:?}"
        );
    }

    #[test]
    fn one_lock_per_grant_while_in_use_and_none_kept_after() {
        let keeper = keeper();
        let a = keeper.lock_for("a");
        let b = keeper.lock_for("b");
        assert!(
            Arc::ptr_eq(&a, &keeper.lock_for("a")),
            "same grant, same lock"
        );
        assert!(!Arc::ptr_eq(&a, &b));
        // Making a lock for another grant must not forget the ones in use…
        let _c = keeper.lock_for("c");
        assert!(Arc::ptr_eq(&a, &keeper.lock_for("a")));
        // …but does forget unused ones.
        drop((a, b));
        let _d = keeper.lock_for("d");
        let mut left: Vec<String> = keeper.locks.lock().unwrap().keys().cloned().collect();
        left.sort();
        assert_eq!(left, ["c", "d"]);
    }
}
