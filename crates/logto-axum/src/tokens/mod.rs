//! What a signed-in session holds. Tokens stay server-side; `UserProfile` is what the UI may see.

pub(crate) mod keeper;
pub(crate) mod refresh;

use std::{collections::BTreeMap, fmt};

use serde::{Deserialize, Serialize};

/// A claim's value as the session keeps it for showing: text, or a time (Unix seconds) for the
/// app to word in its reader's language. Untagged (a string is text, an integer a time), so
/// records written before times were numbers (every claim a string) still read. This layer's own
/// type, so it depends on no app code; apps convert it to what their pages show.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum ClaimValue {
    /// Text as the claim had it (other JSON values written out).
    Text(String),
    /// Unix seconds.
    Time(i64),
}

/// Reads what `#[serde(untagged)]` would, without its cost: serde buffers an untagged value and
/// builds an error message for every variant that does not match, and each session's user is
/// decoded with all its claims (4% of a signed-in `/`'s CPU when every request decoded it).
impl<'de> Deserialize<'de> for ClaimValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ClaimValueVisitor)
    }
}

struct ClaimValueVisitor;

impl serde::de::Visitor<'_> for ClaimValueVisitor {
    type Value = ClaimValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a claim's text, or its time in Unix seconds")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ClaimValue, E> {
        Ok(ClaimValue::Text(text.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, text: String) -> Result<ClaimValue, E> {
        Ok(ClaimValue::Text(text))
    }

    /// The derive refused a lone char (serde's buffered char is neither a string nor a number).
    fn visit_char<E: serde::de::Error>(self, c: char) -> Result<ClaimValue, E> {
        Err(E::invalid_type(serde::de::Unexpected::Char(c), &self))
    }

    /// As `String` reads bytes: text when they are UTF-8.
    fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<ClaimValue, E> {
        std::str::from_utf8(bytes)
            .map(|text| ClaimValue::Text(text.to_owned()))
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Bytes(bytes), &self))
    }

    fn visit_i64<E: serde::de::Error>(self, seconds: i64) -> Result<ClaimValue, E> {
        Ok(ClaimValue::Time(seconds))
    }

    fn visit_u64<E: serde::de::Error>(self, seconds: u64) -> Result<ClaimValue, E> {
        i64::try_from(seconds)
            .map(ClaimValue::Time)
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(seconds), &self))
    }
}

/// The result of a completed sign-in: the tokens (kept in the token store) and who signed in
/// (kept in the session record).
#[derive(Clone, Serialize, Deserialize)]
pub struct SignedIn {
    /// The tokens, for the token store.
    pub tokens: TokenSet,
    /// Unix seconds.
    pub signed_in_at: i64,
    /// Who signed in, for the session record.
    pub user: UserProfile,
}

/// One user's tokens. Lives server-side in the token store under a random grant id that the session
/// record names, and is only ever replaced atomically (see `auth::keeper`). Never sent to a browser.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenSet {
    /// The user these tokens are for; a refresh for another `sub` is refused.
    pub sub: String,
    /// The raw ID token, as Logto issued it (never sent to the browser).
    pub id_token: String,
    /// Claims of the ID token, verified when it was received.
    pub id_token_claims: serde_json::Map<String, serde_json::Value>,
    /// The opaque access token for Logto itself (userinfo, Account API).
    pub access_token: String,
    /// Unix seconds; `None` when the provider did not say.
    pub access_token_expires_at: Option<i64>,
    /// Spent and replaced at each refresh (Logto rotates it); `None` without `offline_access`.
    pub refresh_token: Option<String>,
    /// Access tokens for API resources and organizations, by `TokenTarget::key`, with their expiry.
    #[serde(default)]
    pub targeted: BTreeMap<String, CachedToken>,
    /// Set (and every token dropped) when Logto ended the grant: why.
    #[serde(default)]
    pub ended: Option<String>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("sub", &self.sub)
            .field("access_token_expires_at", &self.access_token_expires_at)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("targets", &self.targeted.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// An access token for one API resource or organization.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CachedToken {
    /// The access token.
    pub token: String,
    /// Unix seconds; `None` when Logto did not say.
    pub expires_at: Option<i64>,
    /// The scopes granted, as Logto stated them.
    pub scope: Option<String>,
}

/// What an access token is for. Logto issues an opaque token for itself (userinfo, Account API), a
/// JWT per API resource indicator, and a JWT per organization (audience `urn:logto:organization:{id}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TokenTarget {
    /// Logto itself: the opaque token for userinfo and the Account API.
    Logto,
    /// An API, by resource indicator.
    Resource(String),
    /// An organization, by id.
    Organization(String),
}

impl TokenTarget {
    /// The key under which `TokenSet::targeted` keeps this target's token.
    pub fn key(&self) -> String {
        match self {
            TokenTarget::Logto => "logto".to_owned(),
            TokenTarget::Resource(r) => format!("resource:{r}"),
            TokenTarget::Organization(id) => format!("organization:{id}"),
        }
    }
}

impl TokenSet {
    /// A tombstone for this grant: same user, no tokens, and why it ended.
    pub fn ended_because(&self, why: &str) -> TokenSet {
        TokenSet {
            sub: self.sub.clone(),
            id_token: String::new(),
            id_token_claims: Default::default(),
            access_token: String::new(),
            access_token_expires_at: Some(0),
            refresh_token: None,
            targeted: BTreeMap::new(),
            ended: Some(why.to_owned()),
        }
    }

    /// The stored token for `target`, whatever its expiry.
    pub fn token_for(&self, target: &TokenTarget) -> Option<&str> {
        match target {
            TokenTarget::Logto => Some(&self.access_token),
            other => self.targeted.get(&other.key()).map(|t| t.token.as_str()),
        }
    }

    /// The stored token for `target` if it is good for at least `margin` more seconds and is not the
    /// one a caller just saw rejected.
    pub fn usable(
        &self,
        target: &TokenTarget,
        now: i64,
        margin: i64,
        rejected: Option<&str>,
    ) -> Option<AccessToken> {
        let (token, expires_at, scope) = match target {
            TokenTarget::Logto => (&self.access_token, self.access_token_expires_at, None),
            other => {
                let cached = self.targeted.get(&other.key())?;
                (&cached.token, cached.expires_at, cached.scope.as_ref())
            }
        };
        let fresh = expires_at.is_none_or(|at| at - margin > now);
        (fresh && rejected != Some(token.as_str())).then(|| AccessToken {
            token: token.clone(),
            expires_at,
            scope: scope.cloned(),
        })
    }
}

/// An access token handed to app code. Prints as `AccessToken(***)` so it cannot end up in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    token: String,
    /// Unix seconds; `None` when Logto did not say.
    pub expires_at: Option<i64>,
    /// The scopes granted, as Logto stated them.
    pub scope: Option<String>,
}

impl AccessToken {
    /// The bearer token, for an `Authorization` header. Never send it to the browser.
    pub fn secret(&self) -> &str {
        &self.token
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

/// A Logto organization the user belongs to, with the user's roles in it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    /// Logto's organization id.
    pub id: String,
    /// From userinfo's `organization_data`, when Logto sent it.
    pub name: Option<String>,
    /// The user's roles in it.
    pub roles: Vec<String>,
}

/// Who the user is, from the verified ID token and userinfo. Contains no tokens. (`Eq`: apps key
/// caches of what they render on it.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfile {
    /// The user's Logto id.
    pub sub: String,
    /// `name`.
    pub name: Option<String>,
    /// `username`.
    pub username: Option<String>,
    /// `email`.
    pub email: Option<String>,
    /// `email_verified`.
    pub email_verified: Option<bool>,
    /// `picture`: as Logto sent it (an app shows only what its pages may load).
    pub picture: Option<String>,
    /// Social identities linked in Logto, e.g. `facebook`.
    pub identities: Vec<String>,
    /// Organizations (claims `organizations`, `organization_roles`, `organization_data`).
    #[serde(default)]
    pub organizations: Vec<Organization>,
    /// Every claim as (name, value), sorted by name, for the claims view.
    pub claims: Vec<(String, ClaimValue)>,
}

impl UserProfile {
    /// Builds the profile from merged claims (ID token first, userinfo over it).
    pub fn from_claims(claims: &serde_json::Map<String, serde_json::Value>) -> Self {
        let text = |k: &str| {
            claims
                .get(k)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let identities = claims
            .get("identities")
            .and_then(|v| v.as_object())
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let mut display: Vec<(String, ClaimValue)> = claims
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                let shown = match v {
                    serde_json::Value::String(s) => ClaimValue::Text(s.clone()),
                    serde_json::Value::Number(n) if is_time_claim(k) => {
                        ClaimValue::Time(unix_seconds(n.as_i64().unwrap_or_default()))
                    }
                    other => ClaimValue::Text(other.to_string()),
                };
                (k.clone(), shown)
            })
            .collect();
        display.sort_by(|a, b| a.0.cmp(&b.0));
        Self {
            organizations: organizations_from_claims(claims),
            sub: text("sub").unwrap_or_default(),
            name: text("name"),
            username: text("username"),
            email: text("email"),
            email_verified: claims.get("email_verified").and_then(|v| v.as_bool()),
            picture: text("picture"),
            identities,
            claims: display,
        }
    }
}

/// Logto's organization claims: `organizations` (ids), `organization_roles` (`"{id}:{role}"`) and,
/// in userinfo, `organization_data` (`[{id, name, description}]`).
fn organizations_from_claims(
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Vec<Organization> {
    let strings = |k: &str| -> Vec<String> {
        claims
            .get(k)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let roles = strings("organization_roles");
    let data = claims
        .get("organization_data")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    let mut out: Vec<Organization> = strings("organizations")
        .into_iter()
        .filter(|id| !id.is_empty())
        .map(|id| Organization {
            name: data
                .iter()
                .find(|d| d.get("id").and_then(|v| v.as_str()) == Some(id.as_str()))
                .and_then(|d| d.get("name").and_then(|v| v.as_str()))
                .map(str::to_owned),
            roles: roles
                .iter()
                .filter_map(|r| r.split_once(':'))
                .filter(|(org, _)| *org == id)
                .map(|(_, role)| role.to_owned())
                .collect(),
            id,
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out.dedup_by(|a, b| a.id == b.id);
    out
}

fn is_time_claim(name: &str) -> bool {
    matches!(
        name,
        "exp" | "iat" | "auth_time" | "nbf" | "updated_at" | "created_at"
    )
}

/// Unix seconds from a time claim: Logto's `created_at`/`updated_at` are milliseconds. Values over
/// 10^11 are read as milliseconds (as seconds they would be after the year 5000).
pub fn unix_seconds(value: i64) -> i64 {
    if value > 100_000_000_000 {
        value / 1000
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the derive made of `ClaimValue` before it was written out by hand.
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(untagged)]
    enum Untagged {
        Text(String),
        Time(i64),
    }

    fn same_as_untagged(value: serde_json::Value) {
        let derived = serde_json::from_value::<Untagged>(value.clone()).ok();
        let written = serde_json::from_value::<ClaimValue>(value.clone()).ok();
        let as_derived = written.clone().map(|w| match w {
            ClaimValue::Text(t) => Untagged::Text(t),
            ClaimValue::Time(t) => Untagged::Time(t),
        });
        assert_eq!(as_derived, derived, "{value}");
        // Also from text (a borrowing deserializer), and back: serializing is still untagged.
        let text = value.to_string();
        let from_text = serde_json::from_str::<ClaimValue>(&text).ok();
        assert_eq!(from_text, written, "{text}");
        if let Some(w) = written {
            assert_eq!(serde_json::to_value(&w).ok(), Some(value));
        }
    }

    #[test]
    fn claim_values_read_as_the_untagged_derive_read_them() {
        for value in [
            serde_json::json!("alice"),
            serde_json::json!(""),
            serde_json::json!("1700000000"),
            serde_json::json!(0),
            serde_json::json!(-5),
            serde_json::json!(1_795_580_344),
            serde_json::json!(i64::MAX),
            serde_json::json!(i64::MIN),
            serde_json::json!(u64::MAX),
            serde_json::json!(1.5),
            serde_json::json!(true),
            serde_json::json!(null),
            serde_json::json!(["a"]),
            serde_json::json!({"a": 1}),
        ] {
            same_as_untagged(value);
        }
        assert_eq!(
            serde_json::from_value::<ClaimValue>(serde_json::json!(7)).ok(),
            Some(ClaimValue::Time(7))
        );
        // A record that cannot be read says what was expected (in the log of the failed read).
        let refused = serde_json::from_value::<ClaimValue>(serde_json::json!(true));
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("a claim's text, or its time in Unix seconds"),
            "{message}"
        );
    }

    /// Inputs JSON cannot carry (bytes, a char, a small integer type), as other formats give them.
    #[test]
    fn claim_values_from_other_formats_read_as_the_derive_read_them() {
        use serde::de::{
            value::{BytesDeserializer, CharDeserializer, U8Deserializer},
            IntoDeserializer,
        };
        type E = serde::de::value::Error;
        fn both<'de, D: serde::Deserializer<'de, Error = E> + Clone>(
            d: D,
        ) -> (Option<ClaimValue>, Option<Untagged>) {
            (
                ClaimValue::deserialize(d.clone()).ok(),
                Untagged::deserialize(d).ok(),
            )
        }
        let text = |t: &str| {
            (
                Some(ClaimValue::Text(t.into())),
                Some(Untagged::Text(t.into())),
            )
        };
        assert_eq!(both(BytesDeserializer::<E>::new(b"bob")), text("bob"));
        assert_eq!(
            both(BytesDeserializer::<E>::new(&[0xff, 0xfe])),
            (None, None)
        );
        assert_eq!(both(CharDeserializer::<E>::new('x')), (None, None));
        let seven: U8Deserializer<E> = 7u8.into_deserializer();
        let time = (Some(ClaimValue::Time(7)), Some(Untagged::Time(7)));
        assert_eq!(both(seven), time);
    }

    #[test]
    fn profile_from_claims() {
        let claims = serde_json::json!({
            "sub": "u1", "name": "Jamie", "email": "j@x.test", "email_verified": true,
            "picture": "javascript:alert(1)", "username": null,
            "identities": {"facebook": {"userId": "1"}}, "iat": 5,
            "created_at": 1_795_580_344_718_i64, "custom": 7
        });
        let p = UserProfile::from_claims(claims.as_object().unwrap());
        assert_eq!(p.sub, "u1");
        assert_eq!(p.name.as_deref(), Some("Jamie"));
        assert_eq!(
            p.picture.as_deref(),
            Some("javascript:alert(1)"),
            "kept as Logto sent it: what a page may show is the app's choice"
        );
        assert_eq!(p.username, None);
        assert_eq!(p.identities, ["facebook"]);
        assert_eq!(
            p.claims.first().map(|c| c.0.as_str()),
            Some("created_at"),
            "sorted by name"
        );
        let claim = |name: &str| p.claims.iter().find(|(k, _)| k == name).map(|c| &c.1);
        assert_eq!(claim("iat"), Some(&ClaimValue::Time(5)));
        assert_eq!(claim("username"), None, "null claims are left out");
        assert_eq!(
            claim("created_at"),
            Some(&ClaimValue::Time(1_795_580_344)),
            "milliseconds become seconds"
        );
        assert_eq!(claim("custom"), Some(&ClaimValue::Text("7".into())));
        assert_eq!(claim("sub"), Some(&ClaimValue::Text("u1".into())));
        assert!(p.organizations.is_empty());
    }

    fn token_set() -> TokenSet {
        let mut targeted = BTreeMap::new();
        targeted.insert(
            TokenTarget::Resource("https://api".into()).key(),
            CachedToken {
                token: "api-token".into(),
                expires_at: None,
                scope: None,
            },
        );
        TokenSet {
            sub: "u1".into(),
            id_token: "id-token".into(),
            id_token_claims: Default::default(),
            access_token: "logto-token".into(),
            access_token_expires_at: None,
            refresh_token: Some("refresh-token".into()),
            targeted,
            ended: None,
        }
    }

    #[test]
    fn each_target_has_its_own_token() {
        let set = token_set();
        assert_eq!(set.token_for(&TokenTarget::Logto), Some("logto-token"));
        assert_eq!(
            set.token_for(&TokenTarget::Resource("https://api".into())),
            Some("api-token")
        );
        assert_eq!(set.token_for(&TokenTarget::Organization("o".into())), None);
    }

    /// Debug output (logs, panics) names the grant but shows no token.
    #[test]
    fn debug_output_has_no_tokens() {
        let shown = format!("{:?}", token_set());
        assert!(shown.starts_with("TokenSet"), "{shown}");
        assert!(shown.contains("\"u1\"") && shown.contains("has_refresh_token: true"));
        for secret in ["logto-token", "api-token", "refresh-token", "id-token"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }

    #[test]
    fn milliseconds_are_told_from_seconds() {
        assert_eq!(unix_seconds(1_764_000_000), 1_764_000_000);
        assert_eq!(unix_seconds(1_764_000_000_123), 1_764_000_000);
        assert_eq!(
            unix_seconds(100_000_000_000),
            100_000_000_000,
            "the cut-off itself"
        );
        assert_eq!(unix_seconds(100_000_000_001), 100_000_000);
    }

    #[test]
    fn profiles_stored_with_text_times_still_read() {
        // A session record from before times were kept as numbers.
        let old = serde_json::json!({
            "sub": "u1", "name": null, "username": null, "email": null, "email_verified": null,
            "picture": null, "identities": [], "organizations": [],
            "claims": [["iat", "2026-11-25 04:19:04 UTC"], ["sub", "u1"]]
        });
        let p: UserProfile = serde_json::from_value(old).unwrap();
        assert_eq!(
            p.claims[0].1,
            ClaimValue::Text("2026-11-25 04:19:04 UTC".into())
        );
        // And a new one goes through the session store's encoding unchanged.
        let mut new = p.clone();
        new.claims = vec![
            ("iat".into(), ClaimValue::Time(5)),
            ("custom".into(), ClaimValue::Text("5".into())),
        ];
        let bytes = rmp_serde::to_vec_named(&new).unwrap();
        let back: UserProfile = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back.claims, new.claims);
        // As records written before 0.2.0 hold it: a JSON object in MessagePack, read back as a
        // JSON value (the text form: session::tests).
        let stored = rmp_serde::to_vec_named(&serde_json::to_value(&new).unwrap()).unwrap();
        let value: serde_json::Value = rmp_serde::from_slice(&stored).unwrap();
        assert_eq!(serde_json::from_value::<UserProfile>(value).unwrap(), new);
    }

    #[test]
    fn organizations_with_roles_and_names() {
        let claims = serde_json::json!({
            "sub": "u1",
            "organizations": ["org-b", "org-a", "org-a"],
            "organization_roles": ["org-a:admin", "org-a:member", "org-b:viewer", "org-c:ghost", "bad"],
            "organization_data": [{"id": "org-a", "name": "Acme"}]
        });
        let p = UserProfile::from_claims(claims.as_object().unwrap());
        assert_eq!(
            p.organizations,
            [
                Organization {
                    id: "org-a".into(),
                    name: Some("Acme".into()),
                    roles: vec!["admin".into(), "member".into()]
                },
                Organization {
                    id: "org-b".into(),
                    name: None,
                    roles: vec!["viewer".into()]
                },
            ],
            "sorted, deduplicated, roles of other organizations ignored"
        );
    }

    #[test]
    fn usable_token_respects_margin_and_rejection() {
        let mut set = TokenSet {
            sub: "u".into(),
            id_token: String::new(),
            id_token_claims: Default::default(),
            access_token: "at".into(),
            access_token_expires_at: Some(100),
            refresh_token: None,
            targeted: BTreeMap::new(),
            ended: None,
        };
        assert!(set.usable(&TokenTarget::Logto, 69, 30, None).is_some());
        assert!(set.usable(&TokenTarget::Logto, 70, 30, None).is_none());
        assert!(set.usable(&TokenTarget::Logto, 0, 30, Some("at")).is_none());
        let api = TokenTarget::Resource("https://api".into());
        assert!(set.usable(&api, 0, 30, None).is_none());
        set.targeted.insert(
            api.key(),
            CachedToken {
                token: "jwt".into(),
                expires_at: Some(100),
                scope: Some("read".into()),
            },
        );
        let t = set.usable(&api, 0, 30, None).unwrap();
        assert_eq!((t.secret(), t.scope.as_deref()), ("jwt", Some("read")));
        assert_eq!(format!("{t:?}"), "AccessToken(***)");
        assert!(!format!("{set:?}").contains("jwt"));
        assert!(set
            .usable(
                &TokenTarget::Organization("https://api".into()),
                0,
                30,
                None
            )
            .is_none());
    }
}
