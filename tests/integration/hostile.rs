//! A hostile provider: every bad token or response a relying party must refuse (after the OpenID
//! conformance suite's RP tests, RFC 9700 and ASVS V10). Each case: a clear 4xx page without
//! tokens or stack traces, no signed-in session afterwards, and the reason in the logs.

use std::sync::Arc;

use crate::support::*;
use axum::http::StatusCode;
use serde_json::json;

async fn app_for(idp: &Idp) -> App {
    capture_logs();
    App::new(&config_for(idp, &[])).await
}

async fn assert_refused(idp: &Idp, app: &mut App, log_reason: &str) {
    let r = app.attempt_sign_in(idp).await;
    assert!(
        r.status.is_client_error(),
        "{log_reason}: status {} body {}",
        r.status,
        r.body
    );
    assert!(
        r.body.contains("data-error-code="),
        "{log_reason}: error page expected"
    );
    // The exact tokens the provider issued, not prefixes: the CSP nonce is random base64url and
    // may contain "at-" or "eyJ" by chance.
    for leak in idp.issued_tokens() {
        assert!(!r.body.contains(&leak), "{log_reason}: page leaks a token");
    }
    assert_eq!(
        app.current_user().await,
        serde_json::Value::Null,
        "{log_reason}: signed in!"
    );
    assert!(
        logged(&["sign-in failed", log_reason]),
        "log should say why ({log_reason}); logs:\n{}",
        log_text()
    );
    // The cause is for the log only: the page shows the friendly text, never the error itself.
    let logs = log_text();
    let cause = logs
        .lines()
        .rev()
        .filter(|l| l.contains(log_reason))
        .find_map(|l| l.split_once("sign-in failed: "))
        .map(|(_, cause)| cause.split(" code=").next().unwrap_or(cause).trim())
        .expect("the logged cause");
    assert!(cause.len() > 10, "{cause}");
    assert!(
        !r.body.contains(cause),
        "{log_reason}: the page shows the internal cause {cause:?}"
    );
}

async fn refused_with_claims(
    edit: impl Fn(&mut serde_json::Value) + Send + Sync + 'static,
    reason: &str,
) {
    let idp = Idp::start().await;
    idp.edit_claims(edit);
    let mut app = app_for(&idp).await;
    assert_refused(&idp, &mut app, reason).await;
}

#[tokio::test]
async fn good_es384_sign_in_works() {
    let idp = Idp::start().await;
    let mut app = app_for(&idp).await;
    let r = app.attempt_sign_in(&idp).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    assert_eq!(app.current_user().await["sub"], "user-1");
}

#[tokio::test]
async fn wrong_iss() {
    refused_with_claims(|c| c["iss"] = json!("https://evil.example/oidc"), "issuer").await;
}

#[tokio::test]
async fn missing_sub() {
    refused_with_claims(|c| drop(c.as_object_mut().unwrap().remove("sub")), "sub").await;
}

#[tokio::test]
async fn wrong_aud() {
    refused_with_claims(|c| c["aud"] = json!("someone-else"), "audience").await;
}

#[tokio::test]
async fn missing_aud() {
    refused_with_claims(|c| drop(c.as_object_mut().unwrap().remove("aud")), "aud").await;
}

#[tokio::test]
async fn multiple_audiences_without_azp() {
    refused_with_claims(|c| c["aud"] = json!([CLIENT_ID, "other-app"]), "aud").await;
}

#[tokio::test]
async fn multiple_audiences_with_an_untrusted_one() {
    refused_with_claims(
        |c| {
            c["aud"] = json!([CLIENT_ID, "other-app"]);
            c["azp"] = json!(CLIENT_ID);
        },
        "not a trusted audience",
    )
    .await;
}

/// Our audience alone, but authorized for another party: refused at the `azp` check itself.
#[tokio::test]
async fn our_audience_with_another_partys_azp() {
    refused_with_claims(
        |c| {
            c["aud"] = json!(CLIENT_ID);
            c["azp"] = json!("other-app");
        },
        "azp other-app is not this app",
    )
    .await;
}

#[tokio::test]
async fn azp_naming_this_app_is_accepted() {
    let idp = Idp::start().await;
    idp.edit_claims(|c| c["azp"] = json!(CLIENT_ID));
    let mut app = app_for(&idp).await;
    app.sign_in(&idp).await;
    assert_eq!(app.current_user().await["sub"], "user-1");
}

#[tokio::test]
async fn expired() {
    refused_with_claims(
        |c| {
            let now = c["iat"].as_i64().unwrap();
            c["iat"] = json!(now - 7200);
            c["exp"] = json!(now - 3600);
        },
        "expired",
    )
    .await;
}

#[tokio::test]
async fn issued_in_the_future() {
    refused_with_claims(
        |c| {
            let now = c["iat"].as_i64().unwrap();
            c["iat"] = json!(now + 86_400);
            c["exp"] = json!(now + 90_000);
        },
        "in the future",
    )
    .await;
}

/// `at_hash` binds the access token to the ID token: an access token swapped in transit fails it.
#[tokio::test]
async fn wrong_at_hash() {
    refused_with_claims(
        |c| c["at_hash"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        "at_hash mismatch",
    )
    .await
}

#[tokio::test]
async fn wrong_nonce() {
    refused_with_claims(|c| c["nonce"] = json!("not-the-nonce"), "nonce").await;
}

#[tokio::test]
async fn missing_nonce() {
    refused_with_claims(
        |c| drop(c.as_object_mut().unwrap().remove("nonce")),
        "nonce",
    )
    .await;
}

async fn refused_signature(alg: Alg, sign: SignMode, reason: &str) {
    let idp = Idp::start_with(alg).await;
    idp.script(Script {
        sign,
        ..Script::default()
    });
    let mut app = app_for(&idp).await;
    assert_refused(&idp, &mut app, reason).await;
}

#[tokio::test]
async fn bad_signature_es384() {
    refused_signature(Alg::Es384, SignMode::BadSignature, "signature").await;
}

#[tokio::test]
async fn bad_signature_rs256() {
    refused_signature(Alg::Rs256, SignMode::BadSignature, "signature").await;
}

#[tokio::test]
async fn alg_none() {
    refused_signature(Alg::Es384, SignMode::AlgNone, "ID token rejected").await;
}

#[tokio::test]
async fn hs256_with_client_secret_not_advertised() {
    refused_signature(
        Alg::Es384,
        SignMode::Hs256WithClientSecret,
        "ID token rejected",
    )
    .await;
}

/// Even a provider advertising HS256 does not get ID tokens "signed" with the client secret
/// accepted: anyone holding the secret (the app itself, a leaked config) could mint them.
#[tokio::test]
async fn hs256_with_client_secret_refused_even_when_advertised() {
    let idp = Idp::start_with(Alg::Es384).await;
    idp.script(Script {
        sign: SignMode::Hs256WithClientSecret,
        advertise_hs256: true,
        ..Script::default()
    });
    let mut app = app_for(&idp).await;
    assert_refused(&idp, &mut app, "ID token rejected").await;
}

#[tokio::test]
async fn unknown_kid_is_refused_after_one_rate_limited_refetch() {
    let idp = Idp::start().await;
    idp.script(Script {
        header: Some(Arc::new(|h| h["kid"] = json!("bogus-kid"))),
        ..Script::default()
    });
    let mut app = app_for(&idp).await;
    assert_refused(&idp, &mut app, "key").await;
    let after_first = idp.jwks_requests();
    // A flood of bogus kids does not make the app hammer the provider.
    for _ in 0..5 {
        let r = app.attempt_sign_in(&idp).await;
        assert!(r.status.is_client_error());
    }
    assert_eq!(
        idp.jwks_requests(),
        after_first,
        "JWKS refetch must be rate-limited"
    );
    assert_eq!(
        after_first, 2,
        "one fetch at discovery, then exactly one refetch for the unknown kid"
    );
}

#[tokio::test]
async fn key_rotation_is_followed_by_refetching_jwks() {
    let idp = Idp::start().await;
    let mut app = app_for(&idp).await;
    let first = app.attempt_sign_in(&idp).await;
    assert_eq!(first.status, StatusCode::FOUND, "{}", first.body);
    app.post_form("/api/sign_out", "").await;
    idp.rotate_key();
    let before = idp.jwks_requests();
    let second = app.attempt_sign_in(&idp).await;
    assert_eq!(
        second.status,
        StatusCode::FOUND,
        "after rotation: {}",
        second.body
    );
    assert_eq!(idp.jwks_requests(), before + 1, "exactly one refetch");
    assert_eq!(app.current_user().await["sub"], "user-1");
}

#[tokio::test]
async fn userinfo_for_another_subject_is_refused() {
    let idp = Idp::start().await;
    idp.script(Script {
        userinfo_sub: Some("someone-else".into()),
        ..Script::default()
    });
    let mut app = app_for(&idp).await;
    assert_refused(&idp, &mut app, "userinfo").await;
}

#[tokio::test]
async fn every_standard_error_code_gives_a_4xx_page() {
    let idp = Idp::start().await;
    let mut app = app_for(&idp).await;
    for code in [
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
        "request_uri_not_supported",
        "registration_not_supported",
    ] {
        let params = app.start_sign_in("mode=sign_in").await;
        let r = app
            .get(&format!(
                "/callback?{}",
                query(&[
                    ("error", code),
                    ("error_description", "details"),
                    ("state", &params["state"]),
                    ("iss", &idp.issuer)
                ])
            ))
            .await;
        assert!(r.status.is_client_error(), "{code}: {}", r.status);
        assert!(r.body.contains("data-error-code="), "{code}");
        assert!(logged(&["sign-in failed", code]), "{code} not logged");
        assert_eq!(app.current_user().await, serde_json::Value::Null);
    }
    assert_eq!(idp.token_requests(), 0);
}

#[tokio::test]
async fn provider_redirects_are_not_followed() {
    let idp = Idp::start().await;
    idp.script(Script {
        discovery_redirect: true,
        ..Script::default()
    });
    let mut app = app_for(&idp).await;
    let r = app.post_form("/api/sign_in", "mode=sign_in").await;
    assert_eq!(
        r.location().as_deref(),
        Some("/auth/error?code=provider_unavailable")
    );
    assert!(logged(&["discovery failed"]));
    // Positive control: the redirect's target is a working discovery document, so a client that
    // followed redirects would have started the sign-in.
    let moved = reqwest::get(format!("{}/moved-discovery", idp.issuer))
        .await
        .unwrap();
    assert_eq!(moved.status(), 200);
    assert!(moved
        .text()
        .await
        .unwrap()
        .contains("authorization_endpoint"));
}

/// A callback that fails with a 5xx (Logto too slow) has still used its `state`: the same URL
/// again is refused here, without another try at Logto's token endpoint.
#[tokio::test]
async fn a_callback_failing_with_5xx_cannot_be_replayed() {
    let idp = Idp::start().await;
    let mut app = App::new(&config_for(&idp, &[("LOGTO_HTTP_TIMEOUT_SECONDS", "1")])).await;
    idp.script(Script {
        token_delay: Some(std::time::Duration::from_secs(3)),
        ..Script::default()
    });
    let callback = app.callback_url_as(&idp, "user-1").await;
    let r = app.get(&callback).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.body);
    // Saved although the answer is a 5xx (tower-sessions would not): the pending sign-in is
    // gone from the stored session, not waiting there for the same state again.
    {
        use tower_sessions::SessionStore;
        let state = url::Url::parse(&format!("http://x{callback}"))
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let record = app
            .store
            .load(&app.session_id())
            .await
            .unwrap()
            .expect("the session");
        let pending = record
            .data
            .get("auth.pending")
            .map(|v| v.to_string())
            .unwrap_or_default();
        assert!(
            !pending.contains(&state),
            "still pending after the 5xx: {pending}"
        );
    }
    idp.script(Script::default());
    let tried = idp.token_requests();
    let r = app.get(&callback).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(idp.token_requests(), tried, "the code was tried again");
    assert_eq!(app.current_user().await, serde_json::Value::Null);
}

#[tokio::test]
async fn a_slow_provider_is_cut_off_by_the_timeout() {
    let idp = Idp::start().await;
    capture_logs();
    let mut app = App::new(&config_for(&idp, &[("LOGTO_HTTP_TIMEOUT_SECONDS", "1")])).await;
    idp.script(Script {
        token_delay: Some(std::time::Duration::from_secs(5)),
        ..Script::default()
    });
    let started = std::time::Instant::now();
    let r = app.attempt_sign_in(&idp).await;
    let took = started.elapsed();
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.body);
    assert!(r.body.contains("data-error-code=\"token_exchange_failed\""));
    assert!(
        took < std::time::Duration::from_secs(4),
        "bounded by the timeout, took {took:?}"
    );
    assert_eq!(app.current_user().await, serde_json::Value::Null);
    assert!(
        logged(&["sign-in failed", "token exchange failed"]),
        "{}",
        log_text()
    );
}
