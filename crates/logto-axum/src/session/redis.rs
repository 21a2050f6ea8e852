//! Sessions in Redis (cargo feature `redis`), shared by every instance: tower-sessions-redis-store's
//! keys, saves that never bring back a deleted session, the user index as Redis sets with a
//! lifetime, the replay guard as `SET NX`, and opening the connection pool.

use std::time::Duration;

use anyhow::Context;
use tower_sessions::{
    session::{Id, Record},
    session_store,
};
use tower_sessions_redis_store::fred::{
    self,
    prelude::*,
    types::{Expiration, SetOptions},
};

fn index_key(sub: &str) -> String {
    format!("logto-leptos:sessions-of:{sub}")
}

fn sid_key(sid: &str) -> String {
    format!("logto-leptos:user-of-logto-session:{sid}")
}

fn used_once_key(key: &str) -> String {
    format!("logto-leptos:used-once:{key}")
}

/// Adds a session to its user's set and lets the set live at least `ARGV[2]` seconds (never
/// shortens it: older sessions in it may need longer, e.g. after the lifetimes were lowered).
/// With a second key, remembers there that its Logto session is user `ARGV[3]`'s, as long.
const INDEX_ADD: &str = r#"
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
if KEYS[2] then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
end
return 1
"#;

pub(super) async fn index(
    pool: &Pool,
    ttl: Duration,
    sub: &str,
    sid: Option<&str>,
    id: Id,
) -> session_store::Result<()> {
    let mut keys = vec![index_key(sub)];
    keys.extend(sid.map(sid_key));
    pool.eval::<i64, _, _, _>(
        INDEX_ADD,
        keys,
        vec![id.to_string(), ttl.as_secs().to_string(), sub.to_owned()],
    )
    .await
    .map(|_| ())
    .map_err(redis_err)
}

pub(super) async fn user_of_sid(pool: &Pool, sid: &str) -> session_store::Result<Option<String>> {
    pool.get(sid_key(sid)).await.map_err(redis_err)
}

pub(super) async fn ids(pool: &Pool, sub: &str) -> session_store::Result<Vec<Id>> {
    let ids: Vec<String> = pool.smembers(index_key(sub)).await.map_err(redis_err)?;
    Ok(ids.iter().filter_map(|id| id.parse().ok()).collect())
}

pub(super) async fn unindex(pool: &Pool, sub: &str, ids: &[Id]) -> session_store::Result<()> {
    let members: Vec<String> = ids.iter().map(Id::to_string).collect();
    pool.srem::<(), _, _>(index_key(sub), members)
        .await
        .map_err(redis_err)
}

/// `SET NX` with the guard's lifetime: true for the one caller, across instances.
pub(super) async fn claim_once(
    pool: &Pool,
    key: &str,
    ttl: Duration,
) -> session_store::Result<bool> {
    let set: Option<String> = pool
        .set(
            used_once_key(key),
            "1",
            Some(Expiration::EX(ttl.as_secs() as i64)),
            Some(SetOptions::NX),
            false,
        )
        .await
        .map_err(redis_err)?;
    Ok(set.is_some())
}

pub(super) async fn release_claim(pool: &Pool, key: &str) -> session_store::Result<()> {
    pool.del::<(), _>(used_once_key(key))
        .await
        .map_err(redis_err)
}

/// `SET … XX`: never creates. (Not `RedisStore::save`, the same command, which fails with a
/// parse error when XX declines: a request racing a sign-out would get a 500.)
pub(super) async fn save_existing(pool: &Pool, record: &Record) -> session_store::Result<bool> {
    let data =
        rmp_serde::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let set: Option<String> = pool
        .set(
            record.id.to_string(),
            data.as_slice(),
            Some(Expiration::EXAT(record.expiry_date.unix_timestamp())),
            Some(SetOptions::XX),
            false,
        )
        .await
        .map_err(redis_err)?;
    Ok(set.is_some())
}

/// Deletes the record and gives what it was (`RedisStore::delete` is a DEL of this key; GETDEL
/// also says whose it was, for the index).
pub(super) async fn take(pool: &Pool, id: &Id) -> session_store::Result<Option<Record>> {
    let data: Option<Vec<u8>> = pool.getdel(id.to_string()).await.map_err(redis_err)?;
    Ok(data.and_then(|d| rmp_serde::from_slice::<Record>(&d).ok()))
}

fn redis_err(e: fred::error::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

/// Connects a pool that keeps reconnecting: a Redis outage gives 503 pages, not a crash.
pub(super) async fn open(url: &str) -> anyhow::Result<Pool> {
    let config = Config::from_url(url).context("SESSION_STORE_URL: invalid Redis URL")?;
    let mut builder = Builder::from_config(config);
    builder
        .with_connection_config(|c| c.connection_timeout = Duration::from_secs(3))
        // Fail a command quickly while Redis is away (503 page) instead of queueing it.
        .with_performance_config(|c| c.default_command_timeout = Duration::from_secs(2))
        // Keep reconnecting forever, every half second: Redis coming back heals the app.
        .set_policy(ReconnectPolicy::new_constant(0, 500));
    let pool = builder
        .build_pool(2)
        .context("SESSION_STORE_URL: cannot build Redis pool")?;
    // Reconnect in the background; a Redis outage gives 503 pages, not a crash.
    pool.init()
        .await
        .context("SESSION_STORE_URL: cannot connect to Redis")?;
    Ok(pool)
}
