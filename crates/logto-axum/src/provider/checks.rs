//! Checks every kind of token gets (ID, logout, access tokens), and what a refusal is called in
//! the logs: openidconnect words its errors for ID tokens ("ID token expired", and an `iat`
//! problem as "Expired"), which would misname a refused logout or access token.

use openidconnect::{core::CoreJwsSigningAlgorithm, ClaimsVerificationError};

/// Tolerated difference between our clock and the provider's.
pub(crate) const MAX_CLOCK_SKEW_SECS: i64 = 120;

/// The provider's advertised algorithms without the symmetric ones and `none`: an HMAC keyed with
/// the client secret is a "signature" anyone holding the secret can make (Logto signs with ES384).
pub(crate) fn asymmetric_algs(
    advertised: &[CoreJwsSigningAlgorithm],
) -> Vec<CoreJwsSigningAlgorithm> {
    advertised
        .iter()
        .filter(|a| {
            !matches!(
                a,
                CoreJwsSigningAlgorithm::HmacSha256
                    | CoreJwsSigningAlgorithm::HmacSha384
                    | CoreJwsSigningAlgorithm::HmacSha512
                    | CoreJwsSigningAlgorithm::None
            )
        })
        .cloned()
        .collect()
}

/// `iat` may be at most `MAX_CLOCK_SKEW_SECS` ahead of our clock.
pub(crate) fn iat_not_in_future(iat: chrono::DateTime<chrono::Utc>) -> Result<(), String> {
    iat_not_in_future_at(iat, chrono::Utc::now())
}

/// The clock as an argument, so the boundary itself can be tested.
pub(crate) fn iat_not_in_future_at(
    iat: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    if iat > now + chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS) {
        Err(format!("was issued in the future ({iat})"))
    } else {
        Ok(())
    }
}

/// Why openidconnect refused a token of this `kind` ("ID token", "access token"), in words about
/// that kind of token.
pub(crate) fn describe(kind: &str, err: &ClaimsVerificationError) -> String {
    use ClaimsVerificationError as E;
    match err {
        // openidconnect reports both `exp` and the `iat` verifier's answer as `Expired`.
        E::Expired(why) => match why.strip_prefix("ID token ") {
            Some(rest) => format!("{kind} {rest}"),
            None => format!("{kind} {why}"),
        },
        E::InvalidAudience(why) => format!("{kind} is for another audience: {why}"),
        E::InvalidIssuer(why) => format!("{kind} is from another issuer: {why}"),
        E::InvalidNonce(why) => format!("{kind} has the wrong nonce: {why}"),
        E::SignatureVerification(why) => format!("{kind} signature not accepted: {why}"),
        E::Unsupported(why) => format!("{kind} is not of a supported type: {why}"),
        other => format!("{kind} refused: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_worded_for_the_token_they_are_about() {
        let expired = ClaimsVerificationError::Expired(
            "ID token expired at 2026-01-01 00:00:00 UTC (current time is 2026-01-02 00:00:00 UTC)"
                .into(),
        );
        assert_eq!(
            describe("access token", &expired),
            "access token expired at 2026-01-01 00:00:00 UTC (current time is 2026-01-02 00:00:00 UTC)"
        );
        let future = iat_not_in_future_at(
            chrono::DateTime::from_timestamp(10_000, 0).unwrap(),
            chrono::DateTime::from_timestamp(0, 0).unwrap(),
        )
        .unwrap_err();
        let text = describe("ID token", &ClaimsVerificationError::Expired(future));
        assert!(
            text.starts_with("ID token was issued in the future"),
            "{text}"
        );
        assert!(!text.contains("Expired"), "{text}");
        let aud = describe(
            "access token",
            &ClaimsVerificationError::InvalidAudience("must contain `x`".into()),
        );
        assert_eq!(
            aud,
            "access token is for another audience: must contain `x`"
        );
        let sig = describe(
            "access token",
            &ClaimsVerificationError::SignatureVerification(
                openidconnect::SignatureVerificationError::NoMatchingKey,
            ),
        );
        assert!(
            sig.starts_with("access token signature not accepted"),
            "{sig}"
        );
    }
}
