//! Small views several pages use: a claims table, an error note, the sign-in error card.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::AppError,
    i18n::td_string,
    lang::{format_datetime, use_locale},
    views::ClaimValue,
};

use crate::app::*;

#[component]
pub(crate) fn AppErrorNote(error: AppError) -> impl IntoView {
    let text = app_error_text(use_locale(), &error);
    view! { <p class="note note-error" role="alert" data-app-error=format!("{error:?}")>{text}</p> }
}

#[component]
pub(crate) fn ClaimsTable(claims: Vec<(String, ClaimValue)>) -> impl IntoView {
    let locale = use_locale();
    view! {
        <table class="claims">
            <tbody>
                {claims
                    .into_iter()
                    .map(|(k, v)| {
                        let shown = match v {
                            ClaimValue::Text(text) => text,
                            ClaimValue::Time(secs) => format_datetime(locale, secs, true),
                        };
                        view! { <tr><th scope="row">{k}</th><td><code>{shown}</code></td></tr> }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
pub(crate) fn ErrorCard(code: String) -> impl IntoView {
    let locale = use_locale();
    let (title, message, _) = auth_error_text(locale, &code);
    view! {
        <Title text=title />
        <section class="card error" role="alert" data-error-code=code>
            <h1>{title}</h1>
            <p>{message}</p>
            <AuthButtons return_to=None labels=AuthLabels::new(locale) />
            <p><a href="/">{td_string!(locale, back_to_start)}</a></p>
        </section>
    }
}
