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
        CallbackOutcome, EndSession, OrganizationView, SessionView, SignIn, SignInMode, SignOut,
        SignOutEverywhere, UserView,
    },
    views::{ApiCallView, ApiOutcome, FacebookView, OrgTokenView},
};

/// The HTML document around the app, rendered once per request on the server.
#[cfg(feature = "ssr")]
pub fn shell(options: LeptosOptions) -> impl IntoView {
    use crate::assets::{site_assets, IslandScripts};
    use leptos_meta::MetaTags;

    set_content_security_policy();
    let stylesheet = site_assets(&options).stylesheet_href.as_str();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link rel="stylesheet" id="leptos" href=stylesheet />
                <AutoReload options=options.clone() />
                <IslandScripts options />
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
#[cfg(feature = "ssr")]
fn set_content_security_policy() {
    use axum::http::{header::CONTENT_SECURITY_POLICY, HeaderValue};

    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    let nonce = leptos::nonce::use_nonce()
        .map(|n| format!(" 'nonce-{n}'"))
        .unwrap_or_default();
    let logto = use_context::<crate::api::ssr::AuthContext>()
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

/// Pages are rendered on the server only (Leptos islands): the browser's WASM holds just the
/// `#[island]` components (theme switch, sign-in and sign-out buttons), which keeps it small.
/// Everything else is plain HTML with forms, so it works the same without JavaScript.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let user: UserResource = Resource::new_blocking(|| (), |_| current_user());
    provide_context(user);
    view! {
        <Title text="Sign in with Logto" />
        <Router>
            <div class="page" data-theme="light">
                <header class="topbar">
                    <a class="brand" href="/">"Logto × Leptos"</a>
                    <nav class="nav" aria-label="Main">
                        <a href="/profile">"Profile"</a>
                        <a href="/sessions">"Sessions"</a>
                        <ThemeToggle />
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
                <footer class="footer">
                    "A Rust full-stack reference app for signing in with Logto."
                </footer>
            </div>
        </Router>
    }
}

/// Switches colour theme in the browser. Disabled until the WASM has hydrated it, so without
/// JavaScript it is visibly inert rather than silently broken. The page around it is static HTML
/// (not an island), so the theme is written onto `.page` directly.
#[island]
fn ThemeToggle() -> impl IntoView {
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
            {move || if theme.get() == "dark" { "Light theme" } else { "Dark theme" }}
        </button>
    }
}

/// Renders `signed_in` or `signed_out` from the session's user.
#[component]
fn AuthGate(signed_in: fn(UserView) -> AnyView, signed_out: fn() -> AnyView) -> impl IntoView {
    let user = expect_context::<UserResource>();
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
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
            signed_in=|u| view! {
                <UserCard user=u.clone().into() />
                <section class="card">
                    <h2>"Your claims"</h2>
                    <ClaimsTable claims=u.claims />
                </section>
            }.into_any()
            signed_out=|| view! {
                <section class="card hero">
                    <h1>"Sign in with Logto"</h1>
                    <p>
                        "A Leptos app that signs you in through Logto, with Facebook as a social connector. "
                        "Tokens stay on the server; your browser only holds a session cookie."
                    </p>
                    <AuthButtons return_to=None />
                </section>
            }.into_any()
        />
    }
}

#[component]
fn ProfilePage() -> impl IntoView {
    view! {
        <Title text="Your profile" />
        <AuthGate
            signed_in=|u| view! {
                <h1>"Your profile"</h1>
                <UserCard user=u.clone().into() />
                <ApiCard />
                <OrganizationsCard organizations=u.organizations.clone() />
                {u.identities.iter().any(|i| i == "facebook").then(|| view! { <FacebookCard /> })}
                <section class="card">
                    <h2>"Claims"</h2>
                    <ClaimsTable claims=u.claims />
                </section>
            }.into_any()
            signed_out=|| view! { <SignInFirst /> }.into_any()
        />
    }
}

/// The user's sessions in this app: where they are signed in, ending one, or all of them.
/// Plain form posts (no island): they work the same with or without JavaScript.
#[component]
fn SessionsPage() -> impl IntoView {
    view! {
        <Title text="Your sessions" />
        <AuthGate
            signed_in=|_| view! { <SessionsList /> }.into_any()
            signed_out=|| view! { <SignInFirst /> }.into_any()
        />
    }
}

#[component]
fn SessionsList() -> impl IntoView {
    let sessions = Resource::new_blocking(|| (), |_| my_sessions());
    view! {
        <section class="card" aria-labelledby="sessions-title">
            <h1 id="sessions-title">"Your sessions"</h1>
            <p class="muted">"Where you are signed in to this app. Ending a session signs that browser out at its next request."</p>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Ok(list) => view! {
                            <ul class="sessions">
                                {list.into_iter().map(|s| view! { <SessionItem session=s /> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <AppErrorNote error=e /> }.into_any(),
                    }
                })}
            </Suspense>
            <form method="post" action=SignOutEverywhere::url()>
                <button type="submit" class="btn">"Sign out everywhere"</button>
            </form>
            <p class="muted">"Signs you out of this app in every browser and revokes its refresh tokens there, then ends your Logto session in this browser."</p>
        </section>
    }
}

#[component]
fn SessionItem(session: SessionView) -> impl IntoView {
    let browser = session
        .browser
        .clone()
        .unwrap_or_else(|| "Unknown browser".to_owned());
    let label = format!("End the session in {browser}");
    view! {
        <li class="session" data-current=session.current.to_string()>
            <div>
                <strong class="session-browser">{browser}</strong>
                {session.current.then(|| view! { " " <span class="badge">"This browser"</span> })}
                <p class="muted">
                    "Signed in " {session.signed_in.clone()}
                    " · last active " {session.last_seen.clone()}
                </p>
            </div>
            {(!session.current).then(|| view! {
                <form method="post" action=EndSession::url()>
                    <input type="hidden" name="handle" value=session.handle.clone() />
                    <button type="submit" class="btn btn-inline" aria-label=label>"End"</button>
                </form>
            })}
        </li>
    }
}

/// For pages only signed-in users may see (render it for signed-out visitors): sends the browser
/// to sign in, and back to this page, query included, after.
#[component]
pub fn SignInFirst() -> impl IntoView {
    let location = use_location();
    let path = location.pathname.get_untracked();
    let search = location.search.get_untracked();
    let search = search.trim_start_matches('?');
    let here = if search.is_empty() {
        path
    } else {
        format!("{path}?{search}")
    };
    view! { <Redirect path=format!("/sign-in?return_to={}", url_encode(&here)) /> }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A profile-page action that runs when its GET form's button put `name=value` in the URL: each
/// press loads the page again and the server renders the result into it, with or without
/// JavaScript. (The name is on the button so the URL carries nothing else.)
fn query_action<T, Fut>(
    name: &'static str,
    run: impl Fn(String) -> Fut + Send + Sync + 'static,
) -> Resource<Option<Result<T, AppError>>>
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    Fut: std::future::Future<Output = Result<T, AppError>> + Send + 'static,
{
    let query = use_query_map();
    let run = std::sync::Arc::new(run);
    Resource::new(
        move || query.with(|q| q.get(name)),
        move |value| {
            let run = run.clone();
            async move {
                match value {
                    Some(v) => Some(run(v).await),
                    None => None,
                }
            }
        },
    )
}

/// Under an action's button: nothing until it is asked for, then its answer, or the error.
fn action_result<T>(
    resource: Resource<Option<Result<T, AppError>>>,
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
    match result {
        OrgTokenView::Issued { organization_id, claims } => {
            let attr_id = organization_id.clone();
            view! {
                <div class="org-token" role="status" data-org-id=attr_id>
                    <p class="note">"Organization token for " <code>{organization_id}</code> " (its claims; the token stays on the server):"</p>
                    <ClaimsTable claims />
                </div>
            }
            .into_any()
        }
        OrgTokenView::Refused { organization_id } => view! {
            <p class="note note-error org-token-refused" role="alert">
                "Logto refused an organization token for " <code>{organization_id}</code>
                ". You may no longer be a member."
            </p>
        }
        .into_any(),
        OrgTokenView::LogtoUnavailable => view! {
            <p class="note note-error" role="alert">"Logto could not be reached. Try again in a moment."</p>
        }
        .into_any(),
    }
}

#[component]
fn AppErrorNote(error: AppError) -> impl IntoView {
    view! { <p class="note note-error" role="alert" data-app-error=format!("{error:?}")>{error.to_string()}</p> }
}

#[component]
fn ApiCard() -> impl IntoView {
    let result = query_action("call", |_| call_api());
    view! {
        <section class="card" aria-labelledby="api-title">
            <h2 id="api-title">"Your API"</h2>
            <p class="muted">
                "Calls an API protected by Logto with an access token for it. The token stays on the server."
            </p>
            <form method="get" action="/profile">
                <button
                    type="submit"
                    class="btn"
                    name="call"
                    value="api"
                >
                    "Call the API"
                </button>
            </form>
            {action_result(result, "Calling…", |v| view! { <ApiResult result=v /> }.into_any())}
        </section>
    }
}

#[component]
fn ApiResult(result: ApiCallView) -> impl IntoView {
    let status = result.status.map(|s| format!(" ({s})")).unwrap_or_default();
    let message = match result.outcome {
        ApiOutcome::Ok => format!("The API answered{status}:"),
        ApiOutcome::Unauthorized => {
            format!("The API refused the access token{status}, even after refreshing it.")
        }
        ApiOutcome::Forbidden => format!(
            "The API refused{status}: your access token lacks the permission it needs. \
             Make sure the app requests the API's permission at sign-in and your role grants it."
        ),
        ApiOutcome::Failed => format!("The API answered with an error{status}."),
        ApiOutcome::Unreachable => {
            "The API could not be reached. Try again in a moment.".to_owned()
        }
        ApiOutcome::TokenRefused => "Logto would not issue an access token for this API. \
             Check that the API resource exists in Logto and that this app requests it."
            .to_owned(),
        ApiOutcome::LogtoUnavailable => {
            "Logto could not be reached for an access token. Try again in a moment.".to_owned()
        }
        ApiOutcome::NotConfigured => {
            "No API is configured: set DEMO_API_RESOURCE (see .env.example).".to_owned()
        }
    };
    let ok = result.outcome == ApiOutcome::Ok;
    view! {
        <div class="api-result" role="status" data-outcome=format!("{:?}", result.outcome)>
            <p class=if ok { "note" } else { "note note-error" }>{message}</p>
            {result.retried.then(|| view! { <p class="muted">"The first token was refused; Logto issued a fresh one and the call was repeated."</p> })}
            {result.body.map(|b| view! { <pre class="api-body"><code>{b}</code></pre> })}
        </div>
    }
}

#[component]
fn OrganizationsCard(organizations: Vec<OrganizationView>) -> impl IntoView {
    let token = query_action("organization", organization_token);
    let list = if organizations.is_empty() {
        view! { <p class="muted">"You are not a member of any organization."</p> }.into_any()
    } else {
        view! {
            <ul class="orgs">
                {organizations
                    .into_iter()
                    .map(|o| {
                        let label = o.name.clone().unwrap_or_else(|| o.id.clone());
                        let roles = if o.roles.is_empty() { "no role".to_owned() } else { o.roles.join(", ") };
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
                                        "Get organization token"
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
            <h2 id="orgs-title">"Organizations"</h2>
            {list}
            {action_result(token, "Asking Logto…", |v| view! { <OrgTokenResult result=v /> }.into_any())}
        </section>
    }
}

#[component]
fn FacebookCard() -> impl IntoView {
    let profile = query_action("facebook", |_| facebook_profile());
    view! {
        <section class="card" aria-labelledby="facebook-title">
            <h2 id="facebook-title">"From Facebook"</h2>
            <p class="muted">"Reads your Facebook profile with the Facebook token Logto stored when you signed in."</p>
            <form method="get" action="/profile">
                <button
                    type="submit"
                    class="btn btn-facebook"
                    name="facebook"
                    value="1"
                >
                    <FacebookLogo />
                    <span>"Load from Facebook"</span>
                </button>
            </form>
            {action_result(profile, "Asking Facebook…", |v| view! { <FacebookResult result=v /> }.into_any())}
        </section>
    }
}

#[component]
fn FacebookResult(result: FacebookView) -> impl IntoView {
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
            let name = name.unwrap_or_else(|| "(no name)".to_owned());
            view! {
                <div class="facebook-profile">
                    {picture.map(|src| view! { <img class="avatar" src=src alt=format!("{name}'s Facebook picture") referrerpolicy="no-referrer" /> })}
                    <div>
                        <p class="facebook-name">{name.clone()}</p>
                        <p class="muted">"Facebook id " <code>{id}</code></p>
                    </div>
                </div>
            }
            .into_any()
        }
        other => {
            let text = match other {
                FacebookView::NotLinked => "You did not sign in with Facebook.",
                FacebookView::NotStored => "Logto has no Facebook token stored for you. To call Facebook's API later, enable \
                    “Store tokens for persistent API access” on the Facebook connector in Logto Console, then sign in with Facebook again.",
                FacebookView::Expired => "The Facebook token Logto stored has expired. Sign in with Facebook again to store a new one.",
                FacebookView::RejectedByFacebook => "Facebook no longer accepts the stored token (it was revoked, or your Facebook password changed). \
                    Sign in with Facebook again.",
                FacebookView::AccountApiDisabled => "Logto's Account API is not enabled for this tenant (Console → Account center), \
                    so the stored Facebook token cannot be read.",
                _ => "Facebook or Logto could not be reached. Try again in a moment.",
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
    view! {
        <Title text="Sign in" />
        <section class="card">
            <h1>"Sign in to continue"</h1>
            <p class="muted">"That page is only for signed-in users."</p>
            {move || view! { <AuthButtons return_to=return_to() /> }}
        </section>
    }
}

/// Sign-in choices (an island: with JavaScript the buttons say they are busy while the server
/// prepares the redirect to Logto; without, they are plain form posts to the same server function).
#[island]
fn AuthButtons(return_to: Option<String>) -> impl IntoView {
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
            {button(SignInMode::SignIn, "btn-primary", view! { "Sign in" }.into_any())}
            {button(SignInMode::Register, "", view! { "Create account" }.into_any())}
            {button(
                SignInMode::Facebook,
                "btn-facebook",
                view! { <FacebookLogo /> <span>"Continue with Facebook"</span> }.into_any(),
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

/// What the signed-in card shows: only these go into the page as the island's props.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct UserCardView {
    name: String,
    email: Option<String>,
    picture: Option<String>,
    identities: Vec<String>,
}

impl From<UserView> for UserCardView {
    fn from(user: UserView) -> Self {
        Self {
            name: user.display_name(),
            email: user.email,
            picture: user.picture,
            identities: user.identities,
        }
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
        Some(src) => view! { <img class="avatar" src=src alt=format!("{name}'s picture") referrerpolicy="no-referrer" /> }.into_any(),
        None => view! { <span class="avatar avatar-fallback" aria-hidden="true">{initial}</span> }.into_any(),
    };
    let via = (!user.identities.is_empty()).then(|| {
        let list = user.identities.join(", ");
        view! { <span class="badge">"via " {list}</span> }
    });
    view! {
        <section class="card user" aria-label="Signed-in user">
            {avatar}
            <div class="user-info">
                <h2 class="user-name">{name.clone()}</h2>
                {user.email.clone().map(|e| view! { <p class="muted user-email">{e}</p> })}
                {via}
            </div>
            <ActionForm action=sign_out>
                <button type="submit" class="btn btn-inline" disabled=move || pending.get()>"Sign out"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn ClaimsTable(claims: Vec<(String, String)>) -> impl IntoView {
    view! {
        <table class="claims">
            <tbody>
                {claims
                    .into_iter()
                    .map(|(k, v)| view! { <tr><th scope="row">{k}</th><td><code>{v}</code></td></tr> })
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
    view! {
        <Title text="Signing in" />
        <Suspense fallback=|| view! { <p class="muted">"Signing you in…"</p> }>
            {move || Suspend::new(async move {
                match outcome.await {
                    Ok(CallbackOutcome::Redirected(to)) => view! {
                        <section class="card">
                            <p>"You are signed in. " <a href=to>"Continue"</a></p>
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
    crate::api::ssr::set_status(auth_error_text(&code).2);
    view! { <ErrorCard code /> }
}

#[component]
fn ErrorCard(code: String) -> impl IntoView {
    let (title, message, _) = auth_error_text(&code);
    view! {
        <Title text=title />
        <section class="card error" role="alert" data-error-code=code>
            <h1>{title}</h1>
            <p>{message}</p>
            <AuthButtons return_to=None />
            <p><a href="/">"Back to the start page"</a></p>
        </section>
    }
}

/// User-facing text per error code: (title, message, HTTP status). One table, ready for translation.
pub fn auth_error_text(code: &str) -> (&'static str, &'static str, u16) {
    match code {
        "provider_unavailable" => (
            "Sign-in temporarily unavailable",
            "We could not reach the sign-in service. Please try again in a moment.",
            503,
        ),
        "state_mismatch" => (
            "This sign-in link has expired",
            "The sign-in was started in another browser, took too long, or was already completed. Please sign in again.",
            400,
        ),
        "access_denied" => (
            "Sign-in was cancelled",
            "You declined to sign in, or access was denied. You can try again or choose another way to sign in.",
            403,
        ),
        "login_required" => (
            "Please sign in again",
            "The sign-in service needs you to sign in again.",
            400,
        ),
        "issuer_mismatch" | "invalid_id_token" | "missing_code" | "provider_error" => (
            "Sign-in failed",
            "The answer from the sign-in service could not be accepted. Please try again.",
            400,
        ),
        "token_exchange_failed" | "userinfo_failed" => (
            "Sign-in failed",
            "The sign-in service did not complete the sign-in. Please try again.",
            502,
        ),
        "session_expired" => ("Your session has ended", "Please sign in again.", 401),
        "rate_limited" => (
            "Too many sign-in attempts",
            "Please wait a minute, then try again.",
            429,
        ),
        "session_store_unavailable" => (
            "Temporarily unavailable",
            "We could not load your session. Please try again in a moment.",
            503,
        ),
        _ => ("Something went wrong", "Please try again.", 500),
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::api::ssr::set_status(404);
    view! {
        <section class="card">
            <h1>"Page not found"</h1>
            <p><a href="/">"Back to the start page"</a></p>
        </section>
    }
}
