//! The page cache (src/page_cache.rs): a cached page is the page a render would give, for the
//! same viewer only, with this answer's own CSP nonce. Each test checks that the cache answered
//! (the `CacheHit` response extension), so it tests the cache and not only the render.

use std::time::Duration;

use crate::support::*;
use axum::http::{header, StatusCode};

/// Whether the cache answered. No answer carries the cache's marker header (the internal
/// `store` one, nor anything that tells a client a URL was visited lately).
fn from_cache(r: &Reply) -> bool {
    if let Some(v) = r.headers.get("x-page-cache") {
        panic!("x-page-cache: {v:?} reached the browser");
    }
    r.cache_hit
}

/// The nonce in a page's CSP header.
fn nonce(r: &Reply) -> String {
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    let start = csp.find("'nonce-").expect("a nonce in the CSP") + "'nonce-".len();
    let len = csp[start..].find('\'').unwrap();
    csp[start..start + len].to_owned()
}

#[tokio::test]
async fn each_answer_has_its_own_nonce_in_header_and_html() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    let mut pages = Vec::new();
    for i in 0..3 {
        let r = app.get("/").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(from_cache(&r), i > 0, "answer {i}");
        assert!(
            app.cookie.is_none(),
            "a signed-out page view made a session"
        );
        let n = nonce(&r);
        assert!(
            r.body.matches(&format!("nonce=\"{n}\"")).count() >= 2,
            "the page's scripts carry the CSP's nonce"
        );
        assert_eq!(
            r.headers[header::CONTENT_LENGTH],
            r.body.len().to_string().as_str()
        );
        pages.push((n, r.body));
    }
    let nonces: std::collections::HashSet<&String> = pages.iter().map(|(n, _)| n).collect();
    assert_eq!(nonces.len(), pages.len(), "a nonce was used twice");
    let (first, rest) = pages.split_first().unwrap();
    for (n, body) in rest {
        assert_ne!(n, &first.0, "a nonce was used twice");
        assert!(
            !body.contains(&first.0),
            "an old nonce was left in the page"
        );
        assert_eq!(
            body.replace(n.as_str(), "NONCE"),
            first.1.replace(first.0.as_str(), "NONCE"),
            "the same page, nonce aside"
        );
    }
    // Another URL is another page.
    for _ in 0..2 {
        let r = app.get("/sign-in?return_to=%2Fprofile").await;
        assert!(r.body.contains(r#"name="return_to" value="/profile""#));
        let r = app.get("/sign-in?return_to=%2Felsewhere").await;
        assert!(r.body.contains(r#"name="return_to" value="/elsewhere""#));
        assert!(!r.body.contains(r#"value="/profile""#));
    }
    assert!(from_cache(
        &app.get("/sign-in?return_to=%2Felsewhere").await
    ));
    // Pages that do not allow caching are rendered every time.
    for _ in 0..2 {
        let r = app.get("/auth/error?code=access_denied").await;
        assert!(!from_cache(&r));
    }
    // Paths where a cacheable page renders without the cache's middleware: the marker it set is
    // still removed (HEAD, and the router's fallback for a trailing slash).
    for _ in 0..2 {
        let r = app
            .send(
                axum::http::Request::head("/")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!from_cache(&r));
        // A HEAD says the length a GET's page has, with no body (axum finishes the answer
        // outside every layer of the router).
        let get = app.get("/").await;
        let length = |h: &axum::http::HeaderMap| h.get(axum::http::header::CONTENT_LENGTH).cloned();
        assert_eq!(length(&r.headers), Some(get.body.len().into()), "HEAD /");
        assert_eq!(r.body, "");
        let r = app.get("/sign-in/").await;
        assert!(!from_cache(&r));
    }
}

#[tokio::test]
async fn pages_that_act_on_their_query_are_never_cached() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in(&idp).await;
    for _ in 0..2 {
        let r = app.get("/profile").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!from_cache(&r));
    }
}

#[tokio::test]
async fn a_page_is_only_ever_shown_to_its_own_viewer() {
    let idp = Idp::start().await;
    let mut anonymous = App::new(&config_for(&idp, &[])).await;
    let signed_out = anonymous.get("/").await.body;
    assert!(signed_out.contains("Continue with Facebook"));

    let mut alice = anonymous.tab();
    let r = alice.attempt_sign_in_as(&idp, "user-alice").await;
    assert_eq!(r.status, StatusCode::FOUND);
    let mut bob = anonymous.tab();
    let r = bob.attempt_sign_in_as(&idp, "user-bob").await;
    assert_eq!(r.status, StatusCode::FOUND);
    for round in 0..2 {
        let r = alice.get("/").await;
        assert!(r.body.contains("user-alice") && !r.body.contains("user-bob"));
        assert_eq!(from_cache(&r), round > 0);
        let r = bob.get("/").await;
        assert!(r.body.contains("user-bob") && !r.body.contains("user-alice"));
        assert_eq!(from_cache(&r), round > 0);
        let r = anonymous.get("/").await;
        assert!(!r.body.contains("user-alice") && !r.body.contains("user-bob"));
        assert!(from_cache(&r));
    }

    // Alice signs out: her cookie now gets the signed-out page, not her cached one.
    let mut alice_old_cookie = alice.tab();
    let r = alice.post_form("/api/sign_out", "").await;
    assert!(r.status.is_redirection(), "sign-out: {}", r.body);
    let r = alice_old_cookie.get("/").await;
    assert!(from_cache(&r), "the signed-out page, from the cache");
    assert!(
        !r.body.contains("user-alice"),
        "a signed-out session got its cached page"
    );

    // Bob's claims change (a new sign-in): his page shows the new ones.
    idp.edit_claims(|claims| claims["nickname"] = "Robert Renamed".into());
    bob.sign_in_as(&idp, "user-bob").await;
    let page = bob.get("/").await.body;
    assert!(
        page.contains("Robert Renamed"),
        "stale page after the user changed"
    );
}

#[tokio::test]
async fn a_cached_page_still_ends_a_session_past_its_lifetime() {
    let idp = Idp::start().await;
    let mut config = config_for(&idp, &[]);
    config.sessions.max_lifetime = Duration::from_secs(1);
    let mut app = App::new(&config).await;
    app.sign_in(&idp).await;
    assert!(app.get("/").await.body.contains("user-1"));
    let r = app.get("/").await;
    assert!(r.body.contains("user-1") && from_cache(&r));
    // Lifetimes are whole seconds: past 1 s means 2 s on.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = app.get("/").await;
    assert!(
        !r.body.contains("user-1"),
        "the cached signed-in page outlived the session"
    );
    assert!(r.body.contains("Continue with Facebook"));
    assert_eq!(app.current_user().await, serde_json::Value::Null);
}

/// A route behind the page cache that counts its clones and answers a cacheable page.
struct CountingRoute(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Clone for CountingRoute {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(self.0.clone())
    }
}

impl tower::Service<axum::extract::Request> for CountingRoute {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: axum::extract::Request) -> Self::Future {
        let mut res = axum::response::Response::new(axum::body::Body::from("<p>page</p>"));
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            "text/html; charset=utf-8".parse().unwrap(),
        );
        headers.insert("x-page-cache", "store".parse().unwrap());
        std::future::ready(Ok(res))
    }
}

/// An answer from the cache does not touch the route behind it: a Leptos route is leptos_axum's
/// handler, which owns the route list and its render closures, and is cloned only to render
/// (axum's `from_fn` middleware cloned it on every request).
#[tokio::test]
async fn a_cached_answer_does_not_clone_the_route() {
    use tower::ServiceExt;
    let idp = Idp::start().await;
    let config = config_for(&idp, &[]);
    let stores =
        logto_axum::session::open_store(&config.sessions.store, config.sessions.longest_sign_in())
            .await
            .unwrap();
    let auth = logto_axum::LogtoClient::with_stores(config.auth.clone(), &config.sessions, stores)
        .unwrap();
    let clones = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = axum::Router::new()
        .route_service("/", CountingRoute(clones.clone()))
        .layer(logto_leptos::page_cache::PageCache::new(auth.clone()).layer())
        .layer(auth.session_layer());
    let get = || {
        axum::http::Request::get("/")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let first = app.clone().oneshot(get()).await.unwrap();
    assert!(first
        .extensions()
        .get::<logto_leptos::page_cache::CacheHit>()
        .is_none());
    let before = clones.load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..3 {
        let hit = app.clone().oneshot(get()).await.unwrap();
        assert_eq!(hit.status(), StatusCode::OK);
        assert!(hit
            .extensions()
            .get::<logto_leptos::page_cache::CacheHit>()
            .is_some());
    }
    assert_eq!(clones.load(std::sync::atomic::Ordering::SeqCst), before);
}
