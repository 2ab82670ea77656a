//! `s3://bucket/key` media sources: their parsing and S3's bucket naming rules. Apart from the S3
//! storage (the `s3` feature), since settings and project checks read them in every build.

use std::fmt;

/// An `s3://bucket/key` asset source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    pub key: String,
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl S3Url {
    /// Parses `s3://bucket/key`. Refuses anything a path-normalising server could read differently:
    /// empty, `.`/`..` or empty key segments, control characters, `\`, `?`, `#`.
    pub fn parse(src: &str) -> Result<S3Url, String> {
        let rest = src
            .strip_prefix("s3://")
            .ok_or("must start with s3:// (lowercase)")?;
        let (bucket, key) = rest
            .split_once('/')
            .ok_or("expected s3://bucket/key: the object key is missing")?;
        if !Self::valid_bucket(bucket) {
            return Err(format!(
                "`{bucket}` is not a valid bucket name (3–63 characters of a-z, 0-9, . and -)"
            ));
        }
        if key.is_empty() || key.len() > 1024 {
            return Err("the object key must be 1 to 1024 bytes".into());
        }
        if key
            .chars()
            .any(|c| c.is_control() || matches!(c, '\\' | '?' | '#'))
        {
            return Err("the object key may not contain control characters, \\, ? or #".into());
        }
        if key
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return Err("the object key may not have empty, `.` or `..` segments".into());
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// S3's bucket naming rules (the DNS-compatible subset, no IP addresses).
    pub fn valid_bucket(b: &str) -> bool {
        crate::config::names::valid_bucket(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls() {
        let u = S3Url::parse("s3://media-1/a/b.png").unwrap();
        assert_eq!((u.bucket.as_str(), u.key.as_str()), ("media-1", "a/b.png"));
        assert_eq!(u.to_string(), "s3://media-1/a/b.png");
        for bad in [
            "S3://media/a.png",
            "s3://media",
            "s3://media/",
            "s3://Media/a.png",
            "s3://me/a.png",
            "s3://-media/a.png",
            "s3://a..b/x",
            "s3://192.168.0.1/x",
            "s3://user@media/a.png",
            "s3://media/../etc/passwd",
            "s3://media/a//b",
            "s3://media/a/./b",
            "s3://media/a?x=1",
            "s3://media/a#f",
            "s3://media/a\nb",
            "s3://media/a\\b",
            "http://media/a.png",
        ] {
            assert!(S3Url::parse(bad).is_err(), "{bad}");
        }
    }
}
