//! The page header's controls: the language switch (a form) and the theme toggle (an island).

use leptos::{prelude::*, server_fn::ServerFn};
use leptos_router::hooks::use_location;

use crate::{
    api::SetLanguage,
    i18n::td_string,
    lang::{use_locale, Locale},
};

/// English or Thai: a plain form post (with or without JavaScript) that remembers the choice in a
/// cookie and comes back to this page. Each name is written in its own language.
#[component]
pub(crate) fn LanguageSwitch() -> impl IntoView {
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
pub(crate) fn ThemeToggle(label: String) -> impl IntoView {
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

/// Where the language switch comes back to: this page without the actions its query runs when it
/// renders (the profile page's `call`, `organization`, `facebook`; the callback's code and state,
/// which are used up), so switching language never calls the API or Logto again.
pub(crate) fn here_without_actions(path: &str, search: &str) -> String {
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
pub(crate) fn percent_decode(raw: &str) -> String {
    percent_encoding::percent_decode_str(&raw.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The query names that run an action when a page renders (see `query_action`).
pub(crate) const QUERY_ACTIONS: [&str; 3] = ["call", "organization", "facebook"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::signed_in::url_encode;

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
}
