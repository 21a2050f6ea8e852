//! The token store's SQLite and Redis backends (the trait and the in-memory one are in
//! `auth::token_store`). Each makes "replace only if the refresh token is still the one spent" a
//! single atomic operation: one `UPDATE … WHERE` in SQLite, one Lua script in Redis. The column
//! (field) that operation compares holds a SHA-256 of the refresh token, not the token: the token
//! itself is only in the serialized set.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use tower_sessions_redis_store::fred::{
    clients::Pool,
    interfaces::{KeysInterface, LuaInterface},
};
use tower_sessions_sqlx_store::sqlx::{self, Row, SqlitePool};

use crate::{now_unix, sha256_hex, TokenSet, TokenStore, TokenStoreError};

/// What the compare-and-swap compares: a hash of the refresh token (`None` as none).
fn rt_hash(refresh_token: Option<&str>) -> Option<String> {
    refresh_token.map(sha256_hex)
}

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
    /// This process's claim on the file (`crate::store::sqlite_file`), held as long as the store is.
    writer_lock: Option<Arc<crate::store::sqlite_file::WriterLock>>,
}

impl SqliteTokenStore {
    /// Creates the table if needed and sweeps expired rows every minute in the background.
    pub async fn new(pool: SqlitePool) -> Result<Self, TokenStoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS auth_tokens (
                grant_id TEXT PRIMARY KEY NOT NULL,
                sub TEXT NOT NULL,
                refresh_token_hash TEXT,
                data TEXT NOT NULL,
                expires_at INTEGER NOT NULL
            )",
        )
        .execute(&pool)
        .await
        .map_err(store_err)?;
        migrate_plaintext_column(&pool).await.map_err(store_err)?;
        let store = Self {
            pool,
            writer_lock: None,
        };
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

/// Tables from before the hash kept the refresh token itself in a `refresh_token` column: move
/// each to its hash (in one transaction) and drop the column.
async fn migrate_plaintext_column(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    let columns: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info('auth_tokens')")
            .fetch_all(pool)
            .await?;
    if !columns.iter().any(|c| c == "refresh_token") {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    if !columns.iter().any(|c| c == "refresh_token_hash") {
        sqlx::query("ALTER TABLE auth_tokens ADD COLUMN refresh_token_hash TEXT")
            .execute(&mut *tx)
            .await?;
    }
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT grant_id, refresh_token FROM auth_tokens")
            .fetch_all(&mut *tx)
            .await?;
    for (grant, token) in rows {
        sqlx::query("UPDATE auth_tokens SET refresh_token_hash = ? WHERE grant_id = ?")
            .bind(rt_hash(token.as_deref()))
            .bind(grant)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("ALTER TABLE auth_tokens DROP COLUMN refresh_token")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!("token store: refresh tokens replaced by their hashes in the compare column");
    Ok(())
}

impl SqliteTokenStore {
    /// Holds the SQLite file's writer lock for as long as this store (or a clone) lives.
    pub fn holding(mut self, lock: Arc<crate::store::sqlite_file::WriterLock>) -> Self {
        self.writer_lock = Some(lock);
        self
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
            "INSERT OR REPLACE INTO auth_tokens (grant_id, sub, refresh_token_hash, data, expires_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(grant)
        .bind(&tokens.sub)
        .bind(rt_hash(tokens.refresh_token.as_deref()))
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
            "UPDATE auth_tokens SET refresh_token_hash = ?, data = ?
             WHERE grant_id = ? AND sub = ? AND refresh_token_hash IS ? AND expires_at > ?",
        )
        .bind(rt_hash(tokens.refresh_token.as_deref()))
        .bind(encode(tokens)?)
        .bind(grant)
        .bind(&tokens.sub)
        .bind(rt_hash(spent))
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

/// Replaces `data` only while `sub` and the refresh token's hash `rth` are what the caller read
/// (an absent key never matches); HSET keeps the key's expiry. Sets written before the hash have
/// the token itself in `rt` (`ARGV[5]`, the spent one): matched once, then moved to `rth`.
const REPLACE_IF: &str = r#"
if redis.call('HGET', KEYS[1], 'sub') ~= ARGV[1] then return 0 end
local rth = redis.call('HGET', KEYS[1], 'rth')
local same = rth == ARGV[2]
if not rth then same = redis.call('HGET', KEYS[1], 'rt') == ARGV[5] end
if same then
  redis.call('HSET', KEYS[1], 'rth', ARGV[3], 'data', ARGV[4])
  redis.call('HDEL', KEYS[1], 'rt')
  return 1
end
return 0
"#;

const INSERT: &str = r#"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'sub', ARGV[1], 'rth', ARGV[2], 'data', ARGV[3])
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
                    rt_hash(tokens.refresh_token.as_deref()).unwrap_or_default(),
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
                    rt_hash(spent).unwrap_or_default(),
                    rt_hash(tokens.refresh_token.as_deref()).unwrap_or_default(),
                    encode(tokens)?,
                    spent.unwrap_or_default().to_owned(),
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
