//! The SDK's plain-axum example (`crates/logto-axum/examples/plain_axum.rs`, no Leptos) through a
//! whole visit against the provider double: signed out, sign-in, the callback, the page, a call to
//! the API with the user's access token, a refused replay and a refused cross-site sign-out, the
//! sign-out itself, then Logto's back-channel logout of a second sign-in. What the example shows
//! a developer is what works.

use std::{collections::HashMap, future::IntoFuture};

use axum::{
    body::Body,
    http::{header, HeaderMap, Request, StatusCode},
    Router,
};
use http_body_util::BodyExt;
use logto_axum::{AuthConfig, LogtoClient, SessionConfig};
use tower::ServiceExt;

use crate::support::*;

// Its `main` runs only as the example.
#[allow(dead_code)]
#[path = "../../crates/logto-axum/examples/plain_axum.rs"]
mod example;

/// A browser without JavaScript: one session cookie, redirects not followed.
struct Browser {
    router: Router,
    cookie: Option<String>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

impl Browser {
    async fn send(&mut self, mut req: Request<Body>) -> Answer {
        if let Some(cookie) = &self.cookie {
            req.headers_mut()
                .insert(header::COOKIE, cookie.parse().unwrap());
        }
        let res = self.router.clone().oneshot(req).await.unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        for set in headers.get_all(header::SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            let expired = set.to_str().unwrap().contains("Max-Age=0");
            self.cookie = (!expired).then_some(pair);
        }
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body).into_owned();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&mut self, uri: &str) -> Answer {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    async fn sign_out(&mut self, fetch_site: &str) -> Answer {
        let req = Request::post("/sign-out")
            .header("sec-fetch-site", fetch_site)
            .body(Body::empty())
            .unwrap();
        self.send(req).await
    }

    /// Starts a sign-in and has the provider authorize user-1: the callback URL, not yet visited.
    async fn callback_url(&mut self, idp: &Idp, return_to: &str) -> String {
        let r = self.get(&format!("/sign-in?return_to={return_to}")).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let to = url::Url::parse(r.location()).unwrap();
        assert!(to.as_str().starts_with(&idp.issuer), "{to}");
        let params: HashMap<String, String> = to.query_pairs().into_owned().collect();
        callback_url(idp, "user-1", &params)
    }
}

/// The example's app, served on a socket too: its "Call the API" calls its own `/api/hello`.
async fn example_app(idp: &Idp) -> (Router, LogtoClient) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let vars: HashMap<&str, String> = [
        ("LOGTO_ENDPOINT", idp.endpoint()),
        ("LOGTO_APP_ID", CLIENT_ID.to_owned()),
        ("LOGTO_APP_SECRET", CLIENT_SECRET.to_owned()),
        ("APP_BASE_URL", base),
        ("LOGTO_RESOURCES", API_RESOURCE.to_owned()),
        ("SESSION_STORE_URL", "memory".to_owned()),
    ]
    .into();
    let lookup = |k: &str| vars.get(k).cloned();
    let config = AuthConfig::from_lookup(lookup).unwrap();
    let sessions = SessionConfig::from_lookup(lookup).unwrap();
    let client = LogtoClient::connect(config, &sessions).await.unwrap();
    let router = example::app(client.clone());
    tokio::spawn(axum::serve(listener, router.clone()).into_future());
    (router, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plain_axum_example_signs_in_calls_the_api_and_signs_out() {
    let idp = Idp::start().await;
    let (router, _client) = example_app(&idp).await;
    let mut browser = Browser {
        router,
        cookie: None,
    };

    // Signed out: a link to sign in; the API call is refused.
    let r = browser.get("/").await;
    assert!(r.body.contains("href=\"/sign-in\""), "{}", r.body);
    assert_eq!(
        browser.get("/call-api").await.status,
        StatusCode::UNAUTHORIZED
    );

    // Sign in, coming back to where the visit started.
    let callback = browser.callback_url(&idp, "/call-api").await;
    let r = browser.get(&callback).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/call-api");
    let r = browser.get("/").await;
    assert!(r.body.contains("Signed in as Alice Liddell."), "{}", r.body);

    // The API, called with the user's access token, checks it and answers.
    let r = browser.get("/call-api").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, "Hello, user-1!");
    // Without a token the API refuses, as RFC 6750 says.
    let mut stranger = Browser {
        router: browser.router.clone(),
        cookie: None,
    };
    let r = stranger.get("/api/hello").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.headers.contains_key(header::WWW_AUTHENTICATE));

    // The same callback again: its state was used; the user stays signed in.
    let r = browser.get(&callback).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("state_mismatch"), "{}", r.body);
    assert!(browser.get("/").await.body.contains("Signed in as"));

    // Another site cannot sign the user out.
    let r = browser.sign_out("cross-site").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(browser.get("/").await.body.contains("Signed in as"));

    // Signing out: the refresh token revoked, then on to Logto's end-session endpoint.
    let r = browser.sign_out("same-origin").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.location().starts_with(&idp.issuer), "{}", r.location());
    assert_eq!(idp.revoked_tokens().len(), 1);
    assert!(browser.get("/").await.body.contains("href=\"/sign-in\""));
    assert_eq!(
        browser.get("/call-api").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plain_axum_example_ends_a_session_logto_ended() {
    let idp = Idp::start().await;
    let (router, _client) = example_app(&idp).await;
    let mut browser = Browser {
        router,
        cookie: None,
    };
    let callback = browser.callback_url(&idp, "/").await;
    assert_eq!(browser.get(&callback).await.status, StatusCode::SEE_OTHER);
    assert!(browser.get("/").await.body.contains("Signed in as"));

    // Logto's back-channel logout for this user: the session here ends too.
    let token = idp.logout_token("user-1", None, |_| {});
    let req = Request::post("/auth/backchannel-logout")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("logout_token={token}")))
        .unwrap();
    let r = Browser {
        router: browser.router.clone(),
        cookie: None,
    }
    .send(req)
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(browser.get("/").await.body.contains("href=\"/sign-in\""));
}

/// The routes' refusals and edges: each answers as documented and signs nobody in or out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_routes_refuse_what_they_must() {
    let idp = Idp::start().await;
    let (router, _client) = example_app(&idp).await;
    let mut browser = Browser {
        router,
        cookie: None,
    };
    let send = |method: &str, uri: &str, headers: &[(&str, &str)]| {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(Body::empty()).unwrap()
    };

    // Logto's parameters reach the authorization request as given.
    let r = browser
        .get("/sign-in?first_screen=register&direct_sign_in=social:facebook&login_hint=a@b.test&ui_locales=th")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let params: HashMap<String, String> = url::Url::parse(r.location())
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(params["first_screen"], "register");
    assert_eq!(params["direct_sign_in"], "social:facebook");
    assert_eq!(params["login_hint"], "a@b.test");
    assert_eq!(params["ui_locales"], "th");

    // Another site cannot start a sign-in, by Fetch Metadata or, in older browsers, by Origin.
    let r = browser
        .send(send("GET", "/sign-in", &[("sec-fetch-site", "cross-site")]))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = browser
        .send(send(
            "POST",
            "/sign-out",
            &[("origin", "https://evil.example")],
        ))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Sign-out is a POST; a link cannot do it.
    assert_eq!(
        browser.get("/sign-out").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );

    // A callback without state, or with one this browser never started: the error, no cookie.
    let r = browser.get("/callback?code=x").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("state_mismatch"), "{}", r.body);
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    let r = browser.get("/callback?code=x&state=never-issued").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("state_mismatch"), "{}", r.body);

    // Signing out while signed out: back to the start, nothing revoked.
    let r = browser.sign_out("same-origin").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/");
    assert!(idp.revoked_tokens().is_empty());

    // A return path to another site becomes the start page.
    let callback = browser.callback_url(&idp, "//evil.example/x").await;
    let r = browser.get(&callback).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/");
    // Signed in, another site still cannot make the browser spend the user's token.
    let r = browser
        .send(send(
            "GET",
            "/call-api",
            &[("sec-fetch-site", "cross-site")],
        ))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
