//! The token store's SQLite and Redis backends (the trait and the in-memory one are in
//! `auth::token_store`). Each makes "replace only if the refresh token is still the one spent" a
//! single atomic operation: one `UPDATE … WHERE` in SQLite, one Lua script in Redis.

use std::time::Duration;

use async_trait::async_trait;
use tower_sessions_redis_store::fred::{
    clients::Pool,
    interfaces::{KeysInterface, LuaInterface},
};
use tower_sessions_sqlx_store::sqlx::{self, Row, SqlitePool};

use crate::auth::{now_unix, TokenSet, TokenStore, TokenStoreError};

fn store_err(e: impl std::fmt::Display) -> TokenStoreError {
    TokenStoreError(e.to_string())
}

fn encode(tokens: &TokenSet) -> Result<String, TokenStoreError> {
    serde_json::to_string(tokens).map_err(store_err)
}

fn decode(data: &str) -> Result<TokenSet, TokenStoreError> {
    serde_json::from_str(data).map_err(store_err)
}

fn ttl_secs(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX).max(1)
}

#[derive(Clone, Debug)]
pub struct SqliteTokenStore {
    pool: SqlitePool,
}

impl SqliteTokenStore {
    /// Creates the table if needed and sweeps expired rows every minute in the background.
    pub async fn new(pool: SqlitePool) -> Result<Self, TokenStoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS auth_tokens (
                grant_id TEXT PRIMARY KEY NOT NULL,
                sub TEXT NOT NULL,
                refresh_token TEXT,
                data TEXT NOT NULL,
                expires_at INTEGER NOT NULL
            )",
        )
        .execute(&pool)
        .await
        .map_err(store_err)?;
        let store = Self { pool };
        let sweeper = store.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                if let Err(err) = sqlx::query("DELETE FROM auth_tokens WHERE expires_at <= ?")
                    .bind(now_unix())
                    .execute(&sweeper.pool)
                    .await
                {
                    tracing::warn!("sweeping expired tokens failed: {err}");
                }
            }
        });
        Ok(store)
    }
}

#[async_trait]
impl TokenStore for SqliteTokenStore {
    async fn load(&self, grant: &str) -> Result<Option<TokenSet>, TokenStoreError> {
        let row = sqlx::query("SELECT data FROM auth_tokens WHERE grant_id = ? AND expires_at > ?")
            .bind(grant)
            .bind(now_unix())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        match row {
            None => Ok(None),
            Some(r) => decode(r.try_get::<&str, _>(0).map_err(store_err)?).map(Some),
        }
    }

    async fn insert(
        &self,
        grant: &str,
        tokens: &TokenSet,
        ttl: Duration,
    ) -> Result<(), TokenStoreError> {
        sqlx::query(
            "INSERT OR REPLACE INTO auth_tokens (grant_id, sub, refresh_token, data, expires_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(grant)
        .bind(&tokens.sub)
        .bind(&tokens.refresh_token)
        .bind(encode(tokens)?)
        .bind(now_unix().saturating_add(ttl_secs(ttl)))
        .execute(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn replace_if(
        &self,
        grant: &str,
        spent: Option<&str>,
        tokens: &TokenSet,
    ) -> Result<bool, TokenStoreError> {
        let done = sqlx::query(
            "UPDATE auth_tokens SET refresh_token = ?, data = ?
             WHERE grant_id = ? AND sub = ? AND refresh_token IS ? AND expires_at > ?",
        )
        .bind(&tokens.refresh_token)
        .bind(encode(tokens)?)
        .bind(grant)
        .bind(&tokens.sub)
        .bind(spent)
        .bind(now_unix())
        .execute(&self.pool)
        .await
        .map_err(store_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete(&self, grant: &str) -> Result<(), TokenStoreError> {
        sqlx::query("DELETE FROM auth_tokens WHERE grant_id = ?")
            .bind(grant)
            .execute(&self.pool)
            .await
            .map_err(store_err)?;
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct RedisTokenStore {
    pool: Pool,
}

/// Replaces `data` only while `sub` and `rt` are what the caller read (an absent key never
/// matches); HSET keeps the key's expiry.
const REPLACE_IF: &str = r#"
if redis.call('HGET', KEYS[1], 'sub') == ARGV[1] and redis.call('HGET', KEYS[1], 'rt') == ARGV[2] then
  redis.call('HSET', KEYS[1], 'rt', ARGV[3], 'data', ARGV[4])
  return 1
end
return 0
"#;

const INSERT: &str = r#"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'sub', ARGV[1], 'rt', ARGV[2], 'data', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"#;

impl RedisTokenStore {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    fn key(grant: &str) -> String {
        format!("logto-leptos:tokens:{grant}")
    }

    fn lock_key(grant: &str) -> String {
        format!("logto-leptos:refresh-lock:{grant}")
    }
}

#[async_trait]
impl TokenStore for RedisTokenStore {
    async fn load(&self, grant: &str) -> Result<Option<TokenSet>, TokenStoreError> {
        use tower_sessions_redis_store::fred::interfaces::HashesInterface;
        let data: Option<String> = self
            .pool
            .hget(Self::key(grant), "data")
            .await
            .map_err(store_err)?;
        data.as_deref().map(decode).transpose()
    }

    async fn insert(
        &self,
        grant: &str,
        tokens: &TokenSet,
        ttl: Duration,
    ) -> Result<(), TokenStoreError> {
        let _: i64 = self
            .pool
            .eval(
                INSERT,
                vec![Self::key(grant)],
                vec![
                    tokens.sub.clone(),
                    tokens.refresh_token.clone().unwrap_or_default(),
                    encode(tokens)?,
                    ttl_secs(ttl).to_string(),
                ],
            )
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn replace_if(
        &self,
        grant: &str,
        spent: Option<&str>,
        tokens: &TokenSet,
    ) -> Result<bool, TokenStoreError> {
        let replaced: i64 = self
            .pool
            .eval(
                REPLACE_IF,
                vec![Self::key(grant)],
                vec![
                    tokens.sub.clone(),
                    spent.unwrap_or_default().to_owned(),
                    tokens.refresh_token.clone().unwrap_or_default(),
                    encode(tokens)?,
                ],
            )
            .await
            .map_err(store_err)?;
        Ok(replaced == 1)
    }

    async fn delete(&self, grant: &str) -> Result<(), TokenStoreError> {
        let _: i64 = self.pool.del(Self::key(grant)).await.map_err(store_err)?;
        Ok(())
    }

    async fn try_lock_refresh(
        &self,
        grant: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, TokenStoreError> {
        use tower_sessions_redis_store::fred::types::{Expiration, SetOptions};
        let set: Option<String> = self
            .pool
            .set(
                Self::lock_key(grant),
                owner,
                Some(Expiration::PX(
                    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
                )),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(store_err)?;
        Ok(set.is_some())
    }

    async fn unlock_refresh(&self, grant: &str, owner: &str) -> Result<(), TokenStoreError> {
        let _: i64 = self
            .pool
            .eval(UNLOCK, vec![Self::lock_key(grant)], vec![owner.to_owned()])
            .await
            .map_err(store_err)?;
        Ok(())
    }
}

/// Deletes the lock only if it is still the caller's (not one another instance took after it
/// expired).
const UNLOCK: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;
