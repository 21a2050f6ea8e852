//! An in-process OpenID provider double (issuing real RS256 tokens) and helpers that drive the
//! app's axum router directly, carrying the session cookie like a browser.
#![allow(dead_code)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    body::Body,
    extract::{Form, State},
    http::{header, HeaderMap, Request, StatusCode},
    response::{IntoResponse, Json, Response},
    routing::{get, post},
    Router,
};
use http_body_util::BodyExt;
use leptos::prelude::LeptosOptions;
use logto_leptos::{
    config::AppConfig,
    server::{router, AppState},
    session::{open_store, AnyStore},
};
use openidconnect::{
    core::{
        CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
        CoreRsaPrivateSigningKey,
    },
    AccessToken, Audience, EmptyAdditionalClaims, EndUserEmail, EndUserName, IssuerUrl,
    JsonWebKeyId, LocalizedClaim, Nonce, PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use tower::ServiceExt;

pub const CLIENT_ID: &str = "test-app";
pub const CLIENT_SECRET: &str = "test-secret";
pub const BASE_URL: &str = "http://app.test";

/// How the provider misbehaves when issuing the ID token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Misbehave {
    #[default]
    None,
    WrongNonce,
    TamperedSignature,
}

#[derive(Default)]
struct IdpState {
    issuer: String,
    /// code -> nonce, registered when the test "authorizes".
    codes: HashMap<String, String>,
    misbehave: Misbehave,
    token_requests: usize,
}

#[derive(Clone)]
pub struct Idp {
    pub issuer: String,
    state: Arc<Mutex<IdpState>>,
    key: Arc<CoreRsaPrivateSigningKey>,
}

impl Idp {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}/oidc", listener.local_addr().unwrap());
        let key = CoreRsaPrivateSigningKey::from_pem(
            include_str!("rsa_test_key.pem"),
            Some(JsonWebKeyId::new("test-key-1".into())),
        )
        .unwrap();
        let idp = Idp {
            issuer: issuer.clone(),
            state: Arc::new(Mutex::new(IdpState {
                issuer,
                ..Default::default()
            })),
            key: Arc::new(key),
        };
        let app = Router::new()
            .route("/oidc/.well-known/openid-configuration", get(discovery))
            .route("/oidc/jwks", get(jwks))
            .route("/oidc/token", post(token))
            .route("/oidc/me", get(userinfo))
            .with_state(idp.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        idp
    }

    pub fn endpoint(&self) -> String {
        self.issuer.trim_end_matches("/oidc").to_owned()
    }

    pub fn misbehave(&self, how: Misbehave) {
        self.state.lock().unwrap().misbehave = how;
    }

    /// What Logto does when the user finishes signing in: remember the nonce, issue a code.
    pub fn authorize(&self, nonce: &str) -> String {
        let code = format!("code-{}", rand_suffix());
        self.state
            .lock()
            .unwrap()
            .codes
            .insert(code.clone(), nonce.to_owned());
        code
    }

    pub fn token_requests(&self) -> usize {
        self.state.lock().unwrap().token_requests
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst).to_string()
}

async fn discovery(State(idp): State<Idp>) -> Json<serde_json::Value> {
    let i = &idp.issuer;
    Json(serde_json::json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/auth"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/me"),
        "jwks_uri": format!("{i}/jwks"),
        "end_session_endpoint": format!("{i}/session/end"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "scopes_supported": ["openid", "offline_access", "profile", "email"]
    }))
}

async fn jwks(State(idp): State<Idp>) -> Json<CoreJsonWebKeySet> {
    Json(CoreJsonWebKeySet::new(vec![idp.key.as_verification_key()]))
}

async fn token(
    State(idp): State<Idp>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (nonce, misbehave, issuer) = {
        let mut st = idp.state.lock().unwrap();
        st.token_requests += 1;
        let Some(code) = form.get("code") else {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": "invalid_request"})),
            )
                .into_response();
        };
        // Codes are single use, as everywhere.
        let Some(nonce) = st.codes.remove(code) else {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": "invalid_grant"})),
            )
                .into_response();
        };
        (nonce, st.misbehave, st.issuer.clone())
    };
    if !headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Basic "))
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    if form.get("code_verifier").is_none_or(|v| v.len() < 43) {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    let access_token = AccessToken::new(format!("at-{}", rand_suffix()));
    let nonce = if misbehave == Misbehave::WrongNonce {
        "not-the-nonce".to_owned()
    } else {
        nonce
    };
    let now = chrono_now();
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(issuer).unwrap(),
        vec![Audience::new(CLIENT_ID.into())],
        now + chrono::Duration::hours(1),
        now,
        StandardClaims::new(SubjectIdentifier::new("user-1".into()))
            .set_name(Some(LocalizedClaim::from(EndUserName::new(
                "Alice Liddell".into(),
            ))))
            .set_email(Some(EndUserEmail::new("alice@example.com".into()))),
        EmptyAdditionalClaims {},
    )
    .set_nonce(Some(Nonce::new(nonce)));
    let id_token = CoreIdToken::new(
        claims,
        idp.key.as_ref(),
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Some(&access_token),
        None,
    )
    .unwrap();
    let mut id_token = id_token.to_string();
    if misbehave == Misbehave::TamperedSignature {
        // Change one character in the middle of the signature: still well-formed, no longer valid.
        let at = id_token.rfind('.').unwrap() + 20;
        let c = id_token.as_bytes()[at];
        id_token.replace_range(at..at + 1, if c == b'A' { "B" } else { "A" });
    }
    Json(serde_json::json!({
        "access_token": access_token.secret(),
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": format!("rt-{}", rand_suffix()),
        "id_token": id_token,
        "scope": "openid offline_access profile email"
    }))
    .into_response()
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

async fn userinfo(_: State<Idp>, _: HeaderMap) -> Json<serde_json::Value> {
    Json(
        serde_json::json!({"sub": "user-1", "name": "Alice Liddell", "email": "alice@example.com", "identities": {}}),
    )
}

/// The app under test, driven without a socket, with a cookie jar of one.
pub struct App {
    pub router: Router,
    pub store: AnyStore,
    pub cookie: Option<String>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> Option<String> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

pub fn config_for(idp: &Idp, extra: &[(&str, &str)]) -> AppConfig {
    let mut vars: HashMap<String, String> = [
        ("LOGTO_ENDPOINT", idp.endpoint()),
        ("LOGTO_APP_ID", CLIENT_ID.to_owned()),
        ("LOGTO_APP_SECRET", CLIENT_SECRET.to_owned()),
        ("APP_BASE_URL", BASE_URL.to_owned()),
        ("SESSION_STORE_URL", "memory".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    AppConfig::from_lookup(|k| vars.get(k).cloned()).unwrap()
}

impl App {
    pub async fn new(config: &AppConfig) -> Self {
        let options = LeptosOptions::builder().output_name("logto-leptos").build();
        let store = open_store(&config.session_store).await.unwrap();
        let state = AppState::new(options, config).unwrap();
        App {
            router: router(state, store.clone(), config),
            store,
            cookie: None,
        }
    }

    pub async fn send(&mut self, req: Request<Body>) -> Reply {
        let mut req = req;
        if let Some(c) = &self.cookie {
            req.headers_mut().insert(header::COOKIE, c.parse().unwrap());
        }
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        for sc in headers.get_all(header::SET_COOKIE) {
            let sc = sc.to_str().unwrap();
            let pair = sc.split(';').next().unwrap().to_owned();
            let expired = sc.contains("Max-Age=0") || pair.ends_with('=');
            self.cookie = if expired { None } else { Some(pair) };
        }
        let body = res.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    pub async fn get(&mut self, uri: &str) -> Reply {
        self.send(
            Request::get(uri)
                .header(header::ACCEPT, "text/html")
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// Posts a form to a server function as a browser without JavaScript would.
    pub async fn post_form(&mut self, uri: &str, form: &str) -> Reply {
        self.send(
            Request::post(uri)
                .header(header::ACCEPT, "text/html")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::REFERER, format!("{BASE_URL}/"))
                .body(Body::from(form.to_owned()))
                .unwrap(),
        )
        .await
    }

    /// Starts a sign-in; returns the authorization URL's query parameters.
    pub async fn start_sign_in(&mut self, form: &str) -> HashMap<String, String> {
        let r = self.post_form("/api/sign_in", form).await;
        assert_eq!(
            r.status,
            StatusCode::FOUND,
            "sign_in should redirect: {}",
            r.body
        );
        let url = url::Url::parse(&r.location().expect("Location")).unwrap();
        url.query_pairs().into_owned().collect()
    }

    /// Whether the server thinks this browser is signed in.
    pub async fn current_user(&mut self) -> serde_json::Value {
        let r = self
            .send(
                Request::post("/api/current_user")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        serde_json::from_str(&r.body).unwrap()
    }
}

pub fn query(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
