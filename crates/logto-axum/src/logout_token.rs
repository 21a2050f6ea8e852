//! OpenID Connect Back-Channel Logout 1.0: verifying the `logout_token` Logto POSTs to the app
//! when a user's Logto session ends (sign-out elsewhere, an admin ending it). Verified like an ID
//! token (signature with the issuer's keys and algorithms, `iss`, `aud`, `exp`), plus what makes it
//! a logout token: a recent `iat`, a `jti`, the back-channel `events` member, no `nonce`, and
//! `sub`, `sid` or both. (Not through openidconnect's `IdToken`, which cannot hold a token without
//! `sub`: see `jws`.) Ending sessions and refusing replays is the app's part (its `sessions` module).

use serde::Deserialize;

use crate::{
    provider::checks::{asymmetric_algs, iat_not_in_future_at},
    provider::jws::{Jws, JwsError},
    provider::Metadata,
    AuthError, Provider,
};

/// The event a logout token must carry (spec section 2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A logout token issued longer ago than this is refused even if its `exp` says otherwise (Logto's
/// live 120 s); it also bounds how long a `jti` must be remembered.
pub const MAX_AGE_SECS: i64 = 5 * 60;

/// The claims a logout token has (spec section 2.4); all optional here, so that what is missing
/// is named rather than failing the parse.
#[derive(Debug, Default, Deserialize)]
struct LogoutClaims {
    iss: Option<String>,
    #[serde(default)]
    aud: Audience,
    azp: Option<String>,
    iat: Option<f64>,
    exp: Option<f64>,
    jti: Option<String>,
    sub: Option<String>,
    sid: Option<String>,
    events: Option<serde_json::Map<String, serde_json::Value>>,
    /// Whether a `nonce` member is there at all (`"nonce": null` too).
    #[serde(default, deserialize_with = "present")]
    nonce: bool,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

/// `aud`: one string or an array of them.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Audience {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

/// What a verified logout token asks for: end the sessions of `sub`, or of Logto session `sid`
/// (only those, when both are named). At least one of them is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutRequest {
    pub sub: Option<String>,
    pub sid: Option<String>,
    /// Unique per token: the receiver refuses a second use (the app's `sessions` module).
    pub jti: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LogoutTokenError {
    /// The token is not a valid logout token for this app (answered 400 `invalid_request`).
    #[error("invalid logout token: {0}")]
    Invalid(String),
    /// The keys could not be fetched (answered 503).
    #[error(transparent)]
    Provider(#[from] AuthError),
}

/// Verifies a `logout_token`: signature with the issuer's current keys (refetched once on an
/// unknown key id) and algorithms, `typ` `logout+jwt` or none, then its claims.
pub async fn verify(provider: &Provider, token: &str) -> Result<LogoutRequest, LogoutTokenError> {
    let invalid = |why: String| LogoutTokenError::Invalid(format!("logout token {why}"));
    let jws = Jws::parse(token).map_err(|e| invalid(e.to_string()))?;
    // Typed `logout+jwt` (spec 2.4), or untyped; an ID token (`JWT`) is refused here.
    if let Some(typ) = jws.typ().filter(|t| t != "logout+jwt") {
        return Err(invalid(format!("is typed {typ:?}, not logout+jwt")));
    }
    let checked = provider
        .verify_with_current_keys(
            |metadata| {
                jws.verify_signature(
                    metadata.jwks(),
                    &asymmetric_algs(metadata.id_token_signing_alg_values_supported()),
                )?;
                jws.claims::<LogoutClaims>()
                    .map(|claims| (claims, issuer_of(metadata)))
            },
            |e| *e == JwsError::UnknownKey,
        )
        .await?;
    let (claims, issuer) = checked.map_err(|e| invalid(e.to_string()))?;
    check_claims(
        claims,
        &issuer,
        &provider.config().app_id,
        chrono::Utc::now().timestamp(),
    )
    .map_err(invalid)
}

fn issuer_of(metadata: &Metadata) -> String {
    metadata.issuer().as_str().to_owned()
}

/// The checks of spec section 2.6 beyond the signature, with the clock as an argument. The error
/// completes "logout token …".
fn check_claims(
    claims: LogoutClaims,
    issuer: &str,
    app_id: &str,
    now: i64,
) -> Result<LogoutRequest, String> {
    match claims.iss.as_deref() {
        Some(iss) if iss == issuer => {}
        Some(iss) => return Err(format!("is from issuer {iss:?}, not {issuer:?}")),
        None => return Err("names no issuer".into()),
    }
    // Exactly this app: another audience beside it is not one this app trusts (as openidconnect
    // decides for ID tokens).
    let audiences = match &claims.aud {
        Audience::None => vec![],
        Audience::One(a) => vec![a.as_str()],
        Audience::Many(all) => all.iter().map(String::as_str).collect(),
    };
    if audiences != [app_id] {
        return Err(format!("is for {audiences:?}, not only this app"));
    }
    if let Some(azp) = claims.azp.as_deref().filter(|azp| *azp != app_id) {
        return Err(format!("was issued to {azp:?} (azp), not this app"));
    }
    let exp = claims.exp.ok_or("has no exp")?.floor() as i64;
    if now >= exp {
        return Err(format!("expired at {exp} (now {now})"));
    }
    let iat = claims.iat.ok_or("has no iat")?.floor() as i64;
    let iat = chrono::DateTime::from_timestamp(iat, 0).ok_or("has an impossible iat")?;
    let now_time = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
    recent_at(iat, now_time)?;
    // Spec 2.4: a logout token must not contain a nonce (so an ID token cannot pass).
    if claims.nonce {
        return Err("has a nonce, which a logout token must not have".into());
    }
    let has_event = claims
        .events
        .as_ref()
        .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT))
        .is_some_and(serde_json::Value::is_object);
    if !has_event {
        return Err("has no back-channel logout event".into());
    }
    let jti = claims.jti.filter(|j| !j.is_empty()).ok_or("has no jti")?;
    let sub = claims.sub.filter(|s| !s.is_empty());
    let sid = claims.sid.filter(|s| !s.is_empty());
    if sub.is_none() && sid.is_none() {
        return Err("names neither a user (sub) nor a session (sid)".into());
    }
    Ok(LogoutRequest { sub, sid, jti })
}

/// `iat` neither in the future nor older than `MAX_AGE_SECS`.
fn recent_at(
    iat: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    iat_not_in_future_at(iat, now)?;
    if iat < now - chrono::Duration::seconds(MAX_AGE_SECS) {
        return Err(format!("was issued at {iat}, too long ago"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iat_window() {
        let now = chrono::Utc::now();
        let recent = |iat| recent_at(iat, now);
        assert!(recent(now).is_ok());
        assert!(recent(now - chrono::Duration::seconds(MAX_AGE_SECS - 5)).is_ok());
        assert!(recent(now - chrono::Duration::seconds(MAX_AGE_SECS + 5)).is_err());
        assert!(recent(now + chrono::Duration::seconds(3600)).is_err());
    }

    const ISS: &str = "https://tenant.logto.app/oidc";
    const NOW: i64 = 1_800_000_000;

    fn claims(edit: impl FnOnce(&mut serde_json::Value)) -> LogoutClaims {
        let mut c = serde_json::json!({
            "iss": ISS, "aud": "app", "iat": NOW - 10, "exp": NOW + 110, "jti": "j-1",
            "sub": "u-1", "sid": "s-1", "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        });
        edit(&mut c);
        serde_json::from_value(c).unwrap()
    }

    fn check(edit: impl FnOnce(&mut serde_json::Value)) -> Result<LogoutRequest, String> {
        check_claims(claims(edit), ISS, "app", NOW)
    }

    fn remove(c: &mut serde_json::Value, k: &str) {
        c.as_object_mut().unwrap().remove(k);
    }

    #[test]
    fn sub_sid_or_both_name_what_ends() {
        let both = check(|_| {}).unwrap();
        assert_eq!(
            (both.sub.as_deref(), both.sid.as_deref()),
            (Some("u-1"), Some("s-1"))
        );
        assert_eq!(both.jti, "j-1");
        let sid_only = check(|c| remove(c, "sub")).unwrap();
        assert_eq!((sid_only.sub, sid_only.sid.as_deref()), (None, Some("s-1")));
        let sub_only = check(|c| remove(c, "sid")).unwrap();
        assert_eq!((sub_only.sub.as_deref(), sub_only.sid), (Some("u-1"), None));
        let err = check(|c| {
            remove(c, "sub");
            c["sid"] = "".into();
        })
        .unwrap_err();
        assert!(err.contains("neither"), "{err}");
    }

    /// Each refusal says what was wrong, in words about this token (not "ID token").
    #[test]
    fn each_refusal_names_its_reason() {
        type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
        let cases: [(&str, Edit); 14] = [
            (
                "issuer",
                Box::new(|c| c["iss"] = "https://evil/oidc".into()),
            ),
            ("no issuer", Box::new(|c| remove(c, "iss"))),
            ("not only this app", Box::new(|c| c["aud"] = "other".into())),
            (
                "not only this app",
                Box::new(|c| c["aud"] = serde_json::json!(["app", "other"])),
            ),
            ("not only this app", Box::new(|c| remove(c, "aud"))),
            ("azp", Box::new(|c| c["azp"] = "other".into())),
            ("expired", Box::new(|c| c["exp"] = NOW.into())),
            ("no exp", Box::new(|c| remove(c, "exp"))),
            (
                "too long ago",
                Box::new(|c| c["iat"] = (NOW - MAX_AGE_SECS - 1).into()),
            ),
            ("future", Box::new(|c| c["iat"] = (NOW + 3600).into())),
            ("nonce", Box::new(|c| c["nonce"] = "n".into())),
            ("nonce", Box::new(|c| c["nonce"] = serde_json::Value::Null)),
            (
                "event",
                Box::new(|c| c["events"] = serde_json::json!({"urn:x": {}})),
            ),
            ("jti", Box::new(|c| c["jti"] = "".into())),
        ];
        for (words, edit) in cases {
            let err = check(edit).unwrap_err();
            assert!(err.contains(words), "{words}: {err}");
            assert!(!err.to_lowercase().contains("id token"), "{err}");
        }
        // Controls: this app as a one-element array, azp naming this app, exp a second ahead.
        assert!(check(|c| c["aud"] = serde_json::json!(["app"])).is_ok());
        assert!(check(|c| c["azp"] = "app".into()).is_ok());
        assert!(check(|c| c["exp"] = (NOW + 1).into()).is_ok());
    }

    #[test]
    fn iat_window_edges_are_inclusive() {
        let now = chrono::Utc::now();
        let age = chrono::Duration::seconds(MAX_AGE_SECS);
        let skew = chrono::Duration::seconds(crate::provider::checks::MAX_CLOCK_SKEW_SECS);
        let tick = chrono::Duration::milliseconds(1);
        assert!(
            recent_at(now - age, now).is_ok(),
            "exactly the oldest allowed"
        );
        assert!(recent_at(now - age - tick, now).is_err());
        assert!(
            recent_at(now + skew, now).is_ok(),
            "exactly the skew allowed"
        );
        assert!(recent_at(now + skew + tick, now).is_err());
    }
}
