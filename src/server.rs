//! The axum server: router, middleware, start-up and graceful shutdown.

use std::{
    future::IntoFuture,
    net::SocketAddr,
    process::ExitCode,
    sync::{Arc, OnceLock},
};

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::IntoResponse,
    routing::get,
    Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::{
    app::{shell, App},
    assets::{self, SiteAssets},
    config::AppConfig,
    page_cache::PageCache,
    resource_server,
    services::AppServices,
    static_files::StaticFiles,
};
use logto_axum::{LogtoClient, SignedInUser};

/// Everything the handlers share, reachable from axum extractors and from Leptos context, behind
/// one `Arc`: every request clones it (into its Leptos context, into extractors), which is then
/// one reference count rather than a copy of caches, clients and options.
#[derive(Clone)]
pub struct AppState(Arc<AppShared>);

pub struct AppShared {
    pub leptos_options: LeptosOptions,
    pub auth: LogtoClient,
    pub services: Arc<AppServices>,
}

impl std::ops::Deref for AppState {
    type Target = AppShared;
    fn deref(&self) -> &AppShared {
        &self.0
    }
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl axum::extract::FromRef<AppState> for LogtoClient {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

impl AppState {
    pub fn new(
        leptos_options: LeptosOptions,
        config: &AppConfig,
        auth: LogtoClient,
    ) -> anyhow::Result<Self> {
        let http = logto_axum::http::client(config.auth.http_timeout)?;
        let services = Arc::new(AppServices {
            demo_api: config.demo_api.clone(),
            facebook_graph_url: config.facebook_graph_url.clone(),
            http,
            sign_in_limiter: crate::rate_limit::SignInLimiter::new(
                config.sign_in_rate_limit_per_minute,
                config.client_ip_header.clone(),
            ),
        });
        Ok(Self(Arc::new(AppShared {
            leptos_options,
            auth,
            services,
        })))
    }
}

/// The whole app as a router, so tests can drive it without a socket. The site's static files
/// are answered from memory in front of the session and page layers (they need neither).
pub fn router(state: AppState, config: &AppConfig) -> Router {
    let statics = static_files(&state.leptos_options)
        .map(|files| axum::middleware::from_fn_with_state(files, StaticFiles::serve));
    dynamic_routes(&state, config)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(config.auth.base_url.origin().ascii_serialization()),
            same_origin_posts,
        ))
        .layer(axum::middleware::from_fn(page_headers))
        .layer(state.auth.session_layer())
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(config.auth.base_url.clone()),
            canonical_loopback_host,
        ))
        .with_state(state)
        .layer(tower::util::option_layer(statics))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        // On https, browsers should never try plain http again (the session cookie is `Secure`
        // anyway; this also keeps a typed URL's first request off plain http). No
        // `includeSubDomains`: the app cannot speak for other hosts of its domain.
        .layer(tower::util::option_layer(config.auth.wants_hsts().then(
            || {
                SetResponseHeaderLayer::overriding(
                    header::STRICT_TRANSPORT_SECURITY,
                    HeaderValue::from_static("max-age=31536000"),
                )
            },
        )))
}

/// The site's files, read into memory once now (`crate::static_files`); `None` under
/// `cargo leptos watch` (they change while the server runs), and when there are none or they
/// cannot be read: then every file comes from disk, as always for the ones not in memory.
fn static_files(options: &LeptosOptions) -> Option<Arc<StaticFiles>> {
    if assets::watching() {
        return None;
    }
    let root = std::path::Path::new(options.site_root.as_ref());
    let hashes = assets::site_assets(options).hashes.clone();
    match StaticFiles::load(root, &hashes) {
        Ok(files) if files.is_empty() => None,
        Ok(files) => {
            tracing::info!(
                files = files.len(),
                bytes = files.bytes(),
                "site files in memory"
            );
            Some(Arc::new(files))
        }
        Err(err) => {
            tracing::warn!(
                "site files under {} not read into memory, served from disk: {err}",
                root.display()
            );
            None
        }
    }
}

/// Pages, server functions, the app's own endpoints, the `pkg` directory from disk (what is not
/// in memory), and the fallback (a file from disk, or the app's 404 page).
fn dynamic_routes(state: &AppState, config: &AppConfig) -> Router<AppState> {
    let leptos_options = &state.leptos_options;
    let auth = state.auth.clone();
    let services = state.services.clone();
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/auth/me", get(me))
        .route(
            "/auth/backchannel-logout",
            axum::routing::post(logto_axum::session::ending::backchannel_logout),
        )
        .nest(
            &format!("/{}", leptos_options.site_pkg_dir),
            assets::pkg_router(leptos_options),
        );
    if let Some(api) = &config.demo_api {
        app = app.nest(
            "/demo-api",
            resource_server::router(
                logto_axum::Verifier::new(state.auth.provider.clone(), api.resource.clone())
                    .require_scopes([api.scope.clone()]),
            ),
        );
    }
    let pages = Router::new()
        .leptos_routes_with_context(
            state,
            route_list(),
            move || {
                provide_context(auth.clone());
                provide_context(services.clone());
            },
            // The state, one `Arc`: the closure is cloned with the route on every request.
            {
                let state = state.clone();
                move || shell(&state.leptos_options)
            },
        )
        .layer(axum::middleware::from_fn_with_state(
            PageCache::new(state.auth.clone()),
            PageCache::layer,
        ));
    app.merge(pages).fallback_service(
        tower::ServiceBuilder::new()
            .layer(axum::middleware::from_fn(assets::site_file_headers))
            .service(axum::handler::Handler::with_state(
                leptos_axum::file_and_error_handler::<AppState, _>(|options: LeptosOptions| {
                    shell(&options)
                }),
                state.clone(),
            )),
    )
}

/// The app's routes, generated once per process. Generating them renders the app with resource
/// loading switched off by a process-wide flag (leptos_server's `SuppressResourceLoad`), so a page
/// rendered on another thread meanwhile would wait forever for its resources: building a second
/// router (as the integration tests do) must not run it again. Upstream: leptos-rs/leptos#4773.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// Server functions change state (sign in, sign out, end sessions): a POST to one must come from
/// this app's own pages (`logto_axum::fetch_site`); another site, or a sibling subdomain, gets 403
/// before the session is read.
async fn same_origin_posts(
    axum::extract::State(origin): axum::extract::State<Arc<String>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if req.method() == axum::http::Method::POST && req.uri().path().starts_with("/api/") {
        let headers = req.headers();
        if let Err(refused) = logto_axum::fetch_site::check(headers, &origin) {
            tracing::info!(
                path = req.uri().path(),
                sec_fetch_site = refused.site,
                origin = refused.origin,
                "refused a cross-site POST"
            );
            let wants_html = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"));
            return cross_site_refusal(wants_html, crate::lang::of_request(headers));
        }
    }
    next.run(req).await
}

/// 403: a page for a person who followed another site's form, or the server functions' own
/// error (`AppError::CrossSite`) for a script calling one.
fn cross_site_refusal(wants_html: bool, locale: crate::lang::Locale) -> axum::response::Response {
    use crate::i18n::td_string;

    if !wants_html {
        let body = serde_json::to_string(&crate::api::AppError::CrossSite).unwrap_or_default();
        return (
            StatusCode::FORBIDDEN,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response();
    }
    // Catalogue text (ours, no markup in it) in a fixed frame.
    let title = td_string!(locale, cross_site_page.title);
    let page = format!(
        "<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body><main>\
         <h1>{title}</h1><p>{message}</p><p><a href=\"/\">{start}</a></p></main></body></html>",
        lang = crate::lang::tag(locale),
        message = td_string!(locale, cross_site_page.message),
        start = td_string!(locale, cross_site_page.start),
    );
    (
        StatusCode::FORBIDDEN,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page,
    )
        .into_response()
}

/// `localhost` and `127.0.0.1` are different sites for cookies: a sign-in started on one and
/// finished on the other (the redirect URI's host) fails with "state mismatch". In local setups,
/// send the browser to the host `APP_BASE_URL` names before any cookie is set.
async fn canonical_loopback_host(
    axum::extract::State(base): axum::extract::State<Arc<url::Url>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let is_loopback = |h: &str| matches!(h, "localhost" | "127.0.0.1" | "[::1]");
    let requested = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(host, _)| host).to_owned());
    let base_host = base.host_str().unwrap_or_default();
    let safe_method = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if let Some(host) = requested {
        if safe_method && is_loopback(&host) && is_loopback(base_host) && host != base_host {
            let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let target = format!("{}{}", base.as_str().trim_end_matches('/'), path);
            if let Ok(location) = HeaderValue::from_str(&target) {
                return (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, location)],
                )
                    .into_response();
            }
        }
    }
    next.run(req).await
}

/// Nothing but the site's static files may be kept by a browser or a shared cache: pages, JSON
/// (`/auth/me`, server functions, the demo API), back-channel answers and every error are
/// per-user or per-moment, so everything that has not opted in to caching (the static file
/// routes set their own `Cache-Control`) is `no-store`; pages always are. The callback's code and
/// state never leak through Referer. A page is sent in one piece with a Content-Length: Leptos
/// renders it whole (`SsrMode::Async`) but streams it as chunks, each a separate write on the
/// socket.
async fn page_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = req.uri().path().to_owned();
    let mut res = next.run(req).await;
    let is_html = assets::is_html(&res);
    if is_html {
        res = into_one_piece(res).await;
    }
    let headers = res.headers_mut();
    crate::page_cache::strip_marker(headers);
    let no_store = HeaderValue::from_static("no-store");
    if is_html {
        headers.insert(header::CACHE_CONTROL, no_store);
    } else {
        headers.entry(header::CACHE_CONTROL).or_insert(no_store);
    }
    let referrer = if path == "/callback" || path.starts_with("/auth/") {
        "no-referrer"
    } else {
        "strict-origin-when-cross-origin"
    };
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static(referrer));
    res
}

async fn into_one_piece(res: axum::response::Response) -> axum::response::Response {
    let (parts, body) = res.into_parts();
    match crate::page_body::whole(body).await {
        Ok(bytes) => axum::response::Response::from_parts(parts, axum::body::Body::from(bytes)),
        Err(failed) => failed,
    }
}

/// The signed-in user as JSON, for scripts and other front ends: an example of a plain axum handler
/// behind the `SignedInUser` guard (anonymous callers get 401).
async fn me(SignedInUser(logto): SignedInUser) -> axum::response::Response {
    match logto.require_user() {
        Ok(user) => axum::Json(crate::api::UserView::from(user.clone())).into_response(),
        Err(err) => err.into_response(),
    }
}

/// For load balancers: cheap, no session, no provider call.
async fn healthz() -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        "ok",
    )
}

/// Entry point of the server binary.
pub async fn main() -> ExitCode {
    logto_axum::http::install_crypto();
    init_tracing();
    // Listening for signals from the start: one that comes before the server runs still stops
    // it cleanly (and is not the default action's abrupt exit).
    let shutdown = shutdown_signal();
    let conf = match get_configuration(None) {
        Ok(conf) => conf,
        Err(err) => {
            tracing::error!("invalid Leptos configuration: {err}");
            return ExitCode::FAILURE;
        }
    };
    let addr: SocketAddr = conf.leptos_options.site_addr;
    let site =
        SiteAssets::new(&conf.leptos_options).and_then(|site| site.check(&conf.leptos_options));
    if let Err(err) = site {
        tracing::error!("site files: {err}");
        eprintln!("site files: {err}");
        return ExitCode::FAILURE;
    }
    let config = match AppConfig::from_env() {
        Ok(config) => config,
        Err(err) => {
            tracing::error!("configuration error: {err} (see .env.example)");
            eprintln!("configuration error: {err} (see .env.example)");
            return ExitCode::FAILURE;
        }
    };
    let auth = match LogtoClient::connect(config.auth.clone(), &config.sessions).await {
        Ok(auth) => auth,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let state = match AppState::new(conf.leptos_options, &config, auth) {
        Ok(state) => state,
        Err(err) => {
            tracing::error!("{err:#}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        issuer = %config.auth.issuer(),
        app_id = %config.auth.app_id,
        base_url = %config.auth.base_url,
        store = ?config.sessions.store,
        "starting"
    );
    // Logto once at start, in the background: a LOGTO_ENDPOINT that answers as another issuer is
    // named in the log now rather than at the first sign-in (Logto away is only a warning).
    let provider = state.auth.provider.clone();
    tokio::spawn(async move { provider.metadata().await.ok() });
    let auth = state.auth.clone();
    let app = router(state, &config);

    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!("cannot listen on {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    // The bound address: with port 0 in LEPTOS_SITE_ADDR the system picks one.
    let addr = listener.local_addr().unwrap_or(addr);
    tracing::info!("listening on http://{addr}");
    // Leptos streams SSR in several writes; without TCP_NODELAY each response waits ~40 ms on Nagle.
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!("cannot set TCP_NODELAY: {err}");
        }
    });
    // On a worker thread, not on `main`'s own (tokio's `block_on` thread): there each accepted
    // connection was handed across threads, two more wake-ups per connection (perf).
    let serve = tokio::spawn(
        // With the peer address, for the sign-in rate limit.
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .into_future(),
    );
    let served = match serve.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(format!("server error: {err}")),
        Err(err) => Err(format!("server task failed: {err}")),
    };
    auth.shutdown().await;
    if let Err(err) = served {
        tracing::error!("{err}");
        return ExitCode::FAILURE;
    }
    tracing::info!("shut down cleanly");
    ExitCode::SUCCESS
}

fn init_tracing() {
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .init();
}

/// `RUST_LOG`, else `info`; either way without tower-sessions' WARN "possibly suspicious
/// activity: record not found in store", which it logs for every request that brings the cookie
/// of a session no longer stored. Here sessions end server-side by design (sign-out elsewhere,
/// back-channel logout, a grant Logto ended, the lifetime): that is the expected outcome, and the
/// store logs it at debug (`AnyStore::load`). Errors of that module still show.
pub fn log_filter(rust_log: Option<&str>) -> tracing_subscriber::EnvFilter {
    let filter = rust_log
        .and_then(|s| tracing_subscriber::EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    match "tower_sessions_core::session=error".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// Resolves on SIGTERM (orchestrators) or Ctrl-C (developers); in-flight requests then finish.
/// The handlers are installed when this is called, not when the future is first polled.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let listen = |kind: SignalKind, name: &'static str| {
        let installed = signal(kind);
        async move {
            match installed {
                Ok(mut sig) => {
                    sig.recv().await;
                    tracing::info!("{name} received, shutting down");
                }
                Err(err) => {
                    tracing::warn!("cannot listen for {name}: {err}");
                    std::future::pending::<()>().await;
                }
            }
        }
    };
    let terminate = listen(SignalKind::terminate(), "SIGTERM");
    let interrupt = listen(SignalKind::interrupt(), "Ctrl-C");
    async move {
        tokio::select! {
            _ = terminate => {}
            _ = interrupt => {}
        }
    }
}

#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => tracing::info!("Ctrl-C received, shutting down"),
            Err(err) => {
                tracing::warn!("cannot listen for Ctrl-C: {err}");
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page_body::MAX_BYTES as MAX_PAGE_BYTES;

    /// Pages go through the guard on their way out (`page_headers`): one of exactly the limit is
    /// sent whole with its length, one byte more becomes the 500 page; files are not held.
    #[tokio::test]
    async fn pages_up_to_the_limit_are_served_whole() {
        use tower::ServiceExt;
        let app = |size: usize, html: bool| {
            Router::new()
                .route(
                    "/",
                    get(move || async move {
                        let body = vec![b'x'; size];
                        let kind = if html {
                            "text/html; charset=utf-8"
                        } else {
                            "text/plain"
                        };
                        ([(header::CONTENT_TYPE, kind)], body)
                    }),
                )
                .layer(axum::middleware::from_fn(page_headers))
        };
        let get = |size, html| async move {
            let req = axum::http::Request::get("/")
                .body(axum::body::Body::empty())
                .unwrap();
            let res = app(size, html).oneshot(req).await.unwrap();
            let status = res.status();
            let length = res.headers().get(header::CONTENT_LENGTH).cloned();
            let body = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, length, body.len())
        };
        let (status, length, len) = get(MAX_PAGE_BYTES, true).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(length, Some(HeaderValue::from(MAX_PAGE_BYTES)));
        assert_eq!(len, MAX_PAGE_BYTES);
        let (status, _, len) = get(MAX_PAGE_BYTES + 1, true).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(len < 100, "the 500 page, not the page");
        // Pages are a few KB; the guard is at 4 MiB, far above any page, below a runaway render.
        assert_eq!(get(3 << 20, true).await.0, StatusCode::OK);
        assert_eq!(
            get(5 << 20, true).await.0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        // Not a page: passed on as it is, whatever its size.
        assert_eq!(get(5 << 20, false).await.0, StatusCode::OK);
    }

    #[test]
    fn the_default_log_level_is_info_and_keeps_out_the_suspicious_activity_warning() {
        let shown = log_filter(None).to_string();
        assert!(
            shown.starts_with("info") || shown.contains(",info") || shown.contains("info,"),
            "{shown}"
        );
        assert!(!shown.contains("debug"), "{shown}");
        assert!(
            shown.contains("tower_sessions_core::session=error"),
            "{shown}"
        );
        let custom = log_filter(Some("warn,logto_leptos=debug")).to_string();
        assert!(custom.contains("logto_leptos=debug"), "{custom}");
        assert!(
            custom.contains("tower_sessions_core::session=error"),
            "{custom}"
        );
        // A RUST_LOG that does not parse falls back to info rather than to nothing.
        assert!(log_filter(Some("=[")).to_string().contains("info"));
    }
}
