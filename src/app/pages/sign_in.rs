//! `/sign-in`: where protected pages send signed-out visitors.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{i18n::td_string, lang::use_locale};

use crate::app::*;

/// Where protected pages send signed-out visitors; keeps `return_to` for the way back.
#[component]
pub(crate) fn SignInPage() -> impl IntoView {
    // Depends on the query only, so the page cache may keep it (see `page_cache`).
    #[cfg(feature = "ssr")]
    crate::page_cache::allow_caching();
    let query = use_query_map();
    let return_to = move || query.with(|q| q.get("return_to"));
    let locale = use_locale();
    view! {
        <Title text=td_string!(locale, sign_in_page.title) />
        <section class="card">
            <h1>{td_string!(locale, sign_in_page.heading)}</h1>
            <p class="muted">{td_string!(locale, sign_in_page.note)}</p>
            {move || view! { <AuthButtons return_to=return_to() labels=AuthLabels::new(locale) /> }}
        </section>
    }
}
