//! The HTML document around the app and its Content-Security-Policy (server only).

use leptos::prelude::*;

use crate::app::*;

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
pub(crate) fn set_content_security_policy() {
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
