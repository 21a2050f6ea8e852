//! The UI: the router (`App`) and what every page shares; the pages are in `pages/`, the
//! islands (the only components whose code reaches the browser) in `islands.rs`.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

use crate::{
    api::{current_user, AppError, UserView},
    i18n::td_string,
    lang::use_locale,
};

mod components;
mod header;
mod islands;
mod pages;
#[cfg(feature = "ssr")]
mod shell;
mod signed_in;
mod texts;

use components::*;
use header::*;
use islands::*;
use pages::*;
use signed_in::*;
use texts::*;

#[cfg(feature = "ssr")]
pub use shell::shell;
pub use signed_in::SignInFirst;
pub use texts::{app_error_text, auth_error_text};

/// The signed-in user as a blocking resource: SSR waits for it, so pages are complete without JS.
type UserResource = Resource<Result<Option<UserView>, ServerFnError>>;

/// A server function's answer that only a signed-in user gets: `None` for anyone else, and for
/// a profile action nobody asked for.
type SignedInResource<T> = Resource<Option<Result<T, AppError>>>;

/// Pages are rendered on the server only (Leptos islands): the browser's WASM holds just the
/// `#[island]` components (theme switch, sign-in and sign-out buttons), which keeps it small.
/// Everything else is plain HTML with forms, so it works the same without JavaScript.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    #[cfg(feature = "ssr")]
    provide_context(crate::lang::of_current_request());
    let locale = use_locale();
    let user: UserResource = Resource::new_blocking(|| (), |_| current_user());
    provide_context(user);
    view! {
        <Title text=td_string!(locale, app_title) />
        <Router>
            <div class="page" data-theme="light">
                <header class="topbar">
                    <a class="brand" href="/">{td_string!(locale, brand)}</a>
                    <nav class="nav" aria-label=td_string!(locale, nav.label)>
                        <a href="/profile">{td_string!(locale, nav.profile)}</a>
                        <a href="/sessions">{td_string!(locale, nav.sessions)}</a>
                        <LanguageSwitch />
                        <ThemeToggle label=td_string!(locale, theme.dark).to_owned() />
                    </nav>
                </header>
                <main>
                    <Routes fallback=NotFound>
                        // Async: pages are rendered whole before sending, so they are complete
                        // without JavaScript and the callback's redirect/status are set in time.
                        <Route path=path!("") view=HomePage ssr=SsrMode::Async />
                        <Route path=path!("profile") view=ProfilePage ssr=SsrMode::Async />
                        <Route path=path!("sessions") view=SessionsPage ssr=SsrMode::Async />
                        <Route path=path!("sign-in") view=SignInPage ssr=SsrMode::Async />
                        <Route path=path!("callback") view=CallbackPage ssr=SsrMode::Async />
                        <Route path=path!("auth/error") view=AuthErrorPage ssr=SsrMode::Async />
                    </Routes>
                </main>
                <footer class="footer">{td_string!(locale, footer)}</footer>
            </div>
        </Router>
    }
}
