//! `/callback` (the redirect URI) and `/auth/error`: the end of a sign-in.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{api::CallbackOutcome, i18n::td_string, lang::use_locale};

use crate::app::*;

/// The registered redirect URI. Rendering it runs `finish_sign_in`, which either redirects
/// (signed in) or sets a 4xx/5xx status and we show why.
#[component]
pub(crate) fn CallbackPage() -> impl IntoView {
    let query = use_query_map();
    let outcome = Resource::new_blocking(
        move || {
            query.with(|q| {
                (
                    q.get("code"),
                    q.get("state"),
                    q.get("error"),
                    q.get("error_description"),
                    q.get("iss"),
                )
            })
        },
        |(code, state, error, error_description, iss)| async move {
            crate::api::finish_sign_in(code, state, error, error_description, iss).await
        },
    );
    let locale = use_locale();
    view! {
        <Title text=td_string!(locale, callback.title) />
        <Suspense fallback=move || view! { <p class="muted">{td_string!(locale, callback.signing_in)}</p> }>
            {move || Suspend::new(async move {
                match outcome.await {
                    Ok(CallbackOutcome::Redirected(to)) => view! {
                        <section class="card">
                            <p>{td_string!(locale, callback.done)} " " <a href=to>{td_string!(locale, callback.continue_link)}</a></p>
                        </section>
                    }.into_any(),
                    Ok(CallbackOutcome::Failed(code)) => view! { <ErrorCard code /> }.into_any(),
                    Err(e) => view! { <ErrorCard code=server_error_code(&e) /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Where failed sign-ins land (e.g. Logto unreachable when the button was pressed).
#[component]
pub(crate) fn AuthErrorPage() -> impl IntoView {
    let query = use_query_map();
    let code = query
        .with_untracked(|q| q.get("code"))
        .unwrap_or_else(|| "internal".to_owned());
    #[cfg(feature = "ssr")]
    crate::api::ssr::set_status(auth_error_text(crate::i18n::Locale::en, &code).2);
    view! { <ErrorCard code /> }
}
