//! What the UI says for each error, in the reader's language, and the status it goes with.

use leptos::prelude::*;

use crate::{api::AppError, i18n::td_string, lang::Locale};

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

pub(crate) fn server_error_code(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(m) if m == "session_store_unavailable" => m.clone(),
        _ => "internal".to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
