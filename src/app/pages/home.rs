//! `/`: who is signed in, or the sign-in buttons.

use leptos::prelude::*;

use crate::{i18n::td_string, lang::use_locale};

use crate::app::*;

/// Depends on the signed-in user only, so the page cache may keep it (see `page_cache`).
#[component]
pub(crate) fn HomePage() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::page_cache::allow_caching();
    view! {
        <AuthGate
            signed_in=|u| {
                let locale = use_locale();
                view! {
                    <h1 class="sr-only">{td_string!(locale, home.signed_in_heading)}</h1>
                    <UserCard user=UserCardView::new(u.clone(), locale) />
                    <section class="card">
                        <h2>{td_string!(locale, home.your_claims)}</h2>
                        <ClaimsTable claims=u.claims />
                    </section>
                }.into_any()
            }
            signed_out=|| {
                let locale = use_locale();
                view! {
                    <section class="card hero">
                        <h1>{td_string!(locale, home.heading)}</h1>
                        <p>{td_string!(locale, home.intro)}</p>
                        <AuthButtons return_to=None labels=AuthLabels::new(locale) />
                    </section>
                }.into_any()
            }
        />
    }
}
