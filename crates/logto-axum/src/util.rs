//! Small helpers every part of the auth layer uses, kept apart from `mod.rs` so the modules
//! import a leaf rather than their own hub.

/// SHA-256 of `secret`, hex: names a secret (a refresh token in a store's compare-and-swap
/// column, a session id on a page, a callback's `state` in its once-only key) without revealing
/// it. Stored values are compared with it: its output must never change.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        secret.as_bytes(),
    ))
}

/// Seconds since the Unix epoch; the unit every stored timestamp uses.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
