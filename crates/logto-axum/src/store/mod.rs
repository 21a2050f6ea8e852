//! Where token sets live: outside the session record, so that a refresh can replace them
//! atomically (compare-and-swap on the refresh token it spent) without racing the whole-record
//! saves of other requests of the same session. Backends: memory here, SQLite and Redis in
//! `sqlite.rs` and `redis.rs` (cargo features of the same names).

#[cfg(any(feature = "sqlite", feature = "redis"))]
mod codec;
#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite_file;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;

use crate::{util::now_unix, TokenSet};

#[derive(Debug, thiserror::Error)]
#[error("token store: {0}")]
/// A token store failure, with its cause.
pub struct TokenStoreError(pub String);

#[async_trait]
/// Where tokens live, by grant, apart from the session record so a refresh can replace them
/// atomically (compare-and-swap on the refresh token spent). Memory, SQLite and Redis implement it.
pub trait TokenStore: Send + Sync + 'static {
    /// The grant's tokens, if stored and not expired.
    async fn load(&self, grant: &str) -> Result<Option<TokenSet>, TokenStoreError>;
    /// Stores a new grant's tokens for at most `ttl`.
    async fn insert(
        &self,
        grant: &str,
        tokens: &TokenSet,
        ttl: Duration,
    ) -> Result<(), TokenStoreError>;
    /// Replaces the grant's tokens only if they still hold `spent` as refresh token (nobody signed
    /// out, signed in anew or refreshed meanwhile). Keeps the expiry. Returns whether it replaced.
    async fn replace_if(
        &self,
        grant: &str,
        spent: Option<&str>,
        tokens: &TokenSet,
    ) -> Result<bool, TokenStoreError>;
    /// Forgets the grant's tokens (sign-out, session end).
    async fn delete(&self, grant: &str) -> Result<(), TokenStoreError>;
    /// Takes the refresh lock of `grant` for every app instance on this store, for at most `ttl`,
    /// under `owner` (a random value only the taker knows). False: another holds it. Stores one
    /// process owns (memory, SQLite) need nothing beyond the keeper's per-process lock.
    async fn try_lock_refresh(
        &self,
        _grant: &str,
        _owner: &str,
        _ttl: Duration,
    ) -> Result<bool, TokenStoreError> {
        Ok(true)
    }
    /// Releases the lock if `owner` still holds it (it may have expired and been taken since).
    async fn unlock_refresh(&self, _grant: &str, _owner: &str) -> Result<(), TokenStoreError> {
        Ok(())
    }
}

/// In-process token store, for `SESSION_STORE_URL=memory` and tests.
#[derive(Clone, Default)]
pub struct MemoryTokenStore {
    /// grant -> (tokens, expires at unix seconds)
    sets: Arc<Mutex<HashMap<String, (TokenSet, i64)>>>,
}

impl MemoryTokenStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (TokenSet, i64)>> {
        // A panic while holding this lock cannot leave a half-written entry: recover the map.
        self.sets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self, grant: &str) -> Result<Option<TokenSet>, TokenStoreError> {
        let now = now_unix();
        Ok(self
            .lock()
            .get(grant)
            .filter(|(_, exp)| unexpired(*exp, now))
            .map(|(t, _)| t.clone()))
    }

    async fn insert(
        &self,
        grant: &str,
        tokens: &TokenSet,
        ttl: Duration,
    ) -> Result<(), TokenStoreError> {
        let now = now_unix();
        let mut sets = self.lock();
        sets.retain(|_, (_, exp)| unexpired(*exp, now));
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        sets.insert(grant.to_owned(), (tokens.clone(), now.saturating_add(ttl)));
        Ok(())
    }

    async fn replace_if(
        &self,
        grant: &str,
        spent: Option<&str>,
        tokens: &TokenSet,
    ) -> Result<bool, TokenStoreError> {
        let now = now_unix();
        let mut sets = self.lock();
        match sets.get_mut(grant) {
            Some((current, exp))
                if unexpired(*exp, now)
                    && current.refresh_token.as_deref() == spent
                    && current.sub == tokens.sub =>
            {
                *current = tokens.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(&self, grant: &str) -> Result<(), TokenStoreError> {
        self.lock().remove(grant);
        Ok(())
    }
}

/// An entry is gone from the second it expires, as in SQLite and Redis.
fn unexpired(expires_at: i64, now: i64) -> bool {
    expires_at > now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gone_from_the_second_it_expires() {
        assert!(unexpired(101, 100));
        assert!(!unexpired(100, 100));
        assert!(!unexpired(99, 100));
    }

    fn tokens(sub: &str) -> TokenSet {
        TokenSet {
            sub: sub.into(),
            id_token: String::new(),
            id_token_claims: Default::default(),
            access_token: "at".into(),
            access_token_expires_at: None,
            refresh_token: Some("rt".into()),
            targeted: Default::default(),
            ended: None,
        }
    }

    /// An entry is gone from the second it expires (a zero lifetime: at once), and expired
    /// entries are dropped from memory on the next insert.
    #[tokio::test]
    async fn memory_entries_are_gone_at_their_expiry() {
        let store = MemoryTokenStore::default();
        store
            .insert("short", &tokens("a"), Duration::ZERO)
            .await
            .unwrap();
        assert!(store.load("short").await.unwrap().is_none());
        let replaced = store.replace_if("short", Some("rt"), &tokens("a")).await;
        assert!(!replaced.unwrap(), "an expired entry replaced");
        store
            .insert("long", &tokens("b"), Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(
            store.load("long").await.unwrap().map(|t| t.sub),
            Some("b".into())
        );
        assert!(!store.lock().contains_key("short"), "an expired entry kept");
    }
}
