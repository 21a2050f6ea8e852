//! The token store in Redis (cargo feature `redis`): "replace only if the refresh token is still
//! the one spent" is one Lua script, and the refresh lock that keeps one refresh per grant across
//! instances is a key with an owner and a lifetime. The field the swap compares holds a SHA-256 of
//! the refresh token, not the token: the token itself is only in the serialized set.

use std::time::Duration;

use async_trait::async_trait;
use tower_sessions_redis_store::fred::{
    clients::Pool,
    interfaces::{KeysInterface, LuaInterface},
};

use super::codec::{decode, encode, rt_hash, store_err, ttl_secs};
use crate::{TokenSet, TokenStore, TokenStoreError};

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
