//! Two app instances on one Redis, as when scaled out: they behave as one.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;

use crate::{sessions::Redis, support::*};

/// Two app instances on one Redis: a sign-in started on one finishes on the other; a
/// back-channel logout received by one is seen by the other on its next request.
#[tokio::test]
async fn two_instances_on_one_redis_behave_as_one() {
    let redis = Redis::start_any().await;
    let idp = Idp::start().await;
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let config = config_for(&idp, &[("SESSION_STORE_URL", &url)]);
    let one = App::new(&config).await;
    let two = App::new(&config).await;

    // Started on one, finished on two.
    let mut browser = one.browser();
    let callback = browser.callback_url_as(&idp, "alice").await;
    browser.router = two.router.clone();
    let r = browser.get(&callback).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    browser.router = one.router.clone();
    assert_eq!(signed_in_sub(&mut browser).await, "alice");

    // Logged out through two: one sees it at once.
    let r = two
        .backchannel_logout(&idp.logout_token("alice", None, |_| {}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(signed_in_sub(&mut browser).await, Value::Null);

    // A replay is refused by the other instance too.
    let token = idp.logout_token("alice", None, |_| {});
    assert_eq!(one.backchannel_logout(&token).await.status, StatusCode::OK);
    assert_eq!(
        two.backchannel_logout(&token).await.status,
        StatusCode::BAD_REQUEST
    );
}

/// N parallel requests of one user spread over both instances refresh the token exactly once
/// (the lock in Redis; without it each instance spends the refresh token and Logto revokes the
/// grant on the second use).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_requests_over_two_instances_refresh_exactly_once() {
    let redis = Redis::start_any().await;
    let idp = Idp::start().await;
    idp.script(Script {
        expires_in: Some(1),
        ..Script::default()
    });
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let config = config_for(&idp, &[("SESSION_STORE_URL", &url)]);
    let one = App::new(&config).await;
    let two = App::new(&config).await;
    let mut browser = one.browser();
    browser.sign_in(&idp).await; // with a token about to expire
    idp.edit_script(|s| {
        s.expires_in = Some(3600);
        // A slow Logto: every request arrives while the refresh is under way.
        s.token_delay = Some(Duration::from_millis(300));
    });
    let tabs: Vec<_> = (0..8)
        .map(|i| {
            let mut tab = browser.tab();
            if i % 2 == 1 {
                tab.router = two.router.clone();
            }
            tokio::spawn(async move { tab.call("user_info", "").await })
        })
        .collect();
    for tab in tabs {
        let (status, body) = tab.await.unwrap();
        assert_eq!(status, StatusCode::OK, "every tab stays signed in: {body}");
    }
    assert_eq!(
        idp.refresh_requests(),
        1,
        "one refresh across both instances"
    );
    assert!(!idp.grant_revoked(), "a refresh token was spent twice");
    // The lock was released: a later refresh through the other instance works at once.
    browser.expire_logto_token().await;
    browser.router = two.router.clone();
    let started = std::time::Instant::now();
    assert_eq!(browser.call("user_info", "").await.0, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(idp.refresh_requests(), 2);
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Soak: complete sign-ins, `SOAK_CONCURRENCY` at a time (default 200), alternating between two
/// instances on one Redis: sign in on one, check the user on the other, sign out on the other,
/// check it on the first. No session may show another user, no answer may be a 5xx, and no
/// session, tokens or index entry may be left behind. `SOAK_SIGN_INS` defaults to 1,000 here;
/// `scripts/bench` runs 10,000. Prints flows per second (a figure, not an assertion).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_sign_ins_across_two_instances() {
    let total = env_count("SOAK_SIGN_INS", 1_000);
    let concurrency = env_count("SOAK_CONCURRENCY", 200);
    let redis = Redis::start_any().await;
    let idp = Idp::start().await;
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let config = config_for(&idp, &[("SESSION_STORE_URL", &url)]);
    let one = App::new(&config).await;
    let two = App::new(&config).await;
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
    let started = std::time::Instant::now();
    let flows: Vec<_> = (0..total)
        .map(|i| {
            let (first, second) = if i % 2 == 0 {
                (&one, &two)
            } else {
                (&two, &one)
            };
            let mut here = first.browser();
            let second_router = second.router.clone();
            let (idp, gate) = (idp.clone(), gate.clone());
            tokio::spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                let user = format!("soak-{i}");
                here.sign_in_as(&idp, &user).await;
                let mut there = here.tab();
                there.router = second_router;
                let seen = there.current_user().await;
                assert_eq!(seen["sub"], user.as_str(), "flow {i} saw another user");
                let r = there.post_form("/api/sign_out", "").await;
                assert_eq!(r.status, StatusCode::FOUND, "flow {i} sign-out: {}", r.body);
                assert_eq!(there.cookie, None, "flow {i}: cookie not cleared");
                assert_eq!(
                    here.current_user().await,
                    Value::Null,
                    "flow {i} still signed in"
                );
            })
        })
        .collect();
    let mut failures = Vec::new();
    for (i, flow) in flows.into_iter().enumerate() {
        if let Err(err) = flow.await {
            failures.push(format!("flow {i}: {err}"));
        }
    }
    let elapsed = started.elapsed();
    println!(
        "soak: {total} sign-ins ({concurrency} at a time, two instances, one Redis) in {:.1} s: {:.0} flows/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    // Nothing left: session records (bare ids), tokens, index sets. (Logout-token ids and the
    // refresh lock are the only other keys the app writes, and neither happens here; each
    // callback's claim on its state stays for the ten minutes a sign-in may take.)
    let left: Vec<String> = redis
        .keys()
        .into_iter()
        .filter(|k| !k.starts_with("logto-leptos:used-once:callback-state:"))
        .collect();
    assert!(
        left.is_empty(),
        "{} keys left, e.g. {:?}",
        left.len(),
        &left[..left.len().min(5)]
    );
}
