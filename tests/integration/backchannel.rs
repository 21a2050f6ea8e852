//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0, as Logto sends it) and the
//! sessions page: the user index in every store, ending one session, signing out everywhere.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::{sessions::Redis, support::*};

/// Two browsers of alice's and one of bob's, on `config`'s store.
async fn three_browsers(idp: &Idp, config: &logto_leptos::config::AppConfig) -> (App, App, App) {
    let mut alice = App::new(config).await;
    alice.sign_in_as(idp, "alice").await;
    let mut alice_phone = alice.browser();
    alice_phone.sign_in_as(idp, "alice").await;
    let mut bob = alice.browser();
    bob.sign_in_as(idp, "bob").await;
    (alice, alice_phone, bob)
}

async fn ends_every_session_of_the_user(store_url: &str) {
    let idp = Idp::start().await;
    let config = config_for(&idp, &[("SESSION_STORE_URL", store_url)]);
    let (mut alice, mut alice_phone, mut bob) = three_browsers(&idp, &config).await;
    // Signing in again in the same browser replaces that session in the index.
    alice.sign_in_as(&idp, "alice").await;
    assert_eq!(alice.store.sessions_of("alice").await.unwrap().len(), 2);
    let alice_grant = alice.grant_id().await;

    let r = alice
        .backchannel_logout(&idp.logout_token("alice", None, |_| {}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers["cache-control"], "no-store");
    assert!(r.headers.get("set-cookie").is_none());

    assert_eq!(signed_in_sub(&mut alice).await, Value::Null);
    assert_eq!(signed_in_sub(&mut alice_phone).await, Value::Null);
    assert_eq!(signed_in_sub(&mut bob).await, "bob");
    assert!(
        alice.tokens.load(&alice_grant).await.unwrap().is_none(),
        "the tokens of an ended session are deleted"
    );
    assert!(alice.store.sessions_of("alice").await.unwrap().is_empty());
    // The start page (cached per user) no longer shows alice either.
    let page = alice.get("/").await;
    assert!(
        page.body.contains("Continue with Facebook"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn backchannel_logout_ends_every_session_of_the_user_memory() {
    ends_every_session_of_the_user("memory").await;
}

#[tokio::test]
async fn backchannel_logout_ends_every_session_of_the_user_sqlite() {
    let dir = std::env::temp_dir().join(format!("bcl-{}", std::process::id()));
    let db = dir.join("sessions.db");
    ends_every_session_of_the_user(&format!("sqlite://{}", db.display())).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn backchannel_logout_ends_every_session_of_the_user_redis() {
    let redis = Redis::start_any().await;
    ends_every_session_of_the_user(&format!("redis://127.0.0.1:{}", redis.port)).await;
}

/// With "session required", Logto names its session: only app sessions signed in with it end.
#[tokio::test]
async fn a_logout_token_with_sid_ends_only_that_logto_session() {
    let idp = Idp::start().await;
    let config = config_for(&idp, &[]);
    idp.edit_claims(|c| c["sid"] = json!("logto-session-1"));
    let mut laptop = App::new(&config).await;
    laptop.sign_in_as(&idp, "alice").await;
    idp.edit_claims(|c| c["sid"] = json!("logto-session-2"));
    let mut phone = laptop.browser();
    phone.sign_in_as(&idp, "alice").await;

    let r = laptop
        .backchannel_logout(&idp.logout_token("alice", Some("logto-session-1"), |_| {}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(signed_in_sub(&mut laptop).await, Value::Null);
    assert_eq!(signed_in_sub(&mut phone).await, "alice");

    // A sid of another user's session does not reach alice's.
    let r = laptop
        .backchannel_logout(&idp.logout_token("bob", Some("logto-session-2"), |_| {}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(signed_in_sub(&mut phone).await, "alice");
}

#[tokio::test]
async fn a_replayed_logout_token_is_refused() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    let token = idp.logout_token("alice", None, |_| {});
    assert_eq!(app.backchannel_logout(&token).await.status, StatusCode::OK);
    // Signed in again after the logout: the same token must not end the new session.
    app.sign_in_as(&idp, "alice").await;
    let r = app.backchannel_logout(&token).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap()["error"],
        "invalid_request"
    );
    assert_eq!(signed_in_sub(&mut app).await, "alice");
}

/// Every way a logout token can be wrong gets 400 `invalid_request`, and ends nothing.
#[tokio::test]
async fn invalid_logout_tokens_are_refused_and_end_nothing() {
    let idp = Idp::start().await;
    idp.edit_script(|s| s.advertise_hs256 = true);
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in_as(&idp, "alice").await;
    let now = chrono::Utc::now().timestamp();
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let edited = |name: &str, edit: Edit| (name.to_owned(), idp.logout_token("alice", None, edit));
    let mut cases: Vec<(String, String)> = vec![
        edited(
            "wrong issuer",
            Box::new(|c| c["iss"] = json!("https://evil.example/oidc")),
        ),
        edited(
            "wrong audience",
            Box::new(|c| c["aud"] = json!("another-app")),
        ),
        edited(
            "azp of another app",
            Box::new(|c| {
                c["aud"] = json!([CLIENT_ID, "another-app"]);
                c["azp"] = json!("another-app");
            }),
        ),
        // A single audience that is this app, but issued to another party (openidconnect does
        // not look at azp; the app does).
        edited(
            "azp of another app, sole audience",
            Box::new(|c| c["azp"] = json!("another-app")),
        ),
        edited("with a nonce", Box::new(|c| c["nonce"] = json!("n-1"))),
        edited(
            "without events",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("events");
            }),
        ),
        edited(
            "another event",
            Box::new(|c| c["events"] = json!({"urn:other": {}})),
        ),
        edited(
            "event not an object",
            Box::new(|c| {
                c["events"] = json!({"http://schemas.openid.net/event/backchannel-logout": "yes"})
            }),
        ),
        edited(
            "without jti",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
        ),
        edited("empty jti", Box::new(|c| c["jti"] = json!(""))),
        edited(
            "expired",
            Box::new(move |c| {
                c["iat"] = json!(now - 200);
                c["exp"] = json!(now - 80);
            }),
        ),
        edited(
            "issued long ago, exp far ahead",
            Box::new(move |c| {
                c["iat"] = json!(now - 3600);
                c["exp"] = json!(now + 3600);
            }),
        ),
        edited(
            "issued in the future",
            Box::new(move |c| {
                c["iat"] = json!(now + 3600);
                c["exp"] = json!(now + 7200);
            }),
        ),
        edited(
            "without sub",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("sub");
            }),
        ),
    ];
    let signed = |sign: SignMode| Script {
        sign,
        ..Script::default()
    };
    cases.push((
        "bad signature".into(),
        idp.logout_token_with(
            "alice",
            None,
            |_| {},
            signed(SignMode::BadSignature),
            "logout+jwt",
        ),
    ));
    cases.push((
        "alg none".into(),
        idp.logout_token_with(
            "alice",
            None,
            |_| {},
            signed(SignMode::AlgNone),
            "logout+jwt",
        ),
    ));
    cases.push((
        "HS256 with the client secret".into(),
        idp.logout_token_with(
            "alice",
            None,
            |_| {},
            signed(SignMode::Hs256WithClientSecret),
            "logout+jwt",
        ),
    ));
    cases.push((
        "typed as an ID token".into(),
        idp.logout_token_with("alice", None, |_| {}, Script::default(), "JWT"),
    ));
    cases.push(("not a JWT".into(), "not-a-jwt".into()));
    for (name, token) in cases {
        let r = app.backchannel_logout(&token).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.body);
        assert_eq!(r.headers["cache-control"], "no-store", "{name}");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["error"], "invalid_request", "{name}");
        assert_eq!(
            signed_in_sub(&mut app).await,
            "alice",
            "{name} ended the session"
        );
    }
    // No token at all, and a form without it.
    let mut logto = app.browser();
    let r = logto.post_form("/auth/backchannel-logout", "").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Controls that must pass: azp naming this app, and a token near the end of Logto's 120 s
    // (issued 200 s ago, accepted up to 5 minutes). Each ends alice's session; sign in again.
    let accepted = [
        idp.logout_token("alice", None, |c| c["azp"] = json!(CLIENT_ID)),
        idp.logout_token("alice", None, move |c| {
            c["iat"] = json!(now - 200);
            c["exp"] = json!(now + 60);
        }),
    ];
    for token in accepted {
        assert_eq!(app.backchannel_logout(&token).await.status, StatusCode::OK);
        assert_eq!(signed_in_sub(&mut app).await, Value::Null);
        app.sign_in_as(&idp, "alice").await;
    }
    // The control: an untyped but otherwise valid token works (the spec only recommends `typ`).
    let untyped = idp.logout_token_with(
        "alice",
        None,
        |_| {},
        Script {
            header: Some(std::sync::Arc::new(|h: &mut Value| {
                h.as_object_mut().unwrap().remove("typ");
            })),
            ..Script::default()
        },
        "logout+jwt",
    );
    assert_eq!(
        app.backchannel_logout(&untyped).await.status,
        StatusCode::OK
    );
    assert_eq!(signed_in_sub(&mut app).await, Value::Null);
}

/// Index rows go with their session in SQLite, also when the expiry sweep deletes it.
#[tokio::test]
async fn the_sqlite_index_follows_deleted_sessions() {
    let dir = std::env::temp_dir().join(format!("bcl-index-{}", std::process::id()));
    let db = dir.join("sessions.db");
    let idp = Idp::start().await;
    let url = format!("sqlite://{}", db.display());
    let mut app = App::new(&config_for(&idp, &[("SESSION_STORE_URL", &url)])).await;
    app.sign_in_as(&idp, "alice").await;
    let pool = crate::sessions::sqlite_pool(&db).await;
    let count = || async {
        sqlx_count(
            &pool,
            "select count(*) from logto_session_index where sub = 'alice'",
        )
        .await
    };
    assert_eq!(count().await, 1);
    // What `continuously_delete_expired` does.
    sqlx_exec(&pool, "delete from tower_sessions").await;
    assert_eq!(count().await, 0);
    let _ = std::fs::remove_dir_all(dir);
}

async fn sqlx_count(pool: &tower_sessions_sqlx_store::sqlx::SqlitePool, sql: &str) -> i64 {
    tower_sessions_sqlx_store::sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn sqlx_exec(pool: &tower_sessions_sqlx_store::sqlx::SqlitePool, sql: &str) {
    tower_sessions_sqlx_store::sqlx::query(sql)
        .execute(pool)
        .await
        .unwrap();
}

fn sessions_in(page: &str) -> usize {
    page.matches("class=\"session\"").count()
}

/// The first `handle` value in the page that is not this browser's (the form of its End button).
fn other_handle(page: &str) -> String {
    let at = page
        .find("name=\"handle\" value=\"")
        .expect("an End button")
        + 21;
    page[at..at + 32].to_owned()
}

#[tokio::test]
async fn the_sessions_page_lists_and_ends_sessions() {
    let idp = Idp::start().await;
    let config = config_for(&idp, &[]);
    let (mut alice, mut alice_phone, mut bob) = three_browsers(&idp, &config).await;

    let page = alice.get("/sessions").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(sessions_in(&page.body), 2, "{}", page.body);
    assert_eq!(page.body.matches("This browser").count(), 1);
    assert_eq!(
        page.body.matches("name=\"handle\"").count(),
        1,
        "no End button on this one"
    );
    for cookie in [&alice.cookie, &alice_phone.cookie, &bob.cookie] {
        let id = cookie.as_deref().unwrap().split_once('=').unwrap().1;
        assert!(!page.body.contains(id), "a session id is in the page");
    }

    // Bob cannot end alice's session with its handle.
    let handle = other_handle(&page.body);
    let r = bob
        .post_form("/api/end_session", &format!("handle={handle}"))
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(signed_in_sub(&mut alice_phone).await, "alice");

    let revoked_before = idp.revoked_tokens().len();
    let r = alice
        .post_form("/api/end_session", &format!("handle={handle}"))
        .await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    assert_eq!(r.location().as_deref(), Some("/sessions"));
    assert_eq!(signed_in_sub(&mut alice_phone).await, Value::Null);
    assert_eq!(signed_in_sub(&mut alice).await, "alice");
    assert_eq!(
        idp.revoked_tokens().len(),
        revoked_before + 1,
        "its refresh token is revoked"
    );
    assert_eq!(sessions_in(&alice.get("/sessions").await.body), 1);

    // Ending this browser's own session (a crafted form: the page has no button for it) is
    // signing out, Logto's session included, not just deleting the record.
    let own = logto_axum::session::ending::handle(&alice.session_id());
    let mut alice_again = alice.tab();
    let r = alice_again
        .post_form("/api/end_session", &format!("handle={own}"))
        .await;
    let location = r.location().unwrap_or_default();
    assert!(
        location.starts_with(&format!("{}/session/end", idp.issuer)),
        "{location}"
    );
    assert_eq!(signed_in_sub(&mut alice_again).await, Value::Null);

    // Anonymous callers get 401; signed-out visitors of the page are sent to sign in.
    let mut anonymous = alice.browser();
    assert_eq!(
        anonymous.call("my_sessions", "").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        anonymous
            .call("end_session", &format!("handle={handle}"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let r = anonymous.get("/sessions").await;
    assert!(
        r.location().is_some_and(|l| l.starts_with("/sign-in")),
        "{:?}",
        r.location()
    );
}

#[tokio::test]
async fn sign_out_everywhere_ends_all_sessions_and_revokes_their_refresh_tokens() {
    let idp = Idp::start().await;
    let config = config_for(&idp, &[]);
    let (mut alice, mut alice_phone, mut bob) = three_browsers(&idp, &config).await;

    // What it ends, counted (the count goes to the log).
    let mut phone_again = alice.browser();
    phone_again.sign_in_as(&idp, "alice").await;
    let ended =
        logto_axum::session::ending::end_all(&alice.store, &alice.keeper, "alice", None, false)
            .await
            .unwrap();
    assert_eq!(ended, 3);
    alice.sign_in_as(&idp, "alice").await;
    alice_phone.sign_in_as(&idp, "alice").await;
    // Exactly the refresh tokens of alice's two sessions are revoked: not bob's, not one twice,
    // not a spent one.
    let mut expected = Vec::new();
    for browser in [&alice, &alice_phone] {
        let set = alice
            .tokens
            .load(&browser.grant_id().await)
            .await
            .unwrap()
            .unwrap();
        expected.push(set.refresh_token.unwrap());
    }
    let revoked_before = idp.revoked_tokens().len();
    let r = alice.post_form("/api/sign_out_everywhere", "").await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    let location = r.location().unwrap();
    assert!(location.contains("/oidc/session/end"), "{location}");
    assert!(
        location.contains(&format!("client_id={CLIENT_ID}")),
        "{location}"
    );
    assert!(
        !location.contains("id_token_hint"),
        "no ID token in the URL: {location}"
    );
    assert_eq!(alice.cookie, None, "this browser's cookie is cleared");
    assert_eq!(signed_in_sub(&mut alice_phone).await, Value::Null);
    assert_eq!(signed_in_sub(&mut bob).await, "bob");
    let mut revoked = idp.revoked_tokens()[revoked_before..].to_vec();
    revoked.sort();
    expected.sort();
    assert_eq!(revoked, expected);
}

/// Sessions that expire (rather than being deleted) drop out of the index when it is read.
async fn expired_sessions_leave_the_index(store_url: &str) {
    use tower_sessions::SessionStore;
    let idp = Idp::start().await;
    let config = config_for(&idp, &[("SESSION_STORE_URL", store_url)]);
    let (alice, _phone, _bob) = three_browsers(&idp, &config).await;
    let id = alice.session_id();
    let mut record = alice.store.load(&id).await.unwrap().unwrap();
    record.expiry_date = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    alice.store.save(&record).await.unwrap();
    let left = alice.store.sessions_of("alice").await.unwrap();
    assert_eq!(left.len(), 1, "{store_url}");
    assert_ne!(left[0].id, id);
}

#[tokio::test]
async fn expired_sessions_leave_the_index_memory_and_redis() {
    expired_sessions_leave_the_index("memory").await;
    let redis = Redis::start_any().await;
    expired_sessions_leave_the_index(&format!("redis://127.0.0.1:{}", redis.port)).await;
}

/// Sessions signed in before Logto sent `sid` ("Is session required" turned on later) end with
/// any logout token of their user; those of another Logto session do not.
#[tokio::test]
async fn a_logout_token_with_sid_also_ends_sessions_without_one() {
    let idp = Idp::start().await;
    let config = config_for(&idp, &[]);
    let mut old = App::new(&config).await;
    old.sign_in_as(&idp, "alice").await; // no sid in this ID token
    idp.edit_claims(|c| c["sid"] = json!("logto-session-2"));
    let mut other = old.browser();
    other.sign_in_as(&idp, "alice").await;
    let r = old
        .backchannel_logout(&idp.logout_token("alice", Some("logto-session-1"), |_| {}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(signed_in_sub(&mut old).await, Value::Null);
    assert_eq!(signed_in_sub(&mut other).await, "alice");
}

/// Keys that cannot be fetched: 503 `temporarily_unavailable` (Logto does not retry, so this is
/// logged as an error), not 400.
#[tokio::test]
async fn backchannel_logout_when_logto_is_unreachable_is_503() {
    let idp = Idp::start().await;
    let token = idp.logout_token("alice", None, |_| {});
    let closed = free_port();
    let config = config_for(
        &idp,
        &[("LOGTO_ENDPOINT", &format!("http://127.0.0.1:{closed}"))],
    );
    let app = App::new(&config).await;
    let r = app.backchannel_logout(&token).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap()["error"],
        "temporarily_unavailable"
    );
    assert_eq!(r.headers["cache-control"], "no-store");
}

/// Back-Channel Logout 1.0 §2.4: a logout token may name only the Logto session (`sid`, no
/// `sub`). It ends the app sessions signed in with that Logto session (and, as with a token
/// naming both, that user's sessions whose Logto session is unknown); other Logto sessions of the
/// same user, and other users, stay. A `sid` no session was signed in with ends nothing.
async fn a_sid_only_token_ends_that_logto_session(store_url: &str) {
    let idp = Idp::start().await;
    let config = config_for(&idp, &[("SESSION_STORE_URL", store_url)]);
    idp.edit_claims(|c| c["sid"] = json!("logto-session-1"));
    let mut laptop = App::new(&config).await;
    laptop.sign_in_as(&idp, "alice").await;
    idp.edit_claims(|c| c["sid"] = json!("logto-session-2"));
    let mut phone = laptop.browser();
    phone.sign_in_as(&idp, "alice").await;
    idp.edit_claims(|c| c["sid"] = json!("logto-session-3"));
    let mut bob = laptop.browser();
    bob.sign_in_as(&idp, "bob").await;

    let unknown = idp.logout_token("alice", Some("no-such-session"), |c| {
        c.as_object_mut().unwrap().remove("sub");
    });
    assert_eq!(
        laptop.backchannel_logout(&unknown).await.status,
        StatusCode::OK
    );
    assert_eq!(signed_in_sub(&mut laptop).await, "alice");

    let token = idp.logout_token("alice", Some("logto-session-1"), |c| {
        c.as_object_mut().unwrap().remove("sub");
    });
    let r = laptop.backchannel_logout(&token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(signed_in_sub(&mut laptop).await, Value::Null);
    assert_eq!(signed_in_sub(&mut phone).await, "alice");
    assert_eq!(signed_in_sub(&mut bob).await, "bob");
}

#[tokio::test]
async fn a_sid_only_logout_token_ends_that_logto_session_memory() {
    a_sid_only_token_ends_that_logto_session("memory").await;
}

#[tokio::test]
async fn a_sid_only_logout_token_ends_that_logto_session_sqlite() {
    let db = std::env::temp_dir().join(format!("sid-{}.db", rand::random::<u64>()));
    a_sid_only_token_ends_that_logto_session(&format!("sqlite://{}", db.display())).await;
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

#[tokio::test]
async fn a_sid_only_logout_token_ends_that_logto_session_redis() {
    let redis = Redis::start_any().await;
    a_sid_only_token_ends_that_logto_session(&format!("redis://127.0.0.1:{}", redis.port)).await;
}

/// After a back-channel logout the browser still has its cookie: its next request is answered
/// signed out, the cookie removed, and that expected outcome is not logged as a WARN about
/// "suspicious activity". A refused logout token is logged with what was wrong with it.
#[tokio::test]
async fn the_request_after_a_logout_is_answered_quietly_and_refusals_say_why() {
    capture_logs();
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in_as(&idp, "alice").await;
    let ended = app
        .backchannel_logout(&idp.logout_token("alice", None, |_| {}))
        .await;
    assert_eq!(ended.status, StatusCode::OK);
    let cookie = app.cookie.clone();
    let next = app.get("/").await;
    assert_eq!(next.status, StatusCode::OK);
    assert!(next.body.contains("Continue with Facebook"), "signed out");
    assert!(
        cookie.is_some() && app.cookie.is_none(),
        "the cookie is removed"
    );
    let logs = log_text();
    assert!(!logs.contains("suspicious activity"), "{logs}");
    assert!(!logs.contains(" WARN "), "{logs}");

    let now = chrono::Utc::now().timestamp();
    let expired = idp.logout_token("alice", None, |c| {
        c["iat"] = json!(now - 200);
        c["exp"] = json!(now - 80);
    });
    assert_eq!(
        app.backchannel_logout(&expired).await.status,
        StatusCode::BAD_REQUEST
    );
    assert!(
        logged(&["back-channel logout refused", "logout token expired"]),
        "{}",
        log_text()
    );
    let no_jti = idp.logout_token("alice", None, |c| {
        c.as_object_mut().unwrap().remove("jti");
    });
    assert_eq!(
        app.backchannel_logout(&no_jti).await.status,
        StatusCode::BAD_REQUEST
    );
    assert!(logged(&["logout token has no jti"]), "{}", log_text());
    assert!(!log_text().contains("ID token"), "{}", log_text());
}

/// When a user's last session ends, only that user's Logto sessions are forgotten: another
/// user's `sid` still names their session for a sid-only logout token.
#[tokio::test]
async fn a_users_last_sign_out_forgets_only_their_logto_sessions() {
    let idp = Idp::start().await;
    let config = config_for(&idp, &[]);
    idp.edit_claims(|c| c["sid"] = json!("logto-session-alice"));
    let mut alice = App::new(&config).await;
    alice.sign_in_as(&idp, "alice").await;
    idp.edit_claims(|c| c["sid"] = json!("logto-session-bob"));
    let mut bob = alice.browser();
    bob.sign_in_as(&idp, "bob").await;
    let out = alice.post_form("/api/sign_out", "").await;
    assert_eq!(out.status, StatusCode::FOUND, "{}", out.body);
    assert_eq!(signed_in_sub(&mut alice).await, Value::Null);

    let token = idp.logout_token("bob", Some("logto-session-bob"), |c| {
        c.as_object_mut().unwrap().remove("sub");
    });
    let r = bob.backchannel_logout(&token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(signed_in_sub(&mut bob).await, Value::Null);
}
