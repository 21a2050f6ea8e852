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
use logto_axum::{
    session::{open_store, AnyStore},
    LogtoClient, TokenKeeper, TokenStore,
};
use logto_leptos::{
    config::AppConfig,
    server::{router, AppState},
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
    /// Discovery also lists HS256 (symmetric: keyed with the client secret).
    pub advertise_hs256: bool,
    /// On refresh grants, the token endpoint rotates the refresh token, then waits this long
    /// before answering.
    pub respond_delay: Option<Duration>,
    /// The next this many refresh grants answer 503 `temporarily_unavailable` (nothing spent).
    pub refresh_failures: usize,
    /// The revocation endpoint answers 503.
    pub revocation_fails: bool,
    /// The user signed in with Facebook (identities.facebook in userinfo).
    pub facebook_identity: bool,
    /// What Logto's Secret Vault holds for the user's Facebook token.
    pub facebook_token: FacebookToken,
    /// The scope resource access tokens carry (default `read:hello`).
    pub api_scope: Option<String>,
    /// `Cache-Control` on the JWKS answer.
    pub jwks_cache_control: Option<String>,
    /// The discovery document names this issuer instead of its own.
    pub discovery_issuer: Option<String>,
    /// A refresh grant, once rotated, waits for this before answering (see `Idp::refreshes`).
    pub hold_refresh: Option<Arc<tokio::sync::Notify>>,
    /// A code, once redeemed, waits for this before the answer (see `Idp::exchanges`).
    pub hold_code: Option<Arc<tokio::sync::Notify>>,
    /// The JWKS lists the previous key too (a rotation in progress: both verify).
    pub jwks_both_keys: bool,
    /// The JWKS endpoint answers 503 (Logto away).
    pub jwks_fails: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FacebookToken {
    #[default]
    Stored,
    NotStored,
    /// Logto's copy expired (it answers 401 access_token_expired).
    Expired,
    /// Stored, but Facebook revoked it (Graph answers 190).
    RevokedAtFacebook,
    /// The Account API answers with a redirect to where the token would be (a client that
    /// followed it would get one).
    Redirected,
}

/// The API resource the double knows, and the organization user-1 belongs to.
pub const API_RESOURCE: &str = "https://api.test";
pub const API2_RESOURCE: &str = "https://api2.test";
pub const ORG_ID: &str = "org-1";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SignMode {
    #[default]
    Valid,
    /// Valid structure, signature bytes changed.
    BadSignature,
    /// `alg: none`, empty signature.
    AlgNone,
    /// HS256 keyed with the client secret (advertised only with `Script::advertise_hs256`).
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

/// What the token endpoint checks a code against (RFC 6749 4.1.3, RFC 7636 4.6).
struct IssuedCode {
    grant: usize,
    code_challenge: String,
    redirect_uri: String,
    /// Redeemed once already: oidc-provider (so Logto) revokes the grant on a second use.
    consumed: bool,
}

struct Grant {
    sub: String,
    nonce: String,
    revoked: bool,
}

/// Every request the token endpoint answered for a refresh grant, by target.
pub const TARGET_LOGTO: &str = "logto";

#[derive(Default)]
struct IdpState {
    issuer: String,
    /// Codes registered when the test "authorizes".
    codes: HashMap<String, IssuedCode>,
    grants: Vec<Grant>,
    /// refresh token -> (grant, already used)
    refresh_tokens: HashMap<String, (usize, bool)>,
    script: Script,
    /// Index of the ES384 key that signs now; the JWKS shows only it.
    es_key: usize,
    /// Every access, refresh and ID token handed out, to prove none reaches the browser.
    issued: Vec<String>,
    /// Opaque access token -> grant (for userinfo and the Account API).
    access_tokens: HashMap<String, usize>,
    /// Refresh grants answered, by target (`logto`, `resource:…`, `organization:…`).
    refresh_targets: Vec<String>,
    revoked: Vec<String>,
    /// Facebook tokens the Secret Vault handed out.
    facebook_tokens: Vec<String>,
    pub token_requests: usize,
    /// Account API answers that were redirects (`FacebookToken::Redirected`).
    pub account_redirects: usize,
    /// Account API calls still to be refused with 401 `auth.unauthorized`, as Logto refuses an
    /// access token it no longer accepts (`Idp::refuse_account_api`).
    account_refusals: usize,
    pub refresh_requests: usize,
    pub jwks_requests: usize,
    pub discovery_requests: usize,
}

#[derive(Clone)]
pub struct Idp {
    pub issuer: String,
    pub alg: Alg,
    /// Notified each time a refresh grant has rotated its refresh token (before it answers).
    pub refreshes: Arc<tokio::sync::Notify>,
    /// Notified each time a code has been redeemed (before the answer).
    pub exchanges: Arc<tokio::sync::Notify>,
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
            refreshes: Arc::new(tokio::sync::Notify::new()),
            exchanges: Arc::new(tokio::sync::Notify::new()),
            state: Arc::new(Mutex::new(IdpState {
                issuer,
                ..Default::default()
            })),
            rsa: Arc::new(rsa),
            es: Arc::new(es),
        };
        let app = Router::new()
            .route("/oidc/.well-known/openid-configuration", get(discovery))
            // Where a redirecting discovery points: the real document, so following the
            // redirect would succeed (and the test that the app does not follow it can fail).
            .route("/oidc/moved-discovery", get(moved_discovery))
            .route("/oidc/jwks", get(jwks))
            .route("/oidc/token", post(token))
            .route("/oidc/me", get(userinfo))
            .route("/oidc/token/revocation", post(revocation))
            .route(
                "/api/my-account/identities/{target}/access-token",
                get(account_federated_token),
            )
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

    /// The ES384 key that signs now (0 or 1).
    pub fn current_key(&self) -> usize {
        self.state.lock().unwrap().es_key
    }

    /// Switches to a new signing key; the JWKS then lists only the new one.
    pub fn rotate_key(&self) {
        let mut st = self.state.lock().unwrap();
        st.es_key = (st.es_key + 1) % 2;
    }

    /// What Logto does when the user finishes signing in: a grant for `user-1`, and a code. `request`:
    /// the authorization request's parameters (nonce, PKCE challenge, redirect URI).
    pub fn authorize(&self, request: &HashMap<String, String>) -> String {
        self.authorize_as("user-1", request)
    }

    /// Like Logto (oidc-provider), a user who signs in again to the same app gets the grant they
    /// already have, unless it was revoked.
    pub fn authorize_as(&self, sub: &str, request: &HashMap<String, String>) -> String {
        assert_eq!(
            request.get("code_challenge_method").map(String::as_str),
            Some("S256")
        );
        let nonce = request["nonce"].as_str();
        let mut st = self.state.lock().unwrap();
        let grant = match st.grants.iter().rposition(|g| g.sub == sub && !g.revoked) {
            Some(existing) => {
                st.grants[existing].nonce = nonce.to_owned();
                existing
            }
            None => {
                st.grants.push(Grant {
                    sub: sub.into(),
                    nonce: nonce.to_owned(),
                    revoked: false,
                });
                st.grants.len() - 1
            }
        };
        let code = format!("code-{}", rand_suffix());
        st.codes.insert(
            code.clone(),
            IssuedCode {
                grant,
                code_challenge: request["code_challenge"].clone(),
                redirect_uri: request["redirect_uri"].clone(),
                consumed: false,
            },
        );
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
    pub fn refresh_targets(&self) -> Vec<String> {
        self.state.lock().unwrap().refresh_targets.clone()
    }
    /// The next `n` Account API calls are refused as with a revoked access token.
    pub fn refuse_account_api(&self, n: usize) {
        self.state.lock().unwrap().account_refusals = n;
    }

    pub fn account_redirects(&self) -> usize {
        self.state.lock().unwrap().account_redirects
    }
    pub fn facebook_tokens(&self) -> Vec<String> {
        self.state.lock().unwrap().facebook_tokens.clone()
    }
    pub fn revoked_tokens(&self) -> Vec<String> {
        self.state.lock().unwrap().revoked.clone()
    }
    /// Refresh tokens issued so far, oldest first.
    pub fn refresh_tokens_issued(&self) -> Vec<String> {
        self.issued_tokens()
            .into_iter()
            .filter(|t| t.starts_with("rt-"))
            .collect()
    }
    pub fn edit_script(&self, f: impl FnOnce(&mut Script)) {
        f(&mut self.state.lock().unwrap().script);
    }

    /// A JWT access token as Logto issues for APIs, signed with the current key unless `bad_sig`.
    pub fn mint_access_token(
        &self,
        aud: &str,
        scope: Option<&str>,
        exp_in: i64,
        bad_sig: bool,
    ) -> String {
        self.mint_jwt(aud, scope, exp_in, bad_sig, "at+jwt")
    }

    /// The same, with another JOSE `typ` (an ID token says `JWT`; empty: no `typ` at all).
    pub fn mint_jwt(
        &self,
        aud: &str,
        scope: Option<&str>,
        exp_in: i64,
        bad_sig: bool,
        typ: &str,
    ) -> String {
        let es_key = self.state.lock().unwrap().es_key;
        self.mint_jwt_with_key(aud, scope, exp_in, bad_sig, typ, es_key)
    }

    /// Signed with ES384 key `es_key` (0 or 1), whichever the JWKS lists now.
    pub fn mint_jwt_with_key(
        &self,
        aud: &str,
        scope: Option<&str>,
        exp_in: i64,
        bad_sig: bool,
        typ: &str,
        es_key: usize,
    ) -> String {
        self.mint_jwt_edited(aud, scope, exp_in, bad_sig, typ, es_key, |_| {})
    }

    /// A good access token for `aud` whose claims `edit` changes before signing.
    pub fn mint_access_token_edited(
        &self,
        aud: &str,
        scope: Option<&str>,
        edit: impl FnOnce(&mut Value),
    ) -> String {
        let es_key = self.state.lock().unwrap().es_key;
        self.mint_jwt_edited(aud, scope, 3600, false, "at+jwt", es_key, edit)
    }

    #[allow(clippy::too_many_arguments)]
    fn mint_jwt_edited(
        &self,
        aud: &str,
        scope: Option<&str>,
        exp_in: i64,
        bad_sig: bool,
        typ: &str,
        es_key: usize,
        edit: impl FnOnce(&mut Value),
    ) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": self.issuer, "sub": "user-1", "aud": aud, "iat": now, "exp": now + exp_in,
            "client_id": CLIENT_ID, "jti": rand_suffix(),
        });
        if let Some(scope) = scope {
            claims["scope"] = json!(scope);
        }
        edit(&mut claims);
        let script = Script {
            sign: if bad_sig {
                SignMode::BadSignature
            } else {
                SignMode::Valid
            },
            ..Script::default()
        };
        self.sign(claims, &script, es_key, typ)
    }

    /// A back-channel logout token as Logto sends it (oidc-provider: `typ: logout+jwt`, 120 s),
    /// for `sub` and, when given, Logto session `sid`; `edit` changes claims before signing.
    pub fn logout_token(
        &self,
        sub: &str,
        sid: Option<&str>,
        edit: impl FnOnce(&mut Value),
    ) -> String {
        self.logout_token_with(sub, sid, edit, Script::default(), "logout+jwt")
    }

    pub fn logout_token_with(
        &self,
        sub: &str,
        sid: Option<&str>,
        edit: impl FnOnce(&mut Value),
        script: Script,
        typ: &str,
    ) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": self.issuer, "sub": sub, "aud": CLIENT_ID, "iat": now, "exp": now + 120,
            "jti": rand_suffix(),
            "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
        });
        if let Some(sid) = sid {
            claims["sid"] = json!(sid);
        }
        edit(&mut claims);
        let es_key = self.state.lock().unwrap().es_key;
        self.sign(claims, &script, es_key, typ)
    }

    /// A logout token for `sub` signed with ES384 key `key`, whichever the JWKS lists now.
    pub fn logout_token_signed_by(&self, sub: &str, key: usize) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": self.issuer, "sub": sub, "aud": CLIENT_ID, "iat": now, "exp": now + 120,
            "jti": rand_suffix(),
            "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
        });
        self.sign(claims, &Script::default(), key, "logout+jwt")
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
        self.sign(claims, script, es_key, "JWT")
    }

    fn sign(&self, claims: Value, script: &Script, es_key: usize, typ: &str) -> String {
        let (alg, kid) = match (script.sign, self.alg) {
            (SignMode::AlgNone, _) => ("none", None),
            (SignMode::Hs256WithClientSecret, _) => ("HS256", None),
            (_, Alg::Es384) => ("ES384", Some(format!("es-{es_key}"))),
            (_, Alg::Rs256) => ("RS256", Some("rsa-1".to_owned())),
        };
        let mut header = json!({"alg": alg, "typ": typ});
        if typ.is_empty() {
            header.as_object_mut().unwrap().remove("typ");
        }
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
    let (redirect, hs256) = {
        let mut st = idp.state.lock().unwrap();
        st.discovery_requests += 1;
        (st.script.discovery_redirect, st.script.advertise_hs256)
    };
    if redirect {
        return (
            StatusCode::FOUND,
            [(header::LOCATION, format!("{}/moved-discovery", idp.issuer))],
        )
            .into_response();
    }
    discovery_document(&idp, hs256)
}

async fn moved_discovery(State(idp): State<Idp>) -> Response {
    discovery_document(&idp, false)
}

fn discovery_document(idp: &Idp, hs256: bool) -> Response {
    let i = &idp.issuer;
    let named = idp
        .state
        .lock()
        .unwrap()
        .script
        .discovery_issuer
        .clone()
        .unwrap_or_else(|| i.clone());
    let mut algs = match idp.alg {
        Alg::Es384 => json!(["ES384"]),
        Alg::Rs256 => json!(["RS256"]),
    };
    if hs256 {
        algs.as_array_mut().unwrap().push(json!("HS256"));
    }
    Json(json!({
        "issuer": named,
        "authorization_endpoint": format!("{i}/auth"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/me"),
        "jwks_uri": format!("{i}/jwks"),
        "end_session_endpoint": format!("{i}/session/end"),
        "revocation_endpoint": format!("{i}/token/revocation"),
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

async fn jwks(State(idp): State<Idp>) -> Response {
    let (es_key, cache_control, both) = {
        let mut st = idp.state.lock().unwrap();
        st.jwks_requests += 1;
        if st.script.jwks_fails {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        (
            st.es_key,
            st.script.jwks_cache_control.clone(),
            st.script.jwks_both_keys,
        )
    };
    let keys = match idp.alg {
        Alg::Es384 if both => vec![idp.es_jwk(es_key), idp.es_jwk((es_key + 1) % 2)],
        Alg::Es384 => vec![idp.es_jwk(es_key)],
        Alg::Rs256 => vec![idp.rsa.as_verification_key()],
    };
    let mut res = Json(CoreJsonWebKeySet::new(keys)).into_response();
    if let Some(cc) = cache_control {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, cc.parse().unwrap());
    }
    res
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
    let (response, rotated) = token_response(&idp, &headers, &form, &script);
    let refresh = form.get("grant_type").map(String::as_str) == Some("refresh_token");
    if rotated && refresh {
        idp.refreshes.notify_one();
        if let Some(hold) = &script.hold_refresh {
            hold.notified().await;
        }
    }
    if rotated && !refresh {
        idp.exchanges.notify_one();
        if let Some(hold) = &script.hold_code {
            hold.notified().await;
        }
    }
    if let (Some(delay), true) = (script.respond_delay, rotated && refresh) {
        // The refresh token is rotated already: a client that goes away now loses the new one.
        tokio::time::sleep(delay).await;
    }
    response
}

/// client_secret_basic: exactly this client's id and secret (RFC 6749 2.3.1), as the token and
/// revocation endpoints both require (oidc-provider's `clientAuth`).
fn client_authenticated(headers: &HeaderMap) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str())
}

/// The token endpoint's answer, and whether it issued tokens.
fn token_response(
    idp: &Idp,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    script: &Script,
) -> (Response, bool) {
    let fail = |r: Response| (r, false);
    let refreshing = form.get("grant_type").map(String::as_str) == Some("refresh_token");
    if refreshing {
        let mut st = idp.state.lock().unwrap();
        if st.script.refresh_failures > 0 {
            st.script.refresh_failures -= 1;
            st.refresh_requests += 1;
            return fail(oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
            ));
        }
    }
    if !client_authenticated(headers) {
        return fail(oauth_error(StatusCode::UNAUTHORIZED, "invalid_client"));
    }
    let mut st = idp.state.lock().unwrap();
    st.token_requests += 1;
    let (grant_id, refreshing) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            // Codes are single use; a second use revokes the grant (oidc-provider's
            // `consumeGrantSource`: "authorization code already consumed").
            let Some(issued) = form.get("code").and_then(|c| st.codes.get_mut(c)) else {
                return fail(oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"));
            };
            if issued.consumed {
                let grant = issued.grant;
                st.grants[grant].revoked = true;
                return fail(oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"));
            }
            issued.consumed = true;
            let issued = IssuedCode {
                grant: issued.grant,
                code_challenge: issued.code_challenge.clone(),
                redirect_uri: issued.redirect_uri.clone(),
                consumed: true,
            };
            // PKCE S256: the verifier must hash to the challenge the authorization request sent.
            let verified = form.get("code_verifier").is_some_and(|v| {
                use sha2::Digest;
                URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes())) == issued.code_challenge
            });
            if !verified || form.get("redirect_uri") != Some(&issued.redirect_uri) {
                return fail(oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"));
            }
            (issued.grant, false)
        }
        Some("refresh_token") => {
            st.refresh_requests += 1;
            let Some(rt) = form.get("refresh_token") else {
                return fail(oauth_error(StatusCode::BAD_REQUEST, "invalid_request"));
            };
            let Some(&(grant, used)) = st.refresh_tokens.get(rt) else {
                return fail(oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"));
            };
            if used {
                // Logto: reuse of a rotated refresh token revokes the whole grant.
                st.grants[grant].revoked = true;
                return fail(oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"));
            }
            if st.grants[grant].revoked || st.revoked.contains(rt) {
                return fail(oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"));
            }
            // Logto checks organization membership before it rotates anything.
            if let Some(org) = form.get("organization_id") {
                if st.grants[grant].sub != "user-1" || org != ORG_ID {
                    return fail(
                        (
                            StatusCode::FORBIDDEN,
                            Json(json!({
                                "error": "access_denied",
                                "error_description": "user is not a member of the organization"
                            })),
                        )
                            .into_response(),
                    );
                }
            }
            st.refresh_tokens.insert(rt.clone(), (grant, true));
            (grant, true)
        }
        _ => {
            return fail(oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
            ))
        }
    };
    let target = match (form.get("resource"), form.get("organization_id")) {
        (Some(r), _) if refreshing => format!("resource:{r}"),
        (None, Some(o)) if refreshing => format!("organization:{o}"),
        _ => TARGET_LOGTO.to_owned(),
    };
    if refreshing {
        st.refresh_targets.push(target.clone());
    }
    let now = chrono::Utc::now().timestamp();
    let expires_in = script.expires_in.unwrap_or(3600);
    let (access_token, jwt) = {
        let jwt_claims = |aud: &str, scope: &str| {
            json!({
                "iss": st.issuer, "sub": st.grants[grant_id].sub, "aud": aud, "iat": now,
                "exp": now + expires_in as i64, "scope": scope, "client_id": CLIENT_ID, "jti": rand_suffix(),
            })
        };
        match target.split_once(':') {
            Some(("resource", r)) => {
                if r != API_RESOURCE && r != API2_RESOURCE {
                    return fail(oauth_error(StatusCode::BAD_REQUEST, "invalid_target"));
                }
                let scope = script
                    .api_scope
                    .clone()
                    .unwrap_or_else(|| "read:hello".into());
                (String::new(), Some(jwt_claims(r, &scope)))
            }
            Some(("organization", o)) => (
                String::new(),
                Some(jwt_claims(
                    &format!("urn:logto:organization:{o}"),
                    "read:org",
                )),
            ),
            _ => (format!("at-{}", rand_suffix()), None),
        }
        // (the closure above borrows the lock guard; it must end before any await)
    };
    if jwt.is_none() {
        st.access_tokens.insert(access_token.clone(), grant_id);
    }
    let refresh_token = format!("rt-{}", rand_suffix());
    st.refresh_tokens
        .insert(refresh_token.clone(), (grant_id, false));
    let grant = &st.grants[grant_id];
    let sub = match (&script.refresh_sub, refreshing) {
        (Some(sub), true) => sub.clone(),
        _ => grant.sub.clone(),
    };
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
    let access_token = match jwt {
        Some(claims) => idp.sign(claims, &Script::default(), es_key, "at+jwt"),
        None => access_token,
    };
    let id_token = idp.id_token(claims, script, es_key);
    idp.state.lock().unwrap().issued.extend([
        access_token.clone(),
        refresh_token.clone(),
        id_token.clone(),
    ]);
    let answer = Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "refresh_token": refresh_token,
        "id_token": id_token,
        "scope": "openid offline_access profile email"
    }))
    .into_response();
    (answer, true)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
}

/// The grant an opaque access token belongs to, if the token is known.
fn grant_of(idp: &Idp, headers: &HeaderMap) -> Option<(String, Script)> {
    let token = bearer(headers)?;
    let st = idp.state.lock().unwrap();
    let grant = *st.access_tokens.get(&token)?;
    Some((st.grants[grant].sub.clone(), st.script.clone()))
}

async fn userinfo(State(idp): State<Idp>, headers: HeaderMap) -> Response {
    let Some((sub, script)) = grant_of(&idp, &headers) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_token");
    };
    let sub = script.userinfo_sub.clone().unwrap_or(sub);
    let identities = if script.facebook_identity {
        json!({"facebook": {"userId": "fb-1", "details": {"name": "Jamie Rivera"}}})
    } else {
        json!({})
    };
    Json(json!({
        "sub": sub, "name": "Alice Liddell", "email": "alice@example.com", "identities": identities,
        "organizations": [ORG_ID], "organization_roles": [format!("{ORG_ID}:admin")],
        "organization_data": [{"id": ORG_ID, "name": "Acme", "description": null}],
    }))
    .into_response()
}

/// RFC 7009 as oidc-provider answers it: the client authenticates as at the token endpoint (401
/// `invalid_client` otherwise); `token_type_hint`, when sent, must be one it knows; an unknown
/// token is 200.
async fn revocation(
    State(idp): State<Idp>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut st = idp.state.lock().unwrap();
    if st.script.revocation_fails {
        return oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    }
    if !client_authenticated(&headers) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    match form.get("token_type_hint").map(String::as_str) {
        None | Some("refresh_token" | "access_token") => {}
        Some(_) => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_token_type"),
    }
    let Some(token) = form.get("token") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    st.revoked.push(token.clone());
    // oidc-provider (so Logto): revoking a refresh token revokes its whole grant.
    if let Some(&(grant, _)) = st.refresh_tokens.get(token) {
        st.grants[grant].revoked = true;
    }
    StatusCode::OK.into_response()
}

fn logto_error(status: StatusCode, code: &str) -> Response {
    (status, Json(json!({ "code": code, "message": code }))).into_response()
}

/// Logto's Account API: the Secret Vault's stored Facebook token.
async fn account_federated_token(
    State(idp): State<Idp>,
    axum::extract::Path(target): axum::extract::Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some((_, mut script)) = grant_of(&idp, &headers) else {
        return logto_error(StatusCode::UNAUTHORIZED, "auth.unauthorized");
    };
    {
        let mut st = idp.state.lock().unwrap();
        if st.account_refusals > 0 {
            st.account_refusals -= 1;
            return logto_error(StatusCode::UNAUTHORIZED, "auth.unauthorized");
        }
    }
    if script.facebook_token == FacebookToken::Redirected {
        if query.as_deref() != Some("followed=1") {
            idp.state.lock().unwrap().account_redirects += 1;
            let to = format!("/api/my-account/identities/{target}/access-token?followed=1");
            return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
        }
        script.facebook_token = FacebookToken::Stored;
    }
    if target != "facebook" || !script.facebook_identity {
        return logto_error(
            StatusCode::NOT_FOUND,
            "secrets.third_party_token_set.token_not_found",
        );
    }
    match script.facebook_token {
        FacebookToken::NotStored => logto_error(
            StatusCode::NOT_FOUND,
            "secrets.third_party_token_set.token_not_found",
        ),
        FacebookToken::Expired => logto_error(
            StatusCode::UNAUTHORIZED,
            "secrets.third_party_token_set.access_token_expired",
        ),
        FacebookToken::Stored | FacebookToken::RevokedAtFacebook | FacebookToken::Redirected => {
            let token = format!("fb-{}", rand_suffix());
            idp.state
                .lock()
                .unwrap()
                .facebook_tokens
                .push(token.clone());
            Json(json!({
                "access_token": token, "token_type": "bearer", "expires_in": 5_183_999,
                "scope": "email,public_profile"
            }))
            .into_response()
        }
    }
}

/// A stand-in for Facebook's Graph API, on its own origin.
pub async fn start_graph(idp: &Idp) -> String {
    async fn me(State(idp): State<Idp>, headers: HeaderMap) -> Response {
        let st = idp.state.lock().unwrap();
        let known = bearer(&headers).is_some_and(|t| st.facebook_tokens.contains(&t));
        if !known || st.script.facebook_token == FacebookToken::RevokedAtFacebook {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190, "error_subcode": 460}})),
            )
                .into_response();
        }
        Json(json!({
            "id": "fb-1", "name": "Jamie Rivera",
            "picture": {"data": {"url": "https://graph.test/pic.jpg", "height": 50, "width": 50, "is_silhouette": false}}
        }))
        .into_response()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/me", get(me)).with_state(idp.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// The app under test, driven without a socket, with a cookie jar of one.
pub struct App {
    pub router: Router,
    pub store: AnyStore,
    pub tokens: Arc<dyn TokenStore>,
    /// The app's token keeper (its detached work: `keeper.tasks()`).
    pub keeper: Arc<TokenKeeper>,
    /// The session cookie (`name=value`).
    pub cookie: Option<String>,
    /// The language choice (`lang=…`), sent beside the session cookie like a browser would.
    pub lang_cookie: Option<String>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    /// Answered from the page cache (a response extension: it never reaches a browser).
    pub cache_hit: bool,
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
        // Requests here have no peer address, so they all share one budget; tests that are about
        // the limit set their own.
        ("SIGN_IN_RATE_LIMIT_PER_MINUTE", "100000".to_owned()),
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
        // No site directory: a test is about pages and endpoints (Leptos' default `.` would be
        // the whole project).
        let options = LeptosOptions::builder()
            .output_name("logto-leptos")
            .site_root("target/no-site")
            .build();
        Self::with_options(config, options).await
    }

    /// With Leptos options of the test's own (a site directory with files in it, say).
    pub async fn with_options(config: &AppConfig, options: LeptosOptions) -> Self {
        let stores = open_store(&config.sessions.store, config.sessions.longest_sign_in())
            .await
            .unwrap();
        let auth = LogtoClient::with_stores(config.auth.clone(), &config.sessions, stores.clone())
            .unwrap();
        let state = AppState::new(options, config, auth).unwrap();
        App {
            keeper: state.auth.keeper.clone(),
            router: router(state, config),
            store: stores.sessions,
            tokens: stores.tokens,
            cookie: None,
            lang_cookie: None,
        }
    }

    /// The refresh token of this browser's grant, as the token store holds it now.
    pub async fn refresh_token(&self) -> String {
        self.tokens
            .load(&self.grant_id().await)
            .await
            .unwrap()
            .expect("a token set")
            .refresh_token
            .expect("a refresh token")
    }

    /// The token store's key for this browser's signed-in user, read from the session record.
    pub async fn grant_id(&self) -> String {
        use tower_sessions::SessionStore;
        let record = self
            .store
            .load(&self.session_id())
            .await
            .unwrap()
            .expect("a session record");
        logto_axum::session::StoredSession::from_record(&record)
            .expect("a signed-in session")
            .user
            .grant
    }

    /// Makes the stored Logto access token look an hour old, so the next getter must refresh.
    pub async fn expire_logto_token(&self) {
        let grant = self.grant_id().await;
        let mut set = self.tokens.load(&grant).await.unwrap().unwrap();
        set.access_token_expires_at = Some(0);
        let spent = set.refresh_token.clone();
        assert!(self
            .tokens
            .replace_if(&grant, spent.as_deref(), &set)
            .await
            .unwrap());
    }

    /// `user_info` from another tab, in the background, for races. The request is expected to
    /// lose (the sign-out or new sign-in set the cookie), so it must not touch the cookie.
    pub fn racing_user_info(&self) -> tokio::task::JoinHandle<StatusCode> {
        let mut tab = self.tab();
        tokio::spawn(async move {
            let before = tab.cookie.clone();
            let (status, _) = tab.call("user_info", "").await;
            assert_eq!(tab.cookie, before, "the late request touched the cookie");
            status
        })
    }

    /// Another browser on the same server: same router, its own (empty) cookie jar.
    pub fn browser(&self) -> App {
        App {
            cookie: None,
            lang_cookie: None,
            ..self.tab()
        }
    }

    /// Logto's back-channel logout POST (server to server: no cookie, no Origin).
    pub async fn backchannel_logout(&self, logout_token: &str) -> Reply {
        let mut logto = self.browser();
        logto
            .send(
                Request::post("/auth/backchannel-logout")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(format!(
                        "logout_token={}",
                        urlencoding(logout_token)
                    )))
                    .unwrap(),
            )
            .await
    }

    /// Another browser tab of the same user: same router, same cookie.
    pub fn tab(&self) -> App {
        App {
            router: self.router.clone(),
            store: self.store.clone(),
            tokens: self.tokens.clone(),
            keeper: self.keeper.clone(),
            cookie: self.cookie.clone(),
            lang_cookie: self.lang_cookie.clone(),
        }
    }

    /// Calls a server function as the hydrated app does (fetch, no redirect); returns status and JSON.
    pub async fn call(&mut self, endpoint: &str, form: &str) -> (StatusCode, Value) {
        let r = self
            .send(
                Request::post(format!("/api/{endpoint}"))
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(form.to_owned()))
                    .unwrap(),
            )
            .await;
        let json = serde_json::from_str(&r.body).unwrap_or(Value::String(r.body.clone()));
        (r.status, json)
    }

    pub async fn send(&mut self, req: Request<Body>) -> Reply {
        let mut req = req;
        // Appended: a test may send cookies of its own too.
        for c in [&self.cookie, &self.lang_cookie].into_iter().flatten() {
            req.headers_mut().append(header::COOKIE, c.parse().unwrap());
        }
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let cache_hit = res
            .extensions()
            .get::<logto_leptos::page_cache::CacheHit>()
            .is_some();
        for sc in headers.get_all(header::SET_COOKIE) {
            let sc = sc.to_str().unwrap();
            let pair = sc.split(';').next().unwrap().to_owned();
            if pair.starts_with("lang=") {
                self.lang_cookie = Some(pair);
                continue;
            }
            let expired = sc.contains("Max-Age=0") || pair.ends_with('=');
            self.cookie = if expired { None } else { Some(pair) };
        }
        let body = res.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            cache_hit,
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
        self.attempt_sign_in_as(idp, "user-1").await
    }

    pub async fn attempt_sign_in_as(&mut self, idp: &Idp, sub: &str) -> Reply {
        let callback = self.callback_url_as(idp, sub).await;
        self.get(&callback).await
    }

    /// Starts a sign-in and has the provider authorize `sub`: the URL the browser would be sent
    /// back to, not yet visited.
    pub async fn callback_url_as(&mut self, idp: &Idp, sub: &str) -> String {
        let params = self.start_sign_in("mode=sign_in").await;
        callback_url(idp, sub, &params)
    }

    /// This browser's session id, from its cookie.
    pub fn session_id(&self) -> tower_sessions::session::Id {
        let cookie = self.cookie.as_deref().expect("a session cookie");
        cookie.split_once('=').unwrap().1.parse().unwrap()
    }

    /// A full successful sign-in against `idp`.
    pub async fn sign_in(&mut self, idp: &Idp) {
        let r = self.attempt_sign_in(idp).await;
        assert_eq!(r.status, StatusCode::FOUND, "sign-in failed: {}", r.body);
    }

    /// A full successful sign-in as `sub`.
    pub async fn sign_in_as(&mut self, idp: &Idp, sub: &str) {
        let r = self.attempt_sign_in_as(idp, sub).await;
        assert_eq!(r.status, StatusCode::FOUND, "sign-in failed: {}", r.body);
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

/// Has the provider authorize `sub` for the sign-in whose authorization request was `params`:
/// the callback URL the browser would be sent back to.
pub fn callback_url(idp: &Idp, sub: &str, params: &HashMap<String, String>) -> String {
    let code = idp.authorize_as(sub, params);
    format!(
        "/callback?{}",
        query(&[
            ("code", &code),
            ("state", &params["state"]),
            ("iss", &idp.issuer)
        ])
    )
}

/// A loopback port nothing listens on (yet).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The signed-in user's `sub` as the app reports it (`null` when signed out).
pub async fn signed_in_sub(app: &mut App) -> serde_json::Value {
    app.current_user().await["sub"].clone()
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
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
        // The app's own filter (`server::log_filter`), at debug.
        let _ = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_env_filter(logto_leptos::server::log_filter(Some("debug")))
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
