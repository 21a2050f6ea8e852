//! `/profile`: the user's claims, organizations, and the actions a GET form starts (an API call,
//! an organization token, the Facebook card).

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::{call_api, facebook_profile, organization_token, OrganizationView, UserView},
    i18n::{td, td_string},
    lang::use_locale,
    views::{ApiCallView, ApiOutcome, FacebookView, OrgTokenView},
};

use crate::app::*;

#[component]
pub(crate) fn ProfilePage() -> impl IntoView {
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

#[component]
pub(crate) fn OrgTokenResult(result: OrgTokenView) -> impl IntoView {
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

/// The Facebook card is for users with a Facebook identity linked in Logto (the server function
/// checks it again: `services::facebook_profile`).
pub(crate) fn has_facebook(user: &UserView) -> bool {
    user.identities.iter().any(|i| i == "facebook")
}

#[component]
pub(crate) fn ApiCard(result: SignedInResource<ApiCallView>) -> impl IntoView {
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
pub(crate) fn ApiResult(result: ApiCallView) -> impl IntoView {
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
pub(crate) fn OrganizationsCard(
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
pub(crate) fn FacebookCard(profile: SignedInResource<FacebookView>) -> impl IntoView {
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
pub(crate) fn FacebookResult(result: FacebookView) -> impl IntoView {
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
