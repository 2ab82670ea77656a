//! The service's integration tests, gathered into one test binary (issue 25: one binary links the
//! dependency graph once instead of once per file). Each module is one former `tests/<name>.rs`,
//! unchanged; run one by its path, e.g. `cargo test -p vrender-service --test service s3::`. The
//! chaos harness is `chaos::` (`scripts/chaos.sh` runs it alone).

mod api;
mod architecture;
mod chaos;
mod chunks;
mod cli_render;
mod common;
mod deploy_config;
mod distributed;
mod jobs;
mod limits;
#[cfg(feature = "redis")]
mod redis;
mod resources;
mod s3;
mod security;
mod ssrf;
mod studio;
mod studio_browser;
mod templates;
