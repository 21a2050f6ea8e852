//! Sessions and refresh (ASVS V7, Logto's refresh-token rules): cookie attributes, fixation,
//! idle and absolute timeouts, sign-out racing a request, single-flight refresh.

use std::time::Duration;

use crate::support::*;
use axum::http::StatusCode;
use serde_json::Value;

fn set_cookie(r: &Reply) -> String {
    r.headers
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn cookie_attributes_on_http() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    let r = app.post_form("/api/sign_in", "mode=sign_in").await;
    let c = set_cookie(&r);
    assert!(c.starts_with("session="), "{c}");
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Path=/"),
        "{c}"
    );
    assert!(
        !c.contains("Secure"),
        "plain-http dev setups could not send a Secure cookie: {c}"
    );
}

/// HSTS on https only (on http it would be ignored, and wrong for local development).
#[tokio::test]
async fn strict_transport_security_on_https_only() {
    let idp = Idp::start().await;
    let mut https = App::new(&config_for(&idp, &[("APP_BASE_URL", "https://app.test")])).await;
    for path in ["/", "/healthz", "/does-not-exist"] {
        let r = https.get(path).await;
        assert_eq!(
            r.headers
                .get("strict-transport-security")
                .map(|v| v.to_str().unwrap()),
            Some("max-age=31536000"),
            "{path}"
        );
    }
    let mut http = App::new(&config_for(&idp, &[])).await;
    let r = http.get("/").await;
    assert!(r.headers.get("strict-transport-security").is_none());
    // Not for https on localhost (mkcert set-ups): it would stick to every local port.
    let mut local = App::new(&config_for(
        &idp,
        &[("APP_BASE_URL", "https://localhost:3443")],
    ))
    .await;
    let r = local.get("/healthz").await;
    assert!(r.headers.get("strict-transport-security").is_none());
}

#[tokio::test]
async fn cookie_attributes_on_https() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[("APP_BASE_URL", "https://app.test")])).await;
    let r = app.post_form("/api/sign_in", "mode=sign_in").await;
    let c = set_cookie(&r);
    assert!(c.starts_with("__Host-session="), "{c}");
    assert!(
        c.contains("Secure") && c.contains("HttpOnly") && c.contains("SameSite=Lax"),
        "{c}"
    );
    assert!(
        c.contains("Path=/") && !c.contains("Domain="),
        "__Host- needs Path=/ and no Domain: {c}"
    );
}

#[tokio::test]
async fn session_id_changes_at_sign_in() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    // An attacker-planted (pre-sign-in) session id must not become the signed-in one.
    app.post_form("/api/sign_in", "mode=sign_in").await;
    let planted = app.cookie.clone().unwrap();
    app.sign_in(&idp).await;
    assert_ne!(app.cookie.as_deref(), Some(planted.as_str()));
    let mut attacker = app.tab();
    attacker.cookie = Some(planted);
    assert_eq!(attacker.current_user().await, Value::Null);
    assert_eq!(app.current_user().await["sub"], "user-1");
}

#[tokio::test]
async fn idle_timeout_is_enforced_server_side() {
    let idp = Idp::start().await;
    let mut config = config_for(&idp, &[]);
    config.sessions.idle_timeout = Duration::from_secs(2);
    let mut app = App::new(&config).await;
    app.sign_in(&idp).await;
    // Activity keeps the session alive well past the idle timeout…
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(app.current_user().await["sub"], "user-1");
    }
    // …inactivity ends it.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    // The browser still sends the cookie; the server must not honour it.
    assert_eq!(app.current_user().await, Value::Null);
}

#[tokio::test]
async fn absolute_lifetime_is_enforced_however_active() {
    let idp = Idp::start().await;
    let mut config = config_for(&idp, &[]);
    config.sessions.max_lifetime = Duration::from_secs(1);
    let mut app = App::new(&config).await;
    app.sign_in(&idp).await;
    for _ in 0..4 {
        // Activity keeps the idle timer fresh, but not the absolute one.
        tokio::time::sleep(Duration::from_millis(550)).await;
        app.current_user().await;
    }
    assert_eq!(app.current_user().await, Value::Null);
}

#[tokio::test]
async fn sign_out_deletes_the_record_and_a_racing_request_cannot_bring_it_back() {
    let db = std::env::temp_dir().join(format!("race-{}.db", rand::random::<u64>()));
    let url = format!("sqlite://{}", db.display());
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[("SESSION_STORE_URL", &url)])).await;
    idp.script(Script {
        expires_in: Some(1), // every request refreshes
        ..Script::default()
    });
    app.sign_in(&idp).await;
    let cookie = app.cookie.clone();
    let grant = app.grant_id().await;
    let id = cookie
        .as_deref()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    assert_eq!(
        sqlite_rows(&db, &id).await,
        1,
        "the signed-in session's row"
    );
    // A slow request is under way when the user signs out: Logto has rotated the refresh token
    // for it but not answered yet.
    let hold = std::sync::Arc::new(tokio::sync::Notify::new());
    idp.edit_script(|s| s.hold_refresh = Some(hold.clone()));
    let racing = app.racing_user_info();
    idp.refreshes.notified().await;
    assert_eq!(idp.refresh_requests(), 1, "the refresh is at the provider");
    let out = app.post_form("/api/sign_out", "").await;
    assert_eq!(out.status, StatusCode::FOUND);
    hold.notify_one(); // Logto answers now
    let status = racing.await.unwrap();
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the racing refresh must not succeed for a signed-out session"
    );
    assert!(
        app.tokens.load(&grant).await.unwrap().is_none(),
        "the late refresh wrote the signed-out grant's tokens back"
    );
    // The old cookie, replayed after the racing request finished.
    let mut replay = app.tab();
    replay.cookie = cookie.clone();
    assert_eq!(
        replay.current_user().await,
        Value::Null,
        "sign-out was undone by a racing request"
    );
    // And in the database itself, not just in this process's cache of it.
    assert_eq!(sqlite_rows(&db, &id).await, 0, "the row came back");
    let _ = std::fs::remove_file(&db);
}

/// Rows for a session id in an SQLite session file, read without the app's cache.
async fn sqlite_rows(db: &std::path::Path, id: &str) -> i64 {
    tower_sessions_sqlx_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM tower_sessions WHERE id = ?",
    )
    .bind(id)
    .fetch_one(&sqlite_pool(db).await)
    .await
    .unwrap()
}

/// Runs one statement with a session id against an SQLite session file, bypassing the app.
async fn sqlite_exec(db: &std::path::Path, sql: &str, id: &str) {
    tower_sessions_sqlx_store::sqlx::query(sql)
        .bind(id)
        .execute(&sqlite_pool(db).await)
        .await
        .unwrap();
}

/// The app's session store of `kind` (user index entries kept for a day), as the app opens it.
async fn session_store(kind: &logto_axum::SessionStoreKind) -> logto_axum::session::AnyStore {
    logto_axum::session::open_store(kind, Duration::from_secs(86_400))
        .await
        .unwrap()
        .sessions
}

/// The app's SQLite session store on a new file in the temp directory, and that file.
async fn temp_sqlite_store(prefix: &str) -> (std::path::PathBuf, logto_axum::session::AnyStore) {
    let db = std::env::temp_dir().join(format!("{prefix}-{}.db", rand::random::<u64>()));
    let kind = logto_axum::SessionStoreKind::Sqlite(db.display().to_string());
    (db, session_store(&kind).await)
}

/// The session file opened directly, without the app's store or its cache.
pub async fn sqlite_pool(db: &std::path::Path) -> tower_sessions_sqlx_store::sqlx::SqlitePool {
    tower_sessions_sqlx_store::sqlx::sqlite::SqlitePoolOptions::new()
        .connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap()
}

/// The app writes new SQLite sessions itself (one statement instead of the store's transaction):
/// `SqliteStore` must read, save and delete those rows as its own, and a taken id must neither be
/// overwritten nor fail the sign-in.
#[tokio::test]
async fn sqlite_sessions_created_by_the_app_are_the_stores_own_rows() {
    use tower_sessions::{session::Record, SessionStore};
    use tower_sessions_sqlx_store::SqliteStore;
    let (db, store) = temp_sqlite_store("create").await;
    // Within the 10 minutes an anonymous record may live (the store caps longer ones).
    let expiry = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        + time::Duration::minutes(5);
    let mut record = Record {
        id: Default::default(),
        data: [("k".to_owned(), Value::from("first"))].into(),
        expiry_date: expiry,
    };
    store.create(&mut record).await.unwrap();
    let theirs = SqliteStore::new(sqlite_pool(&db).await);
    let read = theirs
        .load(&record.id)
        .await
        .unwrap()
        .expect("the store reads the row");
    assert_eq!(read.id, record.id);
    assert_eq!(read.data, record.data);
    assert_eq!(read.expiry_date, expiry);

    // A second record that happens to draw the same id keeps the first one intact.
    let taken = record.id;
    let mut second = Record {
        id: taken,
        data: [("k".to_owned(), Value::from("second"))].into(),
        expiry_date: expiry,
    };
    store.create(&mut second).await.unwrap();
    assert_ne!(second.id, taken, "a taken id is replaced");
    assert_eq!(
        theirs.load(&taken).await.unwrap().unwrap().data,
        record.data
    );
    assert_eq!(
        theirs.load(&second.id).await.unwrap().unwrap().data,
        second.data
    );

    // The store's own save and delete work on the row.
    record.data.insert("k".to_owned(), Value::from("saved"));
    store.save(&record).await.unwrap();
    assert_eq!(
        theirs.load(&taken).await.unwrap().unwrap().data,
        record.data
    );
    theirs.delete(&taken).await.unwrap();
    assert_eq!(sqlite_rows(&db, &taken.to_string()).await, 0);

    // Any other database error is an error, not another id to try.
    tower_sessions_sqlx_store::sqlx::query("DROP TABLE tower_sessions")
        .execute(&sqlite_pool(&db).await)
        .await
        .unwrap();
    let mut third = Record {
        id: Default::default(),
        data: Default::default(),
        expiry_date: expiry,
    };
    let failed = tokio::time::timeout(Duration::from_secs(5), store.create(&mut third))
        .await
        .expect("create gave up");
    assert!(failed.is_err());
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

/// The SQLite store's record cache: what a racing request read before a sign-out cannot be saved
/// back, in the cache or in the file; a record whose expiry passed is not served from the cache.
#[tokio::test]
async fn the_sqlite_session_cache_keeps_deleted_sessions_deleted() {
    use tower_sessions::{session::Record, SessionStore};
    let (db, store) = temp_sqlite_store("cache").await;
    let mut record = Record {
        id: Default::default(),
        data: [("k".to_owned(), Value::from(1))].into(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    };
    store.create(&mut record).await.unwrap();
    let id = record.id;
    assert_eq!(
        sqlite_rows(&db, &id.to_string()).await,
        1,
        "the row is there"
    );
    assert_eq!(store.load(&id).await.unwrap().unwrap().data["k"], 1);
    // A request that loaded the session, then a sign-out, then that request saving it.
    let stale = store.load(&id).await.unwrap().unwrap();
    store.delete(&id).await.unwrap();
    store.save(&stale).await.unwrap();
    assert!(store.load(&id).await.unwrap().is_none());
    assert_eq!(sqlite_rows(&db, &id.to_string()).await, 0);

    // Reads are served from memory: a row removed behind the app's back is still seen...
    let mut cached = Record {
        id: Default::default(),
        data: [("k".to_owned(), Value::from(2))].into(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    };
    store.create(&mut cached).await.unwrap();
    let cached_id = cached.id.to_string();
    sqlite_exec(
        &db,
        "CREATE TABLE kept AS SELECT * FROM tower_sessions WHERE id = ?",
        &cached_id,
    )
    .await;
    sqlite_exec(&db, "DELETE FROM tower_sessions WHERE id = ?", &cached_id).await;
    assert_eq!(store.load(&cached.id).await.unwrap().unwrap().data["k"], 2);
    // ...and a session this process deleted stays deleted even if its row comes back (an upsert
    // by a request that raced the sign-out).
    store.delete(&cached.id).await.unwrap();
    sqlite_exec(
        &db,
        "INSERT INTO tower_sessions SELECT * FROM kept WHERE id = ?",
        &cached_id,
    )
    .await;
    assert_eq!(sqlite_rows(&db, &cached_id).await, 1);
    assert!(store.load(&cached.id).await.unwrap().is_none());

    // A cached record past its expiry is not served.
    let mut short = Record {
        id: Default::default(),
        data: Default::default(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::seconds(1),
    };
    store.create(&mut short).await.unwrap();
    assert!(store.load(&short.id).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(store.load(&short.id).await.unwrap().is_none());
    let _ = std::fs::remove_file(&db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_requests_refresh_exactly_once_and_keep_the_grant() {
    let idp = Idp::start().await;
    idp.script(Script {
        expires_in: Some(1),
        ..Script::default()
    });
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in(&idp).await; // with a token about to expire
    idp.edit_script(|s| s.expires_in = Some(3600)); // refreshed ones last
    let tabs: Vec<_> = (0..8)
        .map(|_| {
            let mut tab = app.tab();
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
        "one refresh for eight concurrent requests"
    );
    assert!(
        !idp.grant_revoked(),
        "a refresh token was spent twice: Logto would revoke the grant"
    );
    // The rotated refresh token was stored: the next refresh works too.
    idp.edit_script(|s| s.expires_in = Some(1));
    assert_eq!(app.call("user_info", "").await.0, StatusCode::OK); // still the 3600 s token
    assert_eq!(idp.refresh_requests(), 1);
    app.expire_logto_token().await; // as if an hour had passed
    assert_eq!(app.call("user_info", "").await.0, StatusCode::OK);
    assert_eq!(idp.refresh_requests(), 2);
    assert!(!idp.grant_revoked());
}

#[tokio::test]
async fn invalid_grant_signs_the_user_out() {
    capture_logs();
    let idp = Idp::start().await;
    idp.script(Script {
        expires_in: Some(1),
        ..Script::default()
    });
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in(&idp).await;
    idp.revoke_all_grants();
    let (status, body) = app.call("user_info", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body, serde_json::json!("Unauthenticated"));
    assert_eq!(app.current_user().await, Value::Null);
    assert_eq!(
        app.current_user().await,
        Value::Null,
        "and stays signed out"
    );
    assert!(
        logged(&["token refresh refused, grant ended", "invalid_grant"]),
        "{}",
        log_text()
    );
    let home = app.get("/").await;
    assert!(home.body.contains("Continue with Facebook"));
}

#[tokio::test]
async fn refreshed_id_token_for_another_user_is_refused() {
    capture_logs();
    let idp = Idp::start().await;
    idp.script(Script {
        expires_in: Some(1),
        refresh_sub: Some("mallory".into()),
        ..Script::default()
    });
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in(&idp).await;
    assert_eq!(app.call("user_info", "").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.current_user().await, Value::Null);
    assert!(
        logged(&["refresh answer refused", "another subject"]),
        "{}",
        log_text()
    );
}

#[tokio::test]
async fn provider_returning_later_is_picked_up_without_restart() {
    let port = free_port();
    let down = Idp::start().await;
    let mut config = config_for(&down, &[]);
    config.auth.endpoint = url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let mut app = App::new(&config).await;
    let r = app.post_form("/api/sign_in", "mode=sign_in").await;
    assert_eq!(
        r.location().as_deref(),
        Some("/auth/error?code=provider_unavailable")
    );
    let idp = Idp::start_on(port).await;
    // Within the back-off a burst of sign-ins does not reach the provider at all.
    for _ in 0..5 {
        let r = app.post_form("/api/sign_in", "mode=sign_in").await;
        assert_eq!(
            r.location().as_deref(),
            Some("/auth/error?code=provider_unavailable")
        );
    }
    assert_eq!(idp.discovery_requests(), 0);
    // Past the retry back-off (the provider's clock is tokio's: moved, not waited for).
    tokio::time::pause();
    tokio::time::advance(Duration::from_millis(2100)).await;
    tokio::time::resume();
    app.sign_in(&idp).await;
    assert_eq!(app.current_user().await["sub"], "user-1");
    assert_eq!(idp.discovery_requests(), 1, "discovered once, then cached");
}

/// A real Redis from Debian's package, on its own port, without persistence.
pub struct Redis {
    pub port: u16,
    child: std::process::Child,
}

impl Redis {
    /// On a free port. Another test's outgoing connection can take the port between
    /// `free_port` and the server's bind (redis-server then exits): a new port is tried then.
    pub async fn start_any() -> Redis {
        for _ in 0..5 {
            if let Some(redis) = Redis::try_start(free_port()).await {
                return redis;
            }
        }
        panic!("redis-server did not start on any of five free ports");
    }

    pub async fn start(port: u16) -> Redis {
        Redis::try_start(port)
            .await
            .unwrap_or_else(|| panic!("redis-server did not start on port {port}"))
    }

    /// The server once it accepts connections; `None` if it exited or did not listen in 20 s.
    async fn try_start(port: u16) -> Option<Redis> {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (scripts/setup installs it)");
        let mut redis = Redis { port, child };
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(redis);
            }
            if redis.child.try_wait().ok().flatten().is_some() {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        redis.stop();
        None
    }
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    /// One `redis-cli` command against this server; its output, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli (scripts/setup installs it)");
        assert!(out.status.success(), "redis-cli {args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
    /// Every key in this server.
    pub fn keys(&self) -> Vec<String> {
        self.cli(&["--scan"]).lines().map(str::to_owned).collect()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn session_store_outage_gives_503_and_heals() {
    capture_logs();
    let port = free_port();
    let mut redis = Redis::start(port).await;
    let idp = Idp::start().await;
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let mut app = App::new(&config_for(&idp, &[("SESSION_STORE_URL", &url)])).await;
    app.sign_in(&idp).await;
    assert_eq!(app.current_user().await["sub"], "user-1");

    redis.stop();
    let started = std::time::Instant::now();
    let page = app.get("/").await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("data-error-code=\"session_store_unavailable\""));
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "bounded: {:?}",
        started.elapsed()
    );
    assert!(logged(&["session store failure"]), "{}", log_text());

    // Redis comes back (empty: no persistence): the app recovers without a restart.
    let _redis = Redis::start(port).await;
    let mut healed = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if app.get("/").await.status == StatusCode::OK {
            healed = true;
            break;
        }
    }
    assert!(healed, "the app did not recover once Redis was back");
    app.sign_in(&idp).await;
    assert_eq!(app.current_user().await["sub"], "user-1");
}

/// Signing in counts as activity: the pages right after it do not write the session again
/// (each write is a store round trip; a written session sends a new Set-Cookie).
#[tokio::test]
async fn pages_right_after_sign_in_do_not_write_the_session() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in(&idp).await;
    for page in ["/", "/profile", "/"] {
        let r = app.get(page).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.headers.get("set-cookie").is_none(),
            "{page} wrote the session"
        );
    }
}

/// A save that arrives after a sign-out deleted the session (another request of the same
/// session, another instance) must not bring it back: one atomic write in SQLite (`UPDATE`, not
/// the store's upsert) and Redis (`SET … XX`), with no check-then-act window. Two stores on one
/// backend stand in for two processes (each with its own SQLite record cache).
#[tokio::test]
async fn a_save_after_a_delete_does_not_bring_the_session_back() {
    use tower_sessions::{session::Record, SessionStore};
    let redis = Redis::start_any().await;
    let dir = std::env::temp_dir().join(format!("resurrect-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    use logto_axum::SessionStoreKind;
    for kind in [
        SessionStoreKind::Sqlite(dir.join("s.db").display().to_string()),
        SessionStoreKind::Redis(format!("redis://127.0.0.1:{}", redis.port)),
    ] {
        let url = format!("{kind:?}");
        let writer = session_store(&kind).await;
        let signer_out = session_store(&kind).await;
        let mut record = Record {
            id: Default::default(),
            data: [("auth.last_seen".to_owned(), serde_json::json!(1))].into(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        };
        writer.create(&mut record).await.unwrap();
        assert!(
            writer.load(&record.id).await.unwrap().is_some(),
            "{url}: created"
        );
        signer_out.delete(&record.id).await.unwrap();
        // The writer read the record before the sign-out and saves its change now.
        record
            .data
            .insert("auth.last_seen".into(), serde_json::json!(2));
        writer.save(&record).await.unwrap();
        assert!(
            signer_out.load(&record.id).await.unwrap().is_none(),
            "{url}: the deleted session came back"
        );
        // Also for a store that never saw it deleted (no tombstone in its cache): the row itself
        // must be gone.
        let fresh = session_store(&kind).await;
        assert!(
            fresh.load(&record.id).await.unwrap().is_none(),
            "{url}: the deleted session came back in the store itself"
        );
        // And a save of a live session still works.
        let mut live = Record {
            id: Default::default(),
            data: Default::default(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        };
        writer.create(&mut live).await.unwrap();
        live.data
            .insert("auth.last_seen".into(), serde_json::json!(3));
        writer.save(&live).await.unwrap();
        let loaded = signer_out.load(&live.id).await.unwrap().expect("saved");
        assert_eq!(loaded.data["auth.last_seen"], 3, "{url}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Several tabs may sign in at once: each keeps its pending sign-in, up to five; a sixth drops
/// the oldest only.
#[tokio::test]
async fn pending_sign_ins_of_several_tabs_are_kept_up_to_five() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    let mut started = Vec::new();
    for _ in 0..6 {
        started.push(app.start_sign_in("mode=sign_in").await);
    }
    let pending = |app: &App| {
        let app_store = app.store.clone();
        let cookie = app.cookie.clone().unwrap();
        async move {
            use tower_sessions::SessionStore;
            let id = cookie.split_once('=').unwrap().1.parse().unwrap();
            let record = app_store.load(&id).await.unwrap().unwrap();
            record.data["auth.pending"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|p| p["state"].as_str().unwrap().to_owned())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        }
    };
    let states: Vec<String> = started.iter().map(|p| p["state"].clone()).collect();
    assert_eq!(
        pending(&app).await,
        states[1..],
        "the oldest is dropped, the rest kept in order"
    );
    // The oldest tab's callback is refused; a middle one's works.
    let r = app.get(&callback_url(&idp, "user-1", &started[0])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = app.get(&callback_url(&idp, "user-1", &started[2])).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    assert_eq!(app.current_user().await["sub"], "user-1");
    // The others are still pending (used ones are gone) and still work after that sign-in.
    let left: Vec<String> = [1, 3, 4, 5].iter().map(|&i| states[i].clone()).collect();
    assert_eq!(pending(&app).await, left);
    let r = app.get(&callback_url(&idp, "user-1", &started[5])).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
}

/// A pending sign-in older than its 10 minutes is not accepted, and is dropped.
#[tokio::test]
async fn an_expired_pending_sign_in_is_refused() {
    use tower_sessions::SessionStore;
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    let old = app.start_sign_in("mode=sign_in").await;
    let fresh = app.start_sign_in("mode=sign_in").await;
    let id = app
        .cookie
        .as_deref()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .parse()
        .unwrap();
    let mut record = app.store.load(&id).await.unwrap().unwrap();
    let created = record.data["auth.pending"][0]["created_at"]
        .as_i64()
        .unwrap();
    record.data.get_mut("auth.pending").unwrap()[0]["created_at"] = (created - 601).into();
    app.store.save(&record).await.unwrap();
    let r = app.get(&callback_url(&idp, "user-1", &old)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("data-error-code=\"state_mismatch\""));
    let r = app.get(&callback_url(&idp, "user-1", &fresh)).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
}

/// Activity extends the idle timeout by writing the session at most every
/// min(60 s, idle timeout / 2): with a 60 s timeout, a request 31 s after the last write writes
/// again, one 20 s after does not.
#[tokio::test]
async fn activity_touches_the_session_at_most_every_half_idle_timeout() {
    use tower_sessions::SessionStore;
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[("SESSION_IDLE_TIMEOUT_MINUTES", "1")])).await;
    app.sign_in(&idp).await;
    let id = app
        .cookie
        .as_deref()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .parse()
        .unwrap();
    let store = app.store.clone();
    let set_last_seen = |ago: i64| {
        let store = store.clone();
        async move {
            let mut record = store.load(&id).await.unwrap().unwrap();
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            record
                .data
                .insert("auth.last_seen".into(), (now - ago).into());
            store.save(&record).await.unwrap();
        }
    };
    set_last_seen(20).await;
    let r = app.get("/").await;
    assert!(
        r.headers.get("set-cookie").is_none(),
        "written 20 s after the last write"
    );
    set_last_seen(31).await;
    let r = app.get("/").await;
    assert!(
        r.headers.get("set-cookie").is_some(),
        "not written 31 s after the last write"
    );
    let record = app.store.load(&id).await.unwrap().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(now - record.data["auth.last_seen"].as_i64().unwrap() <= 1);
    assert!(
        (record.expiry_date.unix_timestamp() - now - 60).abs() <= 1,
        "expiry pushed out"
    );
}

/// Store-level rules, per backend: an anonymous record lives at most 10 minutes whatever expiry
/// it is written with (a signed-in one keeps its own); a used-once key is refused until given
/// back, and of several claiming it at once exactly one wins; the Redis index is a set per user.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_rules_hold_on_every_backend() {
    use logto_axum::SessionStoreKind;
    use tower_sessions::{session::Record, SessionStore};
    let redis = Redis::start_any().await;
    let dir = std::env::temp_dir().join(format!("rules-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    for kind in [
        SessionStoreKind::Memory,
        SessionStoreKind::Sqlite(dir.join("s.db").display().to_string()),
        SessionStoreKind::Redis(format!("redis://127.0.0.1:{}", redis.port)),
    ] {
        let name = format!("{kind:?}");
        let store = session_store(&kind).await;
        let hour = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        let lifetime =
            |r: &Record| (r.expiry_date - time::OffsetDateTime::now_utc()).whole_seconds();

        let mut anonymous = Record {
            id: Default::default(),
            data: [("auth.pending".to_owned(), serde_json::json!([]))].into(),
            expiry_date: hour,
        };
        store.create(&mut anonymous).await.unwrap();
        let loaded = store.load(&anonymous.id).await.unwrap().unwrap();
        assert!(
            (590..=600).contains(&lifetime(&loaded)),
            "{name}: created {}",
            lifetime(&loaded)
        );
        store.save(&anonymous).await.unwrap();
        let loaded = store.load(&anonymous.id).await.unwrap().unwrap();
        assert!(
            (590..=600).contains(&lifetime(&loaded)),
            "{name}: saved {}",
            lifetime(&loaded)
        );

        let mut signed_in = Record {
            id: Default::default(),
            data: [(
                "auth.user".to_owned(),
                serde_json::json!({"grant": "g", "signed_in_at": 1, "user": {"sub": "alice"}}),
            )]
            .into(),
            expiry_date: hour,
        };
        store.create(&mut signed_in).await.unwrap();
        let loaded = store.load(&signed_in.id).await.unwrap().unwrap();
        assert!(
            lifetime(&loaded) > 3500,
            "{name}: a signed-in record keeps its expiry"
        );
        // The form sign-ins write now: the user as JSON text.
        let mut signed_in = Record {
            id: Default::default(),
            data: [(
                "auth.user".to_owned(),
                serde_json::json!(r#"{"grant": "g", "signed_in_at": 1, "user": {"sub": "alice"}}"#),
            )]
            .into(),
            expiry_date: hour,
        };
        store.create(&mut signed_in).await.unwrap();
        store.save(&signed_in).await.unwrap();
        let loaded = store.load(&signed_in.id).await.unwrap().unwrap();
        assert!(
            lifetime(&loaded) > 3500,
            "{name}: a signed-in record (text) keeps its expiry"
        );

        assert!(store.claim_once("jti-1").await.unwrap(), "{name}");
        assert!(
            !store.claim_once("jti-1").await.unwrap(),
            "{name}: used twice"
        );
        store.release_claim("jti-1").await.unwrap();
        assert!(
            store.claim_once("jti-1").await.unwrap(),
            "{name}: given back"
        );
        // Two requests (or instances) with the same key at the same moment: one wins.
        for round in 0..50 {
            let key = format!("race-{round}");
            let claims: Vec<_> = (0..4)
                .map(|_| {
                    let (store, key) = (store.clone(), key.clone());
                    tokio::spawn(async move { store.claim_once(&key).await.unwrap() })
                })
                .collect();
            let mut won = 0;
            for claim in claims {
                won += usize::from(claim.await.unwrap());
            }
            assert_eq!(won, 1, "{name}: round {round}: {won} claims won");
        }
    }
    let keys = redis.keys();
    assert!(
        keys.iter().any(|k| k == "logto-leptos:sessions-of:alice"),
        "{keys:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// The user index only points at records: a session is listed for a user only when its record
/// says that user signed in there ("end all of Mallory's sessions" must not end Alice's, even
/// over a wrong entry), and entries whose record is gone are dropped when read.
#[tokio::test]
async fn the_session_index_is_checked_against_the_records() {
    use logto_axum::SessionStoreKind;
    use tower_sessions::{session::Record, SessionStore};
    let redis = Redis::start_any().await;
    let db = std::env::temp_dir().join(format!("index-{}.db", rand::random::<u64>()));
    for kind in [
        SessionStoreKind::Sqlite(db.display().to_string()),
        SessionStoreKind::Redis(format!("redis://127.0.0.1:{}", redis.port)),
    ] {
        let name = format!("{kind:?}");
        let store = session_store(&kind).await;
        // The ids of the sessions the store lists for a user.
        let ids_of = |sub: &'static str| {
            let store = &store;
            async move {
                let listed = store.sessions_of(sub).await.unwrap();
                listed.iter().map(|s| s.id.to_string()).collect::<Vec<_>>()
            }
        };
        let mut alice = Record {
            id: Default::default(),
            data: [(
                "auth.user".to_owned(),
                serde_json::to_value(logto_axum::session::SessionUser {
                    grant: "g".into(),
                    signed_in_at: 1,
                    user: logto_axum::UserProfile {
                        sub: "alice".into(),
                        ..Default::default()
                    },
                    sid: None,
                    browser: None,
                })
                .unwrap(),
            )]
            .into(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        };
        store.create(&mut alice).await.unwrap();
        let id = alice.id.to_string();
        assert_eq!(store.sessions_of("alice").await.unwrap().len(), 1, "{name}");
        let mut bob = Record {
            id: Default::default(),
            data: [(
                "auth.user".to_owned(),
                // Bob's record holds the user as JSON text (as sign-ins write it), Alice's as an
                // object (as records written before did).
                serde_json::Value::String(
                    serde_json::to_string(&logto_axum::session::SessionUser {
                        grant: "g2".into(),
                        signed_in_at: 2,
                        user: logto_axum::UserProfile {
                            sub: "bob".into(),
                            ..Default::default()
                        },
                        sid: Some("bob-logto-session".into()),
                        browser: None,
                    })
                    .unwrap(),
                ),
            )]
            .into(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        };
        store.create(&mut bob).await.unwrap();
        let bob_id = bob.id.to_string();
        // The text form is indexed like the object: by `sub` and by Logto session.
        assert_eq!(ids_of("bob").await, std::slice::from_ref(&bob_id), "{name}");
        assert_eq!(
            store
                .user_of_logto_session("bob-logto-session")
                .await
                .unwrap(),
            Some("bob".to_owned()),
            "{name}"
        );

        // A wrong entry: Alice's index names Bob's session (beside her own). In SQLite a session
        // has one index row: it is moved to Alice; in Redis it is added to her set.
        let alice_entries = || async {
            match &kind {
                SessionStoreKind::Sqlite(_) => {
                    tower_sessions_sqlx_store::sqlx::query_scalar::<_, i64>(
                        "SELECT COUNT(*) FROM logto_session_index WHERE sub = 'alice'",
                    )
                    .fetch_one(&sqlite_pool(&db).await)
                    .await
                    .unwrap()
                }
                _ => redis
                    .cli(&["SCARD", "logto-leptos:sessions-of:alice"])
                    .parse()
                    .unwrap(),
            }
        };
        match &kind {
            SessionStoreKind::Sqlite(_) => {
                sqlite_exec(
                    &db,
                    "UPDATE logto_session_index SET sub = 'alice' WHERE session_id = ?",
                    &bob_id,
                )
                .await
            }
            _ => {
                redis.cli(&["SADD", "logto-leptos:sessions-of:alice", &bob_id]);
            }
        }
        assert_eq!(alice_entries().await, 2, "{name}");
        assert_eq!(
            ids_of("alice").await,
            std::slice::from_ref(&id),
            "{name}: only Alice's own session"
        );
        assert_eq!(
            alice_entries().await,
            1,
            "{name}: the wrong entry pruned, hers kept"
        );
        assert_eq!(
            store.sessions_of("alice").await.unwrap().len(),
            1,
            "{name}: still listed after the prune"
        );

        if let SessionStoreKind::Redis(_) = kind {
            // Gone behind this process's back (another instance's delete, Redis eviction).
            assert_eq!(store.sessions_of("alice").await.unwrap().len(), 1);
            redis.cli(&["DEL", &id]);
            assert!(store.sessions_of("alice").await.unwrap().is_empty());
            assert_eq!(
                redis.cli(&["EXISTS", "logto-leptos:sessions-of:alice"]),
                "0",
                "the entry of a session that is gone was kept"
            );
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

/// A session whose token set is gone from the store (expired there, evicted from Redis, or
/// deleted by a half-finished end) is ended when it is next used, not left showing a user who
/// can do nothing until the lifetime ends.
#[tokio::test]
async fn a_session_whose_tokens_are_gone_is_signed_out() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in(&idp).await;
    let grant = app.grant_id().await;
    app.tokens.delete(&grant).await.unwrap();
    assert_eq!(
        signed_in_sub(&mut app).await,
        "user-1",
        "pages read the record only"
    );
    let (status, body) = app.call("user_info", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        app.current_user().await,
        Value::Null,
        "the record is gone too"
    );
    let home = app.get("/").await;
    assert!(home.body.contains("Continue with Facebook"), "signed out");
}

/// Signing in as someone else in the same browser revokes the previous user's grant at Logto
/// (its refresh token, exactly); signing in again as the same user keeps it, as Logto gives that
/// sign-in the same grant and revoking would end the new one.
#[tokio::test]
async fn a_new_sign_in_revokes_the_replaced_grant_unless_it_is_the_same() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in_as(&idp, "alice").await;
    app.sign_in_as(&idp, "alice").await;
    app.keeper.tasks().close();
    app.keeper.tasks().wait().await;
    app.keeper.tasks().reopen();
    assert!(
        idp.revoked_tokens().is_empty(),
        "the same user's grant is kept"
    );
    app.expire_logto_token().await;
    assert_eq!(
        app.call("user_info", "").await.0,
        StatusCode::OK,
        "and it refreshes"
    );
    let alices = app.refresh_token().await;
    app.sign_in_as(&idp, "bob").await;
    app.keeper.tasks().close();
    app.keeper.tasks().wait().await;
    assert_eq!(idp.revoked_tokens(), [alices]);
    assert_eq!(signed_in_sub(&mut app).await, "bob");
}

/// A refresh whose answer does not verify (its new ID token is signed wrongly, or names another
/// issuer): the session ends cleanly (401, then signed out), the refresh token that came in the
/// refused answer is revoked, and the spent one is never sent again.
async fn refused_refresh_answer(spoil: impl FnOnce(&Idp)) {
    capture_logs();
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in(&idp).await;
    app.expire_logto_token().await;
    spoil(&idp);
    let (status, body) = app.call("user_info", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body, serde_json::json!("Unauthenticated"));
    app.keeper.tasks().close();
    app.keeper.tasks().wait().await;
    let issued = idp.refresh_tokens_issued();
    assert_eq!(
        idp.revoked_tokens(),
        [issued.last().unwrap().clone()],
        "the refused answer's refresh token"
    );
    assert_eq!(app.current_user().await, Value::Null);
    let refreshes = idp.refresh_requests();
    assert_eq!(app.call("user_info", "").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(idp.refresh_requests(), refreshes, "nothing spent again");
    assert!(logged(&["refresh answer refused"]), "{}", log_text());
}

#[tokio::test]
async fn a_refresh_answer_with_a_bad_signature_ends_the_session() {
    refused_refresh_answer(|idp| idp.misbehave(Misbehave::TamperedSignature)).await;
}

#[tokio::test]
async fn a_refresh_answer_from_another_issuer_ends_the_session() {
    refused_refresh_answer(|idp| {
        idp.edit_claims(|c| c["iss"] = serde_json::json!("https://evil/oidc"))
    })
    .await;
}

/// When the refreshed ID token cannot be verified now (Logto rotated its key and the keys cannot
/// be fetched, or were fetched moments ago), nothing says the answer is wrong: its tokens are
/// kept (the refresh token is rotated already), the claims stay those verified before, and the
/// session goes on. Only a refused answer ends it.
#[tokio::test]
async fn a_refreshed_id_token_that_cannot_be_verified_now_keeps_the_session() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in(&idp).await;
    let grant = app.grant_id().await;
    let before = app.tokens.load(&grant).await.unwrap().unwrap();
    // Logto rotates its key, and its keys cannot be fetched.
    idp.rotate_key();
    idp.edit_script(|s| s.jwks_fails = true);
    app.expire_logto_token().await;
    assert_eq!(app.call("user_info", "").await.0, StatusCode::OK);
    let after = app.tokens.load(&grant).await.unwrap().unwrap();
    assert_eq!(
        after.refresh_token.as_ref(),
        idp.refresh_tokens_issued().last(),
        "the rotated refresh token is kept"
    );
    assert_eq!(
        after.id_token, before.id_token,
        "the unverified ID token is not"
    );
    // The keys come back, but were (tried to be) fetched moments ago: still an unknown key now,
    // still not an ending.
    idp.edit_script(|s| s.jwks_fails = false);
    app.expire_logto_token().await;
    assert_eq!(app.call("user_info", "").await.0, StatusCode::OK);
    app.keeper.tasks().close();
    app.keeper.tasks().wait().await;
    assert!(idp.revoked_tokens().is_empty(), "nothing revoked");
    assert!(!idp.grant_revoked());
    assert_eq!(signed_in_sub(&mut app).await, "user-1");
}

/// An index from before back-channel logout by `sid` alone gets its `sid` column on open, and
/// sessions signed in after that are found by it.
#[tokio::test]
async fn an_sqlite_index_without_sid_is_migrated() {
    use tower_sessions_sqlx_store::sqlx;
    let db = std::env::temp_dir().join(format!("old-index-{}.db", rand::random::<u64>()));
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
            "create table logto_session_index (session_id text primary key not null, \
             sub text not null)",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("insert into logto_session_index values ('old-session', 'alice')")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let idp = Idp::start().await;
    let url = format!("sqlite://{}", db.display());
    let mut app = App::new(&config_for(&idp, &[("SESSION_STORE_URL", &url)])).await;
    idp.edit_claims(|c| c["sid"] = serde_json::json!("logto-session-9"));
    app.sign_in_as(&idp, "alice").await;
    assert_eq!(
        app.store
            .user_of_logto_session("logto-session-9")
            .await
            .unwrap()
            .as_deref(),
        Some("alice")
    );
    let sids: Vec<Option<String>> = sqlx::query_scalar("select sid from logto_session_index")
        .fetch_all(&sqlite_pool(&db).await)
        .await
        .unwrap();
    assert!(sids.contains(&None), "the old row kept, without a sid");
    assert!(sids.contains(&Some("logto-session-9".into())));
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

/// The same user signing in again within the same Logto session (`sid`) holds the same grant,
/// kept; within another Logto session, another grant: the replaced one is revoked.
#[tokio::test]
async fn a_new_sign_in_in_another_logto_session_revokes_the_replaced_grant() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    idp.edit_claims(|c| c["sid"] = serde_json::json!("logto-session-1"));
    app.sign_in_as(&idp, "alice").await;
    app.sign_in_as(&idp, "alice").await;
    app.keeper.tasks().close();
    app.keeper.tasks().wait().await;
    app.keeper.tasks().reopen();
    assert!(idp.revoked_tokens().is_empty(), "same Logto session: kept");
    let replaced = app.refresh_token().await;
    idp.edit_claims(|c| c["sid"] = serde_json::json!("logto-session-2"));
    app.sign_in_as(&idp, "alice").await;
    app.keeper.tasks().close();
    app.keeper.tasks().wait().await;
    assert_eq!(idp.revoked_tokens(), [replaced]);
    assert_eq!(signed_in_sub(&mut app).await, "alice");
}

/// The sessions page is rendered whole, every time. Its list was a resource created inside the
/// Suspense that waits for the user, and Leptos' SSR then sometimes never finished the page
/// (leptos-rs/leptos#4866): about one view in twenty hung with SQLite, whose reads resolve on
/// another thread. Many views on a multi-thread runtime; each must end within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sessions_page_always_finishes() {
    let dir = std::env::temp_dir().join(format!("sessions-page-{}", rand::random::<u64>()));
    let db = dir.join("sessions.db");
    let idp = Idp::start().await;
    let url = format!("sqlite://{}", db.display());
    let mut app = App::new(&config_for(&idp, &[("SESSION_STORE_URL", &url)])).await;
    app.sign_in_as(&idp, "alice").await;
    let tabs: Vec<_> = (0..4)
        .map(|tab| {
            let mut app = app.tab();
            tokio::spawn(async move {
                for view in 0..250 {
                    let page = tokio::time::timeout(Duration::from_secs(10), app.get("/sessions"))
                        .await
                        .unwrap_or_else(|_| panic!("tab {tab}, view {view}: never finished"));
                    assert_eq!(page.status, StatusCode::OK, "tab {tab}, view {view}");
                    assert_eq!(
                        page.body.matches("class=\"session\"").count(),
                        1,
                        "tab {tab}, view {view}: {}",
                        page.body
                    );
                }
            })
        })
        .collect();
    for tab in tabs {
        tab.await.unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Records written before the user was kept as JSON text hold it as a JSON object: such a session
/// stays signed in across the upgrade, its tokens are found, and signing out deletes them.
#[tokio::test]
async fn a_session_stored_with_the_user_as_an_object_stays_signed_in() {
    use tower_sessions::SessionStore;
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in(&idp).await;
    let mut record = app.store.load(&app.session_id()).await.unwrap().unwrap();
    let text = record.data["auth.user"].as_str().expect("the user as text");
    let object: Value = serde_json::from_str(text).unwrap();
    record.data.insert("auth.user".to_owned(), object);
    app.store.save(&record).await.unwrap();
    let stored = app.store.load(&app.session_id()).await.unwrap().unwrap();
    assert!(stored.data["auth.user"].is_object());
    let lifetime = stored.expiry_date - time::OffsetDateTime::now_utc();
    assert!(lifetime.whole_seconds() > 600, "not capped as anonymous");

    assert_eq!(signed_in_sub(&mut app).await, "user-1");
    let (status, body) = app.call("user_info", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let grant = app.grant_id().await;
    assert!(app.tokens.load(&grant).await.unwrap().is_some());
    let out = app.post_form("/api/sign_out", "").await;
    assert!(out.status.is_redirection(), "{}", out.status);
    assert!(
        app.tokens.load(&grant).await.unwrap().is_none(),
        "tokens deleted"
    );
    assert_eq!(app.current_user().await, Value::Null);
}
