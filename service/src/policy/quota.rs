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
//! `resolution`; `none` lifts one limit, `unlimited` all; read by [`crate::config::QuotaSettings`]).
//! Admins (API key role / JWT role `admin`) are never limited. The checks return
//! [`QuotaExceeded`]; the API answers it (`api/error.rs`).
//!
//! The check and the job's creation run under a per-user lock, so two submissions at the limit in
//! one process never both pass. Across several API processes the check is best-effort: each process
//! counts from the shared store but they do not lock each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::config::{MaxResolution, QuotaLimits, QuotaSettings};
use crate::model::{now_millis, rfc3339, Millis};
use crate::store::{JobStore, StoreError};

/// Whose quota a request counts against: the user who owns the project, and whether an admin acts
/// (admins are never limited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject<'a> {
    pub user_id: &'a str,
    pub admin: bool,
}

/// A refused request: which limit, its value, the current usage and when it resets. The API
/// answers it with 429 (a limit that time lifts) or 403 (`maxResolution`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.message())]
pub struct QuotaExceeded {
    /// `maxConcurrentJobs`, `jobsPerDay`, `renderMinutesPerMonth` or `maxResolution`.
    pub limit: &'static str,
    /// The setting that sets it.
    pub setting: &'static str,
    /// The limit's value.
    pub value: Value,
    /// The user's usage (or the refused resolution).
    pub current: Value,
    /// RFC 3339; `None` when it resets when one of the user's jobs finishes, or never.
    pub resets_at: Option<String>,
    /// When to try again, in seconds (only for limits that time lifts).
    pub retry_after_seconds: Option<u64>,
    /// Whether waiting lifts the limit (every limit but `maxResolution`).
    pub time_lifts: bool,
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
        let time_lifts = limit != "maxResolution";
        let retry = match resets_at {
            Some(t) => Some(((t - now).max(0) as u64).div_ceil(1000).max(1)),
            // Concurrent jobs: a job finishing frees a slot; suggest a short wait.
            None if time_lifts => Some(10),
            None => None,
        };
        QuotaExceeded {
            limit,
            setting,
            value,
            current,
            resets_at: resets_at.map(rfc3339),
            retry_after_seconds: retry,
            time_lifts,
        }
    }

    /// The one-line message of the refusal.
    pub fn message(&self) -> String {
        let mut m = format!(
            "quota exceeded: {} ({}) is {}, current {}",
            self.limit, self.setting, self.value, self.current
        );
        if let Some(t) = &self.resets_at {
            m.push_str(&format!("; resets at {t}"));
        } else if self.time_lifts {
            m.push_str("; a slot frees when one of your jobs finishes");
        }
        m
    }
}

/// Why [`Quotas::admit`] said no.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    #[error(transparent)]
    Exceeded(Box<QuotaExceeded>),
    /// The usage could not be counted.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Box<QuotaExceeded>> for QuotaError {
    fn from(q: Box<QuotaExceeded>) -> Self {
        QuotaError::Exceeded(q)
    }
}

/// `max` as the body's `value`: `WIDTHxHEIGHT` or the pixel count.
fn describe(max: MaxResolution) -> Value {
    match max {
        MaxResolution::Sides { width, height } => json!(format!("{width}x{height}")),
        MaxResolution::Pixels(p) => json!(p),
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

    /// The limits that apply to `who`; `None` when none do.
    fn limits(&self, who: Subject) -> Option<&QuotaLimits> {
        if who.admin || !self.settings.enabled() {
            return None;
        }
        Some(self.settings.limits_for(who.user_id)).filter(|l| l.any())
    }

    /// Refuses a `width`×`height` picture over the user's `QUOTA_MAX_RESOLUTION` (403).
    pub fn check_resolution(
        &self,
        who: Subject,
        width: u32,
        height: u32,
    ) -> Result<(), Box<QuotaExceeded>> {
        let Some(max) = self.limits(who).and_then(|l| l.max_resolution) else {
            return Ok(());
        };
        if max.allows(width, height) {
            return Ok(());
        }
        Err(Box::new(QuotaExceeded::new(
            "maxResolution",
            "QUOTA_MAX_RESOLUTION",
            describe(max),
            match max {
                MaxResolution::Sides { .. } => json!(format!("{width}x{height}")),
                MaxResolution::Pixels(_) => json!(width as u64 * height as u64),
            },
            None,
            now_millis(),
        )))
    }

    /// Checks every quota of `who` for a new job of a `width`×`height` project. On success the
    /// returned [`Admission`] holds the user's lock: keep it until the job is stored.
    pub async fn admit(
        &self,
        who: Subject<'_>,
        width: u32,
        height: u32,
    ) -> Result<Admission, QuotaError> {
        let user_id = who.user_id;
        let Some(limits) = self.limits(who) else {
            return Ok(Admission {
                guard: None,
                user: String::new(),
                locks: None,
            });
        };
        self.check_resolution(who, width, height)?;
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
        let exceeded = |q| Err(QuotaError::Exceeded(Box::new(q)));
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
