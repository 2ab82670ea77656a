//! `vrender-service`: the `vrender` CLI and the REST render service on top of `vrender-engine`.
//!
//! Data flows: [`api`] (axum handlers) → [`store`] (projects and jobs) and [`queue`] (job ids by
//! priority) → [`orchestrator`] (workers run the engine, track progress, retry, cancel, call back) →
//! [`storage`] (rendered files and signed links). [`policy`] refuses new jobs over a user's quota or
//! while the queue is full or the disk low, [`config`] reads the settings, [`server`] wires it all
//! together. [`preview`] keeps prepared projects for frame previews (the Studio page,
//! `api::studio`). Only [`api`] speaks HTTP, and only [`server`] and [`cli`] import it.

pub mod api;
pub mod cli;
pub mod config;
pub mod emf;
pub mod error_report;
pub mod metrics;
pub mod model;
pub mod orchestrator;
pub mod policy;
pub mod preview;
pub mod queue;
pub mod server;
pub mod storage;
pub mod store;
pub mod tempdir;
