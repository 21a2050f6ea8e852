//! The router: every route, the layers around them, and the two handlers of its own
//! (`/auth/me`, `/healthz`).

use std::sync::{Arc, OnceLock};

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::IntoResponse,
    routing::get,
    Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tower_http::set_header::SetResponseHeaderLayer;

use super::{middleware::*, static_files::StaticFiles, AppState};
use crate::{
    app::{shell, App},
    assets::{self},
    config::AppConfig,
    page_cache::PageCache,
};
use logto_axum::SignedInUser;

/// The whole app as a router, so tests can drive it without a socket. The site's static files
/// are answered from memory in front of the session and page layers (they need neither).
///
/// The layers are one `Router::layer` call, a single stack: each such call boxes every route
/// again, and the boxes are cloned on every request (eight of them were ~10% of a signed-in
/// page's CPU in a profile). Still around each route, not the router, so axum's finishing of a
/// route's answer (`Content-Length`, the empty body of a `HEAD`) stays outside all of them.
pub fn router(state: AppState, config: &AppConfig) -> Router {
    let statics = static_files(&state.leptos_options)
        .map(|files| axum::middleware::from_fn_with_state(files, StaticFiles::serve));
    // On https, browsers should never try plain http again (the session cookie is `Secure`
    // anyway; this also keeps a typed URL's first request off plain http). No
    // `includeSubDomains`: the app cannot speak for other hosts of its domain.
    let hsts = config.auth.wants_hsts().then(|| {
        SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        )
    });
    // Outermost first.
    let layers = tower::ServiceBuilder::new()
        .option_layer(hsts)
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .option_layer(statics)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(config.auth.base_url.clone()),
            canonical_loopback_host,
        ))
        .layer(state.auth.session_layer())
        .layer(axum::middleware::from_fn(page_headers))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(config.auth.base_url.origin().ascii_serialization()),
            same_origin_posts,
        ));
    dynamic_routes(&state, config)
        .with_state(state)
        .layer(layers)
}

/// The site's files, read into memory once now (`crate::server::static_files`); `None` under
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
            crate::services::demo_api::router(
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
            // The state, one `Arc`: the closure is cloned with the route whenever it renders
            // (`page_cache::PageCacheService`).
            {
                let state = state.clone();
                move || shell(&state.leptos_options)
            },
        )
        .layer(PageCache::new(state.auth.clone()).layer());
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

/// The signed-in user as JSON, for scripts and other front ends: an example of a plain axum handler
/// behind the `SignedInUser` guard (anonymous callers get 401).
async fn me(SignedInUser(logto): SignedInUser) -> axum::response::Response {
    match logto.require_user() {
        Ok(user) => axum::Json(crate::api::UserView::from(user)).into_response(),
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
