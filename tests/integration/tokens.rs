//! Using the sign-in: the protected server functions, access tokens for an API and an
//! organization, refresh that never loses a rotated token, the Facebook token from Logto's Secret
//! Vault, revocation at sign-out, and the resource server's refusals.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderMap, Request, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use logto_axum::{AuthInfo, OrganizationTokens, Verifier};
use logto_axum::{Provider, TokenKeeper, TokenTarget};
use logto_leptos::services::demo_api;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::support::*;

#[derive(Clone, Copy, PartialEq, Eq)]
enum ApiMode {
    /// The real resource server.
    Real,
    /// Refuses the first token it sees with 401 (revoked early), then is the real one.
    FirstTokenRefused,
    /// Always 403.
    Forbidden,
    /// Echoes the request's Authorization header (a debugging endpoint, say).
    Echo,
}

/// The API the app calls: the real resource server behind a switch.
struct TestApi {
    url: String,
    tokens_seen: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
struct ApiState {
    server: Verifier,
    mode: ApiMode,
    tokens_seen: Arc<Mutex<Vec<String>>>,
}

fn resource_server(idp: &Idp, audience: &str) -> Verifier {
    let config = config_for(idp, &[]);
    Verifier::new(Arc::new(Provider::new(config.auth).unwrap()), audience)
        .require_scopes(["read:hello"])
        .realm("demo-api")
}

async fn start_api(idp: &Idp, mode: ApiMode) -> TestApi {
    async fn hello(State(st): State<ApiState>, headers: HeaderMap) -> Response {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let first = {
            let mut seen = st.tokens_seen.lock().unwrap();
            seen.push(token);
            seen.len() == 1
        };
        match st.mode {
            ApiMode::Forbidden => (
                StatusCode::FORBIDDEN,
                Json(json!({"error": "insufficient_scope"})),
            )
                .into_response(),
            ApiMode::Echo => Json(json!({
                "you_sent": headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
            }))
            .into_response(),
            ApiMode::FirstTokenRefused if first => (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "invalid_token"})),
            )
                .into_response(),
            _ => match st.server.verify(&headers).await {
                Ok(t) => Json(
                    json!({"message": format!("Hello, {}!", t.sub), "scope": t.scopes.join(" ")}),
                )
                .into_response(),
                Err(refusal) => refusal.into_response(),
            },
        }
    }
    let tokens_seen = Arc::new(Mutex::new(Vec::new()));
    let state = ApiState {
        server: resource_server(idp, API_RESOURCE),
        mode,
        tokens_seen: tokens_seen.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hello", listener.local_addr().unwrap());
    let app = Router::new().route("/hello", get(hello)).with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestApi { url, tokens_seen }
}

/// An app with the demo API and the Graph stand-in configured, its provider scripted first.
async fn app_with(idp: &Idp, api: &TestApi, script: Script) -> App {
    idp.script(script);
    let graph = start_graph(idp).await;
    App::new(&config_for(
        idp,
        &[
            ("DEMO_API_RESOURCE", API_RESOURCE),
            ("DEMO_API_URL", &api.url),
            ("FACEBOOK_GRAPH_URL", &graph),
        ],
    ))
    .await
}

fn assert_no_token_in(idp: &Idp, body: &str) {
    for t in idp.issued_tokens() {
        assert!(!body.contains(&t), "a token reached the browser: {body}");
    }
}

#[tokio::test]
async fn protected_server_functions_answer_401_when_signed_out() {
    capture_logs();
    let idp = Idp::start().await;
    let api = start_api(&idp, ApiMode::Real).await;
    let mut app = app_with(&idp, &api, Script::default()).await;
    for (endpoint, form) in [
        ("user_info", ""),
        ("call_api", ""),
        ("organization_token", "organization_id=org-1"),
        ("facebook_profile", ""),
    ] {
        let (status, body) = app.call(endpoint, form).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{endpoint}: {body}");
        assert_eq!(body, json!("Unauthenticated"), "{endpoint}");
    }
    // A visitor who is not signed in is not a fault: no ERROR line for operators to chase.
    assert!(logged(&[" INFO ", "refused"]), "{}", log_text());
    let log = log_text();
    assert!(!log.lines().any(|l| l.contains(" ERROR ")), "{log}");
    // The axum extractor guards plain handlers the same way.
    let r = app.get("/auth/me").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    app.sign_in(&idp).await;
    let r = app.get("/auth/me").await;
    assert_eq!(r.status, StatusCode::OK);
    let me = serde_json::from_str::<Value>(&r.body).unwrap();
    assert_eq!(me["sub"], "user-1");
    // Claims as plain strings or numbers (README), times as numbers: the auth layer's claim values
    // reach JSON in the shape the pages' own type promises.
    let claims = me["claims"].as_array().expect("claims as a list");
    assert!(
        claims.iter().any(|c| c[0] == "iat" && c[1].is_i64()),
        "{me}"
    );
    assert!(
        claims.iter().any(|c| c[0] == "sub" && c[1] == "user-1"),
        "{me}"
    );
    assert_no_token_in(&idp, &r.body);
    assert!(
        api.tokens_seen.lock().unwrap().is_empty(),
        "no API call for anonymous callers"
    );
}

#[tokio::test]
async fn call_api_sends_a_verified_jwt_and_caches_it() {
    let idp = Idp::start().await;
    let api = start_api(&idp, ApiMode::Real).await;
    let mut app = app_with(&idp, &api, Script::default()).await;
    app.sign_in(&idp).await;
    for _ in 0..3 {
        let (status, body) = app.call("call_api", "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["outcome"], "Ok", "{body}");
        assert_eq!(body["status"], 200);
        assert!(
            body["body"].as_str().unwrap().contains("Hello, user-1!"),
            "{body}"
        );
        assert_eq!(body["retried"], false);
        assert_no_token_in(&idp, &body.to_string());
    }
    assert_eq!(
        idp.refresh_targets(),
        [format!("resource:{API_RESOURCE}")],
        "one token for three calls: cached with its expiry"
    );
    let seen = api.tokens_seen.lock().unwrap().clone();
    assert!(seen
        .iter()
        .all(|t| t.starts_with("Bearer eyJ") && *t == seen[0]));
}

#[tokio::test]
async fn a_refused_token_is_refreshed_and_the_call_retried_once() {
    let idp = Idp::start().await;
    let api = start_api(&idp, ApiMode::FirstTokenRefused).await;
    let mut app = app_with(&idp, &api, Script::default()).await;
    app.sign_in(&idp).await;
    let (status, body) = app.call("call_api", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["outcome"].clone(), body["retried"].clone()),
        (json!("Ok"), json!(true)),
        "{body}"
    );
    let seen = api.tokens_seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_ne!(seen[0], seen[1], "the retry carries a fresh token");
    assert_eq!(idp.refresh_targets().len(), 2);
    assert!(!idp.grant_revoked());
}

#[tokio::test]
async fn a_403_from_the_api_is_shown_as_forbidden() {
    let idp = Idp::start().await;
    let api = start_api(&idp, ApiMode::Forbidden).await;
    let mut app = app_with(&idp, &api, Script::default()).await;
    app.sign_in(&idp).await;
    let (_, body) = app.call("call_api", "").await;
    assert_eq!(
        (body["outcome"].clone(), body["status"].clone()),
        (json!("Forbidden"), json!(403))
    );
    assert_eq!(
        api.tokens_seen.lock().unwrap().len(),
        1,
        "403 is not retried"
    );
    // The page says so, without JavaScript too.
    let page = app.get("/profile?call=api").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("data-outcome=\"Forbidden\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("lacks the permission"));
}

#[tokio::test]
async fn an_api_that_echoes_the_token_does_not_bring_it_to_the_page() {
    let idp = Idp::start().await;
    let api = start_api(&idp, ApiMode::Echo).await;
    let mut app = app_with(&idp, &api, Script::default()).await;
    app.sign_in(&idp).await;
    let (_, body) = app.call("call_api", "").await;
    assert_eq!(body["outcome"], "Ok");
    assert!(
        body["body"].as_str().unwrap().contains("Bearer ***"),
        "{body}"
    );
    assert_no_token_in(&idp, &body.to_string());
}

#[tokio::test]
async fn another_site_cannot_start_the_profile_actions() {
    let idp = Idp::start().await;
    let api = start_api(&idp, ApiMode::Real).await;
    let mut app = app_with(&idp, &api, Script::default()).await;
    app.sign_in(&idp).await;
    for site in ["cross-site", "same-site"] {
        // A link on another site to /profile?call=api, followed by the signed-in user's browser.
        let page = app
            .send(
                Request::get("/profile?call=api")
                    .header(header::ACCEPT, "text/html")
                    .header("sec-fetch-site", site)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "the page itself renders");
        assert!(
            page.body.contains("data-app-error=\"CrossSite\""),
            "{site}: {}",
            page.body
        );
    }
    // A form on another site posting to the server function directly.
    let r = app
        .send(
            Request::post("/api/call_api")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("sec-fetch-site", "cross-site")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body, "\"CrossSite\"");
    assert!(
        api.tokens_seen.lock().unwrap().is_empty(),
        "the API was not called"
    );
    assert!(idp.refresh_targets().is_empty(), "no token was fetched");
    // From the app's own page it runs.
    let page = app
        .send(
            Request::get("/profile?call=api")
                .header(header::ACCEPT, "text/html")
                .header("sec-fetch-site", "same-origin")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(page.body.contains("data-outcome=\"Ok\""), "{}", page.body);
}

#[tokio::test]
async fn an_api_token_without_the_permission_is_refused_by_the_real_api() {
    let idp = Idp::start().await;
    let api = start_api(&idp, ApiMode::Real).await;
    let mut app = app_with(
        &idp,
        &api,
        Script {
            api_scope: Some("read:other".into()),
            ..Script::default()
        },
    )
    .await;
    app.sign_in(&idp).await;
    let (_, body) = app.call("call_api", "").await;
    assert_eq!(body["outcome"], "Forbidden", "{body}");
    assert!(body["body"]
        .as_str()
        .unwrap()
        .contains("insufficient_scope"));
}

/// The browser gives up while Logto has already rotated the refresh token: the refresh runs in a
/// task of its own, tracked (a graceful shutdown waits for it), and stores its result itself.
#[tokio::test]
async fn a_refresh_whose_request_is_dropped_still_stores_the_rotated_token() {
    let idp = Idp::start().await;
    let api = start_api(&idp, ApiMode::Real).await;
    let mut app = app_with(
        &idp,
        &api,
        Script {
            expires_in: Some(1), // the Logto token needs a refresh on every use
            ..Script::default()
        },
    )
    .await;
    app.sign_in(&idp).await;
    let grant = app.grant_id().await;
    let hold = Arc::new(tokio::sync::Notify::new());
    idp.edit_script(|s| {
        s.expires_in = Some(3600); // the API token, once stored, lasts
        s.hold_refresh = Some(hold.clone());
    });
    let mut tab = app.tab();
    let request = tokio::spawn(async move { tab.call("call_api", "").await });
    idp.refreshes.notified().await; // Logto has rotated the refresh token…
    request.abort(); // …when the browser goes away
    assert!(request.await.unwrap_err().is_cancelled());
    hold.notify_one(); // and then Logto answers
                       // What a graceful shutdown does: wait for the tracked work. Then the rotated token is stored.
    app.keeper.tasks().close();
    app.keeper.tasks().wait().await;
    app.keeper.tasks().reopen();
    let stored = app.tokens.load(&grant).await.unwrap().unwrap();
    assert_eq!(
        stored.refresh_token.as_ref(),
        idp.refresh_tokens_issued().last(),
        "the rotated refresh token is stored"
    );
    idp.edit_script(|s| s.hold_refresh = None);
    assert_eq!(idp.refresh_targets().len(), 1, "Logto rotated once");
    // The API token the abandoned refresh got is there, and the rotated refresh token works.
    let (_, body) = app.call("call_api", "").await;
    assert_eq!(body["outcome"], "Ok", "{body}");
    assert_eq!(
        idp.refresh_targets().len(),
        1,
        "served from the stored result"
    );
    let (status, _) = app.call("user_info", "").await;
    assert_eq!(status, StatusCode::OK, "still signed in");
    assert_eq!(idp.refresh_targets().len(), 2);
    assert!(!idp.grant_revoked(), "no refresh token was spent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_calls_for_two_resources_and_an_organization_refresh_once_each() {
    let idp = Idp::start().await;
    let second = API2_RESOURCE;
    let config = config_for(
        &idp,
        &[("LOGTO_RESOURCES", &format!("{API_RESOURCE} {second}"))],
    );
    let mut app = App::new(&config).await;
    app.sign_in(&idp).await;
    let grant = app.grant_id().await;
    let provider = Arc::new(Provider::new(config.auth.clone()).unwrap());
    let keeper = Arc::new(TokenKeeper::new(provider, app.tokens.clone()));
    let targets = [
        TokenTarget::Resource(API_RESOURCE.into()),
        TokenTarget::Resource(second.into()),
        TokenTarget::Organization(ORG_ID.into()),
    ];
    let calls: Vec<_> = (0..5)
        .flat_map(|_| targets.clone())
        .map(|target| {
            let (keeper, grant) = (keeper.clone(), grant.clone());
            tokio::spawn(async move { keeper.token(&grant, &target, None).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().expect("a token");
    }
    let mut asked = idp.refresh_targets();
    asked.sort();
    assert_eq!(
        asked,
        [
            format!("organization:{ORG_ID}"),
            format!("resource:{API_RESOURCE}"),
            format!("resource:{second}"),
        ],
        "fifteen parallel calls, one refresh per target"
    );
    assert!(!idp.grant_revoked(), "no refresh token was spent twice");
}

/// A refresh is at the provider when the browser signs in again (as `who`): the new sign-in wins.
async fn refresh_racing_a_new_sign_in(who: &str) -> (Idp, App) {
    capture_logs();
    let idp = Idp::start().await;
    idp.script(Script {
        expires_in: Some(1),
        ..Script::default()
    });
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in(&idp).await;
    let old_grant = app.grant_id().await;
    let hold = Arc::new(tokio::sync::Notify::new());
    idp.edit_script(|s| s.hold_refresh = Some(hold.clone()));
    let racing = app.racing_user_info();
    idp.refreshes.notified().await;
    assert_eq!(idp.refresh_requests(), 1, "the refresh is at the provider");
    idp.edit_script(|s| s.hold_refresh = None);
    let r = app.attempt_sign_in_as(&idp, who).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    hold.notify_one(); // Logto answers the refresh now
    let status = racing.await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the late refresh lost");
    assert!(
        app.tokens.load(&old_grant).await.unwrap().is_none(),
        "the late refresh wrote the replaced grant back"
    );
    assert!(logged(&["discarded", "session changed"]), "{}", log_text());
    assert_eq!(app.current_user().await["sub"], who);
    let (status, info) = app.call("user_info", "").await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert!(
        info.to_string().contains(who),
        "the new sign-in's tokens are in place: {info}"
    );
    (idp, app)
}

#[tokio::test]
async fn a_refresh_racing_a_new_sign_in_does_not_overwrite_it() {
    refresh_racing_a_new_sign_in("user-2").await;
}

#[tokio::test]
async fn a_refresh_racing_a_new_sign_in_of_the_same_user_leaves_the_shared_grant_alone() {
    // Logto hands the same user the same grant again; revoking the late refresh's token would
    // revoke it, and with it the new session.
    let (idp, mut app) = refresh_racing_a_new_sign_in("user-1").await;
    assert!(idp.revoked_tokens().is_empty(), "nothing revoked");
    assert!(!idp.grant_revoked());
    app.expire_logto_token().await; // as if an hour had passed
    assert_eq!(
        app.call("user_info", "").await.0,
        StatusCode::OK,
        "the new session's refresh token still works"
    );
}

#[tokio::test]
async fn a_grant_logto_ended_stays_ended_for_every_later_request() {
    let idp = Idp::start().await;
    idp.script(Script {
        expires_in: Some(1),
        ..Script::default()
    });
    let config = config_for(&idp, &[]);
    let mut app = App::new(&config).await;
    app.sign_in(&idp).await;
    let grant = app.grant_id().await;
    idp.revoke_all_grants();
    // The request that met invalid_grant went away (a keeper of its own, as a dropped request's task).
    let provider = Arc::new(Provider::new(config.auth.clone()).unwrap());
    let keeper = Arc::new(TokenKeeper::new(provider, app.tokens.clone()));
    let err = keeper
        .token(&grant, &TokenTarget::Logto, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("grant ended"), "{err}");
    // What it learnt is kept: later requests end the session without asking Logto again.
    assert!(keeper
        .tokens(&grant)
        .await
        .unwrap_err()
        .to_string()
        .contains("grant ended"));
    let asked = idp.refresh_requests();
    assert_eq!(app.current_user().await["sub"], "user-1", "not yet noticed");
    let (status, _) = app.call("user_info", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        idp.refresh_requests(),
        asked,
        "no second try with a dead grant"
    );
    assert_eq!(app.current_user().await, Value::Null, "signed out");
}

#[tokio::test]
async fn a_failed_refresh_is_retried_on_the_next_request() {
    let idp = Idp::start().await;
    let api = start_api(&idp, ApiMode::Real).await;
    let mut app = app_with(&idp, &api, Script::default()).await;
    app.sign_in(&idp).await;
    idp.edit_script(|s| s.refresh_failures = 1);
    let (status, body) = app.call("call_api", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["outcome"], "LogtoUnavailable", "{body}");
    let (_, body) = app.call("call_api", "").await;
    assert_eq!(
        body["outcome"], "Ok",
        "not cached: the next request tries again: {body}"
    );
    assert_eq!(idp.refresh_requests(), 2);
    assert_eq!(app.current_user().await["sub"], "user-1", "still signed in");
}

#[tokio::test]
async fn sign_out_revokes_the_refresh_token() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in(&idp).await;
    let rt = idp.refresh_tokens_issued().pop().unwrap();
    let out = app.post_form("/api/sign_out", "").await;
    // Logto's end-session endpoint, with what it needs to end the right session and come back
    // (as Logto's own SDKs: the app by `client_id`, and no token in the URL).
    let location = url::Url::parse(&out.location().unwrap()).unwrap();
    assert_eq!(location.path(), "/oidc/session/end");
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["post_logout_redirect_uri"], format!("{BASE_URL}/"));
    assert!(!query.contains_key("id_token_hint"), "{location}");
    for token in idp.issued_tokens() {
        assert!(!location.as_str().contains(&token), "a token in the URL");
    }
    assert_eq!(idp.revoked_tokens(), [rt]);
    assert_eq!(app.current_user().await, Value::Null);
}

#[tokio::test]
async fn a_failed_revocation_does_not_block_sign_out() {
    capture_logs();
    let idp = Idp::start().await;
    idp.script(Script {
        revocation_fails: true,
        ..Script::default()
    });
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in(&idp).await;
    let out = app.post_form("/api/sign_out", "").await;
    assert_eq!(out.status, StatusCode::FOUND);
    assert!(out.location().unwrap().contains("/session/end"));
    assert_eq!(app.current_user().await, Value::Null);
    assert!(
        logged(&["could not revoke a refresh token"]),
        "{}",
        log_text()
    );
}

#[tokio::test]
async fn organizations_are_listed_and_an_organization_token_is_shown_as_claims() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in(&idp).await;
    let me = app.current_user().await;
    assert_eq!(
        me["organizations"],
        json!([{"id": ORG_ID, "name": "Acme", "roles": ["admin"]}])
    );
    let (status, body) = app
        .call("organization_token", "organization_id=org-1")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims: Vec<(String, serde_json::Value)> =
        serde_json::from_value(body["Issued"]["claims"].clone()).unwrap();
    assert!(
        claims.contains(&("aud".into(), json!("urn:logto:organization:org-1"))),
        "{claims:?}"
    );
    assert!(claims.contains(&("scope".into(), json!("read:org"))));
    // Times are numbers, written out by the page in the reader's language.
    assert!(
        claims.iter().any(|(k, v)| k == "exp" && v.is_i64()),
        "{claims:?}"
    );
    assert_no_token_in(&idp, &body.to_string());
    // Not a member: Logto says access_denied; shown, and no sign-out.
    let (_, body) = app
        .call("organization_token", "organization_id=org-2")
        .await;
    assert_eq!(body, json!({"Refused": {"organization_id": "org-2"}}));
    assert_eq!(app.current_user().await["sub"], "user-1");
    assert!(!idp.grant_revoked());
    // The page, without JavaScript.
    let page = app.get("/profile?organization=org-1").await;
    assert!(
        page.body.contains("urn:logto:organization:org-1"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Acme"));
}

async fn facebook_card(token: FacebookToken, identity: bool) -> Value {
    facebook_card_with(token, identity).await.0
}

/// The card, and the provider double that answered it.
async fn facebook_card_with(token: FacebookToken, identity: bool) -> (Value, Idp) {
    let idp = Idp::start().await;
    let api = start_api(&idp, ApiMode::Real).await;
    let mut app = app_with(
        &idp,
        &api,
        Script {
            facebook_identity: identity,
            facebook_token: token,
            ..Script::default()
        },
    )
    .await;
    app.sign_in(&idp).await;
    let (status, body) = app.call("facebook_profile", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_no_token_in(&idp, &body.to_string());
    for t in idp.facebook_tokens() {
        assert!(
            !body.to_string().contains(&t),
            "no Facebook token either: {body}"
        );
    }
    (body, idp)
}

/// The Account API is called with the user's Logto token: a redirect is not followed (it could
/// carry the token elsewhere), and the card says the token is unavailable.
#[tokio::test]
async fn an_account_api_redirect_is_not_followed() {
    let (body, idp) = facebook_card_with(FacebookToken::Redirected, true).await;
    assert_eq!(body, "Unavailable", "{body}");
    assert_eq!(
        idp.account_redirects(),
        1,
        "the double answered with its redirect"
    );
    assert!(
        idp.facebook_tokens().is_empty(),
        "and the token behind it was not fetched"
    );
}

/// The Account API refusing the user's Logto access token (revoked, expired early): one fresh
/// token is asked for and the request tried again, once; a second refusal is not retried.
#[tokio::test]
async fn the_account_api_gets_one_fresh_logto_token_after_a_refusal() {
    for (refusals, card, refreshes) in [(1, "Profile", 1), (2, "Unavailable", 1), (0, "Profile", 0)]
    {
        let idp = Idp::start().await;
        let api = start_api(&idp, ApiMode::Real).await;
        let script = Script {
            facebook_identity: true,
            ..Script::default()
        };
        let mut app = app_with(&idp, &api, script).await;
        app.sign_in(&idp).await;
        idp.refuse_account_api(refusals);
        let (status, body) = app.call("facebook_profile", "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let shown = body.as_str().unwrap_or_else(|| {
            body.as_object()
                .and_then(|o| o.keys().next())
                .map(String::as_str)
                .unwrap_or_default()
        });
        assert_eq!(shown, card, "{refusals} refusal(s): {body}");
        let logto_refreshes = idp
            .refresh_targets()
            .iter()
            .filter(|t| *t == TARGET_LOGTO)
            .count();
        assert_eq!(logto_refreshes, refreshes, "{refusals} refusal(s)");
    }
}

#[tokio::test]
async fn facebook_profile_with_the_stored_token() {
    let body = facebook_card(FacebookToken::Stored, true).await;
    assert_eq!(body["Profile"]["name"], "Jamie Rivera", "{body}");
    assert_eq!(body["Profile"]["picture"], "https://graph.test/pic.jpg");
}

#[tokio::test]
async fn facebook_without_a_stored_token_gives_the_store_tokens_hint() {
    assert_eq!(
        facebook_card(FacebookToken::NotStored, true).await,
        json!("NotStored")
    );
}

#[tokio::test]
async fn facebook_token_expired_at_logto_or_revoked_at_facebook() {
    assert_eq!(
        facebook_card(FacebookToken::Expired, true).await,
        json!("Expired")
    );
    assert_eq!(
        facebook_card(FacebookToken::RevokedAtFacebook, true).await,
        json!("RejectedByFacebook")
    );
}

#[tokio::test]
async fn facebook_card_for_a_user_without_facebook() {
    assert_eq!(
        facebook_card(FacebookToken::Stored, false).await,
        json!("NotLinked")
    );
}

/// The resource server on its own, presented with tokens as an attacker or a confused client would.
async fn api_answer(idp: &Idp, token: Option<&str>) -> (StatusCode, String, Value) {
    api_answer_to(idp, token.map(|t| format!("Bearer {t}"))).await
}

/// The same, with the whole `Authorization` header as given.
async fn api_answer_to(idp: &Idp, authorization: Option<String>) -> (StatusCode, String, Value) {
    let api: Router = demo_api::router(resource_server(idp, API_RESOURCE));
    let mut req = Request::get("/hello");
    if let Some(value) = authorization {
        req = req.header(header::AUTHORIZATION, value);
    }
    let res = api.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let challenge = res
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    (
        status,
        challenge,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_resource_server_accepts_a_good_token() {
    let idp = Idp::start().await;
    let good = idp.mint_access_token(API_RESOURCE, Some("read:hello"), 3600, false);
    let (status, _, body) = api_answer(&idp, Some(&good)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sub"], "user-1");
}

#[tokio::test]
async fn the_resource_server_refuses_bad_tokens() {
    let idp = Idp::start().await;
    let cases = [
        (
            "wrong audience",
            idp.mint_access_token("https://other.test", Some("read:hello"), 3600, false),
        ),
        (
            "expired",
            idp.mint_access_token(API_RESOURCE, Some("read:hello"), -600, false),
        ),
        (
            "bad signature",
            idp.mint_access_token(API_RESOURCE, Some("read:hello"), 3600, true),
        ),
        ("garbage", "not-a-jwt".to_owned()),
    ];
    for (case, token) in cases {
        let (status, challenge, body) = api_answer(&idp, Some(&token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {body}");
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{case}: {challenge}"
        );
    }
    let (status, challenge, _) = api_answer(&idp, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.starts_with("Bearer") && !challenge.contains("error="));

    let no_permission = idp.mint_access_token(API_RESOURCE, Some("read:other"), 3600, false);
    let (status, challenge, _) = api_answer(&idp, Some(&no_permission)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(challenge.contains("insufficient_scope") && challenge.contains("scope=\"read:hello\""));
}

/// The extractor a plain axum API takes: who called, for which organization, with which scopes.
#[tokio::test]
async fn the_auth_info_extractor_names_the_caller_and_the_organization() {
    async fn whoami(caller: AuthInfo) -> Json<Value> {
        Json(json!({
            "sub": caller.sub, "client_id": caller.client_id, "audience": caller.audience,
            "organization_id": caller.organization_id, "scopes": caller.scopes,
            "reads": caller.has_scope("read:hello"),
            "deletes": caller.has_scope("delete:all"),
        }))
    }
    let idp = Idp::start().await;
    let provider = Arc::new(Provider::new(config_for(&idp, &[]).auth).unwrap());
    let ask = |verifier: Verifier, token: String| async move {
        let api: Router = Router::new()
            .route("/whoami", get(whoami))
            .with_state(verifier);
        let req = Request::get("/whoami")
            .header(header::AUTHORIZATION, format!("bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let res = api.oneshot(req).await.unwrap();
        let status = res.status();
        let body = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice::<Value>(&body.to_bytes()).unwrap_or(Value::Null),
        )
    };
    let api = Verifier::new(provider.clone(), API_RESOURCE).require_scopes(["read:hello"]);
    assert_eq!(api.audience(), API_RESOURCE);

    // A global API token: no organization.
    let token = idp.mint_access_token(API_RESOURCE, Some("read:hello write:x"), 3600, false);
    let (status, body) = ask(api.clone(), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sub"], "user-1");
    assert_eq!(body["audience"], API_RESOURCE);
    assert_eq!(body["client_id"], CLIENT_ID);
    assert_eq!(body["organization_id"], Value::Null);
    assert_eq!(body["scopes"], json!(["read:hello", "write:x"]));
    assert_eq!(body["reads"], true);
    assert_eq!(body["deletes"], false);

    // An organization-level API resource token (Logto's `organization_id` claim): its scopes
    // come from an organization role, so a global API refuses it unless told to take it.
    let org_token = idp.mint_access_token_edited(API_RESOURCE, Some("read:hello"), |c| {
        c["organization_id"] = json!("org-7");
    });
    let (status, _) = ask(api.clone(), org_token.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let both = api
        .clone()
        .organization_tokens(OrganizationTokens::Accepted);
    let (status, body) = ask(both, org_token.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["organization_id"], "org-7");
    let orgs_only = api
        .clone()
        .organization_tokens(OrganizationTokens::Required);
    let (status, body) = ask(orgs_only.clone(), org_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let global = idp.mint_access_token(API_RESOURCE, Some("read:hello"), 3600, false);
    let (status, _) = ask(orgs_only, global).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An organization token: the id in its audience.
    let org = "urn:logto:organization:org-9";
    let token = idp.mint_access_token(org, Some("read:members"), 3600, false);
    let (status, body) = ask(Verifier::new(provider.clone(), org), token.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["organization_id"], "org-9");
    // ... and refused by the API verifier (another audience), before the handler runs.
    let (status, _) = ask(api, token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// The challenge's realm is the verifier's (default `api`, cleaned of what would break the
/// header); a verifier without required scopes still wants an access token; keys that cannot be
/// fetched give 503, neither a pass nor a 401.
#[tokio::test]
async fn the_verifier_answers_as_rfc_6750_says() {
    let idp = Idp::start().await;
    let provider = Arc::new(Provider::new(config_for(&idp, &[]).auth).unwrap());
    let answer = |verifier: Verifier, token: Option<String>| async move {
        let mut headers = HeaderMap::new();
        if let Some(t) = token {
            headers.insert(
                header::AUTHORIZATION,
                format!("Bearer {t}").parse().unwrap(),
            );
        }
        match verifier.verify(&headers).await {
            Ok(info) => (StatusCode::OK, info.sub),
            Err(refusal) => {
                let res = refusal.into_response();
                let challenge = res
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                (res.status(), challenge)
            }
        }
    };
    let plain = Verifier::new(provider.clone(), API_RESOURCE);
    assert_eq!(
        answer(plain.clone(), None).await,
        (StatusCode::UNAUTHORIZED, "Bearer realm=\"api\"".to_owned())
    );
    let odd = plain.clone().realm("my \"api\"\n");
    assert_eq!(answer(odd, None).await.1, "Bearer realm=\"my api\"");
    // No scope required: any good access token for the audience, but not an ID token.
    let token = idp.mint_access_token(API_RESOURCE, None, 3600, false);
    assert_eq!(answer(plain.clone(), Some(token)).await.0, StatusCode::OK);
    let id_token_like = idp.mint_jwt(API_RESOURCE, None, 3600, false, "JWT");
    assert_eq!(
        answer(plain, Some(id_token_like)).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Logto unreachable: the keys cannot be had.
    let mut away = config_for(&idp, &[]).auth;
    away.endpoint = url::Url::parse(&format!("http://127.0.0.1:{}", free_port())).unwrap();
    let away = Verifier::new(Arc::new(Provider::new(away).unwrap()), API_RESOURCE);
    let token = idp.mint_access_token(API_RESOURCE, Some("read:hello"), 3600, false);
    assert_eq!(
        answer(away, Some(token)).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[test]
#[should_panic(expected = "is not a single scope token")]
fn a_verifier_refuses_a_scope_no_token_could_carry() {
    let config = logto_axum::AuthConfig::from_lookup(|name| {
        let value = match name {
            "LOGTO_ENDPOINT" => "http://127.0.0.1:9",
            "LOGTO_APP_ID" => "a",
            "LOGTO_APP_SECRET" => "b",
            "APP_BASE_URL" => "http://127.0.0.1:3000",
            _ => return None,
        };
        Some(value.to_owned())
    })
    .unwrap();
    let provider = Arc::new(Provider::new(config).unwrap());
    let _ = Verifier::new(provider, API_RESOURCE).require_scopes(["read write"]);
}

#[tokio::test]
async fn the_resource_server_refuses_an_id_token() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[])).await;
    app.sign_in(&idp).await;
    let id_token = idp
        .issued_tokens()
        .into_iter()
        .find(|t| t.starts_with("eyJ"))
        .unwrap();
    let (status, challenge, _) = api_answer(&idp, Some(&id_token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("invalid_token"));
    // A JWT for the API's audience and scope, but typed like an ID token (`typ: JWT`).
    let id_typed = idp.mint_jwt(API_RESOURCE, Some("read:hello"), 3600, false, "JWT");
    let (status, challenge, _) = api_answer(&idp, Some(&id_typed)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("invalid_token"));
    // Even a token for the API's audience but, like an ID token, without any scope.
    let no_scope = idp.mint_access_token(API_RESOURCE, None, 3600, false);
    let (status, challenge, _) = api_answer(&idp, Some(&no_scope)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("invalid_token"));
}

/// An axum handler of one's own, beside the app's router, using the handle through the
/// `SignedInUser` extractor: ID token claims, refreshed first when the tokens are about to expire.
#[tokio::test]
async fn an_axum_handler_reads_id_token_claims_through_the_extractor() {
    use logto_axum::SignedInUser;

    async fn claims(SignedInUser(logto): SignedInUser) -> Response {
        match logto.id_token_claims().await {
            Ok(c) => Json(c).into_response(),
            Err(e) => e.into_response(),
        }
    }
    async fn organizations(SignedInUser(logto): SignedInUser) -> Response {
        match logto.organizations() {
            Ok(o) => Json(o.to_vec()).into_response(),
            Err(e) => e.into_response(),
        }
    }
    async fn token_for(
        SignedInUser(logto): SignedInUser,
        axum::extract::Path(resource): axum::extract::Path<String>,
    ) -> Response {
        match logto.access_token(&resource).await {
            Ok(_) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => e.into_response(),
        }
    }

    let idp = Idp::start().await;
    let config = config_for(&idp, &[]);
    let mut app = App::new(&config).await;
    let stores = logto_axum::session::Stores {
        sessions: app.store.clone(),
        tokens: app.tokens.clone(),
    };
    // A plain axum app's wiring: the SDK's client as the state, its session layer.
    let auth = logto_axum::LogtoClient::with_stores(config.auth.clone(), &config.sessions, stores)
        .unwrap();
    let handler: Router = Router::new()
        .route("/claims", get(claims))
        .route("/organizations", get(organizations))
        .route("/token/{resource}", get(token_for))
        .layer(auth.session_layer())
        .with_state(auth);
    let ask_at = |path: &'static str, cookie: Option<String>| {
        let handler = handler.clone();
        async move {
            let mut req = Request::get(path).body(Body::empty()).unwrap();
            if let Some(c) = cookie {
                req.headers_mut().insert(header::COOKIE, c.parse().unwrap());
            }
            let res = handler.oneshot(req).await.unwrap();
            let status = res.status();
            let body = http_body_util::BodyExt::collect(res.into_body())
                .await
                .unwrap()
                .to_bytes();
            (
                status,
                serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
            )
        }
    };
    let ask = |cookie: Option<String>| ask_at("/claims", cookie);
    let (status, body) = ask(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"error": "unauthenticated"}));

    app.sign_in(&idp).await;
    let (status, body) = ask(app.cookie.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["sub"].clone(), body["aud"].clone()),
        (json!("user-1"), json!([CLIENT_ID]))
    );
    assert_eq!(idp.refresh_requests(), 0, "fresh tokens: no refresh");
    assert_no_token_in(&idp, &body.to_string());

    app.expire_logto_token().await;
    let (status, body) = ask(app.cookie.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sub"], "user-1");
    assert_eq!(
        idp.refresh_requests(),
        1,
        "about to expire: refreshed first"
    );

    let (_, orgs) = ask_at("/organizations", app.cookie.clone()).await;
    assert_eq!(
        orgs,
        json!([{"id": ORG_ID, "name": "Acme", "roles": ["admin"]}])
    );
    // A resource the sign-in did not ask for is refused here, without spending the refresh token.
    let (status, _) = ask_at("/token/https%3A%2F%2Fapi2.test", app.cookie.clone()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(idp.refresh_requests(), 1, "Logto was not asked");
}

#[tokio::test]
async fn an_organization_token_needs_the_organizations_scope_at_sign_in() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(
        &idp,
        &[("LOGTO_SCOPES", "openid offline_access profile")],
    ))
    .await;
    app.sign_in(&idp).await;
    let (status, body) = app
        .call("organization_token", "organization_id=org-1")
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::INTERNAL_SERVER_ERROR, json!("Internal"))
    );
    assert!(idp.refresh_targets().is_empty(), "Logto was not asked");
}

/// RFC 9068 §4: an access token says `typ: at+jwt` (or its long form); one without `typ` is not
/// accepted as one, whatever its claims.
#[tokio::test]
async fn the_resource_server_requires_the_access_token_type() {
    capture_logs();
    let idp = Idp::start().await;
    let untyped = idp.mint_jwt(API_RESOURCE, Some("read:hello"), 3600, false, "");
    let (status, challenge, _) = api_answer(&idp, Some(&untyped)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert!(logged(&["access token has no typ"]), "{}", log_text());
    let long_form = idp.mint_jwt(
        API_RESOURCE,
        Some("read:hello"),
        3600,
        false,
        "application/at+jwt",
    );
    assert_eq!(api_answer(&idp, Some(&long_form)).await.0, StatusCode::OK);
}

/// RFC 7235: the scheme is case-insensitive; anything else is no bearer token at all.
#[tokio::test]
async fn the_bearer_scheme_is_matched_in_any_case() {
    let idp = Idp::start().await;
    let good = idp.mint_access_token(API_RESOURCE, Some("read:hello"), 3600, false);
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let (status, _, body) = api_answer_to(&idp, Some(format!("{scheme} {good}"))).await;
        assert_eq!(status, StatusCode::OK, "{scheme}: {body}");
    }
    for header in [
        format!("Basic {good}"),
        "Bearer".into(),
        "Bearer ".into(),
        good.clone(),
    ] {
        let (status, challenge, _) = api_answer_to(&idp, Some(header.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{header}");
        assert!(
            !challenge.contains("error="),
            "no token, no error code: {challenge}"
        );
    }
}

/// The log says what was wrong with a refused access token, about an access token (not in
/// openidconnect's ID-token words).
#[tokio::test]
async fn a_refused_access_token_is_logged_for_what_it_is() {
    capture_logs();
    let idp = Idp::start().await;
    let expired = idp.mint_access_token(API_RESOURCE, Some("read:hello"), -600, false);
    assert_eq!(
        api_answer(&idp, Some(&expired)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        logged(&["API request refused", "access token expired"]),
        "{}",
        log_text()
    );
    let other = idp.mint_access_token("https://other.test", Some("read:hello"), 3600, false);
    assert_eq!(
        api_answer(&idp, Some(&other)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        logged(&[
            "API request refused",
            "access token is for another audience"
        ]),
        "{}",
        log_text()
    );
    let bad = idp.mint_access_token(API_RESOURCE, Some("read:hello"), 3600, true);
    assert_eq!(
        api_answer(&idp, Some(&bad)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        logged(&["access token signature not accepted"]),
        "{}",
        log_text()
    );
    assert!(!log_text().contains("ID token"), "{}", log_text());
}

/// An API answering with more than the app reads (64 KB) is not held in memory: the call is
/// shown with its status, without the body.
#[tokio::test]
async fn an_api_answer_larger_than_the_cap_is_not_read() {
    let idp = Idp::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hello", listener.local_addr().unwrap());
    let huge = Router::new().route("/hello", get(|| async { "x".repeat(10 << 20) }));
    tokio::spawn(async move { axum::serve(listener, huge).await.unwrap() });
    let api = TestApi {
        url,
        tokens_seen: Default::default(),
    };
    let mut app = app_with(&idp, &api, Script::default()).await;
    app.sign_in(&idp).await;
    let (status, body) = app.call("call_api", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], 200, "{body}");
    assert!(body["body"].is_null(), "the body was not read: {body}");
}

/// The sessions list and the profile page's actions are resources of their page, there for every
/// visitor: a signed-out visitor (following a link with an action's query, say) is sent to sign
/// in, and nothing is called for them (no 401 refusal behind the redirect, no API call, no token
/// asked for).
#[tokio::test]
async fn protected_pages_call_nothing_for_a_signed_out_visitor() {
    capture_logs();
    let idp = Idp::start().await;
    let api = start_api(&idp, ApiMode::Real).await;
    let app = app_with(&idp, &api, Script::default()).await;
    let mut anonymous = app.browser();
    for page in [
        "/sessions",
        "/profile?call=api",
        "/profile?organization=org-1",
        "/profile?facebook=1",
    ] {
        let r = anonymous.get(page).await;
        assert_eq!(r.status, StatusCode::FOUND, "{page}");
        assert!(
            r.location().is_some_and(|l| l.starts_with("/sign-in")),
            "{page}: {:?}",
            r.location()
        );
    }
    assert!(!logged(&["refused"]), "{}", log_text());
    assert!(api.tokens_seen.lock().unwrap().is_empty(), "no API call");
    assert_eq!(idp.token_requests(), 0, "no token asked for");
}

/// The profile actions under the load that made the sessions page hang when its resource was
/// created inside a Suspense (see `sessions::the_sessions_page_always_finishes`). Created there,
/// each press of "Call the API" called it about three times (594 calls for 200 views).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_page_with_an_action_always_finishes() {
    let idp = Idp::start().await;
    let api = start_api(&idp, ApiMode::Real).await;
    let mut app = app_with(&idp, &api, Script::default()).await;
    app.sign_in(&idp).await;
    let tabs: Vec<_> = (0..4)
        .map(|tab| {
            let mut app = app.tab();
            tokio::spawn(async move {
                for view in 0..50 {
                    let page =
                        tokio::time::timeout(Duration::from_secs(10), app.get("/profile?call=api"))
                            .await
                            .unwrap_or_else(|_| panic!("tab {tab}, view {view}: never finished"));
                    assert!(
                        page.body.contains("data-outcome=\"Ok\""),
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
    assert_eq!(
        api.tokens_seen.lock().unwrap().len(),
        200,
        "one call per view"
    );
}
