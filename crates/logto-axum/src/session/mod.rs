//! Sessions: the store chosen by configuration, the cookie, and one typed wrapper so the rest of
//! the app never spells a session key.

pub mod ending;

use std::time::Duration;

use async_trait::async_trait;
use axum::{extract::FromRequestParts, http::request::Parts};
use tower_sessions::{
    cookie::SameSite,
    session::{Id, Record},
    session_store::{self, ExpiredDeletion},
    Expiry, MemoryStore, Session, SessionManagerLayer, SessionStore,
};
use tower_sessions_redis_store::{
    fred::{
        self,
        prelude::*,
        types::{Expiration, SetOptions},
    },
    RedisStore,
};
use tower_sessions_sqlx_store::{
    sqlx::{self, sqlite::SqlitePoolOptions, SqlitePool},
    SqliteStore,
};

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use serde::{Deserialize, Serialize};

use crate::{
    flow::PENDING_TTL_SECS,
    now_unix,
    store::backends::{RedisTokenStore, SqliteTokenStore},
    MemoryTokenStore, PendingSignIn, SessionStoreKind, SignedIn, TokenStore, TokenStoreError,
    UserProfile,
};

/// At most this many sign-ins may be in flight per browser (several tabs); the oldest is dropped.
const MAX_PENDING: usize = 5;

#[derive(Debug, thiserror::Error)]
/// A session store failure; a 503 "try again" for the user.
pub enum SessionError {
    #[error("session store: {0}")]
    /// Reading or writing the session failed.
    Store(#[from] tower_sessions::session::Error),
    #[error("session store: {0}")]
    /// The store's backend (SQLite, Redis) failed.
    Backend(#[from] session_store::Error),
    #[error("session unavailable (is the session layer installed?)")]
    /// The session layer is missing from the router.
    Missing,
    #[error(transparent)]
    /// The token store failed.
    Tokens(#[from] TokenStoreError),
}

/// Who is signed in, as the session record keeps it. The tokens are in the token store under
/// `grant`, so that refreshes can replace them atomically.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionUser {
    /// The key of this sign-in's tokens in the token store.
    pub grant: String,
    /// Unix seconds.
    pub signed_in_at: i64,
    /// Who signed in.
    pub user: UserProfile,
    /// Logto's session id from the ID token, when Logto sends one (back-channel logout by `sid`).
    #[serde(default)]
    pub sid: Option<String>,
    /// "Firefox on Linux", for the sessions page; from the User-Agent at sign-in.
    #[serde(default)]
    pub browser: Option<String>,
}

/// The one place that knows the session's keys and what lives under them.
#[derive(Clone)]
pub struct AuthSession(Session);

impl AuthSession {
    const PENDING: &'static str = "auth.pending";
    /// A `SessionUser`. (Sessions from before the token store used `auth.signed_in`, which is
    /// no longer read: those users simply sign in again.)
    const USER: &'static str = "auth.user";
    /// Unix seconds of the last request that extended the idle timeout.
    const LAST_SEEN: &'static str = "auth.last_seen";
    /// Activity extends the idle timeout at most this often (each extension is a store write).
    const TOUCH_EVERY_SECS: i64 = 60;

    /// For code that gets the request's `Session` its own way (a web framework's extraction,
    /// middleware reading the request's extensions); axum handlers take `AuthSession` as an
    /// extractor.
    pub fn new(session: Session) -> Self {
        Self(session)
    }

    /// Writes the session now, for answers the session layer would not save (5xx).
    pub async fn save_now(&self) -> Result<(), SessionError> {
        Ok(self.0.save().await?)
    }

    /// `None` until the session is stored, and again after signing in or out (a new id is
    /// assigned when the response is saved).
    pub fn id(&self) -> Option<Id> {
        self.0.id()
    }

    /// The signed-in user, unless the absolute lifetime has passed (then the session is ended).
    pub async fn user(
        &self,
        max_lifetime: Duration,
        tokens: &dyn TokenStore,
    ) -> Result<Option<SessionUser>, SessionError> {
        let Some(signed_in) = self.0.get::<SessionUser>(Self::USER).await? else {
            return Ok(None);
        };
        let now = now_unix();
        if outlived(signed_in.signed_in_at, now, max_lifetime) {
            tracing::info!("session reached its maximum lifetime; signing out");
            self.sign_out(tokens).await?;
            return Ok(None);
        }
        // A changed session is saved with a fresh expiry: that is what makes the timeout "idle".
        let last_seen = self.0.get::<i64>(Self::LAST_SEEN).await?.unwrap_or(0);
        if now - last_seen >= Self::TOUCH_EVERY_SECS.min(self.idle_secs() / 2) {
            self.0.insert(Self::LAST_SEEN, now).await?;
        }
        Ok(Some(signed_in))
    }

    fn idle_secs(&self) -> i64 {
        match self.0.expiry() {
            Some(Expiry::OnInactivity(d)) => d.whole_seconds(),
            _ => Self::TOUCH_EVERY_SECS,
        }
    }

    /// A session that holds only pending sign-ins (nobody signed in) expires after as long as
    /// they are valid, not after the idle timeout: anonymous sign-in starts cannot pile up for days.
    pub async fn add_pending(&self, pending: PendingSignIn) -> Result<(), SessionError> {
        let now = now_unix();
        self.short_lived_unless_signed_in().await?;
        let mut all: Vec<PendingSignIn> = self.0.get(Self::PENDING).await?.unwrap_or_default();
        all.retain(|p| !p.is_expired(now));
        all.push(pending);
        let excess = all.len().saturating_sub(MAX_PENDING);
        all.drain(..excess);
        self.0.insert(Self::PENDING, all).await?;
        Ok(())
    }

    /// The cookie of an anonymous session says 10 minutes too (the store caps the record itself:
    /// see `AnyStore::cap_anonymous`). Per request: the layer starts each with the idle timeout.
    async fn short_lived_unless_signed_in(&self) -> Result<(), SessionError> {
        if self.0.get::<serde_json::Value>(Self::USER).await?.is_none() {
            self.0
                .set_expiry(Some(Expiry::OnInactivity(time::Duration::seconds(
                    PENDING_TTL_SECS,
                ))));
        }
        Ok(())
    }

    /// Whether this browser started the sign-in `state` names (and it has not expired). Reads
    /// only: a callback that loses the claim on `state` must leave the session untouched.
    pub async fn has_pending(&self, state: &str) -> Result<bool, SessionError> {
        let now = now_unix();
        let all: Vec<PendingSignIn> = self.0.get(Self::PENDING).await?.unwrap_or_default();
        Ok(all.iter().any(|p| p.state == state && !p.is_expired(now)))
    }

    /// Removes and returns the pending sign-in for `state` (single use); expired ones never match.
    pub async fn take_pending(&self, state: &str) -> Result<Option<PendingSignIn>, SessionError> {
        let now = now_unix();
        self.short_lived_unless_signed_in().await?;
        let mut all: Vec<PendingSignIn> = self.0.get(Self::PENDING).await?.unwrap_or_default();
        let found = all
            .iter()
            .position(|p| p.state == state)
            .map(|i| all.remove(i));
        all.retain(|p| !p.is_expired(now));
        if all.is_empty() {
            self.0.remove_value(Self::PENDING).await?;
        } else {
            self.0.insert(Self::PENDING, all).await?;
        }
        Ok(found.filter(|p| !p.is_expired(now)))
    }

    /// Stores the signed-in user under a fresh session id (no fixation) and their tokens under a
    /// new grant id. A user signed in before in this browser is replaced, tokens and all; returns
    /// that user's refresh token when it is to be revoked (see `replaced_grant_to_revoke`).
    /// `idle` is the session idle timeout, which replaces the short one of a pending-only session.
    pub async fn sign_in(
        &self,
        signed_in: SignedIn,
        browser: Option<String>,
        tokens: &dyn TokenStore,
        ttl: Duration,
        idle: Duration,
    ) -> Result<(SessionUser, Option<String>), SessionError> {
        let sid = signed_in
            .tokens
            .id_token_claims
            .get("sid")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let mut to_revoke = None;
        if let Some(previous) = self.0.get::<SessionUser>(Self::USER).await? {
            let replaced = tokens.load(&previous.grant).await?;
            tokens.delete(&previous.grant).await?;
            if !shares_logto_grant(&previous, &signed_in.user.sub, sid.as_deref()) {
                to_revoke = replaced.and_then(|t| t.refresh_token);
            }
        }
        let grant = Id::default().to_string();
        tokens.insert(&grant, &signed_in.tokens, ttl).await?;
        let user = SessionUser {
            grant,
            signed_in_at: signed_in.signed_in_at,
            user: signed_in.user,
            sid,
            browser,
        };
        self.0.cycle_id().await?;
        self.0
            .set_expiry(Some(Expiry::OnInactivity(time::Duration::seconds(
                i64::try_from(idle.as_secs()).unwrap_or(i64::MAX),
            ))));
        self.0.insert(Self::USER, user.clone()).await?;
        // Signing in is activity: without this the very next page would write the session again.
        self.0.insert(Self::LAST_SEEN, now_unix()).await?;
        Ok((user, to_revoke))
    }

    /// Deletes the tokens and the server-side record, and clears the cookie.
    pub async fn sign_out(&self, tokens: &dyn TokenStore) -> Result<(), SessionError> {
        if let Some(user) = self.0.get::<SessionUser>(Self::USER).await? {
            tokens.delete(&user.grant).await?;
        }
        self.0.flush().await?;
        Ok(())
    }
}

/// What the sessions page and back-channel logout read from a stored record (without a request).
#[derive(Clone, Debug)]
pub struct StoredSession {
    /// The session's id: its cookie value, a credential never shown.
    pub id: Id,
    /// Who is signed in there.
    pub user: SessionUser,
    /// Unix seconds of the last request that extended the idle timeout.
    pub last_seen: i64,
}

impl StoredSession {
    /// The signed-in session a record holds, if it holds one.
    pub fn from_record(record: &Record) -> Option<Self> {
        let user: SessionUser =
            serde_json::from_value(record.data.get(AuthSession::USER)?.clone()).ok()?;
        let last_seen = record
            .data
            .get(AuthSession::LAST_SEEN)
            .and_then(|v| v.as_i64())
            .unwrap_or(user.signed_in_at);
        Some(Self {
            id: record.id,
            user,
            last_seen,
        })
    }
}

/// Past the absolute lifetime: signed in longer ago than `max_lifetime` (exactly that long ago is
/// still within it).
fn outlived(signed_in_at: i64, now: i64, max_lifetime: Duration) -> bool {
    now - signed_in_at > max_lifetime.as_secs() as i64
}

/// Whether a sign-in replacing `previous` in the same browser may hold the same grant at Logto:
/// Logto (oidc-provider) gives a user signing in again within one Logto session the grant they
/// have, and revoking a refresh token revokes its whole grant, the new sign-in's tokens with it.
/// Another user, or another Logto session (`sid`), is another grant: its refresh token is revoked.
/// Without `sid` on either side there is no telling, and it is left to expire.
fn shares_logto_grant(previous: &SessionUser, sub: &str, sid: Option<&str>) -> bool {
    previous.user.sub == sub
        && match (previous.sid.as_deref(), sid) {
            (Some(before), Some(now)) => before == now,
            _ => true,
        }
}

/// The Logto session (`sid`) a record's user signed in with, if Logto said.
fn logto_sid(record: &Record) -> Option<&str> {
    record.data.get(AuthSession::USER)?.get("sid")?.as_str()
}

/// The signed-in user's `sub` in a record, for the index (cheaper than decoding `SessionUser`).
fn signed_in_sub(record: &Record) -> Option<&str> {
    record
        .data
        .get(AuthSession::USER)?
        .get("user")?
        .get("sub")?
        .as_str()
}

impl<S: Send + Sync> FromRequestParts<S> for AuthSession {
    type Rejection = (axum::http::StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Session::from_request_parts(parts, state)
            .await
            .map(AuthSession)
    }
}

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
    /// SQLite: this process's claim on the file (`crate::store::sqlite_file`), held as long as a store
    /// that writes it is.
    writer_lock: Option<Arc<crate::store::sqlite_file::WriterLock>>,
}

#[derive(Clone, Debug)]
enum Backend {
    /// With the user index (pruned when read).
    Memory(MemoryStore, Arc<std::sync::Mutex<MemoryIndex>>),
    /// The pool is the store's, for `create` in one statement (see there) and the user index.
    Sqlite(SqliteStore, SqlitePool),
    /// The pool is the store's; `index_ttl` bounds how long a user's index set outlives its
    /// last sign-in (a session cannot stay signed in longer).
    Redis(RedisStore<Pool>, Pool, Duration),
}

/// The memory store's user index.
#[derive(Debug, Default)]
struct MemoryIndex {
    /// `sub` → its session ids.
    sessions: HashMap<String, HashSet<Id>>,
    /// Logto session id (`sid`) → the user signed in with it.
    user_of_sid: HashMap<String, String>,
}

/// Records by session id; `None` marks a session deleted by this process, so a request that read
/// the record just before the deletion cannot put it back into the cache.
type RecordEntries = moka::sync::Cache<Id, Option<Arc<Record>>>;

/// The record cache, and the count of deletions begun and finished, so that a record read from
/// SQLite while one was under way is not cached: its tombstone could have been evicted meanwhile
/// (the cache is bounded), and the record would come back from memory.
#[derive(Debug)]
struct RecordCache {
    entries: RecordEntries,
    deletions: std::sync::Mutex<u64>,
}

impl RecordCache {
    fn deletions(&self) -> std::sync::MutexGuard<'_, u64> {
        self.deletions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A deletion begins and ends with this: the tombstone (again, in case it was evicted and a
    /// read put the record back in between), and a new count.
    fn mark_deleted(&self, id: Id) {
        let mut deletions = self.deletions();
        self.entries.insert(id, None);
        *deletions += 1;
    }

    /// Caches a record read from the store when no deletion began or ended since `seen` (the
    /// count before the read), and nothing newer is cached.
    fn insert_read(&self, record: &Record, seen: u64) {
        let deletions = self.deletions();
        if *deletions == seen {
            self.entries
                .entry(record.id)
                .or_insert_with(|| Some(Arc::new(record.clone())));
        }
    }
}

impl AnyStore {
    /// Bounded in bytes of memory, estimated as 4x a record's JSON size (maps and strings in
    /// memory), so memory stays flat however many sessions exist: ~650 signed-in records (~1.5 KB
    /// of JSON each) or ~2,500 pending sign-ins; a miss is one SQLite read, as without the cache.
    const CACHE_BYTES: u64 = 4 * 1024 * 1024;
    /// Also an upper bound on how long a tombstone is remembered, far above any request's life.
    const CACHE_TTL: Duration = Duration::from_secs(60);

    /// How long a used logout-token id is remembered: longer than such a token is accepted.
    const USED_ONCE_TTL: Duration = Duration::from_secs(10 * 60);

    fn used_once_cache() -> moka::sync::Cache<String, ()> {
        moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(Self::USED_ONCE_TTL)
            .build()
    }

    /// Sessions in this process's memory: lost on restart, one instance only.
    pub fn memory(store: MemoryStore) -> Self {
        Self {
            backend: Backend::Memory(store, Default::default()),
            used_once: Self::used_once_cache(),
            cache: None,
            writer_lock: None,
        }
    }

    /// A record with nobody signed in holds at most pending sign-ins, which are good for 10
    /// minutes: it never lives longer, whatever expiry the session layer gave it (anonymous
    /// sign-in starts cannot pile up for the idle timeout).
    fn cap_anonymous(record: &mut Record) {
        if signed_in_sub(record).is_none() {
            let cap = time::OffsetDateTime::now_utc() + time::Duration::seconds(PENDING_TTL_SECS);
            record.expiry_date = record.expiry_date.min(cap);
        }
    }

    /// The table `SqliteStore` uses (its default), named here for `create_in_sqlite`.
    const SQLITE_TABLE: &'static str = "tower_sessions";

    /// Sessions in SQLite (the file's one writer: see `open_store`).
    pub fn sqlite(pool: SqlitePool) -> Self {
        Self {
            backend: Backend::Sqlite(SqliteStore::new(pool.clone()), pool),
            used_once: Self::used_once_cache(),
            cache: Some(Arc::new(RecordCache {
                entries: Self::record_cache(),
                deletions: std::sync::Mutex::new(0),
            })),
            writer_lock: None,
        }
    }

    /// Holds the SQLite file's writer lock for as long as this store (or a clone) lives.
    pub fn holding(mut self, lock: Arc<crate::store::sqlite_file::WriterLock>) -> Self {
        self.writer_lock = Some(lock);
        self
    }

    fn record_cache() -> RecordEntries {
        moka::sync::Cache::builder()
            .max_capacity(Self::CACHE_BYTES)
            .weigher(|_, record| Self::record_weight(record))
            // LRU admits every new entry: TinyLFU could refuse a fresh tombstone.
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .time_to_live(Self::CACHE_TTL)
            .build()
    }

    /// Estimated bytes of memory a cache entry holds: the entry itself, plus 4x the record's
    /// JSON size for its maps and strings.
    fn record_weight(record: &Option<Arc<Record>>) -> u32 {
        const ENTRY_BYTES: usize = 256;
        let bytes = record.as_ref().map_or(ENTRY_BYTES, |r| {
            let json = serde_json::to_vec(&r.data).map_or(4096, |v| v.len());
            4 * json + ENTRY_BYTES
        });
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }

    /// Sessions in Redis, shared by every instance; `index_ttl` bounds the user index's keys
    /// (`SessionConfig::longest_sign_in`).
    pub fn redis(pool: Pool, index_ttl: Duration) -> Self {
        Self {
            backend: Backend::Redis(RedisStore::new(pool.clone()), pool, index_ttl),
            used_once: Self::used_once_cache(),
            cache: None,
            writer_lock: None,
        }
    }

    /// The user index for SQLite: rows go away with their session (trigger), also when the
    /// expiry sweep deletes it. (`sid` was added later: see `migrate_sqlite_index`.)
    const SQLITE_INDEX: &'static str = "
        create table if not exists logto_session_index (
            session_id text primary key not null,
            sub text not null,
            sid text
        );
        create index if not exists logto_session_index_sub on logto_session_index (sub);
        create trigger if not exists logto_session_index_cleanup
            after delete on tower_sessions
            begin delete from logto_session_index where session_id = old.id; end;
    ";

    fn redis_index_key(sub: &str) -> String {
        format!("logto-leptos:sessions-of:{sub}")
    }

    /// Adds a newly created signed-in session to its user's index, and remembers whose Logto
    /// session (`sid`) it was signed in with.
    async fn index(&self, sub: &str, sid: Option<&str>, id: Id) -> session_store::Result<()> {
        match &self.backend {
            Backend::Memory(_, index) => {
                if let Ok(mut index) = index.lock() {
                    index.sessions.entry(sub.to_owned()).or_default().insert(id);
                    if let Some(sid) = sid {
                        index.user_of_sid.insert(sid.to_owned(), sub.to_owned());
                    }
                }
                Ok(())
            }
            Backend::Sqlite(_, pool) => sqlx::query(
                "insert or replace into logto_session_index (session_id, sub, sid) values (?, ?, ?)",
            )
            .bind(id.to_string())
            .bind(sub)
            .bind(sid)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(sqlite_err),
            Backend::Redis(_, pool, ttl) => {
                let mut keys = vec![Self::redis_index_key(sub)];
                keys.extend(sid.map(Self::redis_sid_key));
                pool.eval::<i64, _, _, _>(
                    REDIS_INDEX_ADD,
                    keys,
                    vec![id.to_string(), ttl.as_secs().to_string(), sub.to_owned()],
                )
                .await
                .map(|_| ())
                .map_err(redis_err)
            }
        }
    }

    fn redis_sid_key(sid: &str) -> String {
        format!("logto-leptos:user-of-logto-session:{sid}")
    }

    /// The user signed in with Logto session `sid` in one of this app's sessions, if any is left
    /// (for a back-channel logout that names only the Logto session).
    pub async fn user_of_logto_session(&self, sid: &str) -> session_store::Result<Option<String>> {
        match &self.backend {
            Backend::Memory(_, index) => Ok(index
                .lock()
                .ok()
                .and_then(|i| i.user_of_sid.get(sid).cloned())),
            Backend::Sqlite(_, pool) => {
                sqlx::query_scalar("select sub from logto_session_index where sid = ? limit 1")
                    .bind(sid)
                    .fetch_optional(pool)
                    .await
                    .map_err(sqlite_err)
            }
            Backend::Redis(_, pool, _) => {
                pool.get(Self::redis_sid_key(sid)).await.map_err(redis_err)
            }
        }
    }

    /// The sessions `sub` is signed in with, oldest first. Index entries of sessions that
    /// expired or were deleted are dropped on the way.
    pub async fn sessions_of(&self, sub: &str) -> session_store::Result<Vec<StoredSession>> {
        let ids: Vec<Id> = match &self.backend {
            Backend::Memory(_, index) => index
                .lock()
                .map(|i| i.sessions.get(sub).map(|s| s.iter().copied().collect()))
                .ok()
                .flatten()
                .unwrap_or_default(),
            Backend::Sqlite(_, pool) => sqlx::query_scalar::<_, String>(
                "select session_id from logto_session_index where sub = ?",
            )
            .bind(sub)
            .fetch_all(pool)
            .await
            .map_err(sqlite_err)?
            .iter()
            .filter_map(|id| id.parse().ok())
            .collect(),
            Backend::Redis(_, pool, _) => {
                let ids: Vec<String> = pool
                    .smembers(Self::redis_index_key(sub))
                    .await
                    .map_err(redis_err)?;
                ids.iter().filter_map(|id| id.parse().ok()).collect()
            }
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
        match record.and_then(signed_in_sub) {
            Some(sub) => self.unindex(sub, std::slice::from_ref(id)).await,
            None => Ok(()),
        }
    }

    async fn unindex(&self, sub: &str, ids: &[Id]) -> session_store::Result<()> {
        match &self.backend {
            Backend::Memory(_, index) => {
                if let Ok(mut index) = index.lock() {
                    if let Some(set) = index.sessions.get_mut(sub) {
                        set.retain(|id| !ids.contains(id));
                        if set.is_empty() {
                            index.sessions.remove(sub);
                            index.user_of_sid.retain(|_, user| user != sub);
                        }
                    }
                }
                Ok(())
            }
            Backend::Sqlite(_, pool) => {
                for id in ids {
                    sqlx::query("delete from logto_session_index where session_id = ?")
                        .bind(id.to_string())
                        .execute(pool)
                        .await
                        .map_err(sqlite_err)?;
                }
                Ok(())
            }
            Backend::Redis(_, pool, _) => {
                let members: Vec<String> = ids.iter().map(Id::to_string).collect();
                pool.srem::<(), _, _>(Self::redis_index_key(sub), members)
                    .await
                    .map_err(redis_err)
            }
        }
    }

    /// Undoes `claim_once` (the work it guarded failed and may be tried again).
    pub async fn release_claim(&self, key: &str) -> session_store::Result<()> {
        match &self.backend {
            Backend::Redis(_, pool, _) => pool
                .del::<(), _>(format!("logto-leptos:used-once:{key}"))
                .await
                .map_err(redis_err),
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
            Backend::Redis(_, pool, _) => {
                let set: Option<String> = pool
                    .set(
                        format!("logto-leptos:used-once:{key}"),
                        "1",
                        Some(Expiration::EX(Self::USED_ONCE_TTL.as_secs() as i64)),
                        Some(SetOptions::NX),
                        false,
                    )
                    .await
                    .map_err(redis_err)?;
                Ok(set.is_some())
            }
            // `or_insert_with` (not `or_insert`): moka coalesces concurrent calls for one key into
            // one evaluation, so exactly one caller sees a fresh entry.
            _ => Ok(self
                .used_once
                .entry(key.to_owned())
                .or_insert_with(|| ())
                .is_fresh()),
        }
    }

    /// Puts a record into the cache unless this process deleted that session meanwhile.
    fn remember(cache: &RecordEntries, record: &Record) {
        let record = Arc::new(record.clone());
        cache.entry(record.id).and_compute_with(|existing| {
            match existing.map(|e| e.into_value()) {
                Some(None) => moka::ops::compute::Op::Nop,
                _ => moka::ops::compute::Op::Put(Some(record)),
            }
        });
    }

    /// `SqliteStore::create` wraps its insert in a transaction: BEGIN, INSERT, COMMIT, each a
    /// hand-off to sqlx's SQLite worker thread and back, which on an idle server cost more CPU
    /// than the insert (perf). One `INSERT` does the same: a taken id (never seen with 128 random
    /// bits, but handled as the store does) gets a new id and another try. The row is written
    /// exactly as `SqliteStore` writes it (MessagePack record), so it loads and saves those rows
    /// unchanged (tested).
    async fn create_in_sqlite(pool: &SqlitePool, record: &mut Record) -> session_store::Result<()> {
        let insert = format!(
            "insert into {} (id, data, expiry_date) values (?, ?, ?)",
            Self::SQLITE_TABLE
        );
        loop {
            let data = rmp_serde::to_vec(&*record)
                .map_err(|e| session_store::Error::Encode(e.to_string()))?;
            let inserted = sqlx::query(&insert)
                .bind(record.id.to_string())
                .bind(data)
                .bind(record.expiry_date)
                .execute(pool)
                .await;
            match inserted {
                Ok(_) => return Ok(()),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    record.id = Id::default();
                }
                Err(e) => return Err(session_store::Error::Backend(e.to_string())),
            }
        }
    }

    /// `SqliteStore::save` is an upsert, which would bring back a row a sign-out just deleted.
    async fn update_in_sqlite(pool: &SqlitePool, record: &Record) -> session_store::Result<bool> {
        let data =
            rmp_serde::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let update = format!(
            "update {} set data = ?, expiry_date = ? where id = ?",
            Self::SQLITE_TABLE
        );
        sqlx::query(&update)
            .bind(data)
            .bind(record.expiry_date)
            .bind(record.id.to_string())
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1)
            .map_err(sqlite_err)
    }
    async fn load_uncached(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let loaded = match &self.backend {
            Backend::Memory(s, _) => s.load(id).await,
            Backend::Sqlite(s, _) => s.load(id).await,
            Backend::Redis(s, ..) => s.load(id).await,
        }?;
        if loaded.is_none() {
            // A cookie of a session that ended (signed out elsewhere, back-channel logout, a
            // dead grant, its lifetime): the browser gets a removal cookie with this answer.
            tracing::debug!("no stored session for the cookie: signed out or expired");
        }
        Ok(loaded)
    }
}

#[async_trait]
impl SessionStore for AnyStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        Self::cap_anonymous(record);
        match &self.backend {
            Backend::Memory(s, _) => s.create(record).await,
            Backend::Sqlite(_, pool) => Self::create_in_sqlite(pool, record).await,
            Backend::Redis(s, ..) => s.create(record).await,
        }?;
        // Signing in cycles the session id, so a signed-in session is always created: index it
        // here, where its id is known. A session that cannot be indexed could not be ended by a
        // back-channel logout: it is not kept.
        if let Some(sub) = signed_in_sub(record) {
            if let Err(err) = self.index(sub, logto_sid(record), record.id).await {
                self.delete(&record.id).await?;
                return Err(err);
            }
        }
        if let Some(cache) = &self.cache {
            Self::remember(&cache.entries, record);
        }
        Ok(())
    }
    /// tower-sessions saves only sessions that exist (new ones go through `create`). If the record
    /// is gone, a sign-out deleted it while this request ran: it must not come back. SQLite and
    /// Redis make that one atomic write (an `UPDATE`, a `SET … XX`); memory checks first.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let capped;
        let record = if signed_in_sub(record).is_none() {
            let mut anonymous = record.clone();
            Self::cap_anonymous(&mut anonymous);
            capped = anonymous;
            &capped
        } else {
            record
        };
        let saved = match &self.backend {
            Backend::Memory(s, _) => {
                let exists = s.load(&record.id).await?.is_some();
                if exists {
                    s.save(record).await?;
                }
                exists
            }
            Backend::Sqlite(_, pool) => Self::update_in_sqlite(pool, record).await?,
            // `SET … XX`: never creates. (Not `RedisStore::save`, the same command, which fails
            // with a parse error when XX declines: a request racing a sign-out would get a 500.)
            Backend::Redis(_, pool, _) => {
                let data = rmp_serde::to_vec(record)
                    .map_err(|e| session_store::Error::Encode(e.to_string()))?;
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
                set.is_some()
            }
        };
        if !saved {
            tracing::debug!("not saving a session that was deleted meanwhile");
        } else if let Some(cache) = &self.cache {
            Self::remember(&cache.entries, record);
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

impl AnyStore {
    async fn delete_in_backend(&self, id: &Id) -> session_store::Result<()> {
        // The index follows: SQLite by trigger; Memory and Redis here, from the deleted record
        // (and when read, for sessions that expired instead).
        match &self.backend {
            Backend::Memory(s, _) => {
                let record = s.load(id).await?;
                s.delete(id).await?;
                self.unindex_record(record.as_ref(), id).await
            }
            Backend::Sqlite(s, _) => s.delete(id).await,
            Backend::Redis(_, pool, _) => {
                // `RedisStore::delete` is a DEL of this key; GETDEL also says whose it was.
                let data: Option<Vec<u8>> = pool.getdel(id.to_string()).await.map_err(redis_err)?;
                let record = data.and_then(|d| rmp_serde::from_slice::<Record>(&d).ok());
                self.unindex_record(record.as_ref(), id).await
            }
        }
    }
}

/// As the stores decide it: a record expiring this very instant is gone.
fn unexpired(record: &Record, now: time::OffsetDateTime) -> bool {
    record.expiry_date > now
}

/// Adds a session to its user's set and lets the set live at least `ARGV[2]` seconds (never
/// shortens it: older sessions in it may need longer, e.g. after the lifetimes were lowered).
/// With a second key, remembers there that its Logto session is user `ARGV[3]`'s, as long.
const REDIS_INDEX_ADD: &str = r#"
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
if KEYS[2] then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
end
return 1
"#;

fn redis_err(e: fred::error::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn sqlite_err(e: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

/// The session store and the token store, on the same backend.
#[derive(Clone)]
pub struct Stores {
    /// Where sessions live.
    pub sessions: AnyStore,
    /// Where their tokens live (the same backend).
    pub tokens: Arc<dyn TokenStore>,
}

/// Opens (and for SQLite, migrates) the configured store; expired SQLite sessions are swept
/// every minute in the background (Redis expires keys itself).
/// `longest_sign_in` bounds how long an index entry must live: the maximum lifetime plus the
/// idle timeout (`SessionConfig::longest_sign_in`).
pub async fn open_store(
    kind: &SessionStoreKind,
    longest_sign_in: Duration,
) -> anyhow::Result<Stores> {
    Ok(match kind {
        SessionStoreKind::Memory => Stores {
            sessions: AnyStore::memory(MemoryStore::default()),
            tokens: Arc::new(MemoryTokenStore::default()),
        },
        SessionStoreKind::Sqlite(path) => open_sqlite(path).await?,
        SessionStoreKind::Redis(url) => open_redis(url, longest_sign_in).await?,
    })
}

async fn open_sqlite(path: &str) -> anyhow::Result<Stores> {
    use anyhow::Context;
    use tower_sessions_sqlx_store::sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous,
    };
    let lock = crate::store::sqlite_file::prepare(std::path::Path::new(path))?;
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        // A local file cannot go stale like a network connection; the check before
        // each use was one more round trip to sqlx's worker thread per query.
        .test_before_acquire(false)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL with NORMAL: a commit needs no fsync; a power cut may lose the
                // last sessions written, never corrupt the file.
                .synchronous(SqliteSynchronous::Normal)
                // 1 MB of page cache per connection (SQLite's default is 2 MB).
                .pragma("cache_size", "-1024")
                .busy_timeout(Duration::from_secs(5)),
        )
        .await
        .with_context(|| format!("SESSION_STORE_URL: cannot open SQLite file {path}"))?;
    let tokens = SqliteTokenStore::new(pool.clone())
        .await
        .context("SESSION_STORE_URL: cannot create the tokens table")?
        .holding(lock.clone());
    // The same store (default table) `AnyStore::sqlite` builds on this pool.
    let store = SqliteStore::new(pool.clone());
    store
        .migrate()
        .await
        .context("SESSION_STORE_URL: cannot create the sessions table")?;
    sqlx::raw_sql(AnyStore::SQLITE_INDEX)
        .execute(&pool)
        .await
        .context("SESSION_STORE_URL: cannot create the session index")?;
    migrate_sqlite_index(&pool)
        .await
        .context("SESSION_STORE_URL: cannot update the session index")?;
    tokio::spawn(
        store
            .clone()
            .continuously_delete_expired(tokio::time::Duration::from_secs(60)),
    );
    Ok(Stores {
        sessions: AnyStore::sqlite(pool).holding(lock),
        tokens: Arc::new(tokens),
    })
}

/// Indexes from before back-channel logout by `sid` alone have no `sid` column: add it.
async fn migrate_sqlite_index(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    let columns: Vec<String> =
        sqlx::query_scalar("select name from pragma_table_info('logto_session_index')")
            .fetch_all(pool)
            .await?;
    if !columns.iter().any(|c| c == "sid") {
        sqlx::query("alter table logto_session_index add column sid text")
            .execute(pool)
            .await?;
    }
    sqlx::query("create index if not exists logto_session_index_sid on logto_session_index (sid)")
        .execute(pool)
        .await?;
    Ok(())
}

async fn open_redis(url: &str, longest_sign_in: Duration) -> anyhow::Result<Stores> {
    use anyhow::Context;
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
    Ok(Stores {
        sessions: AnyStore::redis(pool.clone(), longest_sign_in),
        tokens: Arc::new(RedisTokenStore::new(pool)),
    })
}

/// The cookie: HttpOnly, SameSite=Lax (the callback is a cross-site top-level GET), Secure and
/// `__Host-`-prefixed on https (`secure`: the app is reached over https, `AuthConfig::is_https`).
/// A session unused for `idle_timeout` ends (`SessionConfig::idle_timeout`).
pub fn layer(
    store: AnyStore,
    idle_timeout: Duration,
    secure: bool,
) -> SessionManagerLayer<AnyStore> {
    let idle = time::Duration::seconds(idle_timeout.as_secs() as i64);
    SessionManagerLayer::new(store)
        .with_name(if secure { "__Host-session" } else { "session" })
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(secure)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(idle))
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
    fn the_absolute_lifetime_ends_after_its_last_second() {
        let hour = Duration::from_secs(3600);
        assert!(!outlived(1_000, 1_000, hour));
        assert!(!outlived(1_000, 4_600, hour), "exactly the lifetime");
        assert!(outlived(1_000, 4_601, hour));
        assert!(!outlived(1_000, 900, hour), "a clock gone back");
    }

    #[test]
    fn a_record_expiring_now_is_expired() {
        let now = time::OffsetDateTime::now_utc();
        let at = |expiry| record(&[], expiry);
        assert!(!unexpired(&at(now), now));
        assert!(unexpired(&at(now + time::Duration::milliseconds(1)), now));
        assert!(!unexpired(&at(now - time::Duration::seconds(1)), now));
    }

    #[test]
    fn cache_entries_weigh_four_times_their_json() {
        assert_eq!(AnyStore::record_weight(&None), 256, "a tombstone");
        let value = "x".repeat(1000);
        let r = record(
            &[("k", serde_json::json!(value))],
            time::OffsetDateTime::now_utc(),
        );
        let json = serde_json::to_vec(&r.data).unwrap().len();
        assert_eq!(json, 1008);
        assert_eq!(AnyStore::record_weight(&Some(Arc::new(r))), 4 * 1008 + 256);
    }

    /// The memory budget the doc comment promises: ~650 signed-in records (~1.5 KB of JSON),
    /// however many are put in.
    #[test]
    fn the_record_cache_stays_within_its_budget() {
        let cache = AnyStore::record_cache();
        let expiry = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        let value = "x".repeat(1_500 - 8);
        for _ in 0..2_000 {
            let r = record(&[("k", serde_json::json!(value))], expiry);
            cache.insert(r.id, Some(Arc::new(r)));
        }
        cache.run_pending_tasks();
        assert!(cache.weighted_size() <= AnyStore::CACHE_BYTES);
        let kept = cache.entry_count();
        assert!((600..=700).contains(&kept), "{kept} records kept");
    }

    #[test]
    fn a_deleted_session_is_not_cached_again() {
        let cache = AnyStore::record_cache();
        let expiry = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        let deleted = record(&[], expiry);
        cache.insert(deleted.id, None);
        AnyStore::remember(&cache, &deleted);
        assert!(
            matches!(cache.get(&deleted.id), Some(None)),
            "tombstone kept"
        );

        let fresh = record(&[], expiry);
        AnyStore::remember(&cache, &fresh);
        assert!(matches!(cache.get(&fresh.id), Some(Some(_))));
    }

    /// A record read from SQLite while a deletion of it was under way is not cached, even when
    /// the deletion's tombstone was evicted in between (the cache is bounded).
    #[test]
    fn a_record_read_during_a_deletion_is_not_cached() {
        let cache = RecordCache {
            entries: AnyStore::record_cache(),
            deletions: std::sync::Mutex::new(0),
        };
        let expiry = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        let r = record(&[], expiry);
        let seen = *cache.deletions();
        cache.mark_deleted(r.id); // the deletion begins…
        cache.entries.invalidate(&r.id); // …its tombstone is evicted…
        cache.insert_read(&r, seen); // …and a read from before it ends arrives
        assert!(
            cache.entries.get(&r.id).is_none(),
            "cached a deleted record"
        );
        // Arriving between the deletion's start and end, after its tombstone was evicted: the
        // end puts the tombstone back.
        let seen = *cache.deletions();
        cache.entries.invalidate(&r.id);
        cache.insert_read(&r, seen);
        cache.mark_deleted(r.id);
        assert!(matches!(cache.entries.get(&r.id), Some(None)));
        // With no deletion under way, a read is cached.
        let fresh = record(&[], expiry);
        let seen = *cache.deletions();
        cache.insert_read(&fresh, seen);
        assert!(matches!(cache.entries.get(&fresh.id), Some(Some(_))));
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
