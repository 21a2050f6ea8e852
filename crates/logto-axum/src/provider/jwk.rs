//! The provider's signing keys, as openidconnect's `CoreJsonWebKey` with one change: ES384 (what
//! Logto signs ID and access tokens with) is verified by `aws-lc-rs` rather than the pure-Rust
//! `p384` crate: ~0.23 ms against ~1.0 ms per signature (ring: ~0.86 ms), which was a fifth of the
//! app's CPU per sign-in (perf). Everything else (parsing, which key and algorithm may be used,
//! the claims checks) stays openidconnect's.

use std::sync::Arc;

use openidconnect::{
    core::{CoreJsonWebKey, CoreJsonWebKeyType, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm},
    JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyId, SignatureVerificationError,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Debug)]
pub struct ProviderKey {
    core: CoreJsonWebKey,
    /// For P-384 keys: the uncompressed point (0x04 ‖ x ‖ y) aws-lc-rs verifies with.
    p384_point: Option<Arc<[u8]>>,
}

impl ProviderKey {
    fn new(core: CoreJsonWebKey, raw: &serde_json::Value) -> Self {
        let p384_point = (raw.get("kty").and_then(|v| v.as_str()) == Some("EC")
            && raw.get("crv").and_then(|v| v.as_str()) == Some("P-384"))
        .then(|| {
            let coordinate = |name| {
                raw.get(name)
                    .and_then(|v| v.as_str())
                    .and_then(base64_url_decode)
                    .filter(|b| b.len() == 48)
            };
            let (x, y) = (coordinate("x")?, coordinate("y")?);
            let mut point = Vec::with_capacity(97);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            Some(Arc::from(point))
        })
        .flatten();
        Self { core, p384_point }
    }

    /// The checks openidconnect makes before an ES384 verification (key selection and
    /// `CoreJsonWebKey`): an EC key on P-384 (`p384_point`), whose `use`, if any, allows
    /// signatures and whose `alg`, if any, is ES384.
    fn may_verify_es384(&self) -> bool {
        use openidconnect::JsonWebKeyUse;
        self.core.key_type() == &CoreJsonWebKeyType::EllipticCurve
            && self.core.key_use().is_none_or(|u| u.allows_signature())
            && matches!(
                self.core.signing_alg(),
                JsonWebKeyAlgorithm::Unspecified
                    | JsonWebKeyAlgorithm::Algorithm(CoreJwsSigningAlgorithm::EcdsaP384Sha384)
            )
    }
}

impl<'de> Deserialize<'de> for ProviderKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(deserializer)?;
        let core = CoreJsonWebKey::deserialize(&raw).map_err(serde::de::Error::custom)?;
        Ok(Self::new(core, &raw))
    }
}

impl Serialize for ProviderKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.core.serialize(serializer)
    }
}

impl JsonWebKey for ProviderKey {
    type KeyUse = CoreJsonWebKeyUse;
    type SigningAlgorithm = CoreJwsSigningAlgorithm;

    fn key_id(&self) -> Option<&JsonWebKeyId> {
        self.core.key_id()
    }
    fn key_type(&self) -> &CoreJsonWebKeyType {
        self.core.key_type()
    }
    fn key_use(&self) -> Option<&CoreJsonWebKeyUse> {
        self.core.key_use()
    }
    fn signing_alg(&self) -> JsonWebKeyAlgorithm<&CoreJwsSigningAlgorithm> {
        self.core.signing_alg()
    }
    fn new_symmetric(key: Vec<u8>) -> Self {
        Self {
            core: CoreJsonWebKey::new_symmetric(key),
            p384_point: None,
        }
    }
    fn verify_signature(
        &self,
        signature_alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureVerificationError> {
        match (&self.p384_point, signature_alg) {
            (Some(point), CoreJwsSigningAlgorithm::EcdsaP384Sha384) if self.may_verify_es384() => {
                aws_lc_rs::signature::UnparsedPublicKey::new(
                    &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED,
                    point,
                )
                .verify(message, signature)
                .map_err(|_| {
                    SignatureVerificationError::CryptoError("ECDSA signature is invalid".into())
                })
            }
            _ => self
                .core
                .verify_signature(signature_alg, message, signature),
        }
    }
    fn hash_bytes(&self, bytes: &[u8], alg: &CoreJwsSigningAlgorithm) -> Result<Vec<u8>, String> {
        self.core.hash_bytes(bytes, alg)
    }
}

fn base64_url_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use p384::ecdsa::{signature::Signer, Signature, SigningKey};

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn signing_key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 48]).unwrap()
    }

    fn jwk(key: &SigningKey, extra: serde_json::Value) -> serde_json::Value {
        let point = key.verifying_key().to_sec1_point(false);
        let mut jwk = serde_json::json!({
            "kty": "EC", "crv": "P-384", "kid": "k1", "use": "sig",
            "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
        });
        for (k, v) in extra.as_object().unwrap() {
            jwk[k] = v.clone();
        }
        jwk
    }

    fn sign(key: &SigningKey, message: &[u8]) -> Vec<u8> {
        let signature: Signature = key.sign(message);
        signature.to_bytes().to_vec()
    }

    /// Both verifiers, so every case also checks that aws-lc-rs agrees with openidconnect's own.
    fn verify(jwk: &serde_json::Value, message: &[u8], signature: &[u8]) -> (bool, bool) {
        let ours: ProviderKey = serde_json::from_value(jwk.clone()).unwrap();
        let core: CoreJsonWebKey = serde_json::from_value(jwk.clone()).unwrap();
        let alg = CoreJwsSigningAlgorithm::EcdsaP384Sha384;
        (
            ours.verify_signature(&alg, message, signature).is_ok(),
            core.verify_signature(&alg, message, signature).is_ok(),
        )
    }

    #[test]
    fn es384_signatures_verify_with_aws_lc_as_with_openidconnect() {
        let key = signing_key(7);
        let jwk = jwk(&key, serde_json::json!({}));
        let ours: ProviderKey = serde_json::from_value(jwk.clone()).unwrap();
        assert!(ours.p384_point.is_some(), "the fast path is taken");
        let message = b"header.payload";
        let signature = sign(&key, message);
        assert_eq!(verify(&jwk, message, &signature), (true, true));

        let mut tampered = signature.clone();
        tampered[10] ^= 1;
        assert_eq!(verify(&jwk, message, &tampered), (false, false));
        // And it was aws-lc-rs that refused it (openidconnect's own error reads differently).
        let err = ours
            .verify_signature(
                &CoreJwsSigningAlgorithm::EcdsaP384Sha384,
                message,
                &tampered,
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "Crypto error: ECDSA signature is invalid");
        assert_eq!(verify(&jwk, b"header.payloaD", &signature), (false, false));
        assert_eq!(verify(&jwk, message, &signature[..95]), (false, false));
        // Another key's signature.
        let other = sign(&signing_key(9), message);
        assert_eq!(verify(&jwk, message, &other), (false, false));
    }

    #[test]
    fn keys_restricted_to_another_algorithm_or_curve_are_not_used_for_es384() {
        let key = signing_key(7);
        let message = b"header.payload";
        let signature = sign(&key, message);
        // `alg` says RS256: openidconnect refuses, and so must the fast path.
        let restricted = jwk(&key, serde_json::json!({ "alg": "RS256" }));
        assert_eq!(verify(&restricted, message, &signature), (false, false));
        // `use: enc`: not a signing key.
        let encryption = jwk(&key, serde_json::json!({ "use": "enc" }));
        let ours: ProviderKey = serde_json::from_value(encryption).unwrap();
        assert!(!ours.may_verify_es384());
        // Coordinates that are not 48 bytes: no fast path, openidconnect decides (and refuses).
        let short = jwk(&key, serde_json::json!({ "x": b64(&[1; 32]) }));
        let ours: ProviderKey = serde_json::from_value(short.clone()).unwrap();
        assert!(ours.p384_point.is_none());
        assert_eq!(verify(&short, message, &signature), (false, false));
        // A P-256 key is not verified as P-384.
        let p256 = jwk(&key, serde_json::json!({ "crv": "P-256" }));
        let ours: ProviderKey = serde_json::from_value(p256).unwrap();
        assert!(ours.p384_point.is_none());
    }

    /// Key selection (openidconnect's, by `kid`, `use`, `kty` and `alg`) sees what it would see
    /// on its own key: an encryption key is never picked to verify a signature.
    #[test]
    fn describes_itself_as_openidconnects_key() {
        let key = signing_key(7);
        for extra in [
            serde_json::json!({}),
            serde_json::json!({ "use": "enc" }),
            serde_json::json!({ "alg": "ES384", "kid": "k2" }),
        ] {
            let jwk = jwk(&key, extra);
            let ours: ProviderKey = serde_json::from_value(jwk.clone()).unwrap();
            let core: CoreJsonWebKey = serde_json::from_value(jwk).unwrap();
            assert_eq!(ours.key_id(), core.key_id());
            assert_eq!(ours.key_type(), core.key_type());
            assert_eq!(ours.key_use(), core.key_use());
            assert_eq!(
                format!("{:?}", ours.signing_alg()),
                format!("{:?}", core.signing_alg())
            );
        }
    }

    #[test]
    fn serialises_as_the_jwk_it_was_read_from() {
        let jwk = jwk(&signing_key(7), serde_json::json!({}));
        let ours: ProviderKey = serde_json::from_value(jwk.clone()).unwrap();
        let core: CoreJsonWebKey = serde_json::from_value(jwk).unwrap();
        assert_eq!(
            serde_json::to_value(&ours).unwrap(),
            serde_json::to_value(&core).unwrap()
        );
    }
}
