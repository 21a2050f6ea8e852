//! The callback against a provider double: every failure gives a clear 4xx page and leaves no
//! signed-in session; the happy path signs in under a new session id.

use crate::support::*;
use axum::http::StatusCode;

async fn setup() -> (Idp, App) {
    let idp = Idp::start().await;
    let app = App::new(&config_for(&idp, &[])).await;
    (idp, app)
}

/// The error page for `code`, in its own words, echoing none of the tokens `idp` issued (ID
/// tokens included: a page that showed the rejected ID token would leak it).
fn assert_error_page(idp: &Idp, r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "body: {}", r.body);
    assert!(
        r.body.contains(&format!("data-error-code=\"{code}\"")),
        "expected error code {code} in page: {}",
        r.body
    );
    // The page says what happened and what to do, in the words the UI has for that code.
    let (title, message, _) =
        logto_leptos::app::auth_error_text(logto_leptos::lang::Locale::en, code);
    assert!(r.body.contains(title), "title {title:?} in {}", r.body);
    assert!(
        r.body.contains(message),
        "message {message:?} in {}",
        r.body
    );
    for token in idp.issued_tokens() {
        assert!(!r.body.contains(&token), "a token echoed: {}", r.body);
        // The ID token's parts too (its payload alone carries the claims).
        for part in token.split('.').filter(|p| p.len() > 20) {
            assert!(!r.body.contains(part), "part of a token echoed: {}", r.body);
        }
    }
}

async fn assert_signed_out(app: &mut App) {
    assert_eq!(app.current_user().await, serde_json::Value::Null);
}

#[tokio::test]
async fn happy_path_signs_in_with_new_session_id_and_returns() {
    let (idp, mut app) = setup().await;
    let params = app.start_sign_in("mode=sign_in&return_to=%2Fprofile").await;
    assert_eq!(params["client_id"], CLIENT_ID);
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["prompt"], "consent");
    assert_eq!(params["redirect_uri"], format!("{BASE_URL}/callback"));
    let cookie_before = app.cookie.clone().expect("pending sign-in needs a session");
    let code = idp.authorize(&params);
    let r = app
        .get(&format!(
            "/callback?{}",
            query(&[
                ("code", &code),
                ("state", &params["state"]),
                ("iss", &idp.issuer)
            ])
        ))
        .await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    assert_eq!(r.location().as_deref(), Some("/profile"));
    assert_ne!(
        app.cookie.as_deref(),
        Some(cookie_before.as_str()),
        "session id must change at sign-in"
    );
    let user = app.current_user().await;
    assert_eq!(user["sub"], "user-1");
    assert_eq!(user["name"], "Alice Liddell");
    let text = user.to_string();
    let page = app.get("/profile").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Alice Liddell"));
    // The exact tokens, not prefixes like "at-": the claims carry random base64 (at_hash, nonce)
    // that contains such prefixes now and then.
    let tokens = idp.issued_tokens();
    assert_eq!(tokens.len(), 3, "access, refresh and ID token");
    for token in tokens {
        assert!(!text.contains(&token), "no tokens to the browser: {text}");
        assert!(!page.body.contains(&token), "no tokens in the page");
    }
}

#[tokio::test]
async fn wrong_state_is_rejected() {
    let (idp, mut app) = setup().await;
    let params = app.start_sign_in("mode=sign_in").await;
    let code = idp.authorize(&params);
    let r = app
        .get(&format!(
            "/callback?{}",
            query(&[("code", &code), ("state", "forged"), ("iss", &idp.issuer)])
        ))
        .await;
    assert_error_page(&idp, &r, StatusCode::BAD_REQUEST, "state_mismatch");
    assert_eq!(
        idp.token_requests(),
        0,
        "no code exchange for a forged state"
    );
    assert_signed_out(&mut app).await;
}

#[tokio::test]
async fn missing_state_is_rejected() {
    let (idp, mut app) = setup().await;
    let params = app.start_sign_in("mode=sign_in").await;
    let code = idp.authorize(&params);
    let r = app
        .get(&format!(
            "/callback?{}",
            query(&[("code", &code), ("iss", &idp.issuer)])
        ))
        .await;
    assert_error_page(&idp, &r, StatusCode::BAD_REQUEST, "state_mismatch");
    assert_signed_out(&mut app).await;
}

#[tokio::test]
async fn replayed_state_is_rejected() {
    let (idp, mut app) = setup().await;
    let url = app.callback_url_as(&idp, "user-1").await;
    let first = app.get(&url).await;
    assert_eq!(first.status, StatusCode::FOUND);
    // Sign out, then replay the same callback URL: the state was consumed by the first use.
    let r = app.post_form("/api/sign_out", "").await;
    assert_eq!(r.status, StatusCode::FOUND);
    let replay = app.get(&url).await;
    assert_error_page(&idp, &replay, StatusCode::BAD_REQUEST, "state_mismatch");
    assert_signed_out(&mut app).await;
}

#[tokio::test]
async fn replayed_state_in_same_session_is_rejected() {
    let (idp, mut app) = setup().await;
    let params = app.start_sign_in("mode=sign_in").await;
    // A callback with an error consumes the state too.
    let url = format!(
        "/callback?{}",
        query(&[
            ("error", "access_denied"),
            ("state", &params["state"]),
            ("iss", &idp.issuer)
        ])
    );
    let first = app.get(&url).await;
    assert_error_page(&idp, &first, StatusCode::FORBIDDEN, "access_denied");
    let code = idp.authorize(&params);
    let replay = app
        .get(&format!(
            "/callback?{}",
            query(&[
                ("code", &code),
                ("state", &params["state"]),
                ("iss", &idp.issuer)
            ])
        ))
        .await;
    assert_error_page(&idp, &replay, StatusCode::BAD_REQUEST, "state_mismatch");
    assert_signed_out(&mut app).await;
}

#[tokio::test]
async fn missing_code_is_rejected() {
    let (idp, mut app) = setup().await;
    let params = app.start_sign_in("mode=sign_in").await;
    let r = app
        .get(&format!(
            "/callback?{}",
            query(&[("state", &params["state"]), ("iss", &idp.issuer)])
        ))
        .await;
    assert_error_page(&idp, &r, StatusCode::BAD_REQUEST, "missing_code");
    assert_signed_out(&mut app).await;
}

#[tokio::test]
async fn access_denied_shows_cancelled_page() {
    let (idp, mut app) = setup().await;
    let params = app.start_sign_in("mode=facebook").await;
    assert_eq!(params["direct_sign_in"], "social:facebook");
    let r = app
        .get(&format!(
            "/callback?{}",
            query(&[
                ("error", "access_denied"),
                ("error_description", "<script>alert(1)</script>"),
                ("state", &params["state"]),
                ("iss", &idp.issuer),
            ])
        ))
        .await;
    assert_error_page(&idp, &r, StatusCode::FORBIDDEN, "access_denied");
    assert!(r.body.contains("Sign-in was cancelled"));
    assert!(
        !r.body.contains("<script>alert(1)"),
        "provider text is never echoed raw"
    );
    assert_signed_out(&mut app).await;
}

#[tokio::test]
async fn wrong_iss_is_rejected() {
    let (idp, mut app) = setup().await;
    let params = app.start_sign_in("mode=sign_in").await;
    let code = idp.authorize(&params);
    for iss in [Some("https://evil.example/oidc"), None] {
        let params = if iss.is_none() {
            app.start_sign_in("mode=sign_in").await
        } else {
            params.clone()
        };
        let mut q = vec![("code", code.as_str()), ("state", params["state"].as_str())];
        if let Some(iss) = iss {
            q.push(("iss", iss));
        }
        let r = app.get(&format!("/callback?{}", query(&q))).await;
        assert_error_page(&idp, &r, StatusCode::BAD_REQUEST, "issuer_mismatch");
    }
    assert_eq!(
        idp.token_requests(),
        0,
        "no code exchange after an iss mismatch"
    );
    assert_signed_out(&mut app).await;
}

#[tokio::test]
async fn tampered_id_token_is_rejected() {
    let (idp, mut app) = setup().await;
    idp.misbehave(Misbehave::TamperedSignature);
    let r = app.attempt_sign_in(&idp).await;
    assert_error_page(&idp, &r, StatusCode::BAD_REQUEST, "invalid_id_token");
    assert_signed_out(&mut app).await;
}

#[tokio::test]
async fn wrong_nonce_is_rejected() {
    let (idp, mut app) = setup().await;
    idp.misbehave(Misbehave::WrongNonce);
    let r = app.attempt_sign_in(&idp).await;
    assert_error_page(&idp, &r, StatusCode::BAD_REQUEST, "invalid_id_token");
    assert_signed_out(&mut app).await;
}

#[tokio::test]
async fn sign_in_options_set_logto_parameters() {
    let (_idp, mut app) = setup().await;
    let plain = app.start_sign_in("mode=sign_in").await;
    assert!(!plain.contains_key("first_screen") && !plain.contains_key("direct_sign_in"));
    let register = app.start_sign_in("mode=register").await;
    assert_eq!(register["first_screen"], "register");
    let facebook = app.start_sign_in("mode=facebook").await;
    assert_eq!(facebook["direct_sign_in"], "social:facebook");
    for p in [&plain, &register, &facebook] {
        let scopes: Vec<&str> = p["scope"].split(' ').collect();
        assert!(
            scopes.contains(&"openid")
                && scopes.contains(&"offline_access")
                && scopes.contains(&"email")
        );
        assert_eq!(p["response_type"], "code");
    }
}

#[tokio::test]
async fn provider_down_gives_unavailable_page_and_pages_still_render() {
    // Nothing listens on port 9 (discard): discovery fails fast.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let idp = Idp::start().await;
    let mut vars = config_for(&idp, &[]);
    vars.auth.endpoint = url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let mut app = App::new(&vars).await;
    let home = app.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Continue with Facebook"));
    let r = app.post_form("/api/sign_in", "mode=sign_in").await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        r.location().as_deref(),
        Some("/auth/error?code=provider_unavailable")
    );
    let page = app.get("/auth/error?code=provider_unavailable").await;
    assert_error_page(
        &idp,
        &page,
        StatusCode::SERVICE_UNAVAILABLE,
        "provider_unavailable",
    );
    assert!(page.body.contains("Sign-in temporarily unavailable"));
}

#[tokio::test]
async fn healthz_is_ok_without_session() {
    let (_idp, mut app) = setup().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "ok");
    assert!(r.headers.get("set-cookie").is_none());
}

#[tokio::test]
async fn pages_are_not_cached_and_callback_hides_referrer() {
    let (idp, mut app) = setup().await;
    let home = app.get("/").await;
    assert_eq!(home.headers["cache-control"], "no-store");
    let params = app.start_sign_in("mode=sign_in").await;
    let r = app
        .get(&format!(
            "/callback?{}",
            query(&[("state", &params["state"]), ("iss", &idp.issuer)])
        ))
        .await;
    assert_eq!(r.headers["referrer-policy"], "no-referrer");
    assert_eq!(r.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn pages_carry_a_csp_whose_nonce_matches_the_hydration_script() {
    let (idp, mut app) = setup().await;
    let home = app.get("/").await;
    let csp = home.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(
        csp.contains("'wasm-unsafe-eval'") && !csp.contains("'unsafe-inline'"),
        "{csp}"
    );
    assert!(
        csp.contains(&format!("form-action 'self' {}", idp.endpoint())),
        "{csp}"
    );
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("a nonce");
    assert!(
        home.body.contains(&format!("nonce=\"{nonce}\"")),
        "script nonce must match the header"
    );
    let again = app.get("/").await;
    assert_ne!(
        again.headers["content-security-policy"], home.headers["content-security-policy"],
        "fresh nonce per response"
    );
}

#[tokio::test]
async fn other_loopback_host_is_sent_to_the_configured_one() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(
        &idp,
        &[("APP_BASE_URL", "http://127.0.0.1:3000")],
    ))
    .await;
    let r = app
        .send(
            axum::http::Request::get("/profile?tab=1")
                .header("host", "localhost:3000")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        r.location().as_deref(),
        Some("http://127.0.0.1:3000/profile?tab=1")
    );
    assert!(
        r.headers.get("set-cookie").is_none(),
        "no cookie on the wrong host"
    );
    // The configured host, and non-loopback hosts (proxies), pass through untouched.
    for host in ["127.0.0.1:3000", "app.example.com"] {
        let r = app
            .send(
                axum::http::Request::get("/healthz")
                    .header("host", host)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{host}");
    }
}

/// The `ui_locales` a sign-in started with these headers sends to Logto.
async fn ui_locales_sent(app: &mut App, accept_language: &str, cookie: Option<&str>) -> String {
    let mut request = axum::http::Request::post("/api/sign_in")
        .header("accept", "text/html")
        .header("accept-language", accept_language)
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let r = app
        .send(
            request
                .body(axum::body::Body::from("mode=sign_in"))
                .unwrap(),
        )
        .await;
    let url = url::Url::parse(&r.location().unwrap()).unwrap();
    let mut q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    q.remove("ui_locales").unwrap_or_default()
}

#[tokio::test]
async fn the_app_language_is_passed_as_ui_locales() {
    let (_idp, mut app) = setup().await;
    assert_eq!(
        ui_locales_sent(&mut app, "th-TH,th;q=0.9,en;q=0.8", None).await,
        "th",
        "the app's language, as Logto tags it"
    );
    // An explicit choice in the app wins over the browser's language.
    assert_eq!(
        ui_locales_sent(&mut app, "th-TH,th;q=0.9", Some("lang=en")).await,
        "en"
    );
}

/// The provider double checks client credentials and PKCE like Logto: the happy-path tests pass
/// only because the app sends the right ones. A wrong secret is refused.
#[tokio::test]
async fn a_wrong_client_secret_is_refused_by_the_token_endpoint() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[("LOGTO_APP_SECRET", "not-the-secret")])).await;
    let r = app.attempt_sign_in(&idp).await;
    assert_error_page(&idp, &r, StatusCode::BAD_GATEWAY, "token_exchange_failed");
    assert_signed_out(&mut app).await;
}

/// A code redeemed with another sign-in's PKCE verifier (the code stolen into another browser
/// session of the same app) is refused by the token endpoint.
#[tokio::test]
async fn a_code_from_another_sign_in_fails_pkce() {
    let (idp, mut app) = setup().await;
    let victim = app.start_sign_in("mode=sign_in").await;
    let code = idp.authorize(&victim);
    let mut attacker = app.browser();
    let own = attacker.start_sign_in("mode=sign_in").await;
    let r = attacker
        .get(&format!(
            "/callback?{}",
            query(&[
                ("code", &code),
                ("state", &own["state"]),
                ("iss", &idp.issuer)
            ])
        ))
        .await;
    // Refused at the token endpoint (PKCE), before the nonce would have caught it.
    assert_error_page(&idp, &r, StatusCode::BAD_GATEWAY, "token_exchange_failed");
    assert_signed_out(&mut attacker).await;
}

/// The same callback twice at once (a reload while the first is at Logto, a redirect delivered
/// twice): the code is redeemed once. Logto (oidc-provider) revokes the whole grant when a code
/// comes back, so a second redemption would kill the sign-in that just succeeded. The second
/// arrives, and is answered, while the first is held at Logto's token endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_duplicated_callback_redeems_the_code_once() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    let callback = app.callback_url_as(&idp, "user-1").await;
    let hold = std::sync::Arc::new(tokio::sync::Notify::new());
    idp.edit_script(|s| s.hold_code = Some(hold.clone()));
    let exchanged = idp.token_requests();
    let mut first = app.tab();
    let url = callback.clone();
    let winner = tokio::spawn(async move {
        let r = first.get(&url).await;
        (r, first)
    });
    idp.exchanges.notified().await; // the first has redeemed the code and waits for Logto
    idp.edit_script(|s| s.hold_code = None);
    let mut second = app.tab();
    let duplicate = second.get(&callback).await;
    assert_error_page(&idp, &duplicate, StatusCode::BAD_REQUEST, "state_mismatch");
    assert!(
        duplicate.headers.get("set-cookie").is_none(),
        "the duplicate leaves the cookie alone"
    );
    hold.notify_one();
    let (first_reply, mut first) = winner.await.unwrap();
    assert_eq!(
        first_reply.status,
        StatusCode::FOUND,
        "{}",
        first_reply.body
    );
    assert_eq!(
        idp.token_requests(),
        exchanged + 1,
        "the code went to Logto once"
    );
    assert!(!idp.grant_revoked(), "the grant is alive");
    assert_eq!(signed_in_sub(&mut first).await, "user-1");
    first.expire_logto_token().await;
    assert_eq!(
        first.call("user_info", "").await.0,
        StatusCode::OK,
        "and refreshes"
    );
}

/// A LOGTO_ENDPOINT whose discovery document names another issuer is a setting to fix: said as
/// such on the page (not "try again in a moment") and in the log, naming the variable, and not
/// asked again on every request.
#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_a_configuration_error() {
    capture_logs();
    let idp = Idp::start().await;
    idp.edit_script(|s| s.discovery_issuer = Some("https://other.example/oidc".into()));
    let mut app = App::new(&config_for(&idp, &[])).await;
    for _ in 0..2 {
        let r = app.post_form("/api/sign_in", "mode=sign_in").await;
        assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
        let location = r.location().unwrap();
        assert_eq!(location, "/auth/error?code=provider_misconfigured");
        let page = app.get(&location).await;
        assert_error_page(
            &idp,
            &page,
            StatusCode::INTERNAL_SERVER_ERROR,
            "provider_misconfigured",
        );
    }
    assert_eq!(idp.discovery_requests(), 1, "not asked again at once");
    assert!(
        logged(&[
            "LOGTO_ENDPOINT is misconfigured",
            "https://other.example/oidc"
        ]),
        "{}",
        log_text()
    );
}

/// A callback carrying a `state` this browser never started claims nothing, even when the browser
/// has a sign-in of its own pending: whoever learnt another browser's `state` cannot spend it,
/// and the browser that started it still signs in with it.
#[tokio::test]
async fn a_state_from_another_browser_claims_nothing() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    let callback = app.callback_url_as(&idp, "user-1").await;
    let mut other = app.browser();
    other.start_sign_in("mode=sign_in").await;
    let stolen = other.get(&callback).await;
    assert_error_page(&idp, &stolen, StatusCode::BAD_REQUEST, "state_mismatch");
    let own = app.get(&callback).await;
    assert_eq!(own.status, StatusCode::FOUND, "{}", own.body);
    assert_eq!(signed_in_sub(&mut app).await, "user-1");
}
