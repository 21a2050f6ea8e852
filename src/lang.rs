//! The UI's language, English or Thai: an explicit choice (the `lang` cookie, set by the
//! language switch) wins, then the browser's `Accept-Language`, then English. It is decided on
//! the server for every request; the page is rendered in it, `<html lang>` says it, and Logto is
//! asked for the same with `ui_locales`. Islands get their words as props, so the WASM carries
//! no catalogue and cannot disagree with the server.

use crate::i18n::td_string;
pub use crate::i18n::Locale;

/// The cookie that remembers an explicit choice. Not set from `Accept-Language`: a browser whose
/// language changes is followed until the user picks one.
pub const COOKIE: &str = "lang";

/// The language's tag: for `<html lang>`, the cookie, and Logto's `ui_locales` (Logto's own tags
/// are `en` and `th`).
pub fn tag(locale: Locale) -> &'static str {
    match locale {
        Locale::en => "en",
        Locale::th => "th",
    }
}

/// A BCP 47 tag's language (`th`, `th-TH`, `TH`, `th_TH`), if we have a catalogue for it.
pub fn from_tag(tag: &str) -> Option<Locale> {
    let language = tag.trim().split(['-', '_']).next()?;
    if language.eq_ignore_ascii_case("th") {
        Some(Locale::th)
    } else if language.eq_ignore_ascii_case("en") {
        Some(Locale::en)
    } else {
        None
    }
}

/// The first language in `Accept-Language` (by `q`, then order) that we have; `q=0` means "not
/// this one".
pub fn preferred(accept_language: &str) -> Option<Locale> {
    let mut ranked: Vec<(f32, usize, Locale)> = accept_language
        .split(',')
        .enumerate()
        .filter_map(|(position, part)| {
            let mut pieces = part.split(';');
            let locale = from_tag(pieces.next()?)?;
            let q = match pieces.find_map(|p| p.trim().strip_prefix("q=")) {
                Some(q) => q.trim().parse::<f32>().ok()?,
                None => 1.0,
            };
            (q > 0.0).then_some((q, position, locale))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.first().map(|r| r.2)
}

/// The language of the page being rendered (provided by `App` from the request); English where
/// there is no request (the browser's islands get their words as props).
pub fn use_locale() -> Locale {
    let locale = leptos::prelude::use_context::<Locale>();
    #[cfg(feature = "ssr")]
    if locale.is_none() {
        tracing::warn!("no language in context (rendered outside App?): English");
    }
    locale.unwrap_or(Locale::en)
}

/// `2026-11-25 04:19:04 UTC` in the page's language. The server does not know the reader's time
/// zone: English pages show UTC and say so; Thai pages show Thailand's time (UTC+7 all year, one
/// zone for the whole country) and say so, with Thai month names and the year in the Buddhist
/// era (B.E. = A.D. + 543), as Thai readers expect: `25 พฤศจิกายน พ.ศ. 2569 เวลา 11:19:04 น.
/// (เวลาประเทศไทย)`.
pub fn format_datetime(locale: Locale, unix_secs: i64, with_seconds: bool) -> String {
    let Some(utc) = chrono::DateTime::from_timestamp(unix_secs, 0) else {
        return unix_secs.to_string();
    };
    let (offset_secs, names) = match locale {
        Locale::en => (0, chrono::Locale::en_US),
        Locale::th => (7 * 3600, chrono::Locale::th_TH),
    };
    let Some(offset) = chrono::FixedOffset::east_opt(offset_secs) else {
        return unix_secs.to_string();
    };
    let t = utc.with_timezone(&offset);
    let year = match locale {
        Locale::en => chrono::Datelike::year(&t),
        Locale::th => chrono::Datelike::year(&t) + 543,
    }
    .to_string();
    let day = t.format("%-d").to_string();
    let month = t.format_localized("%B", names).to_string();
    let time = t
        .format(if with_seconds { "%H:%M:%S" } else { "%H:%M" })
        .to_string();
    td_string!(
        locale,
        dates.datetime,
        day = day,
        month = month,
        year = year,
        time = time
    )
    .to_string()
}

#[cfg(feature = "ssr")]
pub use server::*;

#[cfg(feature = "ssr")]
mod server {
    use axum::http::{header, HeaderMap};
    use cookie::{time::Duration, Cookie, SameSite};

    use super::{preferred, Locale, COOKIE};

    /// The explicit choice in a `Cookie` header: exactly `en` or `th` (anything else is ignored).
    pub fn chosen(cookie_header: &str) -> Option<Locale> {
        Cookie::split_parse(cookie_header)
            .flatten()
            .filter(|c| c.name() == COOKIE)
            .find_map(|c| match c.value() {
                "en" => Some(Locale::en),
                "th" => Some(Locale::th),
                _ => None,
            })
    }

    /// Choice, then browser, then English.
    pub fn negotiate<'a>(
        cookie_headers: impl IntoIterator<Item = &'a str>,
        accept_language: Option<&str>,
    ) -> Locale {
        cookie_headers
            .into_iter()
            .find_map(chosen)
            .or_else(|| accept_language.and_then(preferred))
            .unwrap_or(Locale::en)
    }

    /// The language for this request.
    pub fn of_request(headers: &HeaderMap) -> Locale {
        negotiate(
            headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok()),
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        )
    }

    /// The language of the request being rendered or served (server functions included).
    pub fn of_current_request() -> Locale {
        leptos::prelude::use_context::<axum::http::request::Parts>()
            .map(|parts| of_request(&parts.headers))
            .unwrap_or(Locale::en)
    }

    /// Remembers an explicit choice for a year. HttpOnly (only the server reads it), Lax (it
    /// must come with top-level navigations, the callback from Logto included), Secure on https.
    pub fn choice_cookie(locale: Locale, secure: bool) -> String {
        Cookie::build((COOKIE, super::tag(locale)))
            .path("/")
            .max_age(Duration::days(365))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(secure)
            .build()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_matched_on_their_language() {
        for tag in ["th", "th-TH", "TH", "th_TH", " th "] {
            assert_eq!(from_tag(tag), Some(Locale::th), "{tag}");
        }
        for tag in ["en", "en-GB", "EN-us"] {
            assert_eq!(from_tag(tag), Some(Locale::en), "{tag}");
        }
        for tag in ["fr", "", "*", "tha", "eng", "zh-Hant-TW"] {
            assert_eq!(from_tag(tag), None, "{tag}");
        }
    }

    #[test]
    fn accept_language_is_ranked_by_q_then_order() {
        assert_eq!(preferred("th-TH,th;q=0.9,en;q=0.8"), Some(Locale::th));
        assert_eq!(preferred("en;q=0.5, th"), Some(Locale::th));
        assert_eq!(
            preferred("th;q=0.5, en;q=0.5"),
            Some(Locale::th),
            "ties keep order"
        );
        assert_eq!(preferred("fr, de;q=0.9, th;q=0.1"), Some(Locale::th));
        assert_eq!(preferred("fr, en-US;q=0.8, th;q=0.7"), Some(Locale::en));
        assert_eq!(
            preferred("th;q=0, en;q=0.1"),
            Some(Locale::en),
            "q=0 refuses"
        );
        assert_eq!(preferred("th;q=x"), None, "a malformed q is not 1");
        assert_eq!(preferred("fr, *"), None);
        assert_eq!(preferred(""), None);
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn an_explicit_choice_wins_over_the_browser() {
        assert_eq!(negotiate(["a=1; lang=th"], Some("en")), Locale::th);
        assert_eq!(negotiate(["lang=en"], Some("th")), Locale::en);
        assert_eq!(negotiate(["x=1", "lang=th"], None), Locale::th);
        // Only our values count; anything else falls through to the browser, then English.
        assert_eq!(negotiate(["lang=fr"], Some("th")), Locale::th);
        assert_eq!(negotiate(["lang=TH"], None), Locale::en);
        assert_eq!(negotiate(["xlang=th"], None), Locale::en);
        assert_eq!(
            negotiate(["lang=fr; lang=th"], None),
            Locale::th,
            "the valid one counts"
        );
        assert_eq!(
            negotiate(["lang=\"th\""], None),
            Locale::en,
            "quoted is not ours"
        );
        assert_eq!(negotiate([], Some("fr")), Locale::en);
        assert_eq!(negotiate([], None), Locale::en);
    }

    #[test]
    fn thai_dates_use_thai_month_names_and_the_buddhist_era() {
        // 2026-11-25 04:19:04 UTC
        let t = 1_795_580_344;
        assert_eq!(
            format_datetime(Locale::en, t, true),
            "25 November 2026, 04:19:04 UTC"
        );
        assert_eq!(
            format_datetime(Locale::th, t, true),
            "25 พฤศจิกายน พ.ศ. 2569 เวลา 11:19:04 น. (เวลาประเทศไทย)"
        );
        // 17:00 UTC on the 31st of December is already midnight of the next (Buddhist) year in
        // Thailand.
        let new_year_utc = 1_798_736_400; // 2026-12-31 17:00:00 UTC
        assert_eq!(
            format_datetime(Locale::th, new_year_utc, false),
            "1 มกราคม พ.ศ. 2570 เวลา 00:00 น. (เวลาประเทศไทย)"
        );
        assert_eq!(
            format_datetime(Locale::en, new_year_utc, false),
            "31 December 2026, 17:00 UTC"
        );
        assert_eq!(
            format_datetime(Locale::en, t, false),
            "25 November 2026, 04:19 UTC"
        );
        assert_eq!(
            format_datetime(Locale::en, i64::MAX, true),
            i64::MAX.to_string()
        );
    }

    /// The build already fails when a key is missing from one catalogue; this also checks that
    /// each message has the same placeholders (`{{ name }}`) and markup (`<code>`) in both.
    #[test]
    fn the_catalogues_have_the_same_keys_placeholders_and_markup() {
        use std::collections::{BTreeMap, BTreeSet};

        fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
            match value {
                serde_json::Value::Object(map) => {
                    for (k, v) in map {
                        flatten(&format!("{prefix}{k}."), v, out);
                    }
                }
                serde_json::Value::String(s) => {
                    out.insert(prefix.trim_end_matches('.').to_owned(), s.clone());
                }
                other => panic!("{prefix}: not a string: {other}"),
            }
        }
        fn markers(text: &str) -> BTreeSet<String> {
            let mut found = BTreeSet::new();
            for (open, close) in [("{{", "}}"), ("<", ">")] {
                let mut rest = text;
                while let Some(start) = rest.find(open) {
                    let after = &rest[start..];
                    let end = after.find(close).map_or(after.len(), |e| e + close.len());
                    found.insert(after[..end].replace(' ', ""));
                    rest = &after[end..];
                }
            }
            found
        }
        let catalogue = |json: &str| {
            let mut out = BTreeMap::new();
            flatten("", &serde_json::from_str(json).unwrap(), &mut out);
            out
        };
        let en = catalogue(include_str!("locales/en.json"));
        let th = catalogue(include_str!("locales/th.json"));
        assert_eq!(en.keys().collect::<Vec<_>>(), th.keys().collect::<Vec<_>>());
        for (key, english) in &en {
            let thai = &th[key];
            assert!(
                !thai.trim().is_empty() && !english.trim().is_empty(),
                "{key}"
            );
            assert_eq!(markers(english), markers(thai), "{key}");
        }
        assert!(en.len() > 100, "both catalogues read: {}", en.len());
        // A Thai value the same as the English one is an untranslated string, unless it is a
        // name that is the same in both.
        let same_in_both = ["brand", "language.en", "language.th"];
        for (key, english) in &en {
            if !same_in_both.contains(&key.as_str()) {
                assert_ne!(english, &th[key], "{key} is not translated");
            }
        }
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn the_request_language_reads_every_cookie_header() {
        use axum::http::{header, HeaderMap, HeaderValue};
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("th"));
        assert_eq!(of_request(&headers), Locale::th);
        headers.append(header::COOKIE, HeaderValue::from_static("session=abc"));
        headers.append(header::COOKIE, HeaderValue::from_static("lang=en"));
        assert_eq!(of_request(&headers), Locale::en);
        let attributes = |c: String| {
            let mut parts: Vec<String> = c.split("; ").map(str::to_owned).collect();
            parts.sort();
            parts
        };
        assert_eq!(
            attributes(choice_cookie(Locale::th, true)),
            [
                "HttpOnly",
                "Max-Age=31536000",
                "Path=/",
                "SameSite=Lax",
                "Secure",
                "lang=th"
            ]
        );
        assert_eq!(
            attributes(choice_cookie(Locale::en, false)),
            [
                "HttpOnly",
                "Max-Age=31536000",
                "Path=/",
                "SameSite=Lax",
                "lang=en"
            ]
        );
    }
}
