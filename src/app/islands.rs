//! The sign-in buttons and the signed-in user's card: islands, whose code reaches the browser
//! (with the theme toggle in `header.rs`, the only such components); their words come from the
//! server as props.

use leptos::prelude::*;

use crate::{
    api::{SignIn, SignInMode, SignOut, UserView},
    i18n::td_string,
    lang::Locale,
};

/// The sign-in buttons' words, in the page's language (islands get them as props).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AuthLabels {
    sign_in: String,
    create_account: String,
    facebook: String,
}

impl AuthLabels {
    pub(crate) fn new(locale: Locale) -> Self {
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
pub(crate) fn AuthButtons(return_to: Option<String>, labels: AuthLabels) -> impl IntoView {
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
pub(crate) fn FacebookLogo() -> impl IntoView {
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
pub(crate) fn connector_name(target: &str) -> &str {
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
pub(crate) fn UserCard(user: UserCardView) -> impl IntoView {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserView {
        UserView {
            sub: "u1".into(),
            ..UserView::default()
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
}
