//! Pages for signed-in users: the gate that renders by the session's user, the resources a page
//! creates at its top (a signed-in user's data, a profile action from the query), and the
//! redirect to sign in.

use leptos::prelude::*;
use leptos_router::{
    components::Redirect,
    hooks::{use_location, use_query_map},
};

use crate::{
    api::{AppError, UserView},
    i18n::td_string,
    lang::use_locale,
};

use crate::app::*;

/// Renders `signed_in` or `signed_out` from the session's user. SSR runs `signed_in` again each
/// time it walks the Suspense's children, so it only builds views: a resource created in it is a
/// fresh one each time, which Leptos can wait on forever (leptos-rs/leptos#4866; here the sessions
/// page hung about once in twenty views with SQLite). Pages create their resources at their top
/// (`for_signed_in_user`, `query_action`) and pass them in.
#[component]
pub(crate) fn AuthGate(
    signed_in: impl Fn(UserView) -> AnyView + Copy + Send + Sync + 'static,
    signed_out: fn() -> AnyView,
) -> impl IntoView {
    let user = expect_context::<UserResource>();
    let locale = use_locale();
    view! {
        <Suspense fallback=move || view! { <p class="muted">{td_string!(locale, loading)}</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(u)) => signed_in(u),
                    Ok(None) => signed_out(),
                    Err(_) => view! { <ErrorCard code="session_store_unavailable".to_owned() /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Call in a page component's body, never inside a Suspense (see `AuthGate`). It waits for the
/// user first so that a signed-out visitor costs no server call (which would answer 401 and log
/// a refusal on a page that only sends them to sign in).
pub(crate) fn for_signed_in_user<T, Fut>(
    load: impl Fn() -> Fut + Send + Sync + 'static,
) -> SignedInResource<T>
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    Fut: std::future::Future<Output = Result<T, AppError>> + Send + 'static,
{
    let user = expect_context::<UserResource>();
    let load = std::sync::Arc::new(load);
    Resource::new_blocking(
        || (),
        move |_| {
            let load = load.clone();
            async move {
                match user.await {
                    Ok(Some(_)) => Some(load().await),
                    _ => None,
                }
            }
        },
    )
}

/// For pages only signed-in users may see (render it for signed-out visitors): sends the browser
/// to sign in, and back to this page, query included, after.
#[component]
pub fn SignInFirst() -> impl IntoView {
    let here = current_path_and_query();
    view! { <Redirect path=format!("/sign-in?return_to={}", url_encode(&here)) /> }
}

/// This page's path and query, for coming back to it.
pub(crate) fn current_path_and_query() -> String {
    let location = use_location();
    let path = location.pathname.get_untracked();
    let search = location.search.get_untracked();
    let search = search.trim_start_matches('?');
    if search.is_empty() {
        path
    } else {
        format!("{path}?{search}")
    }
}

/// Every byte but RFC 3986's unreserved ones percent-encoded: safe as a query value.
pub(crate) fn url_encode(s: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, RESERVED).to_string()
}

/// A profile-page action that runs when its GET form's button put `name=value` in the URL: each
/// press loads the page again and the server renders the result into it, with or without
/// JavaScript. (The name is on the button so the URL carries nothing else.) Call in the page's body
/// (see `AuthGate`). Signed-in users only, as `for_signed_in_user`: a link with the query must
/// not make a signed-out visitor's page call the server function. Blocking, so its answer (and
/// the status it sets) is in before the headers are.
pub(crate) fn query_action<T, Fut>(
    name: &'static str,
    run: impl Fn(String) -> Fut + Send + Sync + 'static,
) -> SignedInResource<T>
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    Fut: std::future::Future<Output = Result<T, AppError>> + Send + 'static,
{
    let query = use_query_map();
    let user = expect_context::<UserResource>();
    let run = std::sync::Arc::new(run);
    Resource::new_blocking(
        move || query.with(|q| q.get(name)),
        move |value| {
            let run = run.clone();
            async move {
                let value = value?;
                match user.await {
                    Ok(Some(_)) => Some(run(value).await),
                    _ => None,
                }
            }
        },
    )
}

/// Under an action's button: nothing until it is asked for, then its answer, or the error.
pub(crate) fn action_result<T>(
    resource: SignedInResource<T>,
    waiting: &'static str,
    show: fn(T) -> AnyView,
) -> impl IntoView
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    view! {
        <Suspense fallback=move || view! { <p class="muted">{waiting}</p> }>
            {move || Suspend::new(async move {
                match resource.await {
                    None => ().into_any(),
                    Some(Ok(v)) => show(v),
                    Some(Err(e)) => view! { <AppErrorNote error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}
