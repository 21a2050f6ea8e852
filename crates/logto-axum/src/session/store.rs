//! The session store the layer sees: one type over the configured backend (memory, and SQLite or
//! Redis when their cargo features are on), with what tower-sessions' stores lack and signing in
//! needs: a user index (a user's sessions, whose Logto session each is), a replay guard
//! (`claim_once`), saves that never bring back a session a sign-out deleted, a short life for
//! records nobody is signed in with, and for SQLite a bounded cache of records in front of the
//! file.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use tower_sessions::{
    session::{Id, Record},
    session_store, MemoryStore, SessionStore,
};

use super::{memory::MemoryIndex, record_cache::RecordCache, who_signed_in, StoredSession};
use crate::flow::PENDING_TTL_SECS;

#[cfg(feature = "redis")]
use super::redis;
#[cfg(feature = "sqlite")]
use super::sqlite;

/// The configured store behind one type, so the layer's type does not depend on configuration.
#[derive(Clone, Debug)]
pub struct AnyStore {
    backend: Backend,
    /// Memory and SQLite: keys already claimed (see `claim_once`). Redis keeps its own.
    used_once: moka::sync::Cache<String, ()>,
    /// SQLite only: the records this process read or wrote lately, so a page view does not wait
    /// on a database thread. Exact as long as this process is the only writer of the file
    /// (README: one app process per SQLite file; Redis for several). Not for Redis: another
    /// instance's sign-out must be seen on the next request.
    cache: Option<Arc<RecordCache>>,
    /// SQLite: this process's claim on the file (`crate::store::sqlite_file`), held as long as a
    /// store that writes it is.
    #[cfg(feature = "sqlite")]
    writer_lock: Option<Arc<crate::store::sqlite_file::WriterLock>>,
}

#[derive(Clone, Debug)]
enum Backend {
    /// With the user index (pruned when read).
    Memory(MemoryStore, Arc<std::sync::Mutex<MemoryIndex>>),
    /// The pool is the store's, for `create` in one statement (see there) and the user index.
    #[cfg(feature = "sqlite")]
    Sqlite(
        tower_sessions_sqlx_store::SqliteStore,
        tower_sessions_sqlx_store::sqlx::SqlitePool,
    ),
    /// The pool is the store's; `index_ttl` bounds how long a user's index set outlives its
    /// last sign-in (a session cannot stay signed in longer).
    #[cfg(feature = "redis")]
    Redis(
        tower_sessions_redis_store::RedisStore<tower_sessions_redis_store::fred::prelude::Pool>,
        tower_sessions_redis_store::fred::prelude::Pool,
        Duration,
    ),
}
impl AnyStore {
    /// How long a used logout-token id is remembered: longer than such a token is accepted.
    const USED_ONCE_TTL: Duration = Duration::from_secs(10 * 60);

    /// A store over `backend`; `cached`: with the record cache (one writer per backend only).
    fn with_backend(backend: Backend, cached: bool) -> Self {
        Self {
            backend,
            used_once: Self::used_once_cache(),
            cache: cached.then(|| Arc::new(RecordCache::new())),
            #[cfg(feature = "sqlite")]
            writer_lock: None,
        }
    }

    fn used_once_cache() -> moka::sync::Cache<String, ()> {
        moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(Self::USED_ONCE_TTL)
            .build()
    }

    /// Sessions in SQLite (the file's one writer: see `open_store`).
    #[cfg(feature = "sqlite")]
    pub fn sqlite(pool: tower_sessions_sqlx_store::sqlx::SqlitePool) -> Self {
        let store = tower_sessions_sqlx_store::SqliteStore::new(pool.clone());
        Self::with_backend(Backend::Sqlite(store, pool), true)
    }

    /// Holds the SQLite file's writer lock for as long as this store (or a clone) lives.
    #[cfg(feature = "sqlite")]
    pub fn holding(mut self, lock: Arc<crate::store::sqlite_file::WriterLock>) -> Self {
        self.writer_lock = Some(lock);
        self
    }

    /// Sessions in Redis, shared by every instance; `index_ttl` bounds the user index's keys
    /// (`SessionConfig::longest_sign_in`).
    #[cfg(feature = "redis")]
    pub fn redis(
        pool: tower_sessions_redis_store::fred::prelude::Pool,
        index_ttl: Duration,
    ) -> Self {
        let store = tower_sessions_redis_store::RedisStore::new(pool.clone());
        Self::with_backend(Backend::Redis(store, pool, index_ttl), false)
    }

    /// Sessions in this process's memory: lost on restart, one instance only.
    pub fn memory(store: MemoryStore) -> Self {
        Self::with_backend(Backend::Memory(store, Default::default()), false)
    }

    /// A record with nobody signed in holds at most pending sign-ins, which are good for 10
    /// minutes: it never lives longer, whatever expiry the session layer gave it (anonymous
    /// sign-in starts cannot pile up for the idle timeout). Callers have decided the record is
    /// anonymous (`who_signed_in`, which parses the user: once per write).
    fn cap_anonymous(record: &mut Record) {
        let cap = time::OffsetDateTime::now_utc() + time::Duration::seconds(PENDING_TTL_SECS);
        record.expiry_date = record.expiry_date.min(cap);
    }

    fn memory_index(
        index: &std::sync::Mutex<MemoryIndex>,
    ) -> std::sync::MutexGuard<'_, MemoryIndex> {
        index
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a newly created signed-in session to its user's index, and remembers whose Logto
    /// session (`sid`) it was signed in with.
    async fn index(&self, sub: &str, sid: Option<&str>, id: Id) -> session_store::Result<()> {
        match &self.backend {
            Backend::Memory(_, index) => {
                Self::memory_index(index).add(sub, sid, id);
                Ok(())
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_, pool) => sqlite::index(pool, sub, sid, id).await,
            #[cfg(feature = "redis")]
            Backend::Redis(_, pool, ttl) => redis::index(pool, *ttl, sub, sid, id).await,
        }
    }

    /// The user signed in with Logto session `sid` in one of this app's sessions, if any is left
    /// (for a back-channel logout that names only the Logto session).
    pub async fn user_of_logto_session(&self, sid: &str) -> session_store::Result<Option<String>> {
        match &self.backend {
            Backend::Memory(_, index) => Ok(Self::memory_index(index).user_of_sid(sid)),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_, pool) => sqlite::user_of_sid(pool, sid).await,
            #[cfg(feature = "redis")]
            Backend::Redis(_, pool, _) => redis::user_of_sid(pool, sid).await,
        }
    }

    /// The sessions `sub` is signed in with, oldest first. Index entries of sessions that
    /// expired or were deleted are dropped on the way.
    pub async fn sessions_of(&self, sub: &str) -> session_store::Result<Vec<StoredSession>> {
        let ids: Vec<Id> = match &self.backend {
            Backend::Memory(_, index) => Self::memory_index(index).ids(sub),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_, pool) => sqlite::ids(pool, sub).await?,
            #[cfg(feature = "redis")]
            Backend::Redis(_, pool, _) => redis::ids(pool, sub).await?,
        };
        let mut sessions = Vec::with_capacity(ids.len());
        let mut gone = Vec::new();
        for id in ids {
            match self.load(&id).await {
                Ok(record) => match record.as_ref().and_then(StoredSession::from_record) {
                    Some(s) if s.user.user.sub == sub => sessions.push(s),
                    _ => gone.push(id),
                },
                // A record that cannot be read cannot be used either; the others still count
                // (back-channel logout must not fail over one bad record). A store that is down
                // fails the next one too.
                Err(session_store::Error::Decode(why)) => {
                    tracing::warn!("skipping an unreadable session record: {why}");
                }
                Err(other) => return Err(other),
            }
        }
        if !gone.is_empty() {
            if let Err(err) = self.unindex(sub, &gone).await {
                tracing::warn!("could not prune the session index: {err}");
            }
        }
        sessions.sort_by_key(|s| (s.user.signed_in_at, s.id.to_string()));
        Ok(sessions)
    }

    async fn unindex_record(&self, record: Option<&Record>, id: &Id) -> session_store::Result<()> {
        match record.and_then(who_signed_in) {
            Some(who) => self.unindex(&who.user.sub, std::slice::from_ref(id)).await,
            None => Ok(()),
        }
    }

    async fn unindex(&self, sub: &str, ids: &[Id]) -> session_store::Result<()> {
        match &self.backend {
            Backend::Memory(_, index) => {
                Self::memory_index(index).remove(sub, ids);
                Ok(())
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_, pool) => sqlite::unindex(pool, ids).await,
            #[cfg(feature = "redis")]
            Backend::Redis(_, pool, _) => redis::unindex(pool, sub, ids).await,
        }
    }

    /// Undoes `claim_once` (the work it guarded failed and may be tried again).
    pub async fn release_claim(&self, key: &str) -> session_store::Result<()> {
        match &self.backend {
            #[cfg(feature = "redis")]
            Backend::Redis(_, pool, _) => redis::release_claim(pool, key).await,
            _ => {
                self.used_once.invalidate(key);
                Ok(())
            }
        }
    }

    /// A replay guard: true for the one caller that claims `key` first within `USED_ONCE_TTL`
    /// (atomically: in Redis across instances, in memory across this process's requests).
    pub async fn claim_once(&self, key: &str) -> session_store::Result<bool> {
        match &self.backend {
            #[cfg(feature = "redis")]
            Backend::Redis(_, pool, _) => redis::claim_once(pool, key, Self::USED_ONCE_TTL).await,
            // `or_insert_with` (not `or_insert`): moka coalesces concurrent calls for one key into
            // one evaluation, so exactly one caller sees a fresh entry.
            _ => Ok(self
                .used_once
                .entry(key.to_owned())
                .or_insert_with(|| ())
                .is_fresh()),
        }
    }

    async fn load_uncached(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let loaded = match &self.backend {
            Backend::Memory(s, _) => s.load(id).await,
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(s, _) => s.load(id).await,
            #[cfg(feature = "redis")]
            Backend::Redis(s, ..) => s.load(id).await,
        }?;
        if loaded.is_none() {
            // A cookie of a session that ended (signed out elsewhere, back-channel logout, a
            // dead grant, its lifetime): the browser gets a removal cookie with this answer.
            tracing::debug!("no stored session for the cookie: signed out or expired");
        }
        Ok(loaded)
    }

    /// Writes a record whose session exists; false (nothing written) when it is gone.
    async fn save_existing(&self, record: &Record) -> session_store::Result<bool> {
        match &self.backend {
            Backend::Memory(s, _) => {
                let exists = s.load(&record.id).await?.is_some();
                if exists {
                    s.save(record).await?;
                }
                Ok(exists)
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_, pool) => sqlite::update(pool, record).await,
            #[cfg(feature = "redis")]
            Backend::Redis(_, pool, _) => redis::save_existing(pool, record).await,
        }
    }

    async fn delete_in_backend(&self, id: &Id) -> session_store::Result<()> {
        // The index follows: SQLite by trigger; Memory and Redis here, from the deleted record
        // (and when read, for sessions that expired instead).
        match &self.backend {
            Backend::Memory(s, _) => {
                let record = s.load(id).await?;
                s.delete(id).await?;
                self.unindex_record(record.as_ref(), id).await
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(s, _) => s.delete(id).await,
            #[cfg(feature = "redis")]
            Backend::Redis(_, pool, _) => {
                let record = redis::take(pool, id).await?;
                self.unindex_record(record.as_ref(), id).await
            }
        }
    }
}

#[async_trait]
impl SessionStore for AnyStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let who = who_signed_in(record);
        if who.is_none() {
            Self::cap_anonymous(record);
        }
        match &self.backend {
            Backend::Memory(s, _) => s.create(record).await,
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_, pool) => sqlite::create(pool, record).await,
            #[cfg(feature = "redis")]
            Backend::Redis(s, ..) => s.create(record).await,
        }?;
        // Signing in cycles the session id, so a signed-in session is always created: index it
        // here, where its id is known. A session that cannot be indexed could not be ended by a
        // back-channel logout: it is not kept.
        if let Some(who) = who {
            if let Err(err) = self
                .index(&who.user.sub, who.sid.as_deref(), record.id)
                .await
            {
                self.delete(&record.id).await?;
                return Err(err);
            }
        }
        if let Some(cache) = &self.cache {
            cache.remember(record);
        }
        Ok(())
    }

    /// tower-sessions saves only sessions that exist (new ones go through `create`). If the record
    /// is gone, a sign-out deleted it while this request ran: it must not come back. SQLite and
    /// Redis make that one atomic write (an `UPDATE`, a `SET … XX`); memory checks first.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let capped;
        let record = if who_signed_in(record).is_none() {
            let mut anonymous = record.clone();
            Self::cap_anonymous(&mut anonymous);
            capped = anonymous;
            &capped
        } else {
            record
        };
        if !self.save_existing(record).await? {
            tracing::debug!("not saving a session that was deleted meanwhile");
        } else if let Some(cache) = &self.cache {
            cache.remember(record);
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(cache) = &self.cache else {
            return self.load_uncached(id).await;
        };
        match cache.entries.get(id) {
            Some(None) => return Ok(None),
            Some(Some(record)) if unexpired(&record, time::OffsetDateTime::now_utc()) => {
                return Ok(Some(Record::clone(&record)));
            }
            _ => {}
        }
        let seen = *cache.deletions();
        let loaded = self.load_uncached(id).await?;
        if let Some(record) = &loaded {
            // Not over a newer record, a tombstone, or while a deletion was under way.
            cache.insert_read(record, seen);
        }
        Ok(loaded)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        if let Some(cache) = &self.cache {
            cache.mark_deleted(*id);
        }
        let deleted = self.delete_in_backend(id).await;
        if let Some(cache) = &self.cache {
            cache.mark_deleted(*id);
        }
        deleted
    }
}

/// As the stores decide it: a record expiring this very instant is gone.
fn unexpired(record: &Record, now: time::OffsetDateTime) -> bool {
    record.expiry_date > now
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(data: &[(&str, serde_json::Value)], expiry_date: time::OffsetDateTime) -> Record {
        Record {
            id: Id::default(),
            data: data
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            expiry_date,
        }
    }

    #[test]
    fn a_record_expiring_now_is_expired() {
        let now = time::OffsetDateTime::now_utc();
        let at = |expiry| record(&[], expiry);
        assert!(!unexpired(&at(now), now));
        assert!(unexpired(&at(now + time::Duration::milliseconds(1)), now));
        assert!(!unexpired(&at(now - time::Duration::seconds(1)), now));
    }

    /// A used logout-token id must be remembered for as long as that token would be accepted
    /// (its `iat` window), or it could be replayed.
    #[test]
    fn used_token_ids_outlive_the_tokens() {
        let accepted_for =
            crate::logout_token::MAX_AGE_SECS + crate::provider::checks::MAX_CLOCK_SKEW_SECS;
        let ttl = AnyStore::used_once_cache().policy().time_to_live();
        assert!(
            ttl.is_some_and(|ttl| ttl.as_secs() as i64 >= accepted_for),
            "{ttl:?}"
        );
    }
}
