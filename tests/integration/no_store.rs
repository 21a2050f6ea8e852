//! Nothing user-specific may be kept by a browser or a shared cache: every answer that is not a
//! static file says `Cache-Control: no-store` (pages, JSON, the demo API, back-channel answers,
//! redirects and every error), and the static files keep their own caching.

use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use leptos::prelude::LeptosOptions;

use crate::support::*;

fn assert_no_store(what: &str, r: &Reply) {
    assert_eq!(
        r.headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "{what} ({}) is cacheable",
        r.status
    );
}

async fn post_json(app: &mut App, uri: &str, form: &str, extra: &[(&str, &str)]) -> Reply {
    let mut req =
        Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    app.send(req.body(Body::from(form.to_owned())).unwrap())
        .await
}

/// A site directory with a pkg file and a public file, as `cargo leptos build` writes them.
fn site() -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("no-store-site-{}", free_port()));
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(root.join("pkg/logto-leptos.js"), "export {};").unwrap();
    std::fs::write(root.join("favicon.svg"), "<svg/>").unwrap();
    root
}

#[tokio::test]
async fn every_answer_but_the_static_files_says_no_store() {
    let idp = Idp::start().await;
    let root = site();
    let options = LeptosOptions::builder()
        .output_name("logto-leptos")
        .site_root(root.to_string_lossy().to_string())
        .build();
    let config = config_for(
        &idp,
        &[
            ("DEMO_API_RESOURCE", API_RESOURCE),
            ("SIGN_IN_RATE_LIMIT_PER_MINUTE", "100000"),
        ],
    );
    let mut app = App::with_options(&config, options).await;
    let mut anonymous = app.browser();
    app.sign_in(&idp).await;

    let pages = [
        "/",
        "/profile",
        "/profile?call=api",
        "/sessions",
        "/sign-in?return_to=%2Fprofile",
        "/callback?code=x&state=y",
        "/auth/error?code=state_mismatch",
        "/no-such-page",
        "/auth/me",
        "/healthz",
        "/demo-api/hello",
        "/pkg/no-such-file.js",
    ];
    for browser in [&mut app, &mut anonymous] {
        for page in pages {
            let r = browser.get(page).await;
            assert_no_store(page, &r);
        }
    }
    // `/auth/me` as JSON, both ways.
    let me = app
        .send(Request::get("/auth/me").body(Body::empty()).unwrap())
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_no_store("/auth/me", &me);
    let me = anonymous
        .send(Request::get("/auth/me").body(Body::empty()).unwrap())
        .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_no_store("/auth/me anonymous", &me);
    // The demo API with a good token.
    let token = idp.mint_access_token(API_RESOURCE, Some("read:hello"), 3600, false);
    let api = app
        .send(
            Request::get("/demo-api/hello")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(api.status, StatusCode::OK);
    assert_no_store("/demo-api/hello", &api);
    // Back-channel logout: refused and accepted.
    let refused = anonymous.backchannel_logout("not-a-token").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_no_store("back-channel 400", &refused);
    // Every server function, signed in and not, as a script calls them.
    for endpoint in [
        "current_user",
        "user_info",
        "call_api",
        "organization_token",
        "facebook_profile",
        "my_sessions",
        "set_language",
        "end_session",
        "no_such_function",
    ] {
        for browser in [&mut app, &mut anonymous] {
            let r = post_json(
                browser,
                &format!("/api/{endpoint}"),
                "organization_id=org-1&lang=th&handle=unknown",
                &[],
            )
            .await;
            assert_no_store(endpoint, &r);
        }
    }
    // Refused from another site (JSON and page), and rate-limited.
    for accept in ["application/json", "text/html"] {
        let r = post_json(
            &mut app,
            "/api/sign_out",
            "",
            &[("sec-fetch-site", "cross-site"), ("accept", accept)],
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_no_store("cross-site refusal", &r);
    }
    // Redirects: sign-in start, sign-out, and the accepted logout.
    let start = anonymous.post_form("/api/sign_in", "mode=sign_in").await;
    assert_eq!(start.status, StatusCode::FOUND);
    assert_no_store("sign-in start", &start);
    let out = app.post_form("/api/sign_out", "").await;
    assert_eq!(out.status, StatusCode::FOUND);
    assert_no_store("sign-out", &out);
    let mut everywhere = app.browser();
    everywhere.sign_in_as(&idp, "bob").await;
    let out = everywhere.post_form("/api/sign_out_everywhere", "").await;
    assert_eq!(out.status, StatusCode::FOUND);
    assert_no_store("sign out everywhere", &out);
    let anonymous_everywhere = post_json(&mut anonymous, "/api/sign_out_everywhere", "", &[]).await;
    assert_eq!(anonymous_everywhere.status, StatusCode::UNAUTHORIZED);
    assert_no_store("sign out everywhere, anonymous", &anonymous_everywhere);
    let mut again = app.browser();
    again.sign_in_as(&idp, "alice").await;
    let accepted = again
        .backchannel_logout(&idp.logout_token("alice", None, |_| {}))
        .await;
    assert_eq!(accepted.status, StatusCode::OK);
    assert_no_store("back-channel 200", &accepted);

    // The static files opt in to caching: the pkg directory and the site's public files.
    for (path, policy) in [
        ("/pkg/logto-leptos.js", "no-cache"),
        ("/favicon.svg", "no-cache"),
    ] {
        let r = anonymous
            .send(Request::get(path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.headers[header::CACHE_CONTROL], policy, "{path}");
    }
    std::fs::remove_dir_all(root).unwrap();
}

#[tokio::test]
async fn rate_limited_and_failing_answers_say_no_store_too() {
    let idp = Idp::start().await;
    let config = config_for(&idp, &[("SIGN_IN_RATE_LIMIT_PER_MINUTE", "1")]);
    let mut app = App::new(&config).await;
    let first = app.post_form("/api/sign_in", "mode=sign_in").await;
    assert_eq!(first.status, StatusCode::FOUND);
    let limited = app.get("/callback?code=x&state=y").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_no_store("429", &limited);
    // Logto away: the sign-in start's error page.
    let down = App::new(&config_for(
        &idp,
        &[("LOGTO_ENDPOINT", "http://127.0.0.1:9")],
    ))
    .await;
    let mut down = down;
    let r = down.post_form("/api/sign_in", "mode=sign_in").await;
    assert_no_store("sign-in with Logto away", &r);
    let page = down.get(&r.location().unwrap()).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_no_store("503 page", &page);
}
