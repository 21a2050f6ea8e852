//! SQLite's record cache: the session records this process read or wrote lately, bounded in
//! bytes, so a page view does not wait on a database thread. Exact while this process is the
//! file's only writer; deletions leave tombstones so a record read just before one cannot come
//! back.

use std::{sync::Arc, time::Duration};

use tower_sessions::session::{Id, Record};

/// Records by session id; `None` marks a session deleted by this process, so a request that read
/// the record just before the deletion cannot put it back into the cache.
pub(super) type RecordEntries = moka::sync::Cache<Id, Option<Arc<Record>>>;

/// The record cache, and the count of deletions begun and finished, so that a record read from
/// SQLite while one was under way is not cached: its tombstone could have been evicted meanwhile
/// (the cache is bounded), and the record would come back from memory.
#[derive(Debug)]
pub(super) struct RecordCache {
    pub(super) entries: RecordEntries,
    deletions: std::sync::Mutex<u64>,
}

impl RecordCache {
    pub(super) fn deletions(&self) -> std::sync::MutexGuard<'_, u64> {
        self.deletions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A deletion begins and ends with this: the tombstone (again, in case it was evicted and a
    /// read put the record back in between), and a new count.
    pub(super) fn mark_deleted(&self, id: Id) {
        let mut deletions = self.deletions();
        self.entries.insert(id, None);
        *deletions += 1;
    }

    /// Caches a record read from the store when no deletion began or ended since `seen` (the
    /// count before the read), and nothing newer is cached.
    pub(super) fn insert_read(&self, record: &Record, seen: u64) {
        let deletions = self.deletions();
        if *deletions == seen {
            self.entries
                .entry(record.id)
                .or_insert_with(|| Some(Arc::new(record.clone())));
        }
    }
}

impl RecordCache {
    /// Bounded in bytes of memory (estimated: `weight`), so memory stays flat however many
    /// sessions exist: ~2,100 signed-in records (their user ~1.5 KB of JSON text; ~650 of those
    /// signed in before 0.2.0, which hold it as an object) or ~2,500 pending sign-ins; a miss is
    /// one SQLite read, as without the cache.
    pub(super) const CACHE_BYTES: u64 = 4 * 1024 * 1024;
    /// Also an upper bound on how long a tombstone is remembered, far above any request's life.
    pub(super) const CACHE_TTL: Duration = Duration::from_secs(60);

    /// An empty cache.
    pub(super) fn new() -> Self {
        Self {
            entries: Self::entries(),
            deletions: std::sync::Mutex::new(0),
        }
    }

    pub(super) fn entries() -> RecordEntries {
        moka::sync::Cache::builder()
            .max_capacity(Self::CACHE_BYTES)
            .weigher(|_, record| Self::weight(record))
            // LRU admits every new entry: TinyLFU could refuse a fresh tombstone.
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .time_to_live(Self::CACHE_TTL)
            .build()
    }

    /// Estimated bytes of memory a cache entry holds: the entry itself, and per value its key
    /// and slot, plus a string's length (the signed-in user is JSON text) or 4x any other
    /// value's JSON size (its maps and strings in memory).
    fn weight(record: &Option<Arc<Record>>) -> u32 {
        const ENTRY_BYTES: usize = 256;
        const VALUE_BYTES: usize = 64;
        let bytes = record.as_ref().map_or(ENTRY_BYTES, |r| {
            let values: usize = r
                .data
                .iter()
                .map(|(key, value)| {
                    key.len()
                        + VALUE_BYTES
                        + match value {
                            serde_json::Value::String(text) => text.len(),
                            other => 4 * serde_json::to_vec(other).map_or(4096, |v| v.len()),
                        }
                })
                .sum();
            values + ENTRY_BYTES
        });
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }

    /// Puts a record into the cache unless this process deleted that session meanwhile.
    pub(super) fn remember(&self, record: &Record) {
        let record = Arc::new(record.clone());
        self.entries.entry(record.id).and_compute_with(|existing| {
            match existing.map(|e| e.into_value()) {
                Some(None) => moka::ops::compute::Op::Nop,
                _ => moka::ops::compute::Op::Put(Some(record)),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(data: &[(&str, serde_json::Value)], expiry_date: time::OffsetDateTime) -> Record {
        Record {
            id: Id::default(),
            data: data
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            expiry_date,
        }
    }

    #[test]
    fn strings_weigh_their_length_other_values_four_times_their_json() {
        assert_eq!(RecordCache::weight(&None), 256, "a tombstone");
        let value = "x".repeat(1000);
        let now = time::OffsetDateTime::now_utc();
        let text = record(&[("k", serde_json::json!(value))], now);
        assert_eq!(
            RecordCache::weight(&Some(Arc::new(text))),
            256 + 1 + 64 + 1000
        );
        let object = record(&[("k", serde_json::json!({ "a": value }))], now);
        let json = serde_json::to_vec(&object.data["k"]).unwrap().len();
        assert_eq!(json, 1008);
        assert_eq!(
            RecordCache::weight(&Some(Arc::new(object))),
            256 + 1 + 64 + 4 * 1008
        );
        let both = record(&[("k", serde_json::json!(value)), ("n", 7.into())], now);
        assert_eq!(
            RecordCache::weight(&Some(Arc::new(both))),
            256 + (1 + 64 + 1000) + (1 + 64 + 4)
        );
    }

    /// The memory budget the doc comment promises: ~2,100 signed-in records (the user as ~1.5 KB
    /// of JSON text, and the last-seen time), however many are put in.
    #[test]
    fn the_record_cache_stays_within_its_budget() {
        let cache = RecordCache::entries();
        let expiry = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        let user = "x".repeat(1_500);
        for _ in 0..5_000 {
            let r = record(
                &[
                    ("auth.user", serde_json::json!(user)),
                    ("auth.last_seen", 1_700_000_000.into()),
                ],
                expiry,
            );
            cache.insert(r.id, Some(Arc::new(r)));
        }
        cache.run_pending_tasks();
        assert!(cache.weighted_size() <= RecordCache::CACHE_BYTES);
        let kept = cache.entry_count();
        assert!((2_000..=2_200).contains(&kept), "{kept} records kept");
    }

    #[test]
    fn a_deleted_session_is_not_cached_again() {
        let cache = RecordCache::new();
        let expiry = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        let deleted = record(&[], expiry);
        cache.entries.insert(deleted.id, None);
        cache.remember(&deleted);
        assert!(
            matches!(cache.entries.get(&deleted.id), Some(None)),
            "tombstone kept"
        );

        let fresh = record(&[], expiry);
        cache.remember(&fresh);
        assert!(matches!(cache.entries.get(&fresh.id), Some(Some(_))));
    }

    /// A record read from SQLite while a deletion of it was under way is not cached, even when
    /// the deletion's tombstone was evicted in between (the cache is bounded).
    #[test]
    fn a_record_read_during_a_deletion_is_not_cached() {
        let cache = RecordCache::new();
        let expiry = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        let r = record(&[], expiry);
        let seen = *cache.deletions();
        cache.mark_deleted(r.id); // the deletion begins…
        cache.entries.invalidate(&r.id); // …its tombstone is evicted…
        cache.insert_read(&r, seen); // …and a read from before it ends arrives
        assert!(
            cache.entries.get(&r.id).is_none(),
            "cached a deleted record"
        );
        // Arriving between the deletion's start and end, after its tombstone was evicted: the
        // end puts the tombstone back.
        let seen = *cache.deletions();
        cache.entries.invalidate(&r.id);
        cache.insert_read(&r, seen);
        cache.mark_deleted(r.id);
        assert!(matches!(cache.entries.get(&r.id), Some(None)));
        // With no deletion under way, a read is cached.
        let fresh = record(&[], expiry);
        let seen = *cache.deletions();
        cache.insert_read(&fresh, seen);
        assert!(matches!(cache.entries.get(&fresh.id), Some(Some(_))));
    }
}
