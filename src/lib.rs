//! Sign in with Logto (and Facebook through Logto) from a Leptos full-stack app.
//!
//! `app` holds the UI shared by server and browser; everything under `ssr` features
//! (`auth`, `server`, `session`) never reaches the WASM bundle.

pub mod api;
pub mod app;

#[cfg(feature = "ssr")]
pub mod auth;
#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod session;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
