//! Rendered pages, reused while nothing they show has changed.
//!
//! A Leptos page costs ~85 µs of CPU to render here, five times a `/healthz` answer (perf: owners,
//! views, routing, `Suspense`), and most renders repeat the last one: every signed-out visitor
//! gets the same start page, and a signed-in user reloading it gets the same page as before.
//! A page that calls [`allow_caching`] declares that its HTML is a function of the URL, of the
//! signed-in user's profile (the [`UserView`] every auth-aware component renders is made of it
//! alone) and of the language (`lang`, from the request's cookie and `Accept-Language`), and of
//! nothing else, so those are the key, compared exactly (no hash stands in for the user). Each
//! answer still carries its own CSP nonce: the cached HTML is kept split where the nonce was and
//! joined with a fresh one. Answers from the cache carry the [`CacheHit`] extension (never a
//! header: a client must not tell that a URL was visited lately).
//!
//! The middleware reads the user once per page request, through the same [`AuthSession::user`]
//! as always, so its effects (ending a session past its lifetime, extending the idle timeout)
//! happen on a cached answer too, and hands that read to the render
//! ([`ViewerRead`](crate::api::ssr::ViewerRead), used by `current_user` unless the render itself
//! signed someone in or out): a stored page is always the one its key describes. Set-Cookie is
//! added outside, by the session layer, as for any page. The cache is per process; with Redis
//! each instance reads the user from the store on every request, so a sign-out elsewhere is seen.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::Request,
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::Response,
};
use tower_sessions::Session;

use logto_axum::{
    session::{AuthSession, SessionUser},
    ClaimValue, LogtoClient,
};

#[cfg(doc)]
use crate::api::UserView;
use crate::assets;

/// Pages are a few KB; this holds a few hundred of them.
const CACHE_BYTES: u64 = 2 * 1024 * 1024;
/// A user whose data changed gets a new key; the old entry is dropped after this long unused.
const CACHE_IDLE: Duration = Duration::from_secs(120);
/// Set by [`allow_caching`] on a rendered page (removed before any response leaves).
const MARKER: header::HeaderName = header::HeaderName::from_static("x-page-cache");

/// Call from a page component whose HTML depends on nothing but the URL (path and query), the
/// signed-in user and the language: not the time, not an API's answer, not other session data,
/// not request headers. Such a page is then rendered once per URL and sign-in (each sign-in's
/// profile is its own) and answered from memory after.
pub fn allow_caching() {
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        response.insert_header(MARKER, HeaderValue::from_static("store"));
    }
}

/// The marker is for this middleware only: `page_headers` (outside every route) calls this so
/// no path (HEAD, a 404 rendered by the fallback) lets it reach a browser.
pub fn strip_marker(headers: &mut HeaderMap) {
    headers.remove(MARKER);
}

/// On a response answered from the cache, as a response extension: tests and middleware can
/// see it; it never reaches a client (who could otherwise tell that a URL was visited lately).
#[derive(Clone, Copy, Debug)]
pub struct CacheHit;

/// Cloned into every `PageCacheService` and every request: one `Arc`.
#[derive(Clone)]
pub struct PageCache(Arc<PageCacheInner>);

struct PageCacheInner {
    pages: moka::sync::Cache<PageKey, Arc<CachedPage>>,
    auth: LogtoClient,
}

/// The viewer is shared with the request's `ViewerRead`, not copied for it.
#[derive(PartialEq, Eq)]
struct PageKey {
    path_and_query: String,
    viewer: Option<Viewer>,
    locale: crate::lang::Locale,
}

/// The signed-in user in a key: equal to another when their profiles are, as pages show the
/// profile alone (the [`UserView`] made of it). Each sign-in's profile is its own (its ID token's
/// `nonce` and `iat` are among the claims), so in practice one key serves one sign-in's
/// requests; those share one decoded user (`AuthSession::user`), so a repeated view compares one
/// pointer.
struct Viewer(Arc<SessionUser>);

impl PartialEq for Viewer {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.user == other.0.user
    }
}

impl Eq for Viewer {}

impl Viewer {
    /// What tells viewers apart cheaply: the user, and their ID token's `nonce`, each sign-in's
    /// own (the callback requires one; `iat`, in whole seconds, would not tell apart sign-ins
    /// within one second). With the user alone, each sign-in would add a key of the same hash,
    /// and a lookup would compare that user's whole profiles one by one.
    fn identity(&self) -> (&str, Option<&ClaimValue>) {
        let claims = &self.0.user.claims;
        // Sorted by name (`UserProfile::from_claims`); were they not, a miss costs speed only.
        let nonce = claims
            .binary_search_by(|(name, _)| name.as_str().cmp("nonce"))
            .ok()
            .map(|at| &claims[at].1);
        (&self.0.user.sub, nonce)
    }
}

/// Hashes what tells most keys apart, not the whole viewer (its claims and organizations too,
/// ~1 KB through SipHash on every signed-in page view): equal keys still hash alike, and keys
/// that share a hash cost lookup time, never a wrong page (the whole key is compared).
impl std::hash::Hash for PageKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.path_and_query.hash(state);
        self.viewer.as_ref().map(Viewer::identity).hash(state);
        self.locale.hash(state);
    }
}

struct CachedPage {
    headers: HeaderMap,
    /// The Content-Security-Policy, split where the nonce was (one piece if it had none).
    csp: Option<Vec<String>>,
    /// The HTML, split where the nonce was.
    body: Vec<Bytes>,
    /// Estimated bytes of memory for the entry, key included.
    weight: u32,
}

impl PageCache {
    pub fn new(auth: LogtoClient) -> Self {
        Self(Arc::new(PageCacheInner {
            pages: moka::sync::Cache::builder()
                .max_capacity(CACHE_BYTES)
                .weigher(|_, page: &Arc<CachedPage>| page.weight)
                .time_to_idle(CACHE_IDLE)
                .build(),
            auth,
        }))
    }

    /// The layer for the Leptos routes (pages, and server functions, which are not GETs).
    pub fn layer(self) -> PageCacheLayer {
        PageCacheLayer(self)
    }

    /// Answers from the cache, or renders (`render`: the route) and keeps pages that allow it.
    async fn answer<F, Fut>(self, mut req: Request, render: F) -> Response
    where
        F: FnOnce(Request) -> Fut,
        Fut: Future<Output = Response>,
    {
        if req.method() != Method::GET {
            return without_marker(render(req).await);
        }
        let Some(session) = req.extensions().get::<Session>().cloned() else {
            return without_marker(render(req).await);
        };
        let session = AuthSession::new(session);
        let read = session
            .user(
                self.0.auth.max_lifetime,
                self.0.auth.keeper.store().as_ref(),
            )
            .await
            .map_err(Arc::new);
        req.extensions_mut().insert(crate::api::ssr::ViewerRead {
            session_id: session.id(),
            read: read.clone(),
        });
        let Ok(viewer) = read else {
            // The page says the store is unavailable, from this same read.
            return without_marker(render(req).await);
        };
        let key = PageKey {
            path_and_query: req
                .uri()
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
            viewer: viewer.map(Viewer),
            locale: crate::lang::of_request(req.headers()),
        };
        if let Some(page) = self.0.pages.get(&key) {
            return page.respond(&leptos::nonce::Nonce::new().to_string());
        }
        let res = render(req).await;
        let allowed = res.headers().get(MARKER).is_some();
        let res = without_marker(res);
        if !allowed || res.status() != StatusCode::OK || !assets::is_html(&res) {
            return res;
        }
        let (parts, body) = res.into_parts();
        let html = match crate::page_body::whole(body).await {
            Ok(html) => html,
            Err(failed) => return failed,
        };
        if let Some(page) = CachedPage::new(&key, &parts.headers, &html) {
            self.0.pages.insert(key, Arc::new(page));
        }
        Response::from_parts(parts, Body::from(html))
    }
}

/// The page cache around each Leptos route. Not `axum::middleware::from_fn`: that clones the
/// service it wraps on every request, as do the session layer and the `from_fn` layers outside
/// (each wraps every route), and a Leptos route's is leptos_axum's handler, which owns the whole
/// route list and four render closures (its clones and drops were ~3-5% of a cached page's CPU).
/// Here the route sits behind an `Arc`, so those clones copy a pointer, and it is cloned only to
/// render.
#[derive(Clone)]
pub struct PageCacheLayer(PageCache);

impl<S> tower::Layer<S> for PageCacheLayer {
    type Service = PageCacheService<S>;

    fn layer(&self, route: S) -> PageCacheService<S> {
        PageCacheService {
            cache: self.0.clone(),
            route: Arc::new(route),
        }
    }
}

/// One Leptos route behind the page cache (`PageCacheLayer`).
#[derive(Clone)]
pub struct PageCacheService<S> {
    cache: PageCache,
    route: Arc<S>,
}

impl<S> tower::Service<Request> for PageCacheService<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    /// Ready at once: the route is made ready when it is called (`oneshot`), whenever it renders.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let (cache, route) = (self.cache.clone(), self.route.clone());
        Box::pin(async move {
            let render = |req| async move {
                let Ok(res) = tower::ServiceExt::oneshot(S::clone(&route), req).await;
                res
            };
            Ok(cache.answer(req, render).await)
        })
    }
}

fn without_marker(mut res: Response) -> Response {
    res.headers_mut().remove(MARKER);
    res
}

impl CachedPage {
    /// `None` for a page that cannot be reused: not UTF-8, or a response the session layer has
    /// already touched (it never should have, the layer sits outside).
    fn new(key: &PageKey, headers: &HeaderMap, html: &Bytes) -> Option<Self> {
        if headers.contains_key(header::SET_COOKIE) {
            return None;
        }
        let html = std::str::from_utf8(html).ok()?;
        let csp = headers
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok());
        let nonce = csp.and_then(nonce_in);
        let split = |text: &str| -> Vec<String> {
            match nonce {
                Some(nonce) => text.split(nonce).map(str::to_owned).collect(),
                None => vec![text.to_owned()],
            }
        };
        let body: Vec<Bytes> = split(html).into_iter().map(Bytes::from).collect();
        let mut headers = headers.clone();
        headers.remove(header::CONTENT_SECURITY_POLICY);
        headers.remove(header::CONTENT_LENGTH);
        let viewer_bytes = key.viewer.as_ref().map_or(0, |v| {
            serde_json::to_vec(&*v.0).map_or(4096, |j| 2 * j.len())
        });
        let weight = html.len() + key.path_and_query.len() + viewer_bytes + 512;
        Some(Self {
            headers,
            csp: csp.map(split),
            body,
            weight: u32::try_from(weight).unwrap_or(u32::MAX),
        })
    }

    fn respond(&self, nonce: &str) -> Response {
        let mut res = Response::new(Body::from(self.body.join(nonce.as_bytes())));
        *res.headers_mut() = self.headers.clone();
        res.extensions_mut().insert(CacheHit);
        if let Some(csp) = &self.csp {
            match HeaderValue::from_str(&csp.join(nonce)) {
                Ok(value) => {
                    res.headers_mut()
                        .insert(header::CONTENT_SECURITY_POLICY, value);
                }
                Err(err) => tracing::error!("invalid CSP header: {err}"),
            }
        }
        res
    }
}

/// The value of the first `'nonce-…'` source in a CSP.
fn nonce_in(csp: &str) -> Option<&str> {
    let start = csp.find("'nonce-")? + "'nonce-".len();
    let len = csp[start..].find('\'')?;
    Some(&csp[start..start + len]).filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(viewer: Option<Viewer>) -> PageKey {
        PageKey {
            path_and_query: "/".to_owned(),
            viewer,
            locale: crate::lang::Locale::en,
        }
    }

    fn page(csp: Option<&str>, html: &str) -> Option<CachedPage> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(html.len()));
        if let Some(csp) = csp {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_str(csp).unwrap(),
            );
        }
        CachedPage::new(&key(None), &headers, &Bytes::from(html.to_owned()))
    }

    async fn body_of(res: Response) -> String {
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn finds_the_nonce_source() {
        assert_eq!(
            nonce_in("script-src 'self' 'nonce-abc_-1' 'wasm-unsafe-eval'"),
            Some("abc_-1")
        );
        assert_eq!(nonce_in("script-src 'self'"), None);
        assert_eq!(nonce_in("script-src 'nonce-'"), None);
        assert_eq!(nonce_in("script-src 'nonce-abc"), None);
    }

    #[tokio::test]
    async fn every_answer_carries_the_new_nonce_wherever_the_old_one_was() {
        let page = page(
            Some("script-src 'self' 'nonce-OLD1' 'wasm-unsafe-eval'"),
            r#"<script nonce="OLD1">a</script><p>x</p><script nonce="OLD1">b</script>"#,
        )
        .unwrap();
        let res = page.respond("NEW2");
        assert_eq!(
            res.headers()[header::CONTENT_SECURITY_POLICY],
            "script-src 'self' 'nonce-NEW2' 'wasm-unsafe-eval'"
        );
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        // The length is the new body's, set when it is sent, not the cached one's.
        assert!(res.headers().get(header::CONTENT_LENGTH).is_none());
        assert_eq!(
            body_of(res).await,
            r#"<script nonce="NEW2">a</script><p>x</p><script nonce="NEW2">b</script>"#
        );
    }

    #[tokio::test]
    async fn a_page_without_a_nonce_is_kept_as_it_is() {
        let kept = page(Some("default-src 'self'"), "<p>NEW2</p>").unwrap();
        let res = kept.respond("NEW2");
        assert_eq!(
            res.headers()[header::CONTENT_SECURITY_POLICY],
            "default-src 'self'"
        );
        assert_eq!(body_of(res).await, "<p>NEW2</p>");
        let kept = page(None, "<p>x</p>").unwrap();
        let res = kept.respond("NEW2");
        assert!(res.headers().get(header::CONTENT_SECURITY_POLICY).is_none());
        assert_eq!(body_of(res).await, "<p>x</p>");
    }

    fn signed_in(sub: &str, name: &str, grant: &str) -> Viewer {
        Viewer(Arc::new(SessionUser {
            grant: grant.into(),
            signed_in_at: 1_700_000_000,
            user: logto_axum::UserProfile {
                sub: sub.into(),
                name: Some(name.into()),
                ..Default::default()
            },
            sid: None,
            browser: None,
        }))
    }

    fn viewer_of(sub: &str, name: &str) -> Option<Viewer> {
        Some(signed_in(sub, name, "grant-1"))
    }

    /// The key holds the profile alone: what pages do not show (the session's grant, its
    /// `signed_in_at`) does not split them.
    #[test]
    fn what_pages_do_not_show_does_not_split_them() {
        let pages = moka::sync::Cache::new(10);
        pages.insert(key(viewer_of("alice", "Alice")), 1);
        let mut other = signed_in("alice", "Alice", "grant-2");
        Arc::get_mut(&mut other.0).unwrap().signed_in_at += 60;
        assert_eq!(pages.get(&key(Some(other))), Some(1));
    }

    /// Each sign-in's ID token has its own `nonce`: one user's keys from several sign-ins hash
    /// apart, within one second too, rather than piling up in one bucket that every lookup walks.
    #[test]
    fn each_sign_in_of_one_user_hashes_apart() {
        use std::hash::BuildHasher;
        let signed_in_with = |claims: serde_json::Value| {
            let mut viewer = signed_in("alice", "Alice", "grant-1");
            let serde_json::Value::Object(claims) = claims else {
                unreachable!()
            };
            Arc::get_mut(&mut viewer.0).unwrap().user =
                logto_axum::UserProfile::from_claims(&claims);
            key(Some(viewer))
        };
        let token = |iat: i64, nonce: &str| {
            signed_in_with(serde_json::json!({
                "sub": "alice", "name": "Alice", "aud": "app", "iat": iat, "exp": iat + 3600,
                "nonce": nonce, "zz": "after nonce",
            }))
        };
        let hashes = std::hash::RandomState::new();
        let apart = |a: PageKey, b: PageKey| hashes.hash_one(a) != hashes.hash_one(b);
        assert!(apart(token(1, "n1"), token(1, "n2")), "one second");
        // Built twice, into separate `Arc`s: equal keys hash alike.
        assert_eq!(
            hashes.hash_one(token(1, "n1")),
            hashes.hash_one(token(1, "n1"))
        );
    }

    #[test]
    fn one_users_views_that_differ_are_told_apart() {
        let pages = moka::sync::Cache::new(10);
        let viewer = |name| viewer_of("alice", name);
        pages.insert(key(viewer("Alice")), 1);
        pages.insert(key(viewer("Alice L.")), 2);
        pages.insert(key(None), 3);
        pages.insert(key(viewer_of("bob", "Alice")), 4);
        assert_eq!(pages.get(&key(viewer("Alice"))), Some(1));
        assert_eq!(pages.get(&key(viewer("Alice L."))), Some(2));
        assert_eq!(pages.get(&key(None)), Some(3));
        assert_eq!(pages.get(&key(viewer_of("bob", "Alice"))), Some(4));
        assert_eq!(pages.get(&key(viewer("Alice B."))), None);
        let mut thai = key(viewer("Alice"));
        thai.locale = crate::lang::Locale::th;
        assert_eq!(pages.get(&thai), None);
    }

    #[test]
    fn responses_with_cookies_or_not_utf8_are_not_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(header::SET_COOKIE, HeaderValue::from_static("a=b"));
        assert!(CachedPage::new(&key(None), &headers, &Bytes::from_static(b"<p>")).is_none());
        assert!(
            CachedPage::new(&key(None), &HeaderMap::new(), &Bytes::from_static(b"\xff")).is_none()
        );
    }
}
