//! The naming rules of storage keys and S3 buckets: the settings check `S3_PREFIX` and
//! `S3_ASSET_BUCKETS` with them, and the storage every key and `s3://` URL. Imports nothing.

/// Storage keys are relative paths of `[A-Za-z0-9._-]` segments, none of them `.` or `..`.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        })
}

/// S3's bucket naming rules (the DNS-compatible subset, no IP addresses).
pub fn valid_bucket(b: &str) -> bool {
    let bytes = b.as_bytes();
    (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[b.len() - 1].is_ascii_alphanumeric()
        && !b.contains("..")
        && !b.split('.').all(|p| p.parse::<u8>().is_ok())
}
