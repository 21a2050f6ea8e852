//! The site's files as a release server answers them, from memory (read once at start): in the
//! encoding the browser accepts, with its length, tag and caching, and the app's security
//! headers, without a session cookie; a file that is not there goes on to the app as before.

use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use leptos::prelude::LeptosOptions;

use crate::support::*;

const JS: &str = "export const answer = 42;";
const JS_BR: &str = "(brotli bytes)";
const JS_GZ: &str = "(gzip bytes, longer)";

/// A site as `cargo leptos build --precompress` writes it, with a dotfile beside it.
fn site() -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("site-files-{}", free_port()));
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(root.join("pkg/logto-leptos.js"), JS).unwrap();
    std::fs::write(root.join("pkg/logto-leptos.js.br"), JS_BR).unwrap();
    std::fs::write(root.join("pkg/logto-leptos.js.gz"), JS_GZ).unwrap();
    std::fs::write(root.join("favicon.svg"), "<svg/>").unwrap();
    std::fs::write(root.join(".env"), "LOGTO_APP_SECRET=do-not-serve").unwrap();
    root
}

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn site_files_are_answered_from_memory_with_their_headers() {
    let idp = Idp::start().await;
    let root = site();
    let options = LeptosOptions::builder()
        .output_name("logto-leptos")
        .site_root(root.to_string_lossy().to_string())
        .build();
    let mut app = App::with_options(&config_for(&idp, &[]), options).await;
    // Read at start: nothing is read from disk after.
    std::fs::remove_dir_all(&root).unwrap();

    let js = "/pkg/logto-leptos.js";
    for (accept, encoding, body) in [
        ("gzip, deflate, br, zstd", Some("br"), JS_BR),
        ("br;q=0.5, gzip", Some("gzip"), JS_GZ),
        ("identity", None, JS),
    ] {
        let r = app
            .send(request("GET", js, &[("accept-encoding", accept)]))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{accept}");
        let h = &r.headers;
        assert_eq!(
            h.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap()),
            encoding,
            "{accept}"
        );
        assert_eq!(r.body, body);
        assert_eq!(h[header::CONTENT_LENGTH], body.len().to_string().as_str());
        assert_eq!(h[header::CONTENT_TYPE], "text/javascript");
        assert_eq!(
            h[header::CACHE_CONTROL],
            "no-cache",
            "unhashed: revalidated"
        );
        assert_eq!(h[header::VARY], "accept-encoding");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(
            h[header::REFERRER_POLICY],
            "strict-origin-when-cross-origin"
        );
        assert!(h.get(header::SET_COOKIE).is_none(), "no session for a file");
        // Revalidation with this encoding's tag: 304, no body.
        let etag = h[header::ETAG].to_str().unwrap().to_owned();
        let again = app
            .send(request(
                "GET",
                js,
                &[("accept-encoding", accept), ("if-none-match", &etag)],
            ))
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{accept}");
        assert_eq!(again.body, "");
        assert_eq!(again.headers[header::ETAG], etag.as_str());
    }
    let head = app.send(request("HEAD", "/favicon.svg", &[])).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.headers[header::CONTENT_LENGTH], "6");
    assert_eq!(head.headers[header::CONTENT_TYPE], "image/svg+xml");
    assert_eq!(head.body, "");

    // Revalidation by date, for a browser that kept only Last-Modified: 304 unless older.
    let icon = app.send(request("GET", "/favicon.svg", &[])).await;
    let modified = icon.headers[header::LAST_MODIFIED]
        .to_str()
        .unwrap()
        .to_owned();
    let same = app
        .send(request(
            "GET",
            "/favicon.svg",
            &[("if-modified-since", &modified)],
        ))
        .await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    let older = app
        .send(request(
            "GET",
            "/favicon.svg",
            &[("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT")],
        ))
        .await;
    assert_eq!(older.status, StatusCode::OK);
    assert_eq!(older.body, "<svg/>");
    // If-None-Match decides when both are sent.
    let both = app
        .send(request(
            "GET",
            "/favicon.svg",
            &[
                ("if-modified-since", &modified),
                ("if-none-match", "\"other\""),
            ],
        ))
        .await;
    assert_eq!(both.status, StatusCode::OK);
    assert_eq!(icon.headers[header::ACCEPT_RANGES], "bytes");
    // A byte range goes on to the disk server (206 there): memory would answer the whole file,
    // and the file is gone from disk.
    let ranged = app
        .send(request("GET", "/favicon.svg", &[("range", "bytes=0-1")]))
        .await;
    assert_ne!(ranged.status, StatusCode::OK);
    assert!(!ranged.body.contains("<svg/>"));

    // Not in memory: the dotfile was never read, and a missing pkg file is the disk server's
    // empty 404 (as before), which no one may keep.
    let env = app.send(request("GET", "/.env", &[])).await;
    assert_ne!(env.status, StatusCode::OK);
    assert!(!env.body.contains("do-not-serve"));
    let missing = app
        .send(request("GET", "/pkg/logto-leptos.0ld.js", &[]))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body, "", "not the HTML 404 page");
    assert_eq!(missing.headers[header::CACHE_CONTROL], "no-store");
}
