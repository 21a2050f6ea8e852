//! An in-process OpenID provider double (issuing real RS256 tokens) and helpers that drive the
//! app's axum router directly, carrying the session cookie like a browser.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Body,
    extract::{Form, State},
    http::{header, HeaderMap, Request, StatusCode},
    response::{IntoResponse, Json, Response},
    routing::{get, post},
    Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use http_body_util::BodyExt;
use leptos::prelude::LeptosOptions;
use logto_leptos::{
    config::AppConfig,
    server::{router, AppState},
    session::{open_store, AnyStore},
};
use openidconnect::{
    core::{
        CoreHmacKey, CoreJsonCurveType, CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
        CoreRsaPrivateSigningKey,
    },
    JsonWebKeyId, PrivateSigningKey,
};
use serde_json::{json, Value};
use tower::ServiceExt;

pub const CLIENT_ID: &str = "test-app";
pub const CLIENT_SECRET: &str = "test-secret";
pub const BASE_URL: &str = "http://app.test";

/// Edits a JSON object (claims or JOSE header) before the token is signed.
pub type JsonEdit = Arc<dyn Fn(&mut Value) + Send + Sync>;

/// How the provider misbehaves; each test sets what it needs.
#[derive(Clone, Default)]
pub struct Script {
    /// Edits the ID token's claims before signing.
    pub claims: Option<JsonEdit>,
    /// Edits the JOSE header before signing (e.g. an unknown `kid`).
    pub header: Option<JsonEdit>,
    pub sign: SignMode,
    /// `sub` the userinfo endpoint answers with (default: the ID token's).
    pub userinfo_sub: Option<String>,
    /// `sub` of ID tokens issued on refresh (default: the original).
    pub refresh_sub: Option<String>,
    pub expires_in: Option<u64>,
    /// The token endpoint waits this long before answering.
    pub token_delay: Option<Duration>,
    /// Discovery answers with a redirect instead of the document.
    pub discovery_redirect: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SignMode {
    #[default]
    Valid,
    /// Valid structure, signature bytes changed.
    BadSignature,
    /// `alg: none`, empty signature.
    AlgNone,
    /// HS256 keyed with the client secret (never advertised by the provider).
    Hs256WithClientSecret,
}

/// Kept for the older tests' vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehave {
    WrongNonce,
    TamperedSignature,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Es384,
    Rs256,
}

struct Grant {
    sub: String,
    nonce: String,
    revoked: bool,
}

#[derive(Default)]
struct IdpState {
    issuer: String,
    /// code -> grant id, registered when the test "authorizes".
    codes: HashMap<String, usize>,
    grants: Vec<Grant>,
    /// refresh token -> (grant, already used)
    refresh_tokens: HashMap<String, (usize, bool)>,
    script: Script,
    /// Index of the ES384 key that signs now; the JWKS shows only it.
    es_key: usize,
    /// Every access, refresh and ID token handed out, to prove none reaches the browser.
    issued: Vec<String>,
    pub token_requests: usize,
    pub refresh_requests: usize,
    pub jwks_requests: usize,
    pub discovery_requests: usize,
}

#[derive(Clone)]
pub struct Idp {
    pub issuer: String,
    pub alg: Alg,
    state: Arc<Mutex<IdpState>>,
    rsa: Arc<CoreRsaPrivateSigningKey>,
    es: Arc<Vec<p384::ecdsa::SigningKey>>,
}

impl Idp {
    pub async fn start() -> Self {
        Self::start_with(Alg::Es384).await
    }

    pub async fn start_with(alg: Alg) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, alg)
    }

    /// On a given port (to come up where the app expects a provider that was down).
    pub async fn start_on(port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        Self::serve(listener, Alg::Es384)
    }

    fn serve(listener: tokio::net::TcpListener, alg: Alg) -> Self {
        let issuer = format!("http://{}/oidc", listener.local_addr().unwrap());
        let rsa = CoreRsaPrivateSigningKey::from_pem(
            include_str!("rsa_test_key.pem"),
            Some(JsonWebKeyId::new("rsa-1".into())),
        )
        .unwrap();
        let es = (0..2)
            .map(|_| {
                let bytes: [u8; 48] = std::array::from_fn(|_| rand::random::<u8>());
                p384::ecdsa::SigningKey::from_slice(&bytes).unwrap()
            })
            .collect();
        let idp = Idp {
            issuer: issuer.clone(),
            alg,
            state: Arc::new(Mutex::new(IdpState {
                issuer,
                ..Default::default()
            })),
            rsa: Arc::new(rsa),
            es: Arc::new(es),
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

    pub fn script(&self, script: Script) {
        self.state.lock().unwrap().script = script;
    }

    pub fn edit_claims(&self, f: impl Fn(&mut Value) + Send + Sync + 'static) {
        self.state.lock().unwrap().script.claims = Some(Arc::new(f));
    }

    pub fn misbehave(&self, how: Misbehave) {
        match how {
            Misbehave::WrongNonce => self.edit_claims(|c| c["nonce"] = json!("not-the-nonce")),
            Misbehave::TamperedSignature => {
                self.state.lock().unwrap().script.sign = SignMode::BadSignature
            }
        }
    }

    /// Switches to a new signing key; the JWKS then lists only the new one.
    pub fn rotate_key(&self) {
        let mut st = self.state.lock().unwrap();
        st.es_key = (st.es_key + 1) % 2;
    }

    /// What Logto does when the user finishes signing in: a grant for `user-1`, and a code.
    pub fn authorize(&self, nonce: &str) -> String {
        let mut st = self.state.lock().unwrap();
        st.grants.push(Grant {
            sub: "user-1".into(),
            nonce: nonce.to_owned(),
            revoked: false,
        });
        let code = format!("code-{}", rand_suffix());
        let grant = st.grants.len() - 1;
        st.codes.insert(code.clone(), grant);
        code
    }

    pub fn token_requests(&self) -> usize {
        self.state.lock().unwrap().token_requests
    }
    pub fn refresh_requests(&self) -> usize {
        self.state.lock().unwrap().refresh_requests
    }
    pub fn jwks_requests(&self) -> usize {
        self.state.lock().unwrap().jwks_requests
    }
    pub fn discovery_requests(&self) -> usize {
        self.state.lock().unwrap().discovery_requests
    }
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.lock().unwrap().issued.clone()
    }
    /// The user revoked the app in Logto (or an admin did): every refresh token stops working.
    pub fn revoke_all_grants(&self) {
        for g in &mut self.state.lock().unwrap().grants {
            g.revoked = true;
        }
    }

    pub fn grant_revoked(&self) -> bool {
        self.state.lock().unwrap().grants.iter().any(|g| g.revoked)
    }

    fn es_jwk(&self, i: usize) -> CoreJsonWebKey {
        let point = self.es[i].verifying_key().to_sec1_point(false);
        CoreJsonWebKey::new_ec(
            point.x().unwrap().to_vec(),
            point.y().unwrap().to_vec(),
            CoreJsonCurveType::P384,
            Some(JsonWebKeyId::new(format!("es-{i}"))),
        )
    }

    /// Signs `claims` the way the script says.
    fn id_token(&self, mut claims: Value, script: &Script, es_key: usize) -> String {
        if let Some(edit) = &script.claims {
            edit(&mut claims);
        }
        let (alg, kid) = match (script.sign, self.alg) {
            (SignMode::AlgNone, _) => ("none", None),
            (SignMode::Hs256WithClientSecret, _) => ("HS256", None),
            (_, Alg::Es384) => ("ES384", Some(format!("es-{es_key}"))),
            (_, Alg::Rs256) => ("RS256", Some("rsa-1".to_owned())),
        };
        let mut header = json!({"alg": alg, "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        if let Some(edit) = &script.header {
            edit(&mut header);
        }
        let b64 = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = match script.sign {
            SignMode::AlgNone => vec![],
            SignMode::Hs256WithClientSecret => CoreHmacKey::new(CLIENT_SECRET.as_bytes())
                .sign(
                    &CoreJwsSigningAlgorithm::HmacSha256,
                    signing_input.as_bytes(),
                )
                .unwrap(),
            _ => match self.alg {
                Alg::Es384 => {
                    use p384::ecdsa::signature::Signer;
                    let sig: p384::ecdsa::Signature =
                        self.es[es_key].sign(signing_input.as_bytes());
                    sig.to_bytes().to_vec()
                }
                Alg::Rs256 => self
                    .rsa
                    .sign(
                        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                        signing_input.as_bytes(),
                    )
                    .unwrap(),
            },
        };
        if script.sign == SignMode::BadSignature {
            sig[10] ^= 0x01;
        }
        format!("{signing_input}.{}", b64(&sig))
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        N.fetch_add(1, Ordering::SeqCst),
        rand::random::<u32>()
    )
}

async fn discovery(State(idp): State<Idp>) -> Response {
    let redirect = {
        let mut st = idp.state.lock().unwrap();
        st.discovery_requests += 1;
        st.script.discovery_redirect
    };
    if redirect {
        return (
            StatusCode::FOUND,
            [(header::LOCATION, "http://169.254.169.254/latest/meta-data")],
        )
            .into_response();
    }
    let i = &idp.issuer;
    let algs = match idp.alg {
        Alg::Es384 => json!(["ES384"]),
        Alg::Rs256 => json!(["RS256"]),
    };
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/auth"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/me"),
        "jwks_uri": format!("{i}/jwks"),
        "end_session_endpoint": format!("{i}/session/end"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "scopes_supported": ["openid", "offline_access", "profile", "email"]
    }))
    .into_response()
}

async fn jwks(State(idp): State<Idp>) -> Json<CoreJsonWebKeySet> {
    let es_key = {
        let mut st = idp.state.lock().unwrap();
        st.jwks_requests += 1;
        st.es_key
    };
    let key = match idp.alg {
        Alg::Es384 => idp.es_jwk(es_key),
        Alg::Rs256 => idp.rsa.as_verification_key(),
    };
    Json(CoreJsonWebKeySet::new(vec![key]))
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

async fn token(
    State(idp): State<Idp>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let script = idp.state.lock().unwrap().script.clone();
    if let Some(delay) = script.token_delay {
        tokio::time::sleep(delay).await;
    }
    if !headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Basic "))
    {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let mut st = idp.state.lock().unwrap();
    st.token_requests += 1;
    let (grant_id, refreshing) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            // Codes are single use, as everywhere.
            let Some(grant) = form.get("code").and_then(|c| st.codes.remove(c)) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            if form.get("code_verifier").is_none_or(|v| v.len() < 43) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            (grant, false)
        }
        Some("refresh_token") => {
            st.refresh_requests += 1;
            let Some(rt) = form.get("refresh_token") else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
            };
            let Some(&(grant, used)) = st.refresh_tokens.get(rt) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            if used {
                // Logto: reuse of a rotated refresh token revokes the whole grant.
                st.grants[grant].revoked = true;
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            if st.grants[grant].revoked {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            st.refresh_tokens.insert(rt.clone(), (grant, true));
            (grant, true)
        }
        _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    };
    let access_token = format!("at-{}", rand_suffix());
    let refresh_token = format!("rt-{}", rand_suffix());
    st.refresh_tokens
        .insert(refresh_token.clone(), (grant_id, false));
    let grant = &st.grants[grant_id];
    let sub = match (&script.refresh_sub, refreshing) {
        (Some(sub), true) => sub.clone(),
        _ => grant.sub.clone(),
    };
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": st.issuer, "sub": sub, "aud": CLIENT_ID, "exp": now + 3600, "iat": now,
        "nonce": grant.nonce, "name": "Alice Liddell", "email": "alice@example.com",
    });
    if idp.alg == Alg::Es384 && script.sign == SignMode::Valid {
        // at_hash for ES384: left half of SHA-384 of the access token.
        use sha2::Digest;
        let digest = sha2::Sha384::digest(access_token.as_bytes());
        claims["at_hash"] = json!(URL_SAFE_NO_PAD.encode(&digest[..24]));
    }
    let es_key = st.es_key;
    drop(st);
    let id_token = idp.id_token(claims, &script, es_key);
    idp.state.lock().unwrap().issued.extend([
        access_token.clone(),
        refresh_token.clone(),
        id_token.clone(),
    ]);
    Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": script.expires_in.unwrap_or(3600),
        "refresh_token": refresh_token,
        "id_token": id_token,
        "scope": "openid offline_access profile email"
    }))
    .into_response()
}

async fn userinfo(State(idp): State<Idp>, headers: HeaderMap) -> Response {
    if !headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer at-"))
    {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    let sub = idp
        .state
        .lock()
        .unwrap()
        .script
        .userinfo_sub
        .clone()
        .unwrap_or_else(|| "user-1".into());
    Json(json!({"sub": sub, "name": "Alice Liddell", "email": "alice@example.com", "identities": {}}))
        .into_response()
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

    /// One complete sign-in attempt: start, "authorize" at the provider, come back to /callback.
    pub async fn attempt_sign_in(&mut self, idp: &Idp) -> Reply {
        let params = self.start_sign_in("mode=sign_in").await;
        let code = idp.authorize(&params["nonce"]);
        self.get(&format!(
            "/callback?{}",
            query(&[
                ("code", &code),
                ("state", &params["state"]),
                ("iss", &idp.issuer)
            ])
        ))
        .await
    }

    /// A full successful sign-in against `idp`.
    pub async fn sign_in(&mut self, idp: &Idp) {
        let r = self.attempt_sign_in(idp).await;
        assert_eq!(r.status, StatusCode::FOUND, "sign-in failed: {}", r.body);
    }

    /// `current_user` as another tab of the same browser would ask it (same cookie, concurrently).
    pub fn current_user_request(&self) -> impl std::future::Future<Output = serde_json::Value> {
        let router = self.router.clone();
        let cookie = self.cookie.clone();
        async move {
            let mut req = Request::post("/api/current_user")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::empty())
                .unwrap();
            if let Some(c) = cookie {
                req.headers_mut().insert(header::COOKIE, c.parse().unwrap());
            }
            let res = router.oneshot(req).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            let body = res.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice(&body).unwrap()
        }
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

static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();

#[derive(Clone)]
struct LogSink(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures the app's logs. All tests of this binary share one subscriber, so lines carry the
/// thread name, which libtest sets to the test's name, and the readers below keep only the
/// current test's lines: a test must not pass on another test's log.
pub fn capture_logs() {
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = LogSink(buf.clone());
        let _ = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_thread_names(true)
            .with_writer(move || sink.clone())
            .try_init();
        buf
    });
}

/// Whether any of this test's log lines contains all of `needles` (ignoring case).
pub fn logged(needles: &[&str]) -> bool {
    let needles: Vec<String> = needles.iter().map(|n| n.to_lowercase()).collect();
    let text = log_text().to_lowercase();
    text.lines()
        .any(|l| needles.iter().all(|n| l.contains(n.as_str())))
}

/// This test's log lines.
pub fn log_text() -> String {
    let Some(buf) = LOGS.get() else {
        return String::new();
    };
    let me = format!(" {} ", std::thread::current().name().unwrap_or("main"));
    String::from_utf8_lossy(&buf.lock().unwrap())
        .lines()
        .filter(|l| l.contains(&me))
        .collect::<Vec<_>>()
        .join("\n")
}
