//! Service settings, read from the environment (see `.env.example` at the repository root).
//!
//! Every setting has a default that runs the service on one machine with no external servers
//! ("embedded mode"). `REDIS_URL` selects the Redis queue and `MONGODB_URI` the MongoDB store; the
//! S3 settings are read and reported but not used yet.
//!
//! [`env`] parses one value (a leaf); `quota.rs`, `capacity.rs` and `emf.rs` read the settings of
//! one part each, so that the parts' modules import the settings and never the other way round.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use vrender_engine::Limits;

mod capacity;
mod emf;
pub mod env;
pub mod names;
mod quota;

pub use capacity::CapacitySettings;
pub use emf::EmfSink;
pub use env::ConfigError;
use env::{bad, parse, parse_bool, parse_seconds};
pub use quota::{MaxResolution, QuotaLimits, QuotaSettings};

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
    /// `MAX_CONCURRENT_RENDERS` (default 4): renders running at once in this process; 0 makes
    /// `vrender serve` API-only (workers run elsewhere as `vrender worker`, with `REDIS_URL`).
    pub max_concurrent_renders: usize,
    /// `PREVIEW_CONCURRENCY` (default 1): frame previews rendering at once; more wait (up to 10 s,
    /// then 503), so scrubbing cannot take the machine from render jobs.
    pub preview_concurrency: usize,
    /// `PREVIEW_CACHE_ENTRIES` (default 4): prepared projects (decoded media, text) kept for previews;
    /// 0 prepares every preview from scratch.
    pub preview_cache_entries: usize,
    /// `LEASE_TTL_MS` (default 15000): how long a worker holds a Redis queue item without renewing
    /// it (renewed every third of it); a dead worker's job is redelivered after this.
    pub lease_ttl: Duration,
    /// `QUEUE_MAX_DELIVERIES` (default 5): deliveries of a queue item without an ack before it is
    /// dead-lettered and its job failed.
    pub queue_max_deliveries: u32,
    /// `WORKER_PORT` (unset: none): port of `vrender worker`'s small HTTP listener (`/api/v1/health`,
    /// `/metrics`) for load-balancer health checks; 0 picks a free one. Bound on `HOST`.
    pub worker_port: Option<u16>,
    /// `SQLITE_PATH` (default `<DATA_DIR>/vrender.db`): the SQLite store, which several processes
    /// on one machine may share.
    pub sqlite_path: PathBuf,
    /// `JOB_MAX_ATTEMPTS` (default 3): tries of a render that fails with a transient error.
    pub job_max_attempts: u32,
    /// `JOB_RETRY_BACKOFF_MS` (default 2000): delay before the 2nd try, doubled for each further try.
    pub job_retry_backoff: Duration,
    /// `PROGRESS_INTERVAL_MS` (default 250): how often a running job's progress is stored.
    pub progress_interval: Duration,
    /// `CHUNK_THRESHOLD_SECONDS` (default 120; 0 = never): videos longer than this render as chunks
    /// spread over the workers, then joined (see `orchestrator::chunks`).
    pub chunk_threshold_seconds: f64,
    /// `CHUNK_SECONDS` (default 30): length of one chunk (rounded to whole frames).
    pub chunk_seconds: f64,
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
    /// `SYSTEM_FONTS` (default false): let text layers use the machine's installed fonts besides
    /// the bundled DejaVu Sans, the Noto fallback and each project's own `fonts`.
    pub system_fonts: bool,
    /// `MAX_WIDTH`, `MAX_HEIGHT`, `MAX_FRAME_RATE`, `MAX_DURATION_SECS`: project limits;
    /// `JOB_MAX_MEMORY_MB` (default 2048, 0 = none): the memory one render may hold, as estimated
    /// when the project is validated.
    pub limits: Limits,
    /// `API_KEYS`: `,`-separated API keys as `<sha256 hex of the key>:<userId>[:admin]` (hashed at
    /// rest; clients send the key itself as `Authorization: Bearer <key>` or `x-api-key: <key>`).
    pub api_keys: Vec<ApiKeyEntry>,
    /// `API_KEYS_FILE`: a file of more entries in the `API_KEYS` format, one per line (`#` comments).
    pub api_keys_file: Option<PathBuf>,
    /// `JWT_SECRET`: HS256 key of accepted JWTs (`sub` = userId; `role: "admin"` or `roles`
    /// containing `admin` for the admin role).
    pub jwt_secret: Option<String>,
    /// `JWT_ISSUER`: required `iss` of JWTs (not checked when unset).
    pub jwt_issuer: Option<String>,
    /// `JWT_AUDIENCE`: required `aud` of JWTs (not checked when unset).
    pub jwt_audience: Option<String>,
    /// `RATE_LIMIT_PER_SECOND`: sustained requests per second per API key / token / client IP
    /// (fractions allowed: 0.5 = one per 2 s). Rate limiting is off when unset.
    pub rate_limit_per_second: Option<f64>,
    /// `RATE_LIMIT_BURST`: requests allowed at once before the rate applies (default: the rate,
    /// rounded up).
    pub rate_limit_burst: Option<u32>,
    /// `MONGODB_URI`: the MongoDB store instead of SQLite. `REDIS_URL`: the Redis queue (leases,
    /// cancel broadcast) instead of the in-process one.
    pub mongodb_uri: Option<String>,
    pub redis_url: Option<String>,
    /// `S3_BUCKET`: store outputs in this S3 bucket instead of on local disk.
    pub s3_bucket: Option<String>,
    /// `S3_ENDPOINT`: an S3-compatible endpoint (default: AWS for the region).
    pub s3_endpoint: Option<String>,
    /// `S3_REGION` (default: the AWS chain's region, else `us-east-1`).
    pub s3_region: Option<String>,
    /// S3 details (see [`S3Settings`]).
    pub s3: S3Settings,
    /// `JSON_MAX_DEPTH` (default 64): deepest nesting of arrays/objects in a request body.
    pub json_max_depth: usize,
    /// `JSON_MAX_ARRAY_LEN` (default 100000): most elements of one array in a request body.
    pub json_max_array_len: usize,
    /// `MAX_QUEUED_JOBS`, `MIN_FREE_DISK_MB`: server capacity checks on new jobs; see
    /// [`crate::policy::capacity`].
    pub capacity: CapacitySettings,
    /// `QUOTA_*`: per-user quotas (all off by default); see [`crate::policy::quota`].
    pub quotas: QuotaSettings,
    /// `JWT_PUBLIC_KEY_FILE`: PEM public key (RSA → RS256, EC P-256 → ES256) of accepted JWTs.
    pub jwt_public_key_file: Option<PathBuf>,
    /// `JWT_JWKS_FILE`: a JWKS file (`{"keys":[…]}`) of accepted JWT keys, chosen by `kid`.
    pub jwt_jwks_file: Option<PathBuf>,
    /// `TRUST_PROXY_HEADERS` (default 0): how many proxies in front of the service append to
    /// `X-Forwarded-For`; the client IP (for rate limiting) is the entry that many from the right.
    /// 0: the header is ignored and the socket address is the client.
    pub trust_proxy_headers: u32,
    /// `ERROR_WEBHOOK_URL`: receives a JSON summary of every ERROR log event (optional).
    pub error_webhook_url: Option<String>,
    /// `ERROR_WEBHOOK_TIMEOUT_MS` (default 5000): per-post timeout of the error webhook.
    pub error_webhook_timeout: Duration,
    /// `CLOUDWATCH_EMF`: where the queue depth goes as CloudWatch EMF lines (off by default).
    pub cloudwatch_emf: Option<EmfSink>,
    /// `CLOUDWATCH_EMF_INTERVAL_SECS` (default 60): how often.
    pub cloudwatch_emf_interval: Duration,
}

/// How outputs and assets use S3 (only read when `S3_BUCKET` is set).
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// `S3_FORCE_PATH_STYLE` (default: true when `S3_ENDPOINT` is set): `endpoint/bucket/key` URLs.
    pub force_path_style: bool,
    /// `S3_PREFIX` (default none): a key prefix (`a/b/`) in front of every output key.
    pub prefix: String,
    /// `S3_PART_SIZE_MB` (default 8, 5–5120): multipart upload part size.
    pub part_size: u64,
    /// `S3_PROGRESSIVE_UPLOAD` (default true): upload parts while the encoder writes (MP4/MOV are then
    /// written without `+faststart`).
    pub progressive: bool,
    /// `S3_ASSET_BUCKETS`: `,`-separated buckets `s3://` asset sources may name (default: `S3_BUCKET`).
    pub asset_buckets: Vec<String>,
    /// `S3_TIMEOUT_SECS` (default 60): limit of each S3 request attempt (connecting: 10 s at most).
    pub timeout: Duration,
    /// `S3_ASSET_MAX_MB` (default 2048): largest `s3://` asset a project may use.
    pub asset_max_bytes: u64,
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
            max_memory_mb: parse(&get, "JOB_MAX_MEMORY_MB", defaults.max_memory_mb)?,
            ..defaults
        };
        let max_concurrent_renders: usize = parse(&get, "MAX_CONCURRENT_RENDERS", 4)?;
        let preview_concurrency: usize = parse(&get, "PREVIEW_CONCURRENCY", 1)?;
        if preview_concurrency == 0 {
            return Err(bad("PREVIEW_CONCURRENCY", "0", "must be at least 1"));
        }
        let lease_ttl_ms: u64 = parse(&get, "LEASE_TTL_MS", 15_000)?;
        if lease_ttl_ms < 300 {
            return Err(bad(
                "LEASE_TTL_MS",
                &lease_ttl_ms.to_string(),
                "must be at least 300 (it is renewed every third of it)",
            ));
        }
        let queue_max_deliveries: u32 = parse(&get, "QUEUE_MAX_DELIVERIES", 5)?;
        if queue_max_deliveries == 0 {
            return Err(bad("QUEUE_MAX_DELIVERIES", "0", "must be at least 1"));
        }
        let worker_port = match get("WORKER_PORT") {
            None => None,
            Some(_) => Some(parse(&get, "WORKER_PORT", 0u16)?),
        };
        let sqlite_path = get("SQLITE_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("vrender.db"));
        let job_max_attempts: u32 = parse(&get, "JOB_MAX_ATTEMPTS", 3)?;
        if job_max_attempts == 0 {
            return Err(bad("JOB_MAX_ATTEMPTS", "0", "must be at least 1"));
        }
        let chunk_threshold_seconds = parse_seconds(&get, "CHUNK_THRESHOLD_SECONDS", 120.0, 0.0)?;
        let chunk_seconds = parse_seconds(&get, "CHUNK_SECONDS", 30.0, f64::MIN_POSITIVE)?;
        let api_keys = match get("API_KEYS") {
            None => Vec::new(),
            Some(v) => v
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(|e| ApiKeyEntry::parse(e).map_err(|m| bad("API_KEYS", e, m)))
                .collect::<Result<_, _>>()?,
        };
        let rate_limit_per_second = match get("RATE_LIMIT_PER_SECOND") {
            None => None,
            Some(v) => match v.trim().parse::<f64>() {
                Ok(r) if r.is_finite() && r > 0.0 && r <= 1_000_000.0 => Some(r),
                _ => {
                    return Err(bad(
                        "RATE_LIMIT_PER_SECOND",
                        &v,
                        "expected a number of requests per second above 0",
                    ))
                }
            },
        };
        let rate_limit_burst = match get("RATE_LIMIT_BURST") {
            None => None,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(b) if b >= 1 => Some(b),
                _ => {
                    return Err(bad(
                        "RATE_LIMIT_BURST",
                        &v,
                        "expected an integer of at least 1",
                    ))
                }
            },
        };
        let s3 = s3_settings(&get)?;
        let json_max_depth: usize = parse(&get, "JSON_MAX_DEPTH", 64)?;
        if json_max_depth == 0 {
            return Err(bad("JSON_MAX_DEPTH", "0", "must be at least 1"));
        }
        let json_max_array_len: usize = parse(&get, "JSON_MAX_ARRAY_LEN", 100_000)?;
        if json_max_array_len == 0 {
            return Err(bad("JSON_MAX_ARRAY_LEN", "0", "must be at least 1"));
        }
        let trust_proxy_headers = match get("TRUST_PROXY_HEADERS") {
            None => 0,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "false" | "no" | "off" => 0,
                "true" | "yes" | "on" => 1,
                n => n.parse::<u32>().map_err(|_| {
                    bad(
                        "TRUST_PROXY_HEADERS",
                        &v,
                        "expected the number of trusted proxies (0, 1, 2, …) or true/false",
                    )
                })?,
            },
        };
        let error_webhook_url = get("ERROR_WEBHOOK_URL");
        if let Some(u) = &error_webhook_url {
            match url::Url::parse(u) {
                Ok(p) if matches!(p.scheme(), "http" | "https") => {}
                _ => return Err(bad("ERROR_WEBHOOK_URL", u, "expected an http(s) URL")),
            }
        }
        let cloudwatch_emf = match get("CLOUDWATCH_EMF") {
            None => None,
            Some(v) => Some(EmfSink::parse(&v).map_err(|m| bad("CLOUDWATCH_EMF", &v, m))?),
        };
        let emf_secs: u64 = parse(&get, "CLOUDWATCH_EMF_INTERVAL_SECS", 60)?;
        if emf_secs == 0 {
            return Err(bad(
                "CLOUDWATCH_EMF_INTERVAL_SECS",
                "0",
                "must be at least 1",
            ));
        }
        Ok(Settings {
            s3,
            cloudwatch_emf,
            cloudwatch_emf_interval: Duration::from_secs(emf_secs),
            json_max_depth,
            json_max_array_len,
            quotas: QuotaSettings::from_lookup(&get)?,
            capacity: CapacitySettings::from_lookup(&get)?,
            jwt_public_key_file: get("JWT_PUBLIC_KEY_FILE").map(PathBuf::from),
            jwt_jwks_file: get("JWT_JWKS_FILE").map(PathBuf::from),
            trust_proxy_headers,
            error_webhook_url,
            error_webhook_timeout: Duration::from_millis(parse(
                &get,
                "ERROR_WEBHOOK_TIMEOUT_MS",
                5000,
            )?),
            api_keys,
            api_keys_file: get("API_KEYS_FILE").map(PathBuf::from),
            jwt_secret: get("JWT_SECRET"),
            jwt_issuer: get("JWT_ISSUER"),
            jwt_audience: get("JWT_AUDIENCE"),
            rate_limit_per_second,
            rate_limit_burst,
            host: parse(&get, "HOST", IpAddr::from([0, 0, 0, 0]))?,
            port: parse(&get, "PORT", 3001)?,
            public_base_url: get("PUBLIC_BASE_URL").map(|s| s.trim_end_matches('/').to_string()),
            asset_roots,
            data_dir,
            max_concurrent_renders,
            preview_concurrency,
            preview_cache_entries: parse(&get, "PREVIEW_CACHE_ENTRIES", 4)?,
            lease_ttl: Duration::from_millis(lease_ttl_ms),
            queue_max_deliveries,
            worker_port,
            sqlite_path,
            job_max_attempts,
            job_retry_backoff: Duration::from_millis(parse(&get, "JOB_RETRY_BACKOFF_MS", 2000)?),
            progress_interval: Duration::from_millis(parse(&get, "PROGRESS_INTERVAL_MS", 250)?),
            chunk_threshold_seconds,
            chunk_seconds,
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
            system_fonts: parse_bool(&get, "SYSTEM_FONTS", false)?,
            limits,
            mongodb_uri: built_with(
                get("MONGODB_URI"),
                "MONGODB_URI",
                "mongodb",
                cfg!(feature = "mongodb"),
            )?,
            redis_url: built_with(
                get("REDIS_URL"),
                "REDIS_URL",
                "redis",
                cfg!(feature = "redis"),
            )?,
            s3_bucket: built_with(get("S3_BUCKET"), "S3_BUCKET", "s3", cfg!(feature = "s3"))?,
            s3_endpoint: get("S3_ENDPOINT"),
            s3_region: get("S3_REGION"),
        })
    }
}

/// One API key: the SHA-256 of the key (never the key itself), its user and role.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyEntry {
    pub sha256: [u8; 32],
    pub user_id: String,
    pub admin: bool,
}

impl std::fmt::Debug for ApiKeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyEntry")
            .field("user_id", &self.user_id)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

impl ApiKeyEntry {
    /// Parses `<64 hex digits>:<userId>[:admin]`.
    pub fn parse(entry: &str) -> Result<ApiKeyEntry, String> {
        let mut parts = entry.trim().split(':');
        let hash = parts.next().unwrap_or_default();
        let user_id = parts.next().unwrap_or_default().trim();
        let role = parts.next();
        if parts.next().is_some() {
            return Err("expected <sha256 hex>:<userId>[:admin]".into());
        }
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(hash.trim(), &mut sha256)
            .map_err(|_| "the key hash must be 64 hex digits (sha256 of the key)".to_string())?;
        if user_id.is_empty() {
            return Err("missing userId after the key hash".into());
        }
        let admin = match role.map(str::trim) {
            None => false,
            Some("admin") => true,
            Some(other) => return Err(format!("unknown role `{other}` (only `admin`)")),
        };
        Ok(ApiKeyEntry {
            sha256,
            user_id: user_id.to_string(),
            admin,
        })
    }
}

fn s3_settings(get: &impl Fn(&str) -> Option<String>) -> Result<S3Settings, ConfigError> {
    let part_mb: u64 = parse(get, "S3_PART_SIZE_MB", 8)?;
    if !(5..=5120).contains(&part_mb) {
        // S3's limits: parts but the last are 5 MiB to 5 GiB.
        return Err(bad(
            "S3_PART_SIZE_MB",
            &part_mb.to_string(),
            "must be 5 to 5120 (S3 part size limits)",
        ));
    }
    let prefix = match get("S3_PREFIX") {
        None => String::new(),
        Some(v) => {
            let p = v.trim().trim_matches('/');
            if !names::valid_key(p) || p.len() > 200 {
                return Err(bad(
                    "S3_PREFIX",
                    &v,
                    "expected `/`-separated segments of A-Z, a-z, 0-9, ., _ or - (at most 200 characters)",
                ));
            }
            format!("{p}/")
        }
    };
    let mut asset_buckets = Vec::new();
    if let Some(v) = get("S3_ASSET_BUCKETS") {
        for b in v.split(',').map(str::trim).filter(|b| !b.is_empty()) {
            if !names::valid_bucket(b) {
                return Err(bad(
                    "S3_ASSET_BUCKETS",
                    &v,
                    format!("`{b}` is not a valid bucket name"),
                ));
            }
            asset_buckets.push(b.to_string());
        }
    } else if let Some(b) = get("S3_BUCKET") {
        asset_buckets.push(b.trim().to_string());
    }
    let timeout_secs: u64 = parse(get, "S3_TIMEOUT_SECS", 60)?;
    if timeout_secs == 0 {
        return Err(bad("S3_TIMEOUT_SECS", "0", "must be at least 1"));
    }
    let asset_max_mb: u64 = parse(get, "S3_ASSET_MAX_MB", 2048)?;
    if asset_max_mb == 0 {
        return Err(bad("S3_ASSET_MAX_MB", "0", "must be at least 1"));
    }
    Ok(S3Settings {
        asset_max_bytes: asset_max_mb * 1024 * 1024,
        force_path_style: parse_bool(get, "S3_FORCE_PATH_STYLE", get("S3_ENDPOINT").is_some())?,
        prefix,
        part_size: part_mb * 1024 * 1024,
        progressive: parse_bool(get, "S3_PROGRESSIVE_UPLOAD", true)?,
        asset_buckets,
        timeout: Duration::from_secs(timeout_secs),
    })
}

/// The value of a setting that selects an optional part of the service (a cargo feature, on by
/// default), refused, naming the setting, when this build left that part out. The value is not
/// repeated: connection strings carry passwords.
fn built_with(
    value: Option<String>,
    name: &'static str,
    feature: &str,
    built: bool,
) -> Result<Option<String>, ConfigError> {
    match value {
        Some(_) if !built => Err(bad(
            name,
            "(set)",
            format!(
                "this vrender was built without the `{feature}` feature; build it with the default \
                 features (or `--features {feature}`) to use it"
            ),
        )),
        v => Ok(v),
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
        assert_eq!((s.chunk_threshold_seconds, s.chunk_seconds), (120.0, 30.0));
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = settings(&[("PORT", "http")]).unwrap_err();
        assert_eq!(e.name, "PORT");
        assert!(settings(&[("MAX_CONCURRENT_RENDERS", "x")]).is_err());
        assert_eq!(
            settings(&[("MAX_CONCURRENT_RENDERS", "0")])
                .unwrap()
                .max_concurrent_renders,
            0
        );
        assert_eq!(
            settings(&[("LEASE_TTL_MS", "100")]).unwrap_err().name,
            "LEASE_TTL_MS"
        );
        assert_eq!(
            settings(&[("QUEUE_MAX_DELIVERIES", "0")]).unwrap_err().name,
            "QUEUE_MAX_DELIVERIES"
        );
        let d = settings(&[("DATA_DIR", "/d")]).unwrap();
        assert_eq!(d.sqlite_path, PathBuf::from("/d/vrender.db"));
        assert_eq!(d.lease_ttl, Duration::from_secs(15));
        assert_eq!(d.queue_max_deliveries, 5);
        assert!(settings(&[("ALLOW_PRIVATE_CALLBACKS", "maybe")]).is_err());
        let s = settings(&[
            ("ASSET_ROOTS", "/a:/b"),
            ("ALLOW_PRIVATE_CALLBACKS", "true"),
            ("REDIS_URL", "redis://x"),
            ("S3_BUCKET", "b"),
            ("WORKER_PORT", "0"),
        ])
        .unwrap();
        assert_eq!(s.asset_roots.len(), 2);
        assert!(s.allow_private_callbacks);
        assert_eq!(s.redis_url.as_deref(), Some("redis://x"));
        assert_eq!(s.worker_port, Some(0));
        assert_eq!(
            settings(&[("WORKER_PORT", "x")]).unwrap_err().name,
            "WORKER_PORT"
        );
    }

    #[test]
    fn ops_settings() {
        let s = settings(&[]).unwrap();
        assert_eq!((s.json_max_depth, s.json_max_array_len), (64, 100_000));
        assert_eq!(s.trust_proxy_headers, 0);
        assert!(s.error_webhook_url.is_none() && !s.quotas.enabled());
        let s = settings(&[
            ("JSON_MAX_DEPTH", "8"),
            ("JSON_MAX_ARRAY_LEN", "10"),
            ("TRUST_PROXY_HEADERS", "true"),
            ("ERROR_WEBHOOK_URL", "https://hooks.example/x"),
            ("QUOTA_JOBS_PER_DAY", "3"),
        ])
        .unwrap();
        assert_eq!((s.json_max_depth, s.json_max_array_len), (8, 10));
        assert_eq!(s.trust_proxy_headers, 1);
        assert!(s.quotas.enabled());
        assert_eq!(
            settings(&[("TRUST_PROXY_HEADERS", "2")])
                .unwrap()
                .trust_proxy_headers,
            2
        );
        for (k, v) in [
            ("JSON_MAX_DEPTH", "0"),
            ("JSON_MAX_ARRAY_LEN", "lots"),
            ("TRUST_PROXY_HEADERS", "maybe"),
            ("ERROR_WEBHOOK_URL", "ftp://x"),
            ("ERROR_WEBHOOK_TIMEOUT_MS", "soon"),
            ("QUOTA_MAX_RESOLUTION", "big"),
            ("CLOUDWATCH_EMF", "syslog"),
            ("CLOUDWATCH_EMF_INTERVAL_SECS", "0"),
        ] {
            assert_eq!(settings(&[(k, v)]).unwrap_err().name, k, "{k}={v}");
        }
    }

    #[test]
    fn s3_settings() {
        let s = settings(&[("S3_BUCKET", "out")]).unwrap();
        assert_eq!(s.s3.part_size, 8 * 1024 * 1024);
        assert_eq!(s.s3.asset_buckets, vec!["out".to_string()]);
        assert!(s.s3.progressive && !s.s3.force_path_style);
        assert_eq!(s.s3.prefix, "");
        let s = settings(&[
            ("S3_BUCKET", "out"),
            ("S3_ENDPOINT", "http://127.0.0.1:9000"),
            ("S3_PREFIX", "/env/prod/"),
            ("S3_ASSET_BUCKETS", "media-a, media-b"),
            ("S3_PART_SIZE_MB", "16"),
        ])
        .unwrap();
        assert!(s.s3.force_path_style);
        assert_eq!(s.s3.prefix, "env/prod/");
        assert_eq!(s.s3.asset_buckets, vec!["media-a", "media-b"]);
        assert_eq!(s.s3.part_size, 16 * 1024 * 1024);
        for (k, v) in [
            ("S3_PART_SIZE_MB", "4"),
            ("S3_PART_SIZE_MB", "big"),
            ("S3_PREFIX", "a/../b"),
            ("S3_PREFIX", "a b"),
            ("S3_ASSET_BUCKETS", "Bad_Bucket"),
            ("S3_FORCE_PATH_STYLE", "maybe"),
            ("S3_TIMEOUT_SECS", "0"),
            ("S3_PROGRESSIVE_UPLOAD", "sometimes"),
            ("S3_ASSET_MAX_MB", "0"),
        ] {
            let e = settings(&[(k, v)]).unwrap_err();
            assert_eq!(e.name, k);
        }
    }

    #[test]
    fn security_settings() {
        let s = settings(&[]).unwrap();
        assert!(s.api_keys.is_empty() && s.jwt_secret.is_none());
        assert!(s.rate_limit_per_second.is_none());
        let h = "ab".repeat(32);
        let s = settings(&[
            ("API_KEYS", &format!("{h}:alice, {h}:root:admin")),
            ("RATE_LIMIT_PER_SECOND", "0.5"),
            ("RATE_LIMIT_BURST", "3"),
        ])
        .unwrap();
        assert_eq!(s.api_keys.len(), 2);
        assert_eq!(s.api_keys[0].user_id, "alice");
        assert!(!s.api_keys[0].admin && s.api_keys[1].admin);
        assert_eq!(s.api_keys[0].sha256, [0xab; 32]);
        assert_eq!(s.rate_limit_per_second, Some(0.5));
        assert_eq!(s.rate_limit_burst, Some(3));
        for (k, v) in [
            ("API_KEYS", "plainkey:alice"),
            ("API_KEYS", &format!("{h}:")),
            ("API_KEYS", &format!("{h}:bob:root")),
            ("RATE_LIMIT_PER_SECOND", "0"),
            ("RATE_LIMIT_PER_SECOND", "fast"),
            ("RATE_LIMIT_BURST", "0"),
            ("CHUNK_THRESHOLD_SECONDS", "-1"),
            ("CHUNK_THRESHOLD_SECONDS", "long"),
            ("CHUNK_SECONDS", "0"),
            ("CHUNK_SECONDS", "inf"),
        ] {
            let e = settings(&[(k, v)]).unwrap_err();
            assert_eq!(e.name, k);
        }
    }

    #[test]
    fn a_setting_of_a_part_left_out_of_the_build_is_refused_by_name() {
        let uri = Some("mongodb://user:secret@db".to_string());
        let e = built_with(uri.clone(), "MONGODB_URI", "mongodb", false).unwrap_err();
        assert_eq!(e.name, "MONGODB_URI");
        assert!(e.message.contains("`mongodb` feature"), "{e}");
        assert!(
            !e.to_string().contains("secret"),
            "the password is repeated: {e}"
        );
        assert_eq!(
            built_with(uri.clone(), "MONGODB_URI", "mongodb", true).unwrap(),
            uri
        );
        assert_eq!(
            built_with(None, "MONGODB_URI", "mongodb", false).unwrap(),
            None
        );
    }
}
