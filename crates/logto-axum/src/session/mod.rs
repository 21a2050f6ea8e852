//! Sessions: one typed wrapper over tower-sessions' `Session` so the rest of the app never spells
//! a session key, the cookie, and the store chosen by configuration (`store.rs`, with a module
//! per backend).

mod decoded_users;
pub mod ending;
mod memory;
mod open;
mod record_cache;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;

pub use open::{open_store, Stores};
pub use store::AnyStore;

use std::{sync::Arc, time::Duration};

use axum::{extract::FromRequestParts, http::request::Parts};
use serde::{Deserialize, Serialize};
use tower_sessions::{
    cookie::SameSite,
    session::{Id, Record},
    session_store, Expiry, Session, SessionManagerLayer,
};

use crate::{
    flow::PENDING_TTL_SECS, now_unix, PendingSignIn, SignedIn, TokenStore, TokenStoreError,
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
    /// A `SessionUser`, as JSON text (`encode_user`). (Sessions from before the token store used
    /// `auth.signed_in`, which is no longer read: those users simply sign in again.)
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
    /// Shared: the requests of one session (one stored text) get the same decoded user.
    pub async fn user(
        &self,
        max_lifetime: Duration,
        tokens: &dyn TokenStore,
    ) -> Result<Option<Arc<SessionUser>>, SessionError> {
        let Some(signed_in) = self.stored_user().await? else {
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

    /// The user as stored, before any lifetime check; a value that cannot be read is a store
    /// failure (503), as tower-sessions' own `get` has it.
    async fn stored_user(&self) -> Result<Option<Arc<SessionUser>>, SessionError> {
        Ok(self.stored().await?.map(|(_, user)| user))
    }

    /// The user's stored value with its decoding: sign-out needs the value too, to drop it from
    /// the decoded users.
    async fn stored(&self) -> Result<Option<(serde_json::Value, Arc<SessionUser>)>, SessionError> {
        let Some(value) = self.0.get_value(Self::USER).await? else {
            return Ok(None);
        };
        let user =
            decoded_users::decode(&value).map_err(tower_sessions::session::Error::SerdeJson)?;
        Ok(Some((value, user)))
    }

    fn idle_secs(&self) -> i64 {
        match self.0.expiry() {
            Some(Expiry::OnInactivity(d)) => d.whole_seconds(),
            _ => Self::TOUCH_EVERY_SECS,
        }
    }

    /// A session that holds only pending sign-ins (nobody signed in) expires after as long as
    /// they are valid, not after the idle timeout: anonymous sign-in starts cannot pile up for
    /// days.
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
        if let Some(previous) = self.stored_user().await? {
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
        let encoded = encode_user(&user).map_err(tower_sessions::session::Error::SerdeJson)?;
        self.0.insert(Self::USER, encoded).await?;
        // Signing in is activity: without this the very next page would write the session again.
        self.0.insert(Self::LAST_SEEN, now_unix()).await?;
        Ok((user, to_revoke))
    }

    /// Deletes the tokens and the server-side record, and clears the cookie.
    pub async fn sign_out(&self, tokens: &dyn TokenStore) -> Result<(), SessionError> {
        if let Some((value, user)) = self.stored().await? {
            tokens.delete(&user.grant).await?;
            decoded_users::forget(&value);
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
    /// The signed-in session a record holds, if it holds one (the user as JSON text, or as the
    /// JSON object of records written before 0.2.0).
    pub fn from_record(record: &Record) -> Option<Self> {
        let user: SessionUser = decode_user(record.data.get(AuthSession::USER)?).ok()?;
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

/// The user as the record keeps it: JSON text in a JSON string, not a JSON object. Every page
/// view gets a copy of the record (SQLite: cloned out of the record cache; Redis: decoded from
/// MessagePack) and a copy of this value out of it (tower-sessions hands out copies only): a
/// string is one allocation, an object of maps and strings dozens (~9% of a signed-in page's
/// CPU), and text is a key the decoded user can be kept by (`decoded_users`). Versions before
/// 0.2.0 cannot read the text form (crates/logto-axum/README.md, "Upgrading").
fn encode_user(user: &SessionUser) -> Result<String, serde_json::Error> {
    serde_json::to_string(user)
}

/// Reads the user (or part of it) from what `encode_user` wrote, or from the JSON object that
/// records written before 0.2.0 hold: those stay signed in across the upgrade.
fn decode_user<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> serde_json::Result<T> {
    match value {
        serde_json::Value::String(text) => serde_json::from_str(text),
        object => T::deserialize(object),
    }
}

/// Who a record's user is, for the user index and the anonymous-record cap: two fields of the
/// user, without decoding the rest.
#[derive(Deserialize)]
struct Who {
    /// The Logto session (`sid`) the user signed in with, if Logto said.
    sid: Option<String>,
    user: WhoUser,
}

/// The part of `UserProfile` the index needs.
#[derive(Deserialize)]
struct WhoUser {
    sub: String,
}

/// Who is signed in in a record, if anybody (a user that cannot be read counts as nobody, as
/// `StoredSession::from_record` has it).
fn who_signed_in(record: &Record) -> Option<Who> {
    decode_user(record.data.get(AuthSession::USER)?).ok()
}

impl<S: Send + Sync> FromRequestParts<S> for AuthSession {
    type Rejection = (axum::http::StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Session::from_request_parts(parts, state)
            .await
            .map(AuthSession)
    }
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

    #[test]
    fn the_absolute_lifetime_ends_after_its_last_second() {
        let hour = Duration::from_secs(3600);
        assert!(!outlived(1_000, 1_000, hour));
        assert!(!outlived(1_000, 4_600, hour), "exactly the lifetime");
        assert!(outlived(1_000, 4_601, hour));
        assert!(!outlived(1_000, 900, hour), "a clock gone back");
    }

    fn alice() -> SessionUser {
        SessionUser {
            grant: "grant-1".into(),
            signed_in_at: 1_700_000_000,
            user: UserProfile {
                sub: "alice".into(),
                name: Some("Alice \"Wonder\" Land".into()),
                email: Some("alice@example.com".into()),
                identities: vec!["facebook".into()],
                claims: vec![
                    ("auth_time".into(), crate::ClaimValue::Time(1_700_000_000)),
                    ("sub".into(), crate::ClaimValue::Text("alice".into())),
                ],
                ..UserProfile::default()
            },
            sid: Some("logto-session-1".into()),
            browser: Some("Firefox on Linux".into()),
        }
    }

    fn record(user: Option<serde_json::Value>) -> Record {
        Record {
            id: Id::default(),
            data: user
                .map(|u| (AuthSession::USER.to_owned(), u))
                .into_iter()
                .chain([(AuthSession::LAST_SEEN.to_owned(), 1_700_000_060.into())])
                .collect(),
            expiry_date: time::OffsetDateTime::now_utc(),
        }
    }

    /// A session's requests share one decoded user, and a changed user is decoded anew.
    #[tokio::test]
    async fn a_sessions_user_is_decoded_once_per_text() {
        let store = Arc::new(tower_sessions::MemoryStore::default());
        let session = AuthSession::new(Session::new(None, store, None));
        let tokens = crate::MemoryTokenStore::default();
        let lifetime = Duration::from_secs(u64::MAX / 4);
        let mut user = alice();
        user.user.sub = "alice-decoded-once".into();
        session
            .0
            .insert(AuthSession::USER, encode_user(&user).unwrap())
            .await
            .unwrap();
        let first = session.user(lifetime, &tokens).await.unwrap().unwrap();
        let again = session.user(lifetime, &tokens).await.unwrap().unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        user.user.name = Some("Alice".into());
        session
            .0
            .insert(AuthSession::USER, encode_user(&user).unwrap())
            .await
            .unwrap();
        let renamed = session.user(lifetime, &tokens).await.unwrap().unwrap();
        assert_eq!(renamed.user.name.as_deref(), Some("Alice"));
    }

    /// A kept user is checked as a decoded one: the idle timeout is still extended, and a
    /// session past its lifetime still ends.
    #[tokio::test]
    async fn a_kept_user_still_touches_and_ends_the_session() {
        let store = Arc::new(tower_sessions::MemoryStore::default());
        let session = AuthSession::new(Session::new(None, store, None));
        let tokens = crate::MemoryTokenStore::default();
        let mut user = alice();
        user.user.sub = "alice-kept".into();
        user.signed_in_at = now_unix() - 10;
        let text = encode_user(&user).unwrap();
        session.0.insert(AuthSession::USER, &text).await.unwrap();
        let long = Duration::from_secs(3600);
        assert!(session.user(long, &tokens).await.unwrap().is_some());
        session
            .0
            .remove_value(AuthSession::LAST_SEEN)
            .await
            .unwrap();
        assert!(session.user(long, &tokens).await.unwrap().is_some());
        let touched: Option<i64> = session.0.get(AuthSession::LAST_SEEN).await.unwrap();
        assert!(touched.is_some(), "the idle timeout was not extended");
        // Without an idle timeout set, a session is touched when last seen 30 s ago or more.
        for (ago, touches) in [(1, false), (20, false), (45, true)] {
            let seen = now_unix() - ago;
            session
                .0
                .insert(AuthSession::LAST_SEEN, seen)
                .await
                .unwrap();
            assert!(session.user(long, &tokens).await.unwrap().is_some());
            let last: Option<i64> = session.0.get(AuthSession::LAST_SEEN).await.unwrap();
            assert_eq!(last != Some(seen), touches, "last seen {ago} s ago");
        }
        let short = Duration::from_secs(5);
        assert!(session.user(short, &tokens).await.unwrap().is_none());
        assert!(session
            .0
            .get_value(AuthSession::USER)
            .await
            .unwrap()
            .is_none());
    }

    /// Signing out drops the kept user: the same text decodes anew.
    #[tokio::test]
    async fn signing_out_forgets_the_kept_user() {
        let tokens = crate::MemoryTokenStore::default();
        let mut user = alice();
        user.user.sub = "alice-forgotten".into();
        let text = encode_user(&user).unwrap();
        let signed_in = || async {
            let store = Arc::new(tower_sessions::MemoryStore::default());
            let session = AuthSession::new(Session::new(None, store, None));
            session.0.insert(AuthSession::USER, &text).await.unwrap();
            session
        };
        let lifetime = Duration::from_secs(u64::MAX / 4);
        let session = signed_in().await;
        let before = session.user(lifetime, &tokens).await.unwrap().unwrap();
        session.sign_out(&tokens).await.unwrap();
        let after = signed_in()
            .await
            .user(lifetime, &tokens)
            .await
            .unwrap()
            .unwrap();
        assert!(!Arc::ptr_eq(&before, &after));
    }

    fn as_json(user: &SessionUser) -> serde_json::Value {
        serde_json::to_value(user).unwrap()
    }

    #[test]
    fn the_user_is_read_back_whole_from_its_text() {
        let stored = serde_json::to_value(encode_user(&alice()).unwrap()).unwrap();
        assert_eq!(
            as_json(&decode_user::<SessionUser>(&stored).unwrap()),
            as_json(&alice())
        );
    }

    #[test]
    fn records_written_as_an_object_before_are_still_read() {
        let legacy = as_json(&alice());
        assert!(legacy.is_object());
        assert_eq!(
            as_json(&decode_user::<SessionUser>(&legacy).unwrap()),
            as_json(&alice())
        );
        let stored = StoredSession::from_record(&record(Some(legacy))).unwrap();
        assert_eq!(as_json(&stored.user), as_json(&alice()));
        assert_eq!(stored.last_seen, 1_700_000_060);
    }

    #[test]
    fn a_stored_session_reads_the_text_form() {
        let text = serde_json::to_value(encode_user(&alice()).unwrap()).unwrap();
        let stored = StoredSession::from_record(&record(Some(text))).unwrap();
        assert_eq!(as_json(&stored.user), as_json(&alice()));
        assert!(StoredSession::from_record(&record(None)).is_none());
    }

    #[test]
    fn who_is_signed_in_reads_sub_and_sid_in_both_forms() {
        let text = serde_json::to_value(encode_user(&alice()).unwrap()).unwrap();
        for form in [text, as_json(&alice())] {
            let who = who_signed_in(&record(Some(form))).unwrap();
            assert_eq!(who.user.sub, "alice");
            assert_eq!(who.sid.as_deref(), Some("logto-session-1"));
        }
        let mut without_sid = alice();
        without_sid.sid = None;
        let who = who_signed_in(&record(Some(as_json(&without_sid)))).unwrap();
        assert_eq!((who.user.sub.as_str(), who.sid.as_deref()), ("alice", None));
        let text = serde_json::to_value(encode_user(&without_sid).unwrap()).unwrap();
        assert_eq!(who_signed_in(&record(Some(text))).unwrap().sid, None);
    }

    /// Records written before `sid` was kept lack the field; `SessionUser` writes `null`.
    #[test]
    fn a_user_without_a_sid_field_is_read_in_both_forms() {
        let mut object = as_json(&alice());
        object.as_object_mut().unwrap().remove("sid");
        let text = serde_json::Value::String(object.to_string());
        for form in [object, text] {
            let who = who_signed_in(&record(Some(form.clone()))).unwrap();
            assert_eq!((who.user.sub.as_str(), who.sid), ("alice", None), "{form}");
            let user: SessionUser = decode_user(&form).unwrap();
            assert_eq!((user.grant.as_str(), user.sid), ("grant-1", None), "{form}");
        }
    }

    /// The stores' own path (SQLite and Redis keep a record as MessagePack): the user comes back
    /// as the text it was written as, and reads back whole.
    #[test]
    fn a_signed_in_record_survives_the_stores_encoding() {
        let text = serde_json::to_value(encode_user(&alice()).unwrap()).unwrap();
        let written = record(Some(text));
        let bytes = rmp_serde::to_vec(&written).unwrap();
        let read: Record = rmp_serde::from_slice(&bytes).unwrap();
        assert!(read.data[AuthSession::USER].is_string());
        let stored = StoredSession::from_record(&read).unwrap();
        assert_eq!(as_json(&stored.user), as_json(&alice()));
        assert_eq!(stored.last_seen, 1_700_000_060);
        assert_eq!(who_signed_in(&read).unwrap().user.sub, "alice");
    }

    #[test]
    fn nobody_is_signed_in_in_a_record_without_a_readable_user() {
        assert!(who_signed_in(&record(None)).is_none());
        for broken in [
            serde_json::json!("not json"),
            serde_json::json!("{\"user\": {}}"),
            serde_json::json!({"user": {"sub": 7}}),
            serde_json::json!(null),
            serde_json::json!(42),
        ] {
            assert!(
                who_signed_in(&record(Some(broken.clone()))).is_none(),
                "{broken}"
            );
            assert!(decode_user::<SessionUser>(&broken).is_err(), "{broken}");
        }
    }
}
