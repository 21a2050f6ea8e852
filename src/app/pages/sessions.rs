//! `/sessions`: the user's sessions in this app, ending one or all.

use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::Title;

use crate::{
    api::{my_sessions, EndSession, SessionView, SignOutEverywhere},
    i18n::td_string,
    lang::{format_datetime, use_locale},
};

use crate::app::*;

/// The user's sessions in this app: where they are signed in, ending one, or all of them.
/// Plain form posts (no island): they work the same with or without JavaScript.
#[component]
pub(crate) fn SessionsPage() -> impl IntoView {
    let locale = use_locale();
    let sessions = for_signed_in_user(my_sessions);
    view! {
        <Title text=td_string!(locale, sessions.title) />
        <AuthGate
            signed_in=move |_| view! { <SessionsList sessions /> }.into_any()
            signed_out=|| view! { <SignInFirst /> }.into_any()
        />
    }
}

#[component]
pub(crate) fn SessionsList(sessions: SignedInResource<Vec<SessionView>>) -> impl IntoView {
    let locale = use_locale();
    view! {
        <section class="card" aria-labelledby="sessions-title">
            <h1 id="sessions-title">{td_string!(locale, sessions.title)}</h1>
            <p class="muted">{td_string!(locale, sessions.intro)}</p>
            <Suspense fallback=move || view! { <p class="muted">{td_string!(locale, loading)}</p> }>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Some(Ok(list)) => view! {
                            <ul class="sessions">
                                {list.into_iter().map(|s| view! { <SessionItem session=s /> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Some(Err(e)) => view! { <AppErrorNote error=e /> }.into_any(),
                        None => ().into_any(),
                    }
                })}
            </Suspense>
            <form method="post" action=SignOutEverywhere::url()>
                <button type="submit" class="btn">{td_string!(locale, sessions.sign_out_everywhere)}</button>
            </form>
            <p class="muted">{td_string!(locale, sessions.everywhere_note)}</p>
        </section>
    }
}

#[component]
pub(crate) fn SessionItem(session: SessionView) -> impl IntoView {
    let locale = use_locale();
    let browser = match session
        .browser
        .as_deref()
        .map(|b| b.split_once(crate::views::BROWSER_ON_OS))
    {
        Some(Some((browser, os))) => {
            td_string!(locale, sessions.browser_on, browser = browser, os = os).to_string()
        }
        Some(None) => session.browser.clone().unwrap_or_default(),
        None => td_string!(locale, sessions.unknown_browser).to_owned(),
    };
    let label = td_string!(locale, sessions.end_label, browser = browser.clone()).to_string();
    let times = td_string!(
        locale,
        sessions.times,
        signed_in = format_datetime(locale, session.signed_in, false),
        last_seen = format_datetime(locale, session.last_seen, false)
    )
    .to_string();
    view! {
        <li class="session" data-current=session.current.to_string()>
            <div>
                <strong class="session-browser">{browser}</strong>
                {session.current.then(|| view! { " " <span class="badge">{td_string!(locale, sessions.this_browser)}</span> })}
                <p class="muted">{times}</p>
            </div>
            {(!session.current).then(|| view! {
                <form method="post" action=EndSession::url()>
                    <input type="hidden" name="handle" value=session.handle.clone() />
                    <button type="submit" class="btn btn-inline" aria-label=label>{td_string!(locale, sessions.end)}</button>
                </form>
            })}
        </li>
    }
}
