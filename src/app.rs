use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::{provide_meta_context, Title};
use leptos_router::{
    components::{Redirect, Route, Router, Routes},
    hooks::{use_location, use_query_map},
    path, SsrMode,
};

use crate::{
    api::{
        call_api, current_user, facebook_profile, my_sessions, organization_token, AppError,
        CallbackOutcome, EndSession, OrganizationView, SessionView, SetLanguage, SignIn,
        SignInMode, SignOut, SignOutEverywhere, UserView,
    },
    i18n::{td, td_string},
    lang::{format_datetime, use_locale, Locale},
    views::{ApiCallView, ApiOutcome, ClaimValue, FacebookView, OrgTokenView},
};

/// The HTML document around the app, rendered once per request on the server.
#[cfg(feature = "ssr")]
pub fn shell(options: &LeptosOptions) -> impl IntoView + use<> {
    use crate::assets::{site_assets, watching, IslandScripts};
    use leptos_meta::MetaTags;

    set_content_security_policy();
    let assets = site_assets(options);
    let stylesheet = assets.stylesheet_href.as_str();
    // The page reloads itself only under `cargo leptos watch`: no options copied otherwise.
    let reload = watching().then(|| view! { <AutoReload options=options.clone() /> });
    let locale = crate::lang::of_current_request();
    view! {
        <!DOCTYPE html>
        <html lang=crate::lang::tag(locale)>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link rel="stylesheet" id="leptos" href=stylesheet />
                {reload}
                <IslandScripts assets />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// A strict CSP that still lets hydration run: scripts only from us or with this response's nonce
/// (Leptos puts it on its inline hydration script), WASM compilation allowed, forms may post to us
/// and be redirected to Logto, no framing.
///
/// `form-action` applies to every redirect of a form's submission, so it names the app and Logto,
/// and that is enough for "Continue with Facebook" without JavaScript too: Logto answers
/// `direct_sign_in=social:facebook` with a 303 to its own `/direct/social/facebook` page
/// (logto-io/logto `packages/core/src/oidc/utils.ts`, `buildLoginPromptUrl`), which then goes to
/// facebook.com by script (`packages/experience/src/pages/DirectSignIn`, `invokeSocialSignIn`,
/// `use-global-redirect-to.ts`: `window.location.assign`): a navigation of Logto's page, not of
/// this form, so facebook.com needs no place here.
#[cfg(feature = "ssr")]
fn set_content_security_policy() {
    use axum::http::{header::CONTENT_SECURITY_POLICY, HeaderValue};

    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    let nonce = leptos::nonce::use_nonce()
        .map(|n| format!(" 'nonce-{n}'"))
        .unwrap_or_default();
    let logto = use_context::<crate::api::ssr::LogtoClient>()
        .map(|c| {
            format!(
                " {}",
                c.provider.config().endpoint.origin().ascii_serialization()
            )
        })
        .unwrap_or_default();
    // `cargo leptos watch` reloads the page over a websocket on another port.
    let dev_reload = if cfg!(debug_assertions) {
        " ws://127.0.0.1:* ws://localhost:*"
    } else {
        ""
    };
    let csp = format!(
        "default-src 'self'; script-src 'self'{nonce} 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data: https:{logto}; connect-src 'self'{dev_reload}; \
         form-action 'self'{logto}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    );
    match HeaderValue::from_str(&csp) {
        Ok(value) => response.insert_header(CONTENT_SECURITY_POLICY, value),
        Err(err) => tracing::error!("invalid CSP header: {err}"),
    }
}

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

/// English or Thai: a plain form post (with or without JavaScript) that remembers the choice in a
/// cookie and comes back to this page. Each name is written in its own language.
#[component]
fn LanguageSwitch() -> impl IntoView {
    let locale = use_locale();
    let location = use_location();
    let back_to = here_without_actions(
        &location.pathname.get_untracked(),
        &location.search.get_untracked(),
    );
    let option = move |value: Locale, name: &'static str| {
        view! {
            <button
                type="submit"
                class="lang-option"
                name="lang"
                value=crate::lang::tag(value)
                lang=crate::lang::tag(value)
                aria-pressed=(value == locale).to_string()
            >
                {name}
            </button>
        }
    };
    view! {
        <form method="post" action=SetLanguage::url() class="lang-switch">
            <input type="hidden" name="return_to" value=back_to />
            <div class="lang-options" role="group" aria-label=td_string!(locale, language.label)>
                {option(Locale::en, td_string!(locale, language.en))}
                {option(Locale::th, td_string!(locale, language.th))}
            </div>
        </form>
    }
}

/// Switches colour theme in the browser. Disabled until the WASM has hydrated it, so without
/// JavaScript it is visibly inert rather than silently broken. The page around it is static HTML
/// (not an island), so the theme is written onto `.page` directly. One label ("Dark theme"), its
/// state in `aria-pressed`: a label that flipped too would be read as "Light theme, pressed". Its
/// words come from the server as a prop (see `lang`).
#[island]
fn ThemeToggle(label: String) -> impl IntoView {
    let (theme, set_theme) = signal("light");
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    Effect::new(move |_| {
        let theme = theme.get();
        #[cfg(feature = "hydrate")]
        if let Ok(Some(page)) = document().query_selector(".page") {
            let _ = page.set_attribute("data-theme", theme);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = theme;
    });
    view! {
        <button
            type="button"
            class="theme-toggle"
            disabled=move || !hydrated.get()
            aria-pressed=move || (theme.get() == "dark").to_string()
            on:click=move |_| set_theme.update(|t| *t = if *t == "dark" { "light" } else { "dark" })
        >
            {label}
        </button>
    }
}

/// Renders `signed_in` or `signed_out` from the session's user. SSR runs `signed_in` again each
/// time it walks the Suspense's children, so it only builds views: a resource created in it is a
/// fresh one each time, which Leptos can wait on forever (leptos-rs/leptos#4866; here the sessions
/// page hung about once in twenty views with SQLite). Pages create their resources at their top
/// (`for_signed_in_user`, `query_action`) and pass them in.
#[component]
fn AuthGate(
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

/// Depends on the signed-in user only, so the page cache may keep it (see `page_cache`).
#[component]
fn HomePage() -> impl IntoView {
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

#[component]
fn ProfilePage() -> impl IntoView {
    let locale = use_locale();
    let api = query_action("call", |_| call_api());
    let org_token = query_action("organization", organization_token);
    let facebook = query_action("facebook", |_| facebook_profile());
    view! {
        <Title text=td_string!(locale, profile.title) />
        <AuthGate
            signed_in=move |u| {
                let locale = use_locale();
                view! {
                    <h1>{td_string!(locale, profile.title)}</h1>
                    <UserCard user=UserCardView::new(u.clone(), locale) />
                    <ApiCard result=api />
                    <OrganizationsCard organizations=u.organizations.clone() token=org_token />
                    {has_facebook(&u).then(|| view! { <FacebookCard profile=facebook /> })}
                    <section class="card">
                        <h2>{td_string!(locale, profile.claims)}</h2>
                        <ClaimsTable claims=u.claims />
                    </section>
                }.into_any()
            }
            signed_out=|| view! { <SignInFirst /> }.into_any()
        />
    }
}

/// The user's sessions in this app: where they are signed in, ending one, or all of them.
/// Plain form posts (no island): they work the same with or without JavaScript.
#[component]
fn SessionsPage() -> impl IntoView {
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

/// Call in a page component's body, never inside a Suspense (see `AuthGate`). It waits for the
/// user first so that a signed-out visitor costs no server call (which would answer 401 and log
/// a refusal on a page that only sends them to sign in).
fn for_signed_in_user<T, Fut>(load: impl Fn() -> Fut + Send + Sync + 'static) -> SignedInResource<T>
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

#[component]
fn SessionsList(sessions: SignedInResource<Vec<SessionView>>) -> impl IntoView {
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
fn SessionItem(session: SessionView) -> impl IntoView {
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

/// For pages only signed-in users may see (render it for signed-out visitors): sends the browser
/// to sign in, and back to this page, query included, after.
#[component]
pub fn SignInFirst() -> impl IntoView {
    let here = current_path_and_query();
    view! { <Redirect path=format!("/sign-in?return_to={}", url_encode(&here)) /> }
}

/// Where the language switch comes back to: this page without the actions its query runs when it
/// renders (the profile page's `call`, `organization`, `facebook`; the callback's code and state,
/// which are used up), so switching language never calls the API or Logto again.
fn here_without_actions(path: &str, search: &str) -> String {
    if path == "/callback" {
        return "/".to_owned();
    }
    let kept: Vec<&str> = search
        .trim_start_matches('?')
        .split('&')
        .filter(|pair| {
            // Names as the page reads them (decoded): `c%61ll=api` is `call=api`.
            let name = percent_decode(pair.split('=').next().unwrap_or_default());
            !pair.is_empty() && !QUERY_ACTIONS.contains(&name.as_str())
        })
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// `application/x-www-form-urlencoded` decoding of one name (`+` is a space, `%XX` a byte).
fn percent_decode(raw: &str) -> String {
    percent_encoding::percent_decode_str(&raw.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The query names that run an action when a page renders (see `query_action`).
const QUERY_ACTIONS: [&str; 3] = ["call", "organization", "facebook"];

/// This page's path and query, for coming back to it.
fn current_path_and_query() -> String {
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
fn url_encode(s: &str) -> String {
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
fn query_action<T, Fut>(
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
fn action_result<T>(
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

#[component]
fn OrgTokenResult(result: OrgTokenView) -> impl IntoView {
    let locale = use_locale();
    match result {
        OrgTokenView::Issued {
            organization_id,
            claims,
        } => {
            let attr_id = organization_id.clone();
            view! {
                <div class="org-token" role="status" data-org-id=attr_id>
                    <p class="note">{td!(locale, orgs.issued, id = organization_id, <code> = <code />)}</p>
                    <ClaimsTable claims />
                </div>
            }
            .into_any()
        }
        OrgTokenView::Refused { organization_id } => view! {
            <p class="note note-error org-token-refused" role="alert">
                {td!(locale, orgs.refused, id = organization_id, <code> = <code />)}
            </p>
        }
        .into_any(),
        OrgTokenView::LogtoUnavailable => view! {
            <p class="note note-error" role="alert">{td_string!(locale, orgs.logto_unavailable)}</p>
        }
        .into_any(),
    }
}

#[component]
fn AppErrorNote(error: AppError) -> impl IntoView {
    let text = app_error_text(use_locale(), &error);
    view! { <p class="note note-error" role="alert" data-app-error=format!("{error:?}")>{text}</p> }
}

/// What the UI says for an [`AppError`] (its `Display` is the English, for logs and API callers).
pub fn app_error_text(locale: Locale, error: &AppError) -> &'static str {
    match error {
        AppError::Unauthenticated => td_string!(locale, app_errors.unauthenticated),
        AppError::SessionStore => td_string!(locale, app_errors.session_store),
        AppError::ProviderUnavailable => td_string!(locale, app_errors.provider_unavailable),
        AppError::Forbidden => td_string!(locale, app_errors.forbidden),
        AppError::CrossSite => td_string!(locale, app_errors.cross_site),
        AppError::UnknownLanguage => td_string!(locale, app_errors.unknown_language),
        AppError::Internal => td_string!(locale, app_errors.internal),
    }
}

/// The Facebook card is for users with a Facebook identity linked in Logto (the server function
/// checks it again: `services::facebook_profile`).
fn has_facebook(user: &UserView) -> bool {
    user.identities.iter().any(|i| i == "facebook")
}

#[component]
fn ApiCard(result: SignedInResource<ApiCallView>) -> impl IntoView {
    let locale = use_locale();
    view! {
        <section class="card" aria-labelledby="api-title">
            <h2 id="api-title">{td_string!(locale, api.title)}</h2>
            <p class="muted">{td_string!(locale, api.intro)}</p>
            <form method="get" action="/profile">
                <button
                    type="submit"
                    class="btn"
                    name="call"
                    value="api"
                >
                    {td_string!(locale, api.call)}
                </button>
            </form>
            {action_result(result, td_string!(locale, api.calling), |v| view! { <ApiResult result=v /> }.into_any())}
        </section>
    }
}

#[component]
fn ApiResult(result: ApiCallView) -> impl IntoView {
    let locale = use_locale();
    let status = result.status.map(|s| format!(" ({s})")).unwrap_or_default();
    let message = match result.outcome {
        ApiOutcome::Ok => td_string!(locale, api.ok, status = status).to_string(),
        ApiOutcome::Unauthorized => {
            td_string!(locale, api.unauthorized, status = status).to_string()
        }
        ApiOutcome::Forbidden => td_string!(locale, api.forbidden, status = status).to_string(),
        ApiOutcome::Failed => td_string!(locale, api.failed, status = status).to_string(),
        ApiOutcome::Unreachable => td_string!(locale, api.unreachable).to_owned(),
        ApiOutcome::TokenRefused => td_string!(locale, api.token_refused).to_owned(),
        ApiOutcome::LogtoUnavailable => td_string!(locale, api.logto_unavailable).to_owned(),
        ApiOutcome::NotConfigured => td_string!(locale, api.not_configured).to_owned(),
    };
    let ok = result.outcome == ApiOutcome::Ok;
    view! {
        <div class="api-result" role="status" data-outcome=format!("{:?}", result.outcome)>
            <p class=if ok { "note" } else { "note note-error" }>{message}</p>
            {result.retried.then(|| view! { <p class="muted">{td_string!(locale, api.retried)}</p> })}
            {result.body.map(|b| view! { <pre class="api-body"><code>{b}</code></pre> })}
        </div>
    }
}

#[component]
fn OrganizationsCard(
    organizations: Vec<OrganizationView>,
    token: SignedInResource<OrgTokenView>,
) -> impl IntoView {
    let locale = use_locale();
    let list = if organizations.is_empty() {
        view! { <p class="muted">{td_string!(locale, orgs.none)}</p> }.into_any()
    } else {
        view! {
            <ul class="orgs">
                {organizations
                    .into_iter()
                    .map(|o| {
                        let label = o.name.clone().unwrap_or_else(|| o.id.clone());
                        let roles = if o.roles.is_empty() { td_string!(locale, orgs.no_role).to_owned() } else { o.roles.join(", ") };
                        let (attr_id, form_id) = (o.id.clone(), o.id);
                        view! {
                            <li class="org" data-org-id=attr_id>
                                <span class="org-name">{label}</span>
                                " "
                                <span class="badge org-roles">{roles}</span>
                                <form method="get" action="/profile">
                                    <button
                                        type="submit"
                                        class="btn btn-inline"
                                        name="organization"
                                        value=form_id
                                    >
                                        {td_string!(locale, orgs.get_token)}
                                    </button>
                                </form>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        }
        .into_any()
    };
    view! {
        <section class="card" aria-labelledby="orgs-title">
            <h2 id="orgs-title">{td_string!(locale, orgs.title)}</h2>
            {list}
            {action_result(token, td_string!(locale, orgs.asking), |v| view! { <OrgTokenResult result=v /> }.into_any())}
        </section>
    }
}

#[component]
fn FacebookCard(profile: SignedInResource<FacebookView>) -> impl IntoView {
    let locale = use_locale();
    view! {
        <section class="card" aria-labelledby="facebook-title">
            <h2 id="facebook-title">{td_string!(locale, facebook.title)}</h2>
            <p class="muted">{td_string!(locale, facebook.intro)}</p>
            <form method="get" action="/profile">
                <button
                    type="submit"
                    class="btn btn-facebook"
                    name="facebook"
                    value="1"
                >
                    <FacebookLogo />
                    <span>{td_string!(locale, facebook.load)}</span>
                </button>
            </form>
            {action_result(profile, td_string!(locale, facebook.asking), |v| view! { <FacebookResult result=v /> }.into_any())}
        </section>
    }
}

#[component]
fn FacebookResult(result: FacebookView) -> impl IntoView {
    let locale = use_locale();
    let kind = match &result {
        FacebookView::Profile { .. } => "profile",
        FacebookView::NotLinked => "not_linked",
        FacebookView::NotStored => "not_stored",
        FacebookView::Expired => "expired",
        FacebookView::RejectedByFacebook => "rejected",
        FacebookView::AccountApiDisabled => "account_api_disabled",
        FacebookView::Unavailable => "unavailable",
    };
    let body = match result {
        FacebookView::Profile { id, name, picture } => {
            let name = name.unwrap_or_else(|| td_string!(locale, facebook.no_name).to_owned());
            let alt = td_string!(locale, facebook.picture_alt, name = name.clone()).to_string();
            view! {
                <div class="facebook-profile">
                    {picture.map(|src| view! { <img class="avatar" src=src alt=alt referrerpolicy="no-referrer" /> })}
                    <div>
                        <p class="facebook-name">{name.clone()}</p>
                        <p class="muted">{td!(locale, facebook.id, id = id, <code> = <code />)}</p>
                    </div>
                </div>
            }
            .into_any()
        }
        other => {
            let text = match other {
                FacebookView::NotLinked => td_string!(locale, facebook.not_linked),
                FacebookView::NotStored => td_string!(locale, facebook.not_stored),
                FacebookView::Expired => td_string!(locale, facebook.expired),
                FacebookView::RejectedByFacebook => td_string!(locale, facebook.rejected),
                FacebookView::AccountApiDisabled => {
                    td_string!(locale, facebook.account_api_disabled)
                }
                _ => td_string!(locale, facebook.unavailable),
            };
            view! { <p class="note note-error">{text}</p> }.into_any()
        }
    };
    view! { <div class="facebook-result" role="status" data-facebook=kind>{body}</div> }
}

/// Where protected pages send signed-out visitors; keeps `return_to` for the way back.
#[component]
fn SignInPage() -> impl IntoView {
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

/// The sign-in buttons' words, in the page's language (islands get them as props).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AuthLabels {
    sign_in: String,
    create_account: String,
    facebook: String,
}

impl AuthLabels {
    fn new(locale: Locale) -> Self {
        Self {
            sign_in: td_string!(locale, buttons.sign_in).to_owned(),
            create_account: td_string!(locale, buttons.create_account).to_owned(),
            facebook: td_string!(locale, buttons.facebook).to_owned(),
        }
    }
}

/// Sign-in choices (an island: with JavaScript the buttons say they are busy while the server
/// prepares the redirect to Logto; without, they are plain form posts to the same server function).
#[island]
fn AuthButtons(return_to: Option<String>, labels: AuthLabels) -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let pending = action.pending();
    let button = move |mode: SignInMode, class: &'static str, label: AnyView| {
        let return_to = return_to.clone().unwrap_or_default();
        let mode_value = match mode {
            SignInMode::SignIn => "sign_in",
            SignInMode::Register => "register",
            SignInMode::Facebook => "facebook",
        };
        view! {
            <ActionForm action>
                <input type="hidden" name="mode" value=mode_value />
                <input type="hidden" name="return_to" value=return_to />
                <button type="submit" class=format!("btn {class}") disabled=move || pending.get()>
                    {label}
                </button>
            </ActionForm>
        }
    };
    view! {
        <div class="actions">
            {button(SignInMode::SignIn, "btn-primary", view! { {labels.sign_in} }.into_any())}
            {button(SignInMode::Register, "", view! { {labels.create_account} }.into_any())}
            {button(
                SignInMode::Facebook,
                "btn-facebook",
                view! { <FacebookLogo /> <span>{labels.facebook}</span> }.into_any(),
            )}
        </div>
    }
}

#[component]
fn FacebookLogo() -> impl IntoView {
    view! {
        <svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path d="M24 12.07C24 5.4 18.63 0 12 0S0 5.4 0 12.07C0 18.1 4.39 23.1 10.13 24v-8.44H7.08v-3.49h3.05V9.41c0-3.02 1.8-4.7 4.54-4.7 1.31 0 2.68.24 2.68.24v2.97h-1.51c-1.49 0-1.96.93-1.96 1.89v2.26h3.33l-.53 3.49h-2.8V24C19.61 23.1 24 18.1 24 12.07z" />
        </svg>
    }
}

/// What the signed-in card shows, words included: only these go into the page as the island's
/// props.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UserCardView {
    name: String,
    email: Option<String>,
    picture: Option<String>,
    picture_alt: String,
    /// "via facebook", when signed in through a social connector.
    via: Option<String>,
    card_label: String,
    sign_out: String,
}

impl UserCardView {
    pub fn new(user: UserView, locale: Locale) -> Self {
        let name = user
            .display_name()
            .unwrap_or_else(|| td_string!(locale, user.fallback_name).to_owned());
        Self {
            picture_alt: td_string!(locale, user.picture_alt, name = name.clone()).to_string(),
            via: (!user.identities.is_empty()).then(|| {
                let names: Vec<&str> = user.identities.iter().map(|i| connector_name(i)).collect();
                td_string!(locale, user.via, list = names.join(", ")).to_string()
            }),
            card_label: td_string!(locale, user.card_label).to_owned(),
            sign_out: td_string!(locale, buttons.sign_out).to_owned(),
            name,
            email: user.email,
            picture: user.picture,
        }
    }
}

/// A social connector's brand name for its Logto target id (`facebook` → `Facebook`); ids we do
/// not know are shown as they are.
fn connector_name(target: &str) -> &str {
    match target {
        "facebook" => "Facebook",
        "google" => "Google",
        "github" => "GitHub",
        "apple" => "Apple",
        "microsoft" | "azuread" => "Microsoft",
        "line" => "LINE",
        "discord" => "Discord",
        "x" | "twitter" => "X",
        other => other,
    }
}

/// The signed-in user and the sign-out button (an island: the button shows that it is busy).
#[island]
fn UserCard(user: UserCardView) -> impl IntoView {
    let name = user.name.clone();
    let initial = name
        .chars()
        .next()
        .unwrap_or('?')
        .to_uppercase()
        .to_string();
    let sign_out = ServerAction::<SignOut>::new();
    let pending = sign_out.pending();
    let avatar = match user.picture.clone() {
        Some(src) => view! { <img class="avatar" src=src alt=user.picture_alt.clone() referrerpolicy="no-referrer" /> }.into_any(),
        None => view! { <span class="avatar avatar-fallback" aria-hidden="true">{initial}</span> }.into_any(),
    };
    let via = user
        .via
        .clone()
        .map(|via| view! { <span class="badge">{via}</span> });
    view! {
        <section class="card user" aria-label=user.card_label.clone()>
            {avatar}
            <div class="user-info">
                <h2 class="user-name">{name.clone()}</h2>
                {user.email.clone().map(|e| view! { <p class="muted user-email">{e}</p> })}
                {via}
            </div>
            <ActionForm action=sign_out>
                <button type="submit" class="btn btn-inline" disabled=move || pending.get()>{user.sign_out.clone()}</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn ClaimsTable(claims: Vec<(String, ClaimValue)>) -> impl IntoView {
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

/// The registered redirect URI. Rendering it runs `finish_sign_in`, which either redirects
/// (signed in) or sets a 4xx/5xx status and we show why.
#[component]
fn CallbackPage() -> impl IntoView {
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

fn server_error_code(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(m) if m == "session_store_unavailable" => m.clone(),
        _ => "internal".to_owned(),
    }
}

/// Where failed sign-ins land (e.g. Logto unreachable when the button was pressed).
#[component]
fn AuthErrorPage() -> impl IntoView {
    let query = use_query_map();
    let code = query
        .with_untracked(|q| q.get("code"))
        .unwrap_or_else(|| "internal".to_owned());
    #[cfg(feature = "ssr")]
    crate::api::ssr::set_status(auth_error_text(Locale::en, &code).2);
    view! { <ErrorCard code /> }
}

#[component]
fn ErrorCard(code: String) -> impl IntoView {
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

/// User-facing text per error code: (title, message, HTTP status).
pub fn auth_error_text(locale: Locale, code: &str) -> (&'static str, &'static str, u16) {
    macro_rules! text {
        ($key:ident, $status:expr) => {
            (
                td_string!(locale, errors.$key.title),
                td_string!(locale, errors.$key.message),
                $status,
            )
        };
    }
    match code {
        "provider_unavailable" => text!(provider_unavailable, 503),
        "provider_misconfigured" => text!(provider_misconfigured, 500),
        "state_mismatch" => text!(state_mismatch, 400),
        "access_denied" => text!(access_denied, 403),
        "login_required" => text!(login_required, 400),
        "issuer_mismatch" | "invalid_id_token" | "missing_code" | "provider_error" => {
            text!(rejected_answer, 400)
        }
        "token_exchange_failed" | "userinfo_failed" => text!(not_completed, 502),
        "session_expired" => text!(session_expired, 401),
        "rate_limited" => text!(rate_limited, 429),
        "session_store_unavailable" => text!(session_store_unavailable, 503),
        _ => text!(internal, 500),
    }
}

#[component]
fn NotFound() -> impl IntoView {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserView {
        UserView {
            sub: "u1".into(),
            name: None,
            username: None,
            email: None,
            email_verified: None,
            picture: None,
            identities: vec![],
            organizations: vec![],
            claims: vec![],
        }
    }

    #[test]
    fn the_user_card_names_the_user_in_the_readers_language() {
        let mut u = user();
        assert_eq!(
            UserCardView::new(u.clone(), Locale::en).name,
            "Signed-in user"
        );
        assert_eq!(
            UserCardView::new(u.clone(), Locale::th).name,
            "ผู้ใช้ที่เข้าสู่ระบบอยู่"
        );
        u.email = Some("a@x.test".into());
        assert_eq!(UserCardView::new(u.clone(), Locale::en).name, "a@x.test");
        u.username = Some("alice".into());
        assert_eq!(UserCardView::new(u.clone(), Locale::en).name, "alice");
        u.name = Some("Alice".into());
        let card = UserCardView::new(u.clone(), Locale::th);
        assert_eq!(card.name, "Alice");
        assert_eq!(card.picture_alt, "รูปของ Alice");
        assert_eq!(card.sign_out, "ออกจากระบบ");
        assert_eq!(card.via, None);
        u.identities = vec!["facebook".into()];
        assert_eq!(
            UserCardView::new(u, Locale::en).via.as_deref(),
            Some("via Facebook")
        );
    }

    #[test]
    fn the_language_switch_comes_back_without_the_pages_actions() {
        let back = |path: &str, search: &str| here_without_actions(path, search);
        assert_eq!(back("/", ""), "/");
        assert_eq!(back("/profile", "?call=api"), "/profile");
        assert_eq!(
            back("/profile", "?x=1&organization=org-acme&facebook=1&y=%2F"),
            "/profile?x=1&y=%2F"
        );
        // The names the page acts on, however they are written.
        assert_eq!(back("/profile", "c%61ll=api&keep"), "/profile?keep");
        assert_eq!(back("/profile", "call&facebook="), "/profile");
        assert_eq!(
            back("/profile", "callback=1&%=2&a%2"),
            "/profile?callback=1&%=2&a%2"
        );
        assert_eq!(
            back("/sign-in", "?return_to=%2Fprofile%3Fcall%3Dapi"),
            "/sign-in?return_to=%2Fprofile%3Fcall%3Dapi",
            "only this page's own actions"
        );
        // The callback uses up its state: never back there.
        assert_eq!(back("/callback", "?code=c&state=s"), "/");
        assert_eq!(percent_decode("a+b%20c%zz%4"), "a b c%zz%4");
        assert_eq!(percent_decode("c%61ll"), "call");
        assert_eq!(
            url_encode("/profile?call=api&x=ก y~._-"),
            "%2Fprofile%3Fcall%3Dapi%26x%3D%E0%B8%81%20y~._-"
        );
    }

    #[test]
    fn every_error_code_has_its_own_words_in_both_languages() {
        let codes = [
            ("provider_unavailable", 503),
            ("provider_misconfigured", 500),
            ("state_mismatch", 400),
            ("access_denied", 403),
            ("login_required", 400),
            ("invalid_id_token", 400),
            ("token_exchange_failed", 502),
            ("session_expired", 401),
            ("rate_limited", 429),
            ("session_store_unavailable", 503),
            ("no_such_code", 500),
        ];
        let mut messages = std::collections::BTreeSet::new();
        for (code, status) in codes {
            let (en_title, en_message, en_status) = auth_error_text(Locale::en, code);
            let (th_title, th_message, th_status) = auth_error_text(Locale::th, code);
            assert_eq!((en_status, th_status), (status, status), "{code}");
            assert_ne!(en_title, th_title, "{code}");
            assert_ne!(en_message, th_message, "{code}");
            messages.insert(en_message);
        }
        assert_eq!(messages.len(), codes.len(), "each code its own message");
        for error in [
            AppError::Unauthenticated,
            AppError::UnknownLanguage,
            AppError::Internal,
        ] {
            assert_eq!(app_error_text(Locale::en, &error), error.to_string());
            assert_ne!(app_error_text(Locale::th, &error), error.to_string());
        }
    }
}
