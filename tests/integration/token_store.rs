//! The token store's compare-and-swap, on every backend: a refresh result is stored only while the
//! grant still holds the refresh token that was spent, for the same user, and not after a delete
//! or expiry.

use std::{sync::Arc, time::Duration};

use logto_axum::{session::open_store, sha256_hex, SessionStoreKind, TokenSet, TokenStore};
use tower_sessions_sqlx_store::sqlx;

use crate::sessions::Redis;

const DAY: Duration = Duration::from_secs(86_400);

fn tokens(sub: &str, rt: Option<&str>) -> TokenSet {
    TokenSet {
        sub: sub.into(),
        id_token: "id".into(),
        id_token_claims: Default::default(),
        access_token: format!("at-for-{}", rt.unwrap_or("none")),
        access_token_expires_at: Some(1),
        refresh_token: rt.map(str::to_owned),
        targeted: Default::default(),
        ended: None,
    }
}

async fn check(store: Arc<dyn TokenStore>) {
    let grant = format!("g-{}", rand::random::<u64>());
    let day = Duration::from_secs(86_400);
    assert!(store.load(&grant).await.unwrap().is_none());
    assert!(
        !store
            .replace_if(&grant, Some("rt-1"), &tokens("u", Some("rt-2")))
            .await
            .unwrap(),
        "nothing to replace"
    );
    store
        .insert(&grant, &tokens("u", Some("rt-1")), day)
        .await
        .unwrap();
    assert_eq!(
        store
            .load(&grant)
            .await
            .unwrap()
            .unwrap()
            .refresh_token
            .as_deref(),
        Some("rt-1")
    );

    assert!(
        !store
            .replace_if(&grant, Some("rt-0"), &tokens("u", Some("rt-2")))
            .await
            .unwrap(),
        "a refresh that spent an older token loses"
    );
    assert!(
        !store
            .replace_if(&grant, Some("rt-1"), &tokens("someone-else", Some("rt-2")))
            .await
            .unwrap(),
        "another user's tokens never replace these"
    );
    assert!(
        !store
            .replace_if(&grant, None, &tokens("u", Some("rt-2")))
            .await
            .unwrap(),
        "no refresh token is not a wildcard"
    );
    assert!(store
        .replace_if(&grant, Some("rt-1"), &tokens("u", Some("rt-2")))
        .await
        .unwrap());
    let now = store.load(&grant).await.unwrap().unwrap();
    assert_eq!(
        (now.refresh_token.as_deref(), now.access_token.as_str()),
        (Some("rt-2"), "at-for-rt-2")
    );
    assert!(
        !store
            .replace_if(&grant, Some("rt-1"), &tokens("u", Some("rt-3")))
            .await
            .unwrap(),
        "the same spent token cannot win twice"
    );

    store.delete(&grant).await.unwrap();
    assert!(store.load(&grant).await.unwrap().is_none());
    assert!(
        !store
            .replace_if(&grant, Some("rt-2"), &tokens("u", Some("rt-3")))
            .await
            .unwrap(),
        "a signed-out grant does not come back"
    );
    assert!(store.load(&grant).await.unwrap().is_none());

    // Grants are kept apart: another user's grant neither hides nor replaces this one.
    let other = format!("{grant}-other");
    let mine = format!("{grant}-mine");
    store
        .insert(&mine, &tokens("u", Some("rt-m")), day)
        .await
        .unwrap();
    store
        .insert(&other, &tokens("v", Some("rt-o")), day)
        .await
        .unwrap();
    assert_eq!(store.load(&mine).await.unwrap().unwrap().sub, "u");
    assert_eq!(store.load(&other).await.unwrap().unwrap().sub, "v");
    store.delete(&other).await.unwrap();
    assert!(store.load(&mine).await.unwrap().is_some());

    // A grant without refresh token (offline_access not granted) can still be updated.
    let plain = format!("{grant}-plain");
    store.insert(&plain, &tokens("u", None), day).await.unwrap();
    assert!(store
        .replace_if(&plain, None, &tokens("u", None))
        .await
        .unwrap());

    // Expiry.
    let short = format!("{grant}-short");
    store
        .insert(&short, &tokens("u", Some("rt-1")), Duration::from_secs(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(store.load(&short).await.unwrap().is_none(), "expired");
    assert!(!store
        .replace_if(&short, Some("rt-1"), &tokens("u", Some("rt-2")))
        .await
        .unwrap());
    assert!(
        store.load(&mine).await.unwrap().is_some(),
        "a day-long grant outlives the short one"
    );
}

/// Sixteen refreshes that spent the same token finish at once: exactly one result is stored,
/// the winner's (a read-then-write compare would let several through).
async fn concurrent(store: Arc<dyn TokenStore>) {
    for round in 0..10 {
        let grant = format!("race-{}", rand::random::<u64>());
        store
            .insert(&grant, &tokens("u", Some("rt-1")), DAY)
            .await
            .unwrap();
        let tries: Vec<_> = (0..16)
            .map(|i| {
                let (store, grant) = (store.clone(), grant.clone());
                tokio::spawn(async move {
                    let rt = format!("rt-new-{i}");
                    let won = store
                        .replace_if(&grant, Some("rt-1"), &tokens("u", Some(&rt)))
                        .await
                        .unwrap();
                    (won, rt)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tries {
            let (won, rt) = t.await.unwrap();
            if won {
                winners.push(rt);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let stored = store.load(&grant).await.unwrap().unwrap();
        assert_eq!(stored.refresh_token.as_ref(), Some(&winners[0]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_token_store() {
    let store = open_store(&SessionStoreKind::Memory, DAY)
        .await
        .unwrap()
        .tokens;
    check(store.clone()).await;
    concurrent(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_token_store() {
    let db = std::env::temp_dir().join(format!("tokens-{}.db", rand::random::<u64>()));
    let kind = SessionStoreKind::Sqlite(db.display().to_string());
    let store = open_store(&kind, DAY).await.unwrap().tokens;
    check(store.clone()).await;
    concurrent(store.clone()).await;
    // The compare column holds the refresh token's hash, never the token.
    let grant = "hashed";
    store
        .insert(grant, &tokens("u", Some("rt-secret")), DAY)
        .await
        .unwrap();
    let pool = sqlite(&db).await;
    let (column, data): (Option<String>, String) =
        sqlx::query_as("SELECT refresh_token_hash, data FROM auth_tokens WHERE grant_id = ?")
            .bind(grant)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(column.as_deref(), Some(sha256_hex("rt-secret").as_str()));
    assert!(data.contains("rt-secret"), "the token itself is in the set");
    remove_sqlite(&db);
}

async fn sqlite(db: &std::path::Path) -> sqlx::SqlitePool {
    sqlx::sqlite::SqlitePoolOptions::new()
        .connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(db))
        .await
        .unwrap()
}

fn remove_sqlite(db: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

/// A token table from before the hash (the refresh token itself in `refresh_token`) is moved to
/// the hash on open, and its sets keep refreshing.
#[tokio::test]
async fn a_sqlite_table_with_plaintext_refresh_tokens_is_migrated() {
    let db = std::env::temp_dir().join(format!("old-tokens-{}.db", rand::random::<u64>()));
    {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .connect_with(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(&db)
                    .create_if_missing(true),
            )
            .await
            .unwrap();
        sqlx::query(
            "CREATE TABLE auth_tokens (grant_id TEXT PRIMARY KEY NOT NULL, sub TEXT NOT NULL, \
             refresh_token TEXT, data TEXT NOT NULL, expires_at INTEGER NOT NULL)",
        )
        .execute(&pool)
        .await
        .unwrap();
        let set = serde_json::to_string(&tokens("u", Some("rt-old"))).unwrap();
        sqlx::query("INSERT INTO auth_tokens VALUES ('g-old', 'u', 'rt-old', ?, ?)")
            .bind(set)
            .bind(chrono::Utc::now().timestamp() + 3600)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let kind = SessionStoreKind::Sqlite(db.display().to_string());
    let store = open_store(&kind, DAY).await.unwrap().tokens;
    let columns: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info('auth_tokens')")
            .fetch_all(&sqlite(&db).await)
            .await
            .unwrap();
    assert!(!columns.iter().any(|c| c == "refresh_token"), "{columns:?}");
    assert!(store
        .replace_if("g-old", Some("rt-old"), &tokens("u", Some("rt-new")))
        .await
        .unwrap());
    assert_eq!(
        store
            .load("g-old")
            .await
            .unwrap()
            .unwrap()
            .refresh_token
            .as_deref(),
        Some("rt-new")
    );
    drop(store);
    // Opening it again changes nothing.
    let again = open_store(&kind, DAY).await.unwrap().tokens;
    assert!(again.load("g-old").await.unwrap().is_some());
    remove_sqlite(&db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_token_store() {
    let redis = Redis::start_any().await;
    let kind = SessionStoreKind::Redis(format!("redis://127.0.0.1:{}", redis.port));
    let store = open_store(&kind, DAY).await.unwrap().tokens;
    check(store.clone()).await;
    concurrent(store.clone()).await;
    // The compare field holds the hash; a set written before the hash (`rt`) is matched once by
    // the token itself, then moves to the hash.
    store
        .insert("hashed", &tokens("u", Some("rt-secret")), DAY)
        .await
        .unwrap();
    let key = "logto-leptos:tokens:hashed";
    assert_eq!(redis.cli(&["HGET", key, "rth"]), sha256_hex("rt-secret"));
    assert_eq!(redis.cli(&["HEXISTS", key, "rt"]), "0");
    let set = serde_json::to_string(&tokens("u", Some("rt-old"))).unwrap();
    let legacy = "logto-leptos:tokens:legacy";
    redis.cli(&["HSET", legacy, "sub", "u", "rt", "rt-old", "data", &set]);
    assert!(store
        .replace_if("legacy", Some("rt-old"), &tokens("u", Some("rt-new")))
        .await
        .unwrap());
    assert_eq!(redis.cli(&["HEXISTS", legacy, "rt"]), "0");
    assert_eq!(redis.cli(&["HGET", legacy, "rth"]), sha256_hex("rt-new"));
    assert!(
        !store
            .replace_if("legacy", Some("rt-old"), &tokens("u", Some("rt-x")))
            .await
            .unwrap(),
        "the old token no longer matches"
    );
}

/// The cross-instance refresh lock in Redis: taken by one owner only, released only by its owner
/// (an instance whose lock expired must not delete the lock another took since), and with an
/// expiry (a holder that died cannot block that grant's refreshes for ever).
#[tokio::test]
async fn the_redis_refresh_lock_belongs_to_its_owner_and_expires() {
    let redis = Redis::start_any().await;
    let kind = SessionStoreKind::Redis(format!("redis://127.0.0.1:{}", redis.port));
    let store = open_store(&kind, DAY).await.unwrap().tokens;
    let ttl = Duration::from_secs(30);
    assert!(store
        .try_lock_refresh("g", "instance-a", ttl)
        .await
        .unwrap());
    assert!(
        !store
            .try_lock_refresh("g", "instance-b", ttl)
            .await
            .unwrap(),
        "held"
    );
    let key = "logto-leptos:refresh-lock:g";
    let pttl: i64 = redis.cli(&["PTTL", key]).parse().unwrap();
    assert!(0 < pttl && pttl <= 30_000, "expires: PTTL {pttl}");
    // Another instance's unlock leaves it alone.
    store.unlock_refresh("g", "instance-b").await.unwrap();
    assert_eq!(redis.cli(&["GET", key]), "instance-a");
    assert!(!store
        .try_lock_refresh("g", "instance-c", ttl)
        .await
        .unwrap());
    // Other grants are not held by it.
    assert!(store
        .try_lock_refresh("g2", "instance-b", ttl)
        .await
        .unwrap());
    // Its owner releases it.
    store.unlock_refresh("g", "instance-a").await.unwrap();
    assert_eq!(redis.cli(&["EXISTS", key]), "0");
    assert!(store
        .try_lock_refresh("g", "instance-c", ttl)
        .await
        .unwrap());
}
