//! The middleware around pages and server functions: same-origin posts, the canonical loopback
//! host, the headers every answer gets, pages in one piece.

use std::sync::Arc;

use crate::assets;
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::IntoResponse,
};

/// Server functions change state (sign in, sign out, end sessions): a POST to one must come from
/// this app's own pages (`logto_axum::fetch_site`); another site, or a sibling subdomain, gets 403
/// before the session is read.
pub(super) async fn same_origin_posts(
    axum::extract::State(origin): axum::extract::State<Arc<String>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if req.method() == axum::http::Method::POST && req.uri().path().starts_with("/api/") {
        let headers = req.headers();
        if let Err(refused) = logto_axum::fetch_site::check(headers, &origin) {
            tracing::info!(
                path = req.uri().path(),
                sec_fetch_site = refused.site,
                origin = refused.origin,
                "refused a cross-site POST"
            );
            let wants_html = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"));
            return cross_site_refusal(wants_html, crate::lang::of_request(headers));
        }
    }
    next.run(req).await
}

/// 403: a page for a person who followed another site's form, or the server functions' own
/// error (`AppError::CrossSite`) for a script calling one.
fn cross_site_refusal(wants_html: bool, locale: crate::lang::Locale) -> axum::response::Response {
    use crate::i18n::td_string;

    if !wants_html {
        let body = serde_json::to_string(&crate::api::AppError::CrossSite).unwrap_or_default();
        return (
            StatusCode::FORBIDDEN,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response();
    }
    // Catalogue text (ours, no markup in it) in a fixed frame.
    let title = td_string!(locale, cross_site_page.title);
    let page = format!(
        "<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body><main>\
         <h1>{title}</h1><p>{message}</p><p><a href=\"/\">{start}</a></p></main></body></html>",
        lang = crate::lang::tag(locale),
        message = td_string!(locale, cross_site_page.message),
        start = td_string!(locale, cross_site_page.start),
    );
    (
        StatusCode::FORBIDDEN,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page,
    )
        .into_response()
}

/// `localhost` and `127.0.0.1` are different sites for cookies: a sign-in started on one and
/// finished on the other (the redirect URI's host) fails with "state mismatch". In local setups,
/// send the browser to the host `APP_BASE_URL` names before any cookie is set.
pub(super) async fn canonical_loopback_host(
    axum::extract::State(base): axum::extract::State<Arc<url::Url>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let is_loopback = |h: &str| matches!(h, "localhost" | "127.0.0.1" | "[::1]");
    let requested = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(host, _)| host).to_owned());
    let base_host = base.host_str().unwrap_or_default();
    let safe_method = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if let Some(host) = requested {
        if safe_method && is_loopback(&host) && is_loopback(base_host) && host != base_host {
            let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let target = format!("{}{}", base.as_str().trim_end_matches('/'), path);
            if let Ok(location) = HeaderValue::from_str(&target) {
                return (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, location)],
                )
                    .into_response();
            }
        }
    }
    next.run(req).await
}

/// Nothing but the site's static files may be kept by a browser or a shared cache: pages, JSON
/// (`/auth/me`, server functions, the demo API), back-channel answers and every error are
/// per-user or per-moment, so everything that has not opted in to caching (the static file
/// routes set their own `Cache-Control`) is `no-store`; pages always are. The callback's code and
/// state never leak through Referer. A page is sent in one piece with a Content-Length: Leptos
/// renders it whole (`SsrMode::Async`) but streams it as chunks, each a separate write on the
/// socket.
pub(super) async fn page_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = req.uri().path().to_owned();
    let mut res = next.run(req).await;
    let is_html = assets::is_html(&res);
    if is_html {
        res = into_one_piece(res).await;
    }
    let headers = res.headers_mut();
    crate::page_cache::strip_marker(headers);
    let no_store = HeaderValue::from_static("no-store");
    if is_html {
        headers.insert(header::CACHE_CONTROL, no_store);
    } else {
        headers.entry(header::CACHE_CONTROL).or_insert(no_store);
    }
    let referrer = if path == "/callback" || path.starts_with("/auth/") {
        "no-referrer"
    } else {
        "strict-origin-when-cross-origin"
    };
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static(referrer));
    res
}

async fn into_one_piece(res: axum::response::Response) -> axum::response::Response {
    let (parts, body) = res.into_parts();
    match crate::page_body::whole(body).await {
        Ok(bytes) => axum::response::Response::from_parts(parts, axum::body::Body::from(bytes)),
        Err(failed) => failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page_body::MAX_BYTES as MAX_PAGE_BYTES;
    use axum::{routing::get, Router};

    /// Pages go through the guard on their way out (`page_headers`): one of exactly the limit is
    /// sent whole with its length, one byte more becomes the 500 page; files are not held.
    #[tokio::test]
    async fn pages_up_to_the_limit_are_served_whole() {
        use tower::ServiceExt;
        let app = |size: usize, html: bool| {
            Router::new()
                .route(
                    "/",
                    get(move || async move {
                        let body = vec![b'x'; size];
                        let kind = if html {
                            "text/html; charset=utf-8"
                        } else {
                            "text/plain"
                        };
                        ([(header::CONTENT_TYPE, kind)], body)
                    }),
                )
                .layer(axum::middleware::from_fn(page_headers))
        };
        let get = |size, html| async move {
            let req = axum::http::Request::get("/")
                .body(axum::body::Body::empty())
                .unwrap();
            let res = app(size, html).oneshot(req).await.unwrap();
            let status = res.status();
            let length = res.headers().get(header::CONTENT_LENGTH).cloned();
            let body = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, length, body.len())
        };
        let (status, length, len) = get(MAX_PAGE_BYTES, true).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(length, Some(HeaderValue::from(MAX_PAGE_BYTES)));
        assert_eq!(len, MAX_PAGE_BYTES);
        let (status, _, len) = get(MAX_PAGE_BYTES + 1, true).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(len < 100, "the 500 page, not the page");
        // Pages are a few KB; the guard is at 4 MiB, far above any page, below a runaway render.
        assert_eq!(get(3 << 20, true).await.0, StatusCode::OK);
        assert_eq!(
            get(5 << 20, true).await.0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        // Not a page: passed on as it is, whatever its size.
        assert_eq!(get(5 << 20, false).await.0, StatusCode::OK);
    }
}
