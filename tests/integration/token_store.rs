//! The token store's compare-and-swap, on every backend: a refresh result is stored only while the
//! grant still holds the refresh token that was spent, for the same user, and not after a delete
//! or expiry.

use std::{sync::Arc, time::Duration};

use logto_leptos::{
    auth::{TokenSet, TokenStore},
    config::SessionStoreKind,
    session::open_store,
};

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

#[tokio::test]
async fn memory_token_store() {
    check(
        open_store(&SessionStoreKind::Memory, DAY)
            .await
            .unwrap()
            .tokens,
    )
    .await;
}

#[tokio::test]
async fn sqlite_token_store() {
    let db = std::env::temp_dir().join(format!("tokens-{}.db", rand::random::<u64>()));
    let kind = SessionStoreKind::Sqlite(db.display().to_string());
    check(open_store(&kind, DAY).await.unwrap().tokens).await;
    let _ = std::fs::remove_file(&db);
}

#[tokio::test]
async fn redis_token_store() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let redis = Redis::start(port).await;
    let kind = SessionStoreKind::Redis(format!("redis://127.0.0.1:{}", redis.port));
    check(open_store(&kind, DAY).await.unwrap().tokens).await;
}
