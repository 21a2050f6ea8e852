//! The axum server: the state every request shares (here), the router (`router.rs`), the
//! middleware around pages (`middleware.rs`), the site's files from memory (`static_files.rs`),
//! and start-up and graceful shutdown (`start.rs`).

mod middleware;
mod router;
mod start;
pub mod static_files;

pub use router::router;
pub use start::{log_filter, main};

use std::sync::Arc;

use leptos::prelude::*;

use crate::{config::AppConfig, services::AppServices};
use logto_axum::LogtoClient;

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
            sign_in_limiter: crate::services::rate_limit::SignInLimiter::new(
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
