//! The language switch.

use leptos::prelude::*;

use super::*;

/// Remembers the reader's language (the switch in the header: a plain form post, so it works the
/// same without JavaScript) and goes back to the page it was pressed on. `lang` is `en` or `th`.
#[server(prefix = "/api", endpoint = "set_language")]
pub async fn set_language(lang: String, return_to: Option<String>) -> Result<(), AppError> {
    use logto_axum::flow::return_to::sanitize_or_root;
    use ssr::*;

    let locale = match lang.as_str() {
        "en" => crate::lang::Locale::en,
        "th" => crate::lang::Locale::th,
        _ => return Err(app_error(AppError::UnknownLanguage)),
    };
    let ctx = use_context::<LogtoClient>().ok_or_else(|| app_error(AppError::Internal))?;
    let cookie = crate::lang::choice_cookie(locale, ctx.provider.config().is_https());
    let response = use_context::<leptos_axum::ResponseOptions>()
        .ok_or_else(|| app_error(AppError::Internal))?;
    match axum::http::HeaderValue::from_str(&cookie) {
        Ok(value) => response.append_header(axum::http::header::SET_COOKIE, value),
        Err(_) => return Err(app_error(AppError::Internal)),
    }
    leptos_axum::redirect(&sanitize_or_root(return_to.as_deref()));
    Ok(())
}
