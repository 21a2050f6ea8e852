//! Sessions in SQLite (cargo feature `sqlite`): tower-sessions-sqlx-store's table, written in
//! one statement per change, the user index beside it (kept by a trigger), and opening the file
//! with its single-writer lock.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, ExpiredDeletion},
};
use tower_sessions_sqlx_store::{
    sqlx::{
        self,
        sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
        SqlitePool,
    },
    SqliteStore,
};

use crate::store::{sqlite::SqliteTokenStore, sqlite_file};

/// The table `SqliteStore` uses (its default), named here for `create`.
const TABLE: &str = "tower_sessions";

/// The user index for SQLite: rows go away with their session (trigger), also when the
/// expiry sweep deletes it. (`sid` was added later: see `migrate_index`.)
const INDEX: &str = "
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

pub(super) async fn index(
    pool: &SqlitePool,
    sub: &str,
    sid: Option<&str>,
    id: Id,
) -> session_store::Result<()> {
    sqlx::query(
        "insert or replace into logto_session_index (session_id, sub, sid) values (?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(sub)
    .bind(sid)
    .execute(pool)
    .await
    .map(|_| ())
    .map_err(sqlite_err)
}

pub(super) async fn user_of_sid(
    pool: &SqlitePool,
    sid: &str,
) -> session_store::Result<Option<String>> {
    sqlx::query_scalar("select sub from logto_session_index where sid = ? limit 1")
        .bind(sid)
        .fetch_optional(pool)
        .await
        .map_err(sqlite_err)
}

pub(super) async fn ids(pool: &SqlitePool, sub: &str) -> session_store::Result<Vec<Id>> {
    Ok(
        sqlx::query_scalar::<_, String>("select session_id from logto_session_index where sub = ?")
            .bind(sub)
            .fetch_all(pool)
            .await
            .map_err(sqlite_err)?
            .iter()
            .filter_map(|id| id.parse().ok())
            .collect(),
    )
}

pub(super) async fn unindex(pool: &SqlitePool, ids: &[Id]) -> session_store::Result<()> {
    for id in ids {
        sqlx::query("delete from logto_session_index where session_id = ?")
            .bind(id.to_string())
            .execute(pool)
            .await
            .map_err(sqlite_err)?;
    }
    Ok(())
}

/// `SqliteStore::create` wraps its insert in a transaction: BEGIN, INSERT, COMMIT, each a
/// hand-off to sqlx's SQLite worker thread and back, which on an idle server cost more CPU
/// than the insert (perf). One `INSERT` does the same: a taken id (never seen with 128 random
/// bits, but handled as the store does) gets a new id and another try. The row is written
/// exactly as `SqliteStore` writes it (MessagePack record), so it loads and saves those rows
/// unchanged (tested).
pub(super) async fn create(pool: &SqlitePool, record: &mut Record) -> session_store::Result<()> {
    let insert = format!("insert into {TABLE} (id, data, expiry_date) values (?, ?, ?)");
    loop {
        let data =
            rmp_serde::to_vec(&*record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
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
pub(super) async fn update(pool: &SqlitePool, record: &Record) -> session_store::Result<bool> {
    let data =
        rmp_serde::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let update = format!("update {TABLE} set data = ?, expiry_date = ? where id = ?");
    sqlx::query(&update)
        .bind(data)
        .bind(record.expiry_date)
        .bind(record.id.to_string())
        .execute(pool)
        .await
        .map(|done| done.rows_affected() == 1)
        .map_err(sqlite_err)
}

fn sqlite_err(e: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

/// The file opened (and migrated), its token store, and this process's claim on it. Expired
/// sessions are swept every minute in the background.
pub(super) async fn open(
    path: &str,
) -> anyhow::Result<(SqlitePool, SqliteTokenStore, Arc<sqlite_file::WriterLock>)> {
    let lock = sqlite_file::prepare(std::path::Path::new(path))?;
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
    sqlx::raw_sql(INDEX)
        .execute(&pool)
        .await
        .context("SESSION_STORE_URL: cannot create the session index")?;
    migrate_index(&pool)
        .await
        .context("SESSION_STORE_URL: cannot update the session index")?;
    tokio::spawn(
        store
            .clone()
            .continuously_delete_expired(tokio::time::Duration::from_secs(60)),
    );
    Ok((pool, tokens, lock))
}

/// Indexes from before back-channel logout by `sid` alone have no `sid` column: add it.
async fn migrate_index(pool: &SqlitePool) -> Result<(), sqlx::Error> {
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
