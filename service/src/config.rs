//! Service settings, read from the environment (see `.env.example` at the repository root).
//!
//! Every setting has a default that runs the service on one machine with no external servers
//! ("embedded mode"). Settings of the distributed mode (MongoDB, Redis, S3) are read and reported but
//! not used yet.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use vrender_engine::Limits;

/// A setting that is present but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("setting {name}={value:?}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub message: String,
}

/// Everything the service reads from its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `HOST` (default `0.0.0.0`).
    pub host: IpAddr,
    /// `PORT` (default 3001; 0 picks a free port).
    pub port: u16,
    /// `PUBLIC_BASE_URL`: how clients reach this service, used in signed download links. Default:
    /// `http://<host>:<port>` of the bound socket (`127.0.0.1` when bound to all interfaces).
    pub public_base_url: Option<String>,
    /// `DATA_DIR` (default `./data`): database, rendered outputs, temporary files.
    pub data_dir: PathBuf,
    /// `ASSET_ROOTS`: `:`-separated folders project media may come from (default `<DATA_DIR>/assets`).
    pub asset_roots: Vec<PathBuf>,
    /// `MAX_CONCURRENT_RENDERS` (default 4): renders running at once.
    pub max_concurrent_renders: usize,
    /// `JOB_MAX_ATTEMPTS` (default 3): tries of a render that fails with a transient error.
    pub job_max_attempts: u32,
    /// `JOB_RETRY_BACKOFF_MS` (default 2000): delay before the 2nd try, doubled for each further try.
    pub job_retry_backoff: Duration,
    /// `PROGRESS_INTERVAL_MS` (default 250): how often a running job's progress is stored.
    pub progress_interval: Duration,
    /// `CALLBACK_SECRET`: HMAC-SHA256 key of the `X-Signature` header of callbacks (unsigned if unset).
    pub callback_secret: Option<String>,
    /// `ALLOW_PRIVATE_CALLBACKS` (default false): allow callbacks to loopback/private/link-local hosts.
    pub allow_private_callbacks: bool,
    /// `CALLBACK_MAX_ATTEMPTS` (default 5).
    pub callback_max_attempts: u32,
    /// `CALLBACK_RETRY_BASE_MS` (default 1000): first retry delay, doubled each time.
    pub callback_retry_base: Duration,
    /// `CALLBACK_TIMEOUT_MS` (default 10000): per-attempt timeout.
    pub callback_timeout: Duration,
    /// `SIGNED_URL_EXPIRY_SECS` (default 3600): lifetime of `outputUrl` links.
    pub signed_url_expiry: Duration,
    /// `URL_SIGNING_SECRET`: key of download links (default: a random key kept in `<DATA_DIR>/signing.key`).
    pub url_signing_secret: Option<String>,
    /// `BODY_LIMIT_BYTES` (default 10 MiB): largest request body.
    pub body_limit: usize,
    /// `GPU_ADAPTER`: prefer the adapter whose name contains this.
    pub gpu_adapter: Option<String>,
    /// `FFMPEG_PATH` (default `ffmpeg` on PATH).
    pub ffmpeg: Option<PathBuf>,
    /// `MAX_WIDTH`, `MAX_HEIGHT`, `MAX_FRAME_RATE`, `MAX_DURATION_SECS`: project limits.
    pub limits: Limits,
    /// `MONGODB_URI`, `REDIS_URL`, `S3_BUCKET`, `S3_ENDPOINT`, `S3_REGION`: distributed mode (not yet
    /// implemented; reported at startup and in `/health`).
    pub mongodb_uri: Option<String>,
    pub redis_url: Option<String>,
    pub s3_bucket: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get` (the environment, or a map in tests). Empty values count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let asset_roots = match get("ASSET_ROOTS") {
            Some(v) => v
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect(),
            None => vec![data_dir.join("assets")],
        };
        let defaults = Limits::default();
        let limits = Limits {
            max_width: parse(&get, "MAX_WIDTH", defaults.max_width)?,
            max_height: parse(&get, "MAX_HEIGHT", defaults.max_height)?,
            max_frame_rate: parse(&get, "MAX_FRAME_RATE", defaults.max_frame_rate)?,
            max_duration: parse(&get, "MAX_DURATION_SECS", defaults.max_duration)?,
            ..defaults
        };
        let max_concurrent_renders: usize = parse(&get, "MAX_CONCURRENT_RENDERS", 4)?;
        if max_concurrent_renders == 0 {
            return Err(bad("MAX_CONCURRENT_RENDERS", "0", "must be at least 1"));
        }
        let job_max_attempts: u32 = parse(&get, "JOB_MAX_ATTEMPTS", 3)?;
        if job_max_attempts == 0 {
            return Err(bad("JOB_MAX_ATTEMPTS", "0", "must be at least 1"));
        }
        Ok(Settings {
            host: parse(&get, "HOST", IpAddr::from([0, 0, 0, 0]))?,
            port: parse(&get, "PORT", 3001)?,
            public_base_url: get("PUBLIC_BASE_URL").map(|s| s.trim_end_matches('/').to_string()),
            asset_roots,
            data_dir,
            max_concurrent_renders,
            job_max_attempts,
            job_retry_backoff: Duration::from_millis(parse(&get, "JOB_RETRY_BACKOFF_MS", 2000)?),
            progress_interval: Duration::from_millis(parse(&get, "PROGRESS_INTERVAL_MS", 250)?),
            callback_secret: get("CALLBACK_SECRET"),
            allow_private_callbacks: parse_bool(&get, "ALLOW_PRIVATE_CALLBACKS", false)?,
            callback_max_attempts: parse(&get, "CALLBACK_MAX_ATTEMPTS", 5)?,
            callback_retry_base: Duration::from_millis(parse(
                &get,
                "CALLBACK_RETRY_BASE_MS",
                1000,
            )?),
            callback_timeout: Duration::from_millis(parse(&get, "CALLBACK_TIMEOUT_MS", 10_000)?),
            signed_url_expiry: Duration::from_secs(parse(&get, "SIGNED_URL_EXPIRY_SECS", 3600)?),
            url_signing_secret: get("URL_SIGNING_SECRET"),
            body_limit: parse(&get, "BODY_LIMIT_BYTES", 10 * 1024 * 1024)?,
            gpu_adapter: get("GPU_ADAPTER"),
            ffmpeg: get("FFMPEG_PATH").map(PathBuf::from),
            limits,
            mongodb_uri: get("MONGODB_URI"),
            redis_url: get("REDIS_URL"),
            s3_bucket: get("S3_BUCKET"),
            s3_endpoint: get("S3_ENDPOINT"),
            s3_region: get("S3_REGION"),
        })
    }

    /// Names of the distributed-mode settings that are set (and, for now, ignored).
    pub fn distributed_settings_present(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (name, value) in [
            ("MONGODB_URI", &self.mongodb_uri),
            ("REDIS_URL", &self.redis_url),
            ("S3_BUCKET", &self.s3_bucket),
            ("S3_ENDPOINT", &self.s3_endpoint),
            ("S3_REGION", &self.s3_region),
        ] {
            if value.is_some() {
                v.push(name);
            }
        }
        v
    }
}

fn bad(name: &'static str, value: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        value: value.to_string(),
        message: message.into(),
    }
}

fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match get(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|e: T::Err| bad(name, &v, e.to_string())),
    }
}

fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(bad(name, &v, "expected true or false")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_seed() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.port, 3001);
        assert_eq!(s.max_concurrent_renders, 4);
        assert_eq!(s.asset_roots, vec![PathBuf::from("./data/assets")]);
        assert!(!s.allow_private_callbacks);
        assert!(s.distributed_settings_present().is_empty());
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = settings(&[("PORT", "http")]).unwrap_err();
        assert_eq!(e.name, "PORT");
        assert!(settings(&[("MAX_CONCURRENT_RENDERS", "0")]).is_err());
        assert!(settings(&[("ALLOW_PRIVATE_CALLBACKS", "maybe")]).is_err());
        let s = settings(&[
            ("ASSET_ROOTS", "/a:/b"),
            ("ALLOW_PRIVATE_CALLBACKS", "true"),
            ("REDIS_URL", "redis://x"),
        ])
        .unwrap();
        assert_eq!(s.asset_roots.len(), 2);
        assert!(s.allow_private_callbacks);
        assert_eq!(s.distributed_settings_present(), vec!["REDIS_URL"]);
    }
}
