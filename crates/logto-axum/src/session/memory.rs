//! The memory store's user index: which sessions each user has, and whose Logto session (`sid`)
//! each was signed in with. Kept beside tower-sessions' `MemoryStore`; pruned when read.

use std::collections::{HashMap, HashSet};

use tower_sessions::session::Id;

#[derive(Debug, Default)]
pub(super) struct MemoryIndex {
    /// `sub` → its session ids.
    sessions: HashMap<String, HashSet<Id>>,
    /// Logto session id (`sid`) → the user signed in with it.
    user_of_sid: HashMap<String, String>,
}

impl MemoryIndex {
    pub(super) fn add(&mut self, sub: &str, sid: Option<&str>, id: Id) {
        self.sessions.entry(sub.to_owned()).or_default().insert(id);
        if let Some(sid) = sid {
            self.user_of_sid.insert(sid.to_owned(), sub.to_owned());
        }
    }

    pub(super) fn user_of_sid(&self, sid: &str) -> Option<String> {
        self.user_of_sid.get(sid).cloned()
    }

    pub(super) fn ids(&self, sub: &str) -> Vec<Id> {
        self.sessions
            .get(sub)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Forgets `ids`; a user left without sessions is forgotten with their Logto sessions.
    pub(super) fn remove(&mut self, sub: &str, ids: &[Id]) {
        if let Some(set) = self.sessions.get_mut(sub) {
            set.retain(|id| !ids.contains(id));
            if set.is_empty() {
                self.sessions.remove(sub);
                self.user_of_sid.retain(|_, user| user != sub);
            }
        }
    }
}
