//! Logto's signing keys age out: a key removed at the provider stops verifying access tokens
//! and logout tokens within the keys' maximum age (or the JWKS answer's shorter `Cache-Control`),
//! the set is replaced whole on refetch, and concurrent verifications across a rotation share
//! one fetch. Time is moved with tokio's clock (paused, advanced, resumed), never waited for.

use std::time::Duration;

use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use serde_json::Value;

use crate::support::*;

/// Moves the app's clock (tokio's) forward without waiting. Current-thread runtime only.
async fn let_time_pass(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}

/// The demo API mounted on the app itself (`/demo-api/hello`), asked with `token`.
async fn ask_api(app: &mut App, token: &str) -> StatusCode {
    app.send(
        Request::get("/demo-api/hello")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .status
}

async fn app_with_api(idp: &Idp, extra: &[(&str, &str)]) -> App {
    let mut vars = vec![("DEMO_API_RESOURCE", API_RESOURCE)];
    vars.extend_from_slice(extra);
    App::new(&config_for(idp, &vars)).await
}

fn token_signed_by(idp: &Idp, key: usize) -> String {
    idp.mint_jwt_with_key(API_RESOURCE, Some("read:hello"), 3600, false, "at+jwt", key)
}

#[tokio::test]
async fn a_key_removed_at_the_provider_is_refused_after_the_max_age() {
    let idp = Idp::start().await;
    let mut app = app_with_api(&idp, &[("LOGTO_KEYS_MAX_AGE_SECONDS", "600")]).await;
    let old = idp.current_key();
    assert_eq!(
        ask_api(&mut app, &token_signed_by(&idp, old)).await,
        StatusCode::OK
    );
    let fetched = idp.jwks_requests();
    // Logto rotates and deletes the old key (it leaked, say).
    idp.rotate_key();
    let new = idp.current_key();
    let_time_pass(Duration::from_secs(599)).await;
    assert_eq!(
        ask_api(&mut app, &token_signed_by(&idp, old)).await,
        StatusCode::OK,
        "within the max age the keys held are used"
    );
    assert_eq!(idp.jwks_requests(), fetched, "no fetch within the max age");
    let_time_pass(Duration::from_secs(2)).await;
    assert_eq!(
        ask_api(&mut app, &token_signed_by(&idp, new)).await,
        StatusCode::OK
    );
    assert_eq!(
        idp.jwks_requests(),
        fetched + 1,
        "fetched again at the max age"
    );
    assert_eq!(idp.discovery_requests(), 2, "the discovery document too");
    assert_eq!(
        ask_api(&mut app, &token_signed_by(&idp, old)).await,
        StatusCode::UNAUTHORIZED,
        "the removed key no longer verifies: the set was replaced, not added to"
    );
    // (Its unknown `kid` may fetch once more, as any unknown key does, at most every 30 s.)
    assert_eq!(idp.jwks_requests(), fetched + 2);
    assert_eq!(
        ask_api(&mut app, &token_signed_by(&idp, old)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(idp.jwks_requests(), fetched + 2);
    // And a logout token signed with the removed key ends nothing.
    app.sign_in_as(&idp, "alice").await;
    let stale = idp.logout_token_signed_by("alice", old);
    assert_eq!(
        app.backchannel_logout(&stale).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(signed_in_sub(&mut app).await, "alice");
}

/// The JWKS answer's `Cache-Control: max-age` shortens the configured maximum (an hour here).
#[tokio::test]
async fn the_keys_answer_cache_control_is_honoured_when_shorter() {
    let idp = Idp::start().await;
    idp.edit_script(|s| s.jwks_cache_control = Some("public, max-age=120".into()));
    let mut app = app_with_api(&idp, &[]).await;
    let old = idp.current_key();
    assert_eq!(
        ask_api(&mut app, &token_signed_by(&idp, old)).await,
        StatusCode::OK
    );
    let discovered = idp.discovery_requests();
    idp.rotate_key();
    let_time_pass(Duration::from_secs(119)).await;
    assert_eq!(
        ask_api(&mut app, &token_signed_by(&idp, old)).await,
        StatusCode::OK
    );
    let_time_pass(Duration::from_secs(2)).await;
    assert_eq!(
        ask_api(&mut app, &token_signed_by(&idp, old)).await,
        StatusCode::UNAUTHORIZED
    );
    // Only the keys were out of date: the discovery document (an hour) was not asked again.
    assert_eq!(idp.discovery_requests(), discovered);
}

/// `no-store` (or a max-age of seconds) cannot make every verification a request to Logto.
#[tokio::test]
async fn a_keys_answer_saying_no_store_is_kept_a_minute() {
    let idp = Idp::start().await;
    idp.edit_script(|s| s.jwks_cache_control = Some("no-store".into()));
    let mut app = app_with_api(&idp, &[]).await;
    let token = token_signed_by(&idp, idp.current_key());
    assert_eq!(ask_api(&mut app, &token).await, StatusCode::OK);
    let fetched = idp.jwks_requests();
    let_time_pass(Duration::from_secs(59)).await;
    assert_eq!(ask_api(&mut app, &token).await, StatusCode::OK);
    assert_eq!(idp.jwks_requests(), fetched);
    let_time_pass(Duration::from_secs(2)).await;
    assert_eq!(ask_api(&mut app, &token).await, StatusCode::OK);
    assert_eq!(idp.jwks_requests(), fetched + 1);
}

/// Past the max age with Logto away, tokens are not verified with keys that may have been
/// removed meanwhile: 503, and verified again once Logto answers.
#[tokio::test]
async fn stale_keys_are_not_used_while_logto_is_away() {
    let idp = Idp::start().await;
    let mut app = app_with_api(&idp, &[("LOGTO_KEYS_MAX_AGE_SECONDS", "60")]).await;
    let token = token_signed_by(&idp, idp.current_key());
    assert_eq!(ask_api(&mut app, &token).await, StatusCode::OK);
    idp.edit_script(|s| s.jwks_fails = true);
    let_time_pass(Duration::from_secs(61)).await;
    assert_eq!(
        ask_api(&mut app, &token).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    idp.edit_script(|s| s.jwks_fails = false);
    let_time_pass(Duration::from_secs(3)).await; // past the retry interval
    assert_eq!(ask_api(&mut app, &token).await, StatusCode::OK);
}

/// Eight sign-ins whose callbacks arrive together just after Logto rotated its key: each ID token
/// names a key the app has not seen; one refetch serves them all, and every sign-in succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sign_ins_across_a_rotation_share_one_keys_fetch() {
    let idp = Idp::start().await;
    let app = App::new(&config_for(&idp, &[])).await;
    let mut browsers = Vec::new();
    for i in 0..8 {
        let mut browser = app.browser();
        let callback = browser.callback_url_as(&idp, &format!("user-{i}")).await;
        browsers.push((browser, callback));
    }
    idp.rotate_key();
    let fetched = idp.jwks_requests();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(browsers.len()));
    let callbacks: Vec<_> = browsers
        .into_iter()
        .map(|(mut browser, callback)| {
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                let r = browser.get(&callback).await;
                (r.status, browser.current_user().await)
            })
        })
        .collect();
    for (i, call) in callbacks.into_iter().enumerate() {
        let (status, user) = call.await.unwrap();
        assert_eq!(status, StatusCode::FOUND, "sign-in {i}");
        assert_ne!(user, Value::Null, "sign-in {i} signed in");
    }
    assert_eq!(idp.jwks_requests(), fetched + 1, "one fetch for all");
}

/// A logout token signed with a key Logto rotated to since the app fetched its keys: the keys
/// are fetched again (once) and the token is accepted.
#[tokio::test]
async fn a_logout_token_signed_with_a_new_key_fetches_the_keys_again() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in_as(&idp, "alice").await;
    idp.rotate_key();
    let fetched = idp.jwks_requests();
    let token = idp.logout_token("alice", None, |_| {});
    let r = app.backchannel_logout(&token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(idp.jwks_requests(), fetched + 1);
    assert_eq!(signed_in_sub(&mut app).await, Value::Null);
}

/// Only a key the provider does not list sends the app to Logto for its keys: a token with a bad
/// signature, an expired one, or one for another audience does not.
#[tokio::test]
async fn a_refused_token_with_a_known_key_does_not_fetch_the_keys() {
    let idp = Idp::start().await;
    let mut app = app_with_api(&idp, &[]).await;
    let good = token_signed_by(&idp, idp.current_key());
    assert_eq!(ask_api(&mut app, &good).await, StatusCode::OK);
    let fetched = idp.jwks_requests();
    for bad in [
        idp.mint_access_token(API_RESOURCE, Some("read:hello"), 3600, true),
        idp.mint_access_token(API_RESOURCE, Some("read:hello"), -600, false),
        idp.mint_access_token("https://other.test", Some("read:hello"), 3600, false),
    ] {
        assert_eq!(ask_api(&mut app, &bad).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(idp.jwks_requests(), fetched);
}
