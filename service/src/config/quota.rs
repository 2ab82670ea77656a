//! The `QUOTA_*` settings: per-user limits of concurrent jobs, jobs per day, render minutes per
//! month and picture size, with per-user overrides. The checks that apply them are
//! [`crate::policy::quota`].

use std::collections::HashMap;

use super::env::{bad, ConfigError};

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

    /// Whether a `width`×`height` picture is within the limit.
    pub fn allows(self, width: u32, height: u32) -> bool {
        match self {
            MaxResolution::Sides {
                width: w,
                height: h,
            } => width <= w && height <= h,
            MaxResolution::Pixels(p) => width as u64 * height as u64 <= p,
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
    /// Whether any limit is set.
    pub fn any(&self) -> bool {
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

    /// The limits of `user_id`: an override, else the defaults.
    pub fn limits_for(&self, user_id: &str) -> &QuotaLimits {
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
}
