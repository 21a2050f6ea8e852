//! Signed JWTs that openidconnect's `IdToken` cannot take as they are: a logout token may name
//! only a Logto session (`sid`, no `sub`: Back-Channel Logout 1.0 §2.4), which `IdToken`'s claim
//! types refuse to parse, and an access token must say `typ: at+jwt` (RFC 9068 §4), which
//! openidconnect checks only when present and does not let a caller read.
//!
//! What is ours is reading the compact form (three base64url parts, the JOSE header). Which keys
//! may verify which algorithm, and the signature itself, are openidconnect's (`JsonWebKey`,
//! `JwsSigningAlgorithm`), as for ID tokens.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use openidconnect::{
    core::CoreJwsSigningAlgorithm, JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyId, JsonWebKeyUse,
    JwsSigningAlgorithm,
};
use serde::{de::DeserializeOwned, Deserialize};

use crate::provider::ProviderKeySet;

/// Why a token was refused, in words that say what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("not a signed JWT: {0}")]
    Malformed(String),
    #[error("its header is not understood: {0}")]
    Unsupported(String),
    #[error("signed with {0}, which is not allowed")]
    DisallowedAlg(String),
    /// No key of the provider's has the token's `kid` (worth refetching the keys).
    #[error("signed with a key the provider does not list")]
    UnknownKey,
    #[error("more than one of the provider's keys could have signed it")]
    AmbiguousKey,
    #[error("its signature is invalid")]
    BadSignature,
    #[error("its claims are malformed: {0}")]
    MalformedClaims(String),
}

/// The JOSE header fields that decide how a token is checked.
#[derive(Debug, Deserialize)]
struct Header {
    alg: CoreJwsSigningAlgorithm,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<JsonWebKeyId>,
    /// Extensions the verifier must understand (RFC 7515 §4.1.11): none are.
    #[serde(default)]
    crit: Option<serde_json::Value>,
    /// A nested token (RFC 7519 §5.2), which openidconnect does not take either.
    #[serde(default)]
    cty: Option<serde_json::Value>,
}

/// A compact JWS, read but not yet verified.
#[derive(Debug)]
pub struct Jws<'a> {
    header: Header,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl<'a> Jws<'a> {
    pub fn parse(token: &'a str) -> Result<Self, JwsError> {
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, signature] = parts[..] else {
            return Err(JwsError::Malformed(format!(
                "{} parts, not 3 (an encrypted token has 5)",
                parts.len()
            )));
        };
        let decode = |part: &str, what: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|e| JwsError::Malformed(format!("{what} is not base64url: {e}")))
        };
        let header_json = decode(header, "the header")?;
        let header: Header = serde_json::from_slice(&header_json)
            .map_err(|e| JwsError::Unsupported(e.to_string()))?;
        Ok(Self {
            header,
            signing_input: &token[..token.len() - signature.len() - 1],
            payload: decode(payload, "the payload")?,
            signature: decode(signature, "the signature")?,
        })
    }

    /// `typ` as normalised by RFC 7515 §4.1.9: lowercase, `application/` left out.
    pub fn typ(&self) -> Option<String> {
        self.header.typ.as_ref().map(|t| {
            let t = t.to_ascii_lowercase();
            t.strip_prefix("application/")
                .map(str::to_owned)
                .unwrap_or(t)
        })
    }

    /// Checks the signature with the one key of `keys` that may have made it (by `kid`, key type,
    /// use and algorithm, as openidconnect selects keys for ID tokens), for an algorithm in `allowed`.
    pub fn verify_signature(
        &self,
        keys: &ProviderKeySet,
        allowed: &[CoreJwsSigningAlgorithm],
    ) -> Result<(), JwsError> {
        if self.header.crit.is_some() {
            return Err(JwsError::Unsupported("critical header fields".into()));
        }
        if self.header.cty.is_some() {
            return Err(JwsError::Unsupported("a nested token (cty)".into()));
        }
        let alg = &self.header.alg;
        if !allowed.contains(alg) || alg.uses_shared_secret() || alg.key_type().is_none() {
            let name = serde_json::to_string(alg).unwrap_or_else(|_| format!("{alg:?}"));
            return Err(JwsError::DisallowedAlg(name));
        }
        let candidates: Vec<_> = keys
            .keys()
            .iter()
            .filter(|key| self.header.kid.is_none() || key.key_id() == self.header.kid.as_ref())
            .filter(|key| may_sign(*key, alg))
            .collect();
        let key = match candidates[..] {
            [] => return Err(JwsError::UnknownKey),
            [key] => key,
            _ => return Err(JwsError::AmbiguousKey),
        };
        key.verify_signature(alg, self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| JwsError::BadSignature)
    }

    /// The payload as `T`. Only after `verify_signature`.
    pub fn claims<T: DeserializeOwned>(&self) -> Result<T, JwsError> {
        serde_json::from_slice(&self.payload).map_err(|e| JwsError::MalformedClaims(e.to_string()))
    }
}

/// openidconnect's key compatibility rule: a signing key (or one without `use`) of the
/// algorithm's key type, restricted to this algorithm or to none.
fn may_sign<K>(key: &K, alg: &K::SigningAlgorithm) -> bool
where
    K: JsonWebKey,
{
    key.key_use().is_none_or(|u| u.allows_signature())
        && alg.key_type().as_ref() == Some(key.key_type())
        && match key.signing_alg() {
            JsonWebKeyAlgorithm::Unspecified => true,
            JsonWebKeyAlgorithm::Algorithm(a) => a == alg,
            JsonWebKeyAlgorithm::Unsupported => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p384::ecdsa::{signature::Signer, Signature, SigningKey};

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn key(seed: u8, kid: &str) -> (SigningKey, serde_json::Value) {
        let signing = SigningKey::from_slice(&[seed; 48]).unwrap();
        let point = signing.verifying_key().to_sec1_point(false);
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-384", "kid": kid, "use": "sig",
            "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
        });
        (signing, jwk)
    }

    fn set(jwks: &[serde_json::Value]) -> ProviderKeySet {
        serde_json::from_value(serde_json::json!({ "keys": jwks })).unwrap()
    }

    fn sign(key: &SigningKey, header: serde_json::Value, claims: serde_json::Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig: Signature = key.sign(input.as_bytes());
        format!("{input}.{}", b64(&sig.to_bytes()))
    }

    const ES384: &[CoreJwsSigningAlgorithm] = &[CoreJwsSigningAlgorithm::EcdsaP384Sha384];

    #[test]
    fn a_token_signed_by_a_listed_key_verifies_and_reads() {
        let (k1, j1) = key(1, "k1");
        let (_, j2) = key(2, "k2");
        let token = sign(
            &k1,
            serde_json::json!({"alg": "ES384", "kid": "k1", "typ": "Logout+JWT"}),
            serde_json::json!({"sid": "s"}),
        );
        let jws = Jws::parse(&token).unwrap();
        assert_eq!(jws.typ().as_deref(), Some("logout+jwt"));
        assert_eq!(jws.verify_signature(&set(&[j1.clone(), j2]), ES384), Ok(()));
        let claims: serde_json::Value = jws.claims().unwrap();
        assert_eq!(claims["sid"], "s");
        // Without a kid, the one compatible key is used.
        let untagged = sign(
            &k1,
            serde_json::json!({"alg": "ES384"}),
            serde_json::json!({}),
        );
        let jws = Jws::parse(&untagged).unwrap();
        assert_eq!(jws.typ(), None);
        assert_eq!(jws.verify_signature(&set(&[j1]), ES384), Ok(()));
    }

    #[test]
    fn what_is_refused_and_why() {
        let (k1, j1) = key(1, "k1");
        let (k2, j2) = key(2, "k2");
        let claims = serde_json::json!({});
        let check = |token: &str, keys: &[serde_json::Value]| {
            Jws::parse(token).and_then(|j| j.verify_signature(&set(keys), ES384))
        };
        let header = serde_json::json!({"alg": "ES384", "kid": "k1"});
        // Another key's signature under k1's id.
        let forged = sign(&k2, header.clone(), claims.clone());
        assert_eq!(
            check(&forged, std::slice::from_ref(&j1)),
            Err(JwsError::BadSignature)
        );
        // A kid the provider does not list (a rotation: refetch).
        assert_eq!(
            check(
                &sign(&k1, header.clone(), claims.clone()),
                std::slice::from_ref(&j2)
            ),
            Err(JwsError::UnknownKey)
        );
        // No kid and two keys that fit.
        let untagged = sign(&k1, serde_json::json!({"alg": "ES384"}), claims.clone());
        assert_eq!(
            check(&untagged, &[j1.clone(), j2]),
            Err(JwsError::AmbiguousKey)
        );
        // An algorithm not offered, `none`, a shared secret.
        for alg in ["RS256", "none", "HS256"] {
            let t = sign(
                &k1,
                serde_json::json!({"alg": alg, "kid": "k1"}),
                claims.clone(),
            );
            assert!(
                matches!(
                    check(&t, std::slice::from_ref(&j1)),
                    Err(JwsError::DisallowedAlg(_))
                ),
                "{alg}"
            );
        }
        // A key meant for encryption, or restricted to another algorithm, does not verify.
        let mut enc = j1.clone();
        enc["use"] = "enc".into();
        assert_eq!(
            check(&sign(&k1, header.clone(), claims.clone()), &[enc]),
            Err(JwsError::UnknownKey)
        );
        let mut rs = j1.clone();
        rs["alg"] = "ES256".into();
        assert_eq!(
            check(&sign(&k1, header.clone(), claims.clone()), &[rs]),
            Err(JwsError::UnknownKey)
        );
        // A nested token is not taken.
        let nested = sign(
            &k1,
            serde_json::json!({"alg": "ES384", "kid": "k1", "cty": "JWT"}),
            claims.clone(),
        );
        assert!(matches!(
            check(&nested, std::slice::from_ref(&j1)),
            Err(JwsError::Unsupported(_))
        ));
        // Critical extensions are not understood.
        let crit = sign(
            &k1,
            serde_json::json!({"alg": "ES384", "kid": "k1", "crit": ["b64"]}),
            claims,
        );
        assert!(matches!(
            check(&crit, std::slice::from_ref(&j1)),
            Err(JwsError::Unsupported(_))
        ));
        // Not three base64url parts.
        for garbage in ["", "a.b", "a.b.c.d.e", "!!.e30.AA", "e30.!!.AA"] {
            assert!(
                matches!(
                    check(garbage, std::slice::from_ref(&j1)),
                    Err(JwsError::Malformed(_) | JwsError::Unsupported(_))
                ),
                "{garbage}"
            );
        }
    }

    /// `none` and the HMACs (keyed with the client secret, which the app shares with Logto) are
    /// refused even by a caller whose list of allowed algorithms names them.
    #[test]
    fn no_shared_secret_or_unsigned_algorithm_even_when_allowed() {
        let (k1, j1) = key(1, "k1");
        let everything = [
            CoreJwsSigningAlgorithm::EcdsaP384Sha384,
            CoreJwsSigningAlgorithm::HmacSha256,
            CoreJwsSigningAlgorithm::None,
        ];
        for alg in ["HS256", "none"] {
            let token = sign(
                &k1,
                serde_json::json!({"alg": alg, "kid": "k1"}),
                serde_json::json!({}),
            );
            let refused = Jws::parse(&token)
                .unwrap()
                .verify_signature(&set(std::slice::from_ref(&j1)), &everything);
            assert!(matches!(refused, Err(JwsError::DisallowedAlg(_))), "{alg}");
        }
    }

    #[test]
    fn a_changed_payload_breaks_the_signature() {
        let (k1, j1) = key(1, "k1");
        let token = sign(
            &k1,
            serde_json::json!({"alg": "ES384", "kid": "k1"}),
            serde_json::json!({"sub": "a"}),
        );
        let parts: Vec<&str> = token.split('.').collect();
        let other = format!("{}.{}.{}", parts[0], b64(br#"{"sub":"b"}"#), parts[2]);
        let jws = Jws::parse(&other).unwrap();
        assert_eq!(
            jws.verify_signature(&set(&[j1]), ES384),
            Err(JwsError::BadSignature)
        );
    }
}
