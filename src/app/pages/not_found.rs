//! Any other path.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{i18n::td_string, lang::use_locale};

#[component]
pub(crate) fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::api::ssr::set_status(404);
    let locale = use_locale();
    view! {
        <Title text=td_string!(locale, not_found) />
        <section class="card">
            <h1>{td_string!(locale, not_found)}</h1>
            <p><a href="/">{td_string!(locale, back_to_start)}</a></p>
        </section>
    }
}
