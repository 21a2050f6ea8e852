//! The token store in SQLite (cargo feature `sqlite`): "replace only if the refresh token is
//! still the one spent" is one `UPDATE … WHERE`. The column it compares holds a SHA-256 of the
//! refresh token, not the token: the token itself is only in the serialized set.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use tower_sessions_sqlx_store::sqlx::{self, Row, SqlitePool};

use super::codec::{decode, encode, rt_hash, store_err, ttl_secs};
use crate::{now_unix, TokenSet, TokenStore, TokenStoreError};

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
