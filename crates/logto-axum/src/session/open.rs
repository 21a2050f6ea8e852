//! Opening the configured store: sessions and tokens on the same backend.

use std::{sync::Arc, time::Duration};

use tower_sessions::MemoryStore;

use super::store::AnyStore;
use crate::{MemoryTokenStore, SessionStoreKind, TokenStore};

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
/// idle timeout (`SessionConfig::longest_sign_in`). A store this build has no cargo feature for
/// is refused (`SessionConfig` refuses its URL already).
pub async fn open_store(
    kind: &SessionStoreKind,
    longest_sign_in: Duration,
) -> anyhow::Result<Stores> {
    let _ = longest_sign_in; // used by Redis only
    Ok(match kind {
        SessionStoreKind::Memory => Stores {
            sessions: AnyStore::memory(MemoryStore::default()),
            tokens: Arc::new(MemoryTokenStore::default()),
        },
        #[cfg(feature = "sqlite")]
        SessionStoreKind::Sqlite(path) => {
            let (pool, tokens, lock) = super::sqlite::open(path).await?;
            Stores {
                sessions: AnyStore::sqlite(pool).holding(lock),
                tokens: Arc::new(tokens),
            }
        }
        #[cfg(feature = "redis")]
        SessionStoreKind::Redis(url) => {
            let pool = super::redis::open(url).await?;
            Stores {
                sessions: AnyStore::redis(pool.clone(), longest_sign_in),
                tokens: Arc::new(crate::store::redis::RedisTokenStore::new(pool)),
            }
        }
        #[allow(unreachable_patterns)]
        other => anyhow::bail!(
            "SESSION_STORE_URL: {other:?} needs logto-axum's cargo feature for that store \
             (`sqlite` or `redis`), which this build lacks"
        ),
    })
}
