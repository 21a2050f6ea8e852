//! What another site or a flood of anonymous requests can do: cross-site posts to server
//! functions are refused, and sessions holding only pending sign-ins expire quickly.

use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use serde_json::Value;

use crate::support::*;

/// A form post to a server function with the given browser headers.
async fn post_from(app: &mut App, uri: &str, form: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = Request::post(uri)
        .header(header::ACCEPT, "text/html")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    app.send(req.body(Body::from(form.to_owned())).unwrap())
        .await
}

const CROSS: &[&[(&str, &str)]] = &[
    &[("sec-fetch-site", "cross-site")],
    // A sibling subdomain of the same site (cookies with SameSite=Lax would be sent).
    &[("sec-fetch-site", "same-site")],
    // Browsers without Fetch Metadata: the Origin decides.
    &[("origin", "https://evil.example")],
    &[("origin", "null")],
    // The app's host on another scheme or port is another origin.
    &[("origin", "https://app.test")],
    &[("origin", "http://app.test:8080")],
    // Fetch Metadata wins over a matching Origin.
    &[
        ("sec-fetch-site", "cross-site"),
        ("origin", "http://app.test"),
    ],
];

#[tokio::test]
async fn cross_site_posts_to_server_functions_get_403_and_change_nothing() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in(&idp).await;
    let cookie = app.cookie.clone();
    for headers in CROSS {
        for (endpoint, form) in [
            ("/api/sign_out", ""),
            ("/api/sign_out_everywhere", ""),
            ("/api/sign_in", "mode=sign_in"),
            ("/api/end_session", "handle=x"),
        ] {
            let r = post_from(&mut app, endpoint, form, headers).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{endpoint} {headers:?}");
            assert!(
                r.body.contains("Not allowed from another site"),
                "{}",
                r.body
            );
            assert_eq!(r.headers["cache-control"], "no-store");
            assert!(r.headers.get(header::SET_COOKIE).is_none());
            assert_eq!(app.cookie, cookie);
        }
    }
    assert_eq!(app.current_user().await["sub"], "user-1", "still signed in");

    // A script on another site calling a server function gets the functions' own error.
    let (status, body) = {
        let r = app
            .send(
                Request::post("/api/sign_out")
                    .header("sec-fetch-site", "cross-site")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        (r.status, r.body)
    };
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, "\"CrossSite\"");

    // An anonymous cross-site sign-in start creates no session at all.
    let mut stranger = app.browser();
    let r = post_from(
        &mut stranger,
        "/api/sign_in",
        "mode=sign_in",
        &[("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(stranger.cookie, None);
}

#[tokio::test]
async fn same_origin_posts_pass() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    for headers in [
        &[("sec-fetch-site", "same-origin"), ("origin", BASE_URL)][..],
        &[("sec-fetch-site", "none")][..],
        &[("origin", BASE_URL)][..],
        // Neither header: not a browser, so no user's cookie to abuse.
        &[][..],
    ] {
        let r = post_from(&mut app, "/api/sign_in", "mode=sign_in", headers).await;
        assert_eq!(r.status, StatusCode::FOUND, "{headers:?}: {}", r.body);
    }
    app.sign_in(&idp).await;
    let r = post_from(
        &mut app,
        "/api/sign_out",
        "",
        &[("sec-fetch-site", "same-origin"), ("origin", BASE_URL)],
    )
    .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(app.current_user().await, Value::Null);
}

fn max_age(r: &Reply) -> i64 {
    let cookie = r.headers[header::SET_COOKIE].to_str().unwrap();
    let at = cookie.find("Max-Age=").expect("Max-Age") + 8;
    cookie[at..].split(';').next().unwrap().parse().unwrap()
}

async fn record_lifetime(app: &App) -> i64 {
    use tower_sessions::SessionStore;
    let id = app.cookie.as_deref().unwrap().split_once('=').unwrap().1;
    let record = app.store.load(&id.parse().unwrap()).await.unwrap().unwrap();
    (record.expiry_date - time::OffsetDateTime::now_utc()).whole_seconds()
}

/// A session holding only pending sign-ins lives 10 minutes, not the 7-day idle timeout; signing
/// in gives it the idle timeout.
#[tokio::test]
async fn sessions_with_only_pending_sign_ins_expire_in_ten_minutes() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    let r = app.post_form("/api/sign_in", "mode=sign_in").await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(max_age(&r), 600);
    let lifetime = record_lifetime(&app).await;
    assert!((590..=600).contains(&lifetime), "{lifetime}");

    let callback = {
        let params: std::collections::HashMap<String, String> =
            url::Url::parse(&r.location().unwrap())
                .unwrap()
                .query_pairs()
                .into_owned()
                .collect();
        callback_url(&idp, "user-1", &params)
    };
    let r = app.get(&callback).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    assert_eq!(max_age(&r), 7 * 24 * 3600);
    let lifetime = record_lifetime(&app).await;
    assert!(lifetime > 7 * 24 * 3600 - 10, "{lifetime}");

    // Starting another sign-in while signed in does not shorten the session.
    let r = app.post_form("/api/sign_in", "mode=sign_in").await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert!(record_lifetime(&app).await > 7 * 24 * 3600 - 10);
}

/// A sign-in start from `ip` (a peer address, as `axum::serve` with connect info provides).
async fn start_from(app: &mut App, ip: &str) -> Reply {
    let mut req = Request::post("/api/sign_in")
        .header(header::ACCEPT, "text/html")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("mode=sign_in"))
        .unwrap();
    let addr: std::net::SocketAddr = format!("{ip}:50000").parse().unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(addr));
    app.send(req).await
}

#[tokio::test]
async fn sign_in_starts_and_callbacks_are_rate_limited_per_client() {
    let idp = Idp::start().await;
    let config = config_for(&idp, &[("SIGN_IN_RATE_LIMIT_PER_MINUTE", "3")]);
    let mut flooder = App::new(&config).await;
    for _ in 0..3 {
        assert_eq!(
            start_from(&mut flooder, "192.0.2.1").await.status,
            StatusCode::FOUND
        );
    }
    let before = flooder.cookie.clone();
    let r = start_from(&mut flooder, "192.0.2.1").await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        r.location().as_deref(),
        Some("/auth/error?code=rate_limited")
    );
    assert_eq!(flooder.cookie, before, "a limited start writes no session");
    let page = flooder.get("/auth/error?code=rate_limited").await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        page.body.contains("Too many sign-in attempts"),
        "{}",
        page.body
    );

    // Another client is not affected; a fresh browser from the flooding address is.
    let mut neighbour = flooder.browser();
    assert_eq!(
        start_from(&mut neighbour, "192.0.2.2").await.status,
        StatusCode::FOUND
    );
    let mut fresh = flooder.browser();
    let r = start_from(&mut fresh, "192.0.2.1").await;
    assert_eq!(
        r.location().as_deref(),
        Some("/auth/error?code=rate_limited")
    );
    assert_eq!(
        fresh.cookie, None,
        "no session for a limited anonymous start"
    );
}

/// A callback over the limit answers 429 in place and keeps the pending sign-in for a retry.
#[tokio::test]
async fn a_rate_limited_callback_keeps_its_pending_sign_in() {
    let idp = Idp::start().await;
    // Requests without a peer address share one budget: two starts use it up.
    let config = config_for(&idp, &[("SIGN_IN_RATE_LIMIT_PER_MINUTE", "2")]);
    let mut app = App::new(&config).await;
    let callback = app.callback_url_as(&idp, "user-1").await;
    app.start_sign_in("mode=sign_in").await;
    let r = app.get(&callback).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    assert!(r.body.contains("Too many sign-in attempts"));
    assert_eq!(idp.token_requests(), 0, "Logto was not called");
    use tower_sessions::SessionStore;
    let id = app.cookie.as_deref().unwrap().split_once('=').unwrap().1;
    let record = app.store.load(&id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(record.data["auth.pending"].as_array().unwrap().len(), 2);
}

/// The 10-minute cap holds for every write of an anonymous session, not only the first: a
/// cancelled callback (which rewrites the pending list) and a callback that fails with a 5xx.
#[tokio::test]
async fn anonymous_sessions_stay_short_lived_after_callbacks() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    let first = app.start_sign_in("mode=sign_in").await;
    app.start_sign_in("mode=sign_in").await;
    let r = app
        .get(&format!(
            "/callback?{}",
            query(&[
                ("error", "access_denied"),
                ("state", &first["state"]),
                ("iss", &idp.issuer)
            ])
        ))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(max_age(&r), 600);
    let lifetime = record_lifetime(&app).await;
    assert!((0..=600).contains(&lifetime), "{lifetime}");

    // Logto failing the token exchange: the session is saved explicitly (5xx), still capped.
    let mut broken = App::new(&config_for(&idp, &[("LOGTO_APP_SECRET", "wrong")])).await;
    let callback = broken.callback_url_as(&idp, "user-1").await;
    let id = broken
        .cookie
        .as_deref()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let r = broken.get(&callback).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    use tower_sessions::SessionStore;
    let record = broken
        .store
        .load(&id.parse().unwrap())
        .await
        .unwrap()
        .expect("saved on 5xx");
    let lifetime = (record.expiry_date - time::OffsetDateTime::now_utc()).whole_seconds();
    assert!((0..=600).contains(&lifetime), "{lifetime}");
}

/// The check is for server functions only: Logto's back-channel POST (server to server) is not a
/// server function, and is not refused even with a cross-site header.
#[tokio::test]
async fn the_origin_check_covers_server_functions_only() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    let token = idp.logout_token("user-1", None, |_| {});
    let r = post_from(
        &mut app,
        "/auth/backchannel-logout",
        &format!("logout_token={token}"),
        &[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://tenant.logto.app"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
