//! `vrender-service`: the `vrender` CLI and the REST render service on top of `vrender-engine`.
//!
//! Data flows: [`api`] (axum handlers) → [`jobs`] (submit, cancel, view, recover) → [`store`]
//! (projects and jobs) and [`queue`] (work items by priority) → [`worker`] (one pipeline for every
//! item: claim, inputs, render with the engine, settle, retry) → [`storage`] (rendered files and
//! signed links); [`media`] keeps each job's fetched `s3://` media, [`scratch`] the renders' folders. [`capacity`] refuses new jobs while the queue is full or the disk low, [`config`] reads the settings, [`server`] wires it
//! all together. [`preview`] keeps prepared projects for frame previews (the Studio page, `api::studio`).

pub mod api;
pub mod auth;
pub mod capacity;
pub mod cli;
pub mod config;
pub mod emf;
pub mod error_report;
pub mod jobs;
pub mod jwt;
pub mod media;
pub mod metrics;
pub mod model;
pub mod preview;
pub mod queue;
pub mod quota;
pub mod scratch;
pub mod server;
pub mod storage;
pub mod store;
pub mod worker;
