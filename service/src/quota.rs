//! Per-user quotas, checked when a job is submitted (and the resolution also when a project is
//! created). All are off by default.
//!
//! | setting | limit | refused with |
//! |---|---|---|
//! | `QUOTA_MAX_CONCURRENT_JOBS` | jobs not yet finished (pending, queued, processing) | 429 |
//! | `QUOTA_JOBS_PER_DAY` | jobs created in the current day (UTC; see `QUOTA_DAY_SECONDS`) | 429 |
//! | `QUOTA_RENDER_MINUTES_PER_MONTH` | minutes of video completed in the current UTC month | 429 |
//! | `QUOTA_MAX_RESOLUTION` | `WIDTHxHEIGHT` (each side) or a pixel count (width × height) | 403 |
//!
//! `QUOTA_DAY_SECONDS` (default 86400) is the length of the "day" window; windows start at multiples
//! of it since the Unix epoch, so the default is the UTC calendar day (shorter values exist for tests
//! and for hourly quotas). `QUOTA_OVERRIDES` gives single users other limits:
//! `alice:concurrent=10:daily=none;bob:unlimited` (`concurrent`, `daily`, `monthlyMinutes`,
//! `resolution`; `none` lifts one limit, `unlimited` all). Admins (API key role / JWT role `admin`)
//! are never limited.
//!
//! The check and the job's creation run under a per-user lock, so two submissions at the limit in
//! one process never both pass. Across several API processes the check is best-effort: each process
//! counts from the shared store but they do not lock each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};

use crate::api::error::ApiError;
use crate::auth::Caller;
use crate::config::{bad, ConfigError};
use crate::model::{now_millis, rfc3339, Millis};
use crate::store::{JobStore, StoreError};

/// Largest picture a user may render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxResolution {
    /// Each side at most this.
    Sides { width: u32, height: u32 },
    /// width × height at most this.
    Pixels(u64),
}

impl MaxResolution {
    fn parse(v: &str) -> Result<MaxResolution, String> {
        let v = v.trim();
        if let Some((w, h)) = v.split_once(['x', 'X', '×']) {
            let side = |s: &str| s.trim().parse::<u32>().ok().filter(|n| *n > 0);
            return match (side(w), side(h)) {
                (Some(width), Some(height)) => Ok(MaxResolution::Sides { width, height }),
                _ => Err("expected WIDTHxHEIGHT (e.g. 1920x1080) or a pixel count".into()),
            };
        }
        match v.parse::<u64>() {
            Ok(p) if p > 0 => Ok(MaxResolution::Pixels(p)),
            _ => Err("expected WIDTHxHEIGHT (e.g. 1920x1080) or a pixel count".into()),
        }
    }

    fn allows(self, width: u32, height: u32) -> bool {
        match self {
            MaxResolution::Sides {
                width: w,
                height: h,
            } => width <= w && height <= h,
            MaxResolution::Pixels(p) => width as u64 * height as u64 <= p,
        }
    }

    fn describe(self) -> Value {
        match self {
            MaxResolution::Sides { width, height } => json!(format!("{width}x{height}")),
            MaxResolution::Pixels(p) => json!(p),
        }
    }
}

/// The limits of one user (`None`: unlimited).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuotaLimits {
    pub max_concurrent_jobs: Option<u64>,
    pub jobs_per_day: Option<u64>,
    pub render_minutes_per_month: Option<f64>,
    pub max_resolution: Option<MaxResolution>,
}

impl QuotaLimits {
    fn any(&self) -> bool {
        *self != QuotaLimits::default()
    }
}

/// The `QUOTA_*` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaSettings {
    pub defaults: QuotaLimits,
    pub overrides: HashMap<String, QuotaLimits>,
    /// Length of the per-day window in seconds (86400 = the UTC day).
    pub day_seconds: u64,
}

impl Default for QuotaSettings {
    fn default() -> Self {
        QuotaSettings {
            defaults: QuotaLimits::default(),
            overrides: HashMap::new(),
            day_seconds: 86_400,
        }
    }
}

fn opt_count(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<u64>, ConfigError> {
    get(name)
        .map(|v| match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(bad(name, &v, "expected a whole number of at least 1")),
        })
        .transpose()
}

fn minutes(v: &str) -> Option<f64> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|m| m.is_finite() && *m > 0.0)
}

impl QuotaSettings {
    /// Reads the `QUOTA_*` settings through `get` (empty values already count as unset).
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let render_minutes_per_month = get("QUOTA_RENDER_MINUTES_PER_MONTH")
            .map(|v| {
                minutes(&v).ok_or_else(|| {
                    bad(
                        "QUOTA_RENDER_MINUTES_PER_MONTH",
                        &v,
                        "expected a number of minutes above 0",
                    )
                })
            })
            .transpose()?;
        let max_resolution = get("QUOTA_MAX_RESOLUTION")
            .map(|v| MaxResolution::parse(&v).map_err(|m| bad("QUOTA_MAX_RESOLUTION", &v, m)))
            .transpose()?;
        let defaults = QuotaLimits {
            max_concurrent_jobs: opt_count(get, "QUOTA_MAX_CONCURRENT_JOBS")?,
            jobs_per_day: opt_count(get, "QUOTA_JOBS_PER_DAY")?,
            render_minutes_per_month,
            max_resolution,
        };
        let day_seconds = opt_count(get, "QUOTA_DAY_SECONDS")?.unwrap_or(86_400);
        let mut overrides = HashMap::new();
        if let Some(v) = get("QUOTA_OVERRIDES") {
            for entry in v.split(';').map(str::trim).filter(|e| !e.is_empty()) {
                let (user, limits) = parse_override(entry, &defaults)
                    .map_err(|m| bad("QUOTA_OVERRIDES", entry, m))?;
                overrides.insert(user, limits);
            }
        }
        Ok(QuotaSettings {
            defaults,
            overrides,
            day_seconds,
        })
    }

    /// Whether any quota can apply.
    pub fn enabled(&self) -> bool {
        self.defaults.any() || self.overrides.values().any(QuotaLimits::any)
    }

    fn limits_for(&self, user_id: &str) -> &QuotaLimits {
        self.overrides.get(user_id).unwrap_or(&self.defaults)
    }
}

/// `user:name=value:…` or `user:unlimited`; unnamed limits keep the defaults.
fn parse_override(entry: &str, defaults: &QuotaLimits) -> Result<(String, QuotaLimits), String> {
    let mut parts = entry.split(':').map(str::trim);
    let user = parts.next().unwrap_or_default();
    if user.is_empty() {
        return Err("expected userId:limit=value[:…] or userId:unlimited".into());
    }
    let mut limits = defaults.clone();
    let mut any = false;
    for part in parts {
        any = true;
        if part == "unlimited" {
            limits = QuotaLimits::default();
            continue;
        }
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}`: expected name=value"))?;
        let none = value.trim() == "none";
        let count = || {
            value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("`{part}`: expected a whole number of at least 1 or none"))
        };
        match name.trim() {
            "concurrent" => limits.max_concurrent_jobs = if none { None } else { Some(count()?) },
            "daily" => limits.jobs_per_day = if none { None } else { Some(count()?) },
            "monthlyMinutes" => {
                limits.render_minutes_per_month = if none {
                    None
                } else {
                    Some(
                        minutes(value)
                            .ok_or_else(|| format!("`{part}`: expected minutes above 0 or none"))?,
                    )
                }
            }
            "resolution" => {
                limits.max_resolution = if none {
                    None
                } else {
                    Some(MaxResolution::parse(value).map_err(|m| format!("`{part}`: {m}"))?)
                }
            }
            other => {
                return Err(format!(
                    "unknown limit `{other}` (concurrent, daily, monthlyMinutes, resolution)"
                ))
            }
        }
    }
    if !any {
        return Err("expected userId:limit=value[:…] or userId:unlimited".into());
    }
    Ok((user.to_string(), limits))
}

/// A refused request: which limit, its value, the current usage and when it resets.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaExceeded {
    /// `maxConcurrentJobs`, `jobsPerDay`, `renderMinutesPerMonth` or `maxResolution`.
    pub limit: &'static str,
    /// The setting that sets it.
    pub setting: &'static str,
    /// The limit's value.
    #[schema(value_type = Object)]
    pub value: Value,
    /// The user's usage (or the refused resolution).
    #[schema(value_type = Object)]
    pub current: Value,
    /// RFC 3339; absent when it resets when one of the user's jobs finishes, or never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<String>,
    /// Also the `Retry-After` header (429 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    #[serde(skip)]
    status: u16,
}

impl QuotaExceeded {
    fn new(
        limit: &'static str,
        setting: &'static str,
        value: Value,
        current: Value,
        resets_at: Option<Millis>,
        now: Millis,
    ) -> Self {
        let rate_like = limit != "maxResolution";
        let retry = match resets_at {
            Some(t) => Some(((t - now).max(0) as u64).div_ceil(1000).max(1)),
            // Concurrent jobs: a job finishing frees a slot; suggest a short wait.
            None if rate_like => Some(10),
            None => None,
        };
        QuotaExceeded {
            limit,
            setting,
            value,
            current,
            resets_at: resets_at.map(rfc3339),
            retry_after_seconds: retry,
            status: if rate_like { 429 } else { 403 },
        }
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::TOO_MANY_REQUESTS)
    }

    fn message(&self) -> String {
        let mut m = format!(
            "quota exceeded: {} ({}) is {}, current {}",
            self.limit, self.setting, self.value, self.current
        );
        if let Some(t) = &self.resets_at {
            m.push_str(&format!("; resets at {t}"));
        } else if self.status == 429 {
            m.push_str("; a slot frees when one of your jobs finishes");
        }
        m
    }
}

impl IntoResponse for QuotaExceeded {
    fn into_response(self) -> Response {
        let mut resp = ApiError::new(self.status(), self.message()).into_response();
        if let Some(s) = self.retry_after_seconds {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        // The error-body middleware puts this in the body's `quota` field.
        resp.extensions_mut().insert(self);
        resp
    }
}

/// The error of a handler that checks quotas: an ordinary [`ApiError`] or a quota refusal.
#[derive(Debug)]
pub enum Refusal {
    Api(ApiError),
    Quota(Box<QuotaExceeded>),
    /// The server is out of capacity (queue full, disk low): 503 with `Retry-After`.
    Overloaded(crate::capacity::Overloaded),
}

impl From<crate::capacity::Refused> for Refusal {
    fn from(r: crate::capacity::Refused) -> Self {
        match r {
            crate::capacity::Refused::Overloaded(o) => Refusal::Overloaded(o),
            crate::capacity::Refused::Store(e) => Refusal::Api(e.into()),
        }
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Api(e)
    }
}

impl From<Box<QuotaExceeded>> for Refusal {
    fn from(q: Box<QuotaExceeded>) -> Self {
        Refusal::Quota(q)
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Api(e.into())
    }
}

impl From<crate::jobs::OrchestratorError> for Refusal {
    fn from(e: crate::jobs::OrchestratorError) -> Self {
        Refusal::Api(e.into())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Api(e) => e.into_response(),
            Refusal::Quota(q) => (*q).into_response(),
            Refusal::Overloaded(o) => o.into_response(),
        }
    }
}

/// Start of the current UTC month and of the next one, in ms.
fn month_window(now: Millis) -> (Millis, Millis) {
    use time::{Date, Month, OffsetDateTime, Time};
    let t = OffsetDateTime::from_unix_timestamp(now.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let start = Date::from_calendar_date(t.year(), t.month(), 1).unwrap_or(t.date());
    let (ny, nm) = if t.month() == Month::December {
        (t.year() + 1, Month::January)
    } else {
        (t.year(), t.month().next())
    };
    let next = Date::from_calendar_date(ny, nm, 1).unwrap_or(start);
    let ms = |d: Date| d.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp() * 1000;
    (ms(start), ms(next))
}

/// One submission lock per user with a check in progress.
type UserLocks = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

/// Holds the user's submission lock until dropped (after the job is stored).
pub struct Admission {
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    user: String,
    locks: Option<UserLocks>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.guard.take();
        if let Some(locks) = &self.locks {
            let mut map = locks.lock().unwrap_or_else(|p| p.into_inner());
            // Forget the user's lock when nobody else waits on it, so the map stays small.
            if map
                .get(&self.user)
                .is_some_and(|l| Arc::strong_count(l) == 1)
            {
                map.remove(&self.user);
            }
        }
    }
}

/// The quota checks, shared by the handlers.
pub struct Quotas {
    settings: QuotaSettings,
    jobs: Arc<dyn JobStore>,
    locks: UserLocks,
}

impl Quotas {
    pub fn new(settings: QuotaSettings, jobs: Arc<dyn JobStore>) -> Quotas {
        Quotas {
            settings,
            jobs,
            locks: Arc::default(),
        }
    }

    /// The limits that apply to `user_id` when `caller` acts; `None` when none do.
    fn limits(&self, caller: &Caller, user_id: &str) -> Option<&QuotaLimits> {
        if matches!(caller, Caller::User { admin: true, .. }) || !self.settings.enabled() {
            return None;
        }
        Some(self.settings.limits_for(user_id)).filter(|l| l.any())
    }

    /// 403 when a `width`×`height` picture is over the user's `QUOTA_MAX_RESOLUTION`.
    pub fn check_resolution(
        &self,
        caller: &Caller,
        user_id: &str,
        width: u32,
        height: u32,
    ) -> Result<(), Box<QuotaExceeded>> {
        let Some(max) = self.limits(caller, user_id).and_then(|l| l.max_resolution) else {
            return Ok(());
        };
        if max.allows(width, height) {
            return Ok(());
        }
        Err(Box::new(QuotaExceeded::new(
            "maxResolution",
            "QUOTA_MAX_RESOLUTION",
            max.describe(),
            match max {
                MaxResolution::Sides { .. } => json!(format!("{width}x{height}")),
                MaxResolution::Pixels(_) => json!(width as u64 * height as u64),
            },
            None,
            now_millis(),
        )))
    }

    /// Checks every quota of `user_id` for a new job of a `width`×`height` project. On success the
    /// returned [`Admission`] holds the user's lock: keep it until the job is stored.
    pub async fn admit(
        &self,
        caller: &Caller,
        user_id: &str,
        width: u32,
        height: u32,
    ) -> Result<Admission, Refusal> {
        let Some(limits) = self.limits(caller, user_id) else {
            return Ok(Admission {
                guard: None,
                user: String::new(),
                locks: None,
            });
        };
        self.check_resolution(caller, user_id, width, height)?;
        let lock = self
            .locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(user_id.to_string())
            .or_default()
            .clone();
        let admission = Admission {
            guard: Some(lock.lock_owned().await),
            user: user_id.to_string(),
            locks: Some(self.locks.clone()),
        };
        let now = now_millis();
        let day_ms = (self.settings.day_seconds as i64)
            .saturating_mul(1000)
            .max(1);
        let day_start = now - now.rem_euclid(day_ms);
        let (month_start, next_month) = month_window(now);
        let usage = self.jobs.usage(user_id, day_start).await?;
        let exceeded = |q| Err(Refusal::Quota(Box::new(q)));
        if let Some(max) = limits.max_concurrent_jobs {
            if usage.active_jobs >= max {
                return exceeded(QuotaExceeded::new(
                    "maxConcurrentJobs",
                    "QUOTA_MAX_CONCURRENT_JOBS",
                    json!(max),
                    json!(usage.active_jobs),
                    None,
                    now,
                ));
            }
        }
        if let Some(max) = limits.jobs_per_day {
            if usage.jobs_since >= max {
                return exceeded(QuotaExceeded::new(
                    "jobsPerDay",
                    "QUOTA_JOBS_PER_DAY",
                    json!(max),
                    json!(usage.jobs_since),
                    Some(day_start + day_ms),
                    now,
                ));
            }
        }
        if let Some(max) = limits.render_minutes_per_month {
            let used = self
                .jobs
                .usage(user_id, month_start)
                .await?
                .rendered_seconds_since
                / 60.0;
            if used >= max {
                return exceeded(QuotaExceeded::new(
                    "renderMinutesPerMonth",
                    "QUOTA_RENDER_MINUTES_PER_MONTH",
                    json!(max),
                    json!((used * 1000.0).round() / 1000.0),
                    Some(next_month),
                    now,
                ));
            }
        }
        Ok(admission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<QuotaSettings, ConfigError> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        QuotaSettings::from_lookup(&|k: &str| map.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn off_by_default() {
        let s = settings(&[]).unwrap();
        assert!(!s.enabled());
        assert_eq!(s.day_seconds, 86_400);
    }

    #[test]
    fn parses_limits_and_overrides() {
        let s = settings(&[
            ("QUOTA_MAX_CONCURRENT_JOBS", "2"),
            ("QUOTA_JOBS_PER_DAY", "100"),
            ("QUOTA_RENDER_MINUTES_PER_MONTH", "1.5"),
            ("QUOTA_MAX_RESOLUTION", "1920x1080"),
            (
                "QUOTA_OVERRIDES",
                "vip:concurrent=10:daily=none:resolution=8294400; ops:unlimited",
            ),
        ])
        .unwrap();
        assert!(s.enabled());
        assert_eq!(s.defaults.max_concurrent_jobs, Some(2));
        assert_eq!(s.defaults.render_minutes_per_month, Some(1.5));
        let vip = s.limits_for("vip");
        assert_eq!(vip.max_concurrent_jobs, Some(10));
        assert_eq!(vip.jobs_per_day, None);
        assert_eq!(vip.render_minutes_per_month, Some(1.5));
        assert_eq!(vip.max_resolution, Some(MaxResolution::Pixels(8_294_400)));
        assert!(!s.limits_for("ops").any());
        assert_eq!(s.limits_for("someone"), &s.defaults);
        let sides = MaxResolution::parse("1280x720").unwrap();
        assert!(sides.allows(1280, 720) && !sides.allows(1281, 720) && !sides.allows(720, 1280));
        assert!(
            MaxResolution::Pixels(100).allows(10, 10) && !MaxResolution::Pixels(99).allows(10, 10)
        );
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (k, v) in [
            ("QUOTA_MAX_CONCURRENT_JOBS", "0"),
            ("QUOTA_JOBS_PER_DAY", "many"),
            ("QUOTA_RENDER_MINUTES_PER_MONTH", "-1"),
            ("QUOTA_MAX_RESOLUTION", "1920x"),
            ("QUOTA_DAY_SECONDS", "0"),
            ("QUOTA_OVERRIDES", "alice"),
            ("QUOTA_OVERRIDES", "alice:speed=3"),
            ("QUOTA_OVERRIDES", "alice:daily=0"),
            ("QUOTA_OVERRIDES", ":daily=3"),
        ] {
            let e = settings(&[(k, v)]).unwrap_err();
            assert_eq!(e.name, k, "{k}={v}");
        }
    }

    #[test]
    fn month_windows_are_utc_calendar_months() {
        // 2026-12-15T10:00:00Z → [2026-12-01, 2027-01-01)
        let t = 1_797_328_800_000;
        let (a, b) = month_window(t);
        assert_eq!(rfc3339(a), "2026-12-01T00:00:00Z");
        assert_eq!(rfc3339(b), "2027-01-01T00:00:00Z");
        let (a, b) = month_window(a);
        assert_eq!(rfc3339(a), "2026-12-01T00:00:00Z");
        assert_eq!(rfc3339(b), "2027-01-01T00:00:00Z");
    }
}
