//! What the SQLite and Redis token stores share: the JSON form of a token set, the hash the
//! compare-and-swap compares, and their error and lifetime conversions.

use std::time::Duration;

use crate::{sha256_hex, TokenSet, TokenStoreError};

/// What the compare-and-swap compares: a hash of the refresh token (`None` as none).
pub(super) fn rt_hash(refresh_token: Option<&str>) -> Option<String> {
    refresh_token.map(sha256_hex)
}

pub(super) fn store_err(e: impl std::fmt::Display) -> TokenStoreError {
    TokenStoreError(e.to_string())
}

pub(super) fn encode(tokens: &TokenSet) -> Result<String, TokenStoreError> {
    serde_json::to_string(tokens).map_err(store_err)
}

pub(super) fn decode(data: &str) -> Result<TokenSet, TokenStoreError> {
    serde_json::from_str(data).map_err(store_err)
}

pub(super) fn ttl_secs(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX).max(1)
}
