//! Signed-in users decoded from the text their session records hold, kept by that text: every
//! request reads its user, and decoding ~1.5 KB of JSON each time was ~13% of a signed-in page's
//! CPU. The text is one session's (its grant and sign-in time are in it).
//!
//! One per process (a `static`), not in `LogtoClient`: the key is the whole text and decoding is
//! a pure function of it, so an entry can never be stale (a changed user is a different text, a
//! different key) and clients sharing a process lose nothing by sharing it; and `AuthSession`
//! reaches it without every caller passing it in (the session module would import the client,
//! which imports the session module). Bounded in bytes; a session signed out here is dropped at
//! once, and any other entry after 10 minutes unused (a session ended elsewhere, by another
//! instance or by Logto, need not keep its grant id in memory); a miss decodes, as without it.

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use super::{decode_user, SessionUser};

/// Users by their stored text. foldhash: SipHash over each ~1.5 KB key would cost a fifth of
/// the decoding it saves. foldhash resists chosen collisions only a little, but the keys are the
/// server's own encoding of a sign-in (a fresh grant id in each), hashed with a per-process seed.
type Entries = moka::sync::Cache<Arc<str>, Arc<SessionUser>, foldhash::fast::RandomState>;

/// Estimated bytes of memory: ~1,300 sessions' users of ~1.5 KB text (the text, the decoded
/// user ~3 times its size, the entry).
const CACHE_BYTES: u64 = 8 * 1024 * 1024;
/// Longer than most pauses between one user's pages.
const CACHE_IDLE: Duration = Duration::from_secs(10 * 60);

static DECODED: LazyLock<Entries> = LazyLock::new(entries);

fn entries() -> Entries {
    moka::sync::Cache::builder()
        .max_capacity(CACHE_BYTES)
        .weigher(|text: &Arc<str>, _| weight(text.len()))
        .time_to_idle(CACHE_IDLE)
        .build_with_hasher(foldhash::fast::RandomState::default())
}

fn weight(text_len: usize) -> u32 {
    u32::try_from(4 * text_len + 256).unwrap_or(u32::MAX)
}

/// The user a record's value holds, decoded once per distinct text. Records written before
/// 0.2.0 hold an object: decoded every time (they become text at the next sign-in).
pub(super) fn decode(value: &serde_json::Value) -> serde_json::Result<Arc<SessionUser>> {
    let serde_json::Value::String(text) = value else {
        return decode_user(value).map(Arc::new);
    };
    if let Some(user) = DECODED.get(text.as_str()) {
        return Ok(user);
    }
    // Two requests missing at once both decode, and the later insert wins: equal users, once.
    let user: Arc<SessionUser> = Arc::new(serde_json::from_str(text)?);
    DECODED.insert(Arc::from(text.as_str()), user.clone());
    Ok(user)
}

/// Drops the user a signed-out session's value held.
pub(super) fn forget(value: &serde_json::Value) {
    if let serde_json::Value::String(text) = value {
        DECODED.invalidate(text.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserProfile;

    fn user(sub: &str, name: &str) -> SessionUser {
        SessionUser {
            grant: "g".into(),
            signed_in_at: 1_700_000_000,
            user: UserProfile {
                sub: sub.into(),
                name: Some(name.into()),
                ..Default::default()
            },
            sid: None,
            browser: None,
        }
    }

    fn text(u: &SessionUser) -> serde_json::Value {
        serde_json::Value::String(super::super::encode_user(u).unwrap())
    }

    #[test]
    fn one_text_decodes_once_and_a_changed_text_decodes_anew() {
        let first = decode(&text(&user("decoded-1", "Ann"))).unwrap();
        let again = decode(&text(&user("decoded-1", "Ann"))).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "the same text decoded twice");
        let renamed = decode(&text(&user("decoded-1", "Anna"))).unwrap();
        assert_eq!(renamed.user.name.as_deref(), Some("Anna"));
        assert_eq!(first.user.name.as_deref(), Some("Ann"));
    }

    #[test]
    fn objects_are_decoded_each_time_and_broken_text_fails() {
        let object = serde_json::to_value(user("decoded-2", "Bo")).unwrap();
        let a = decode(&object).unwrap();
        let b = decode(&object).unwrap();
        assert_eq!(a.user.sub, "decoded-2");
        assert!(!Arc::ptr_eq(&a, &b));
        let broken = serde_json::Value::String("{\"grant\":".into());
        assert!(decode(&broken).is_err());
    }

    #[test]
    fn a_forgotten_user_is_decoded_anew() {
        let value = text(&user("decoded-4", "Di"));
        let first = decode(&value).unwrap();
        forget(&value);
        let again = decode(&value).unwrap();
        assert!(!Arc::ptr_eq(&first, &again));
    }

    /// The budget the constant's comment promises, however many users pass through.
    #[test]
    fn the_memo_stays_within_its_budget() {
        let memo = entries();
        let decoded = Arc::new(user("decoded-3", "Cy"));
        for i in 0..3_000 {
            let text = format!("{i:05}{}", "x".repeat(1_495));
            memo.insert(Arc::from(text), decoded.clone());
        }
        memo.run_pending_tasks();
        assert!(memo.weighted_size() <= CACHE_BYTES);
        let kept = memo.entry_count();
        assert!((1_250..=1_400).contains(&kept), "{kept} users kept");
    }
}
