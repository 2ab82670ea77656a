//! The capacity settings: `MAX_QUEUED_JOBS` and `MIN_FREE_DISK_MB`, the limits beyond which new
//! jobs are refused ([`crate::policy::capacity`] applies them).

use super::env::ConfigError;

/// When the server refuses new jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacitySettings {
    /// `MAX_QUEUED_JOBS` (unset or 0: no limit): jobs waiting (`queued`) beyond which new jobs are
    /// refused.
    pub max_queued_jobs: Option<u64>,
    /// `MIN_FREE_DISK_MB` (default 1024; 0: not checked): free space `DATA_DIR` and its scratch
    /// folder must keep for new jobs to be accepted.
    pub min_free_disk_mb: u64,
}

impl CapacitySettings {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let num = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v.trim().parse::<u64>().map_err(|_| ConfigError {
                    name,
                    value: v.clone(),
                    message: "expected a whole number (0 turns the check off)".into(),
                }),
            }
        };
        let max_queued = num("MAX_QUEUED_JOBS", 0)?;
        Ok(CapacitySettings {
            max_queued_jobs: (max_queued > 0).then_some(max_queued),
            min_free_disk_mb: num("MIN_FREE_DISK_MB", 1024)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings() {
        let get = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let s = CapacitySettings::from_lookup(&get(&[])).unwrap();
        assert_eq!(s.max_queued_jobs, None);
        assert_eq!(s.min_free_disk_mb, 1024);
        let s = CapacitySettings::from_lookup(&get(&[
            ("MAX_QUEUED_JOBS", "50"),
            ("MIN_FREE_DISK_MB", "0"),
        ]))
        .unwrap();
        assert_eq!(s.max_queued_jobs, Some(50));
        assert_eq!(s.min_free_disk_mb, 0);
        for (k, v) in [("MAX_QUEUED_JOBS", "-1"), ("MIN_FREE_DISK_MB", "lots")] {
            let pairs: &'static [(&'static str, &'static str)] = Box::leak(Box::new([(k, v)]));
            assert_eq!(
                CapacitySettings::from_lookup(&get(pairs)).unwrap_err().name,
                k
            );
        }
    }
}
