//! Start-up (settings, stores, the listener) and graceful shutdown.

use std::{future::IntoFuture, net::SocketAddr, process::ExitCode};

use axum::Router;
use leptos::prelude::*;

use super::{router, AppState};
use crate::{assets::SiteAssets, config::AppConfig};
use logto_axum::LogtoClient;

/// Entry point of the server binary.
pub async fn main() -> ExitCode {
    logto_axum::http::install_crypto();
    init_tracing();
    // Listening for signals from the start: one that comes before the server runs still stops
    // it cleanly (and is not the default action's abrupt exit).
    let shutdown = shutdown_signal();
    let (state, config, addr) = match prepare().await {
        Ok(ready) => ready,
        Err(failure) => {
            tracing::error!("{failure}");
            eprintln!("{failure}");
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
    let served = serve(router(state, &config), addr, shutdown).await;
    auth.shutdown().await;
    if let Err(err) = served {
        tracing::error!("{err}");
        return ExitCode::FAILURE;
    }
    tracing::info!("shut down cleanly");
    ExitCode::SUCCESS
}

/// Everything before listening, each failure worded for the operator: Leptos' settings, the
/// site's files, the app's settings, the stores.
async fn prepare() -> Result<(AppState, AppConfig, SocketAddr), String> {
    let conf =
        get_configuration(None).map_err(|err| format!("invalid Leptos configuration: {err}"))?;
    let addr: SocketAddr = conf.leptos_options.site_addr;
    SiteAssets::new(&conf.leptos_options)
        .and_then(|site| site.check(&conf.leptos_options))
        .map_err(|err| format!("site files: {err}"))?;
    let config = AppConfig::from_env()
        .map_err(|err| format!("configuration error: {err} (see .env.example)"))?;
    let auth = LogtoClient::connect(config.auth.clone(), &config.sessions)
        .await
        .map_err(|err| err.to_string())?;
    let state =
        AppState::new(conf.leptos_options, &config, auth).map_err(|err| format!("{err:#}"))?;
    Ok((state, config, addr))
}

/// Serves `app` on `addr` until `shutdown`.
async fn serve(
    app: Router,
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|err| format!("cannot listen on {addr}: {err}"))?;
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
    match serve.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(format!("server error: {err}")),
        Err(err) => Err(format!("server task failed: {err}")),
    }
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
