//! The page's language: the switch (a server function setting the `lang` cookie), the browser's
//! Accept-Language, `<html lang>`, the page cache keeping each language apart, and the pages the
//! server writes outside Leptos.

use crate::support::*;
use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};

// The start page's heading (its `<title>` has the same words).
const THAI_HEADING: &str = "<h1>เข้าสู่ระบบด้วย Logto</h1>";
const ENGLISH_HEADING: &str = "<h1>Sign in with Logto</h1>";

/// A Set-Cookie's parts, in a fixed order.
fn attributes(set_cookie: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = set_cookie.split("; ").collect();
    parts.sort();
    parts
}

async fn get_with(app: &mut App, uri: &str, accept_language: &str) -> Reply {
    app.send(
        Request::get(uri)
            .header(header::ACCEPT, "text/html")
            .header(header::ACCEPT_LANGUAGE, accept_language)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn the_switch_remembers_the_choice_and_goes_back_where_it_was_pressed() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    let page = app.get("/").await;
    assert!(page.body.contains("<html lang=\"en\""), "{}", page.body);
    assert!(page.body.contains(ENGLISH_HEADING));
    assert!(
        page.body.contains("action=\"/api/set_language\""),
        "the switch is a plain form"
    );

    let r = app
        .post_form(
            "/api/set_language",
            "lang=th&return_to=%2Fsign-in%3Freturn_to%3D%252Fprofile",
        )
        .await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    assert_eq!(
        r.location().as_deref(),
        Some("/sign-in?return_to=%2Fprofile")
    );
    let cookie = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert_eq!(
        attributes(cookie),
        [
            "HttpOnly",
            "Max-Age=31536000",
            "Path=/",
            "SameSite=Lax",
            "lang=th"
        ],
        "plain http here: no Secure"
    );
    assert!(app.cookie.is_none(), "choosing a language makes no session");

    let page = app.get("/").await;
    assert!(page.body.contains("<html lang=\"th\""), "{}", page.body);
    assert!(page.body.contains(THAI_HEADING));
    // The choice wins over the browser's language.
    let page = get_with(&mut app, "/", "en-US,en;q=0.9").await;
    assert!(page.body.contains(THAI_HEADING));

    // Back to English; somewhere else on the site; a foreign address is not followed.
    let r = app
        .post_form(
            "/api/set_language",
            "lang=en&return_to=https%3A%2F%2Fevil.example%2F",
        )
        .await;
    assert_eq!(r.location().as_deref(), Some("/"));
    assert!(app.get("/").await.body.contains(ENGLISH_HEADING));
}

#[tokio::test]
async fn an_unknown_language_is_refused_and_changes_nothing() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.post_form("/api/set_language", "lang=th&return_to=%2F")
        .await;
    for bad in ["fr", "TH", "th%3B%20Path%3D%2Fadmin", ""] {
        let (status, body) = app.call("set_language", &format!("lang={bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body, serde_json::json!("UnknownLanguage"), "{bad}");
    }
    assert_eq!(app.lang_cookie.as_deref(), Some("lang=th"));
    assert!(app.get("/").await.body.contains(THAI_HEADING));
}

#[tokio::test]
async fn accept_language_decides_when_nothing_was_chosen() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    for (accept, thai) in [
        ("th-TH,th;q=0.9,en;q=0.8", true),
        ("fr-FR, th;q=0.5", true),
        ("en-GB, th;q=0.9", false),
        ("fr, de", false),
        ("th;q=0", false),
    ] {
        let page = get_with(&mut app, "/", accept).await;
        assert_eq!(page.body.contains(THAI_HEADING), thai, "{accept}");
        let lang = if thai { "th" } else { "en" };
        assert!(
            page.body.contains(&format!("<html lang=\"{lang}\"")),
            "{accept}"
        );
    }
    assert!(app.lang_cookie.is_none(), "a guess is not remembered");
}

/// The start page is cached per URL and viewer: the language must be part of that key, or the
/// first visitor's language would be everyone's.
#[tokio::test]
async fn cached_pages_are_kept_apart_by_language() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    for round in 0..2 {
        let english = get_with(&mut app, "/", "en").await;
        let thai = get_with(&mut app, "/", "th").await;
        assert!(english.body.contains(ENGLISH_HEADING), "round {round}");
        assert!(thai.body.contains(THAI_HEADING), "round {round}");
        if round == 1 {
            for r in [&english, &thai] {
                assert!(r.cache_hit && r.headers.get("x-page-cache").is_none());
            }
        }
    }
}

#[tokio::test]
async fn signed_in_pages_and_dates_are_in_the_chosen_language() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in(&idp).await;
    app.post_form("/api/set_language", "lang=th&return_to=%2F")
        .await;
    let page = app.get("/profile").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<html lang=\"th\""));
    assert!(page.body.contains("โปรไฟล์ของคุณ"), "{}", page.body);
    assert!(
        page.body.contains("ออกจากระบบ</button>"),
        "the island's words too"
    );
    assert!(
        page.body.contains(" พ.ศ. 25"),
        "Buddhist-era dates: {}",
        page.body
    );
    assert!(
        page.body.contains("(เวลาประเทศไทย)</code>"),
        "Thailand's time"
    );
    assert!(!page.body.contains(" UTC</code>"), "no English dates left");
    let page = app.get("/sessions").await;
    assert!(page.body.contains("เบราว์เซอร์นี้"), "{}", page.body);
    assert!(page.body.contains("พ.ศ."));

    // Signing out (here, or everywhere) asks Logto for the same language.
    let ui_locales = |r: &Reply| {
        let location = url::Url::parse(&r.location().unwrap()).unwrap();
        location
            .query_pairs()
            .find(|(k, _)| k == "ui_locales")
            .map(|(_, v)| v.into_owned())
    };
    let mut phone = app.browser();
    phone.lang_cookie = app.lang_cookie.clone();
    phone.sign_in(&idp).await;
    let r = app.post_form("/api/sign_out", "").await;
    assert_eq!(ui_locales(&r).as_deref(), Some("th"));
    let r = phone.post_form("/api/sign_out_everywhere", "").await;
    assert_eq!(ui_locales(&r).as_deref(), Some("th"));
}

#[tokio::test]
async fn on_https_the_choice_is_a_secure_cookie() {
    let idp = Idp::start().await;
    let config = config_for(&idp, &[("APP_BASE_URL", "https://app.example.com")]);
    let mut app = App::new(&config).await;
    let r = app
        .post_form("/api/set_language", "lang=th&return_to=%2F")
        .await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    assert_eq!(
        attributes(r.headers[header::SET_COOKIE].to_str().unwrap()),
        [
            "HttpOnly",
            "Max-Age=31536000",
            "Path=/",
            "SameSite=Lax",
            "Secure",
            "lang=th"
        ]
    );
}

#[tokio::test]
async fn the_cross_site_refusal_page_speaks_the_language_too() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    let r = app
        .send(
            Request::post("/api/sign_in")
                .header(header::ACCEPT, "text/html")
                .header(header::ACCEPT_LANGUAGE, "th")
                .header("sec-fetch-site", "cross-site")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("mode=sign_in"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("<html lang=\"th\""), "{}", r.body);
    assert!(r.body.contains("ไม่อนุญาตจากเว็บไซต์อื่น"), "{}", r.body);
}
