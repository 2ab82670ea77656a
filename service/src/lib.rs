//! `vrender-service`: the `vrender` CLI and the REST render service on top of `vrender-engine`.
//!
//! Data flows: [`api`] (axum handlers) → [`jobs`] (submit, cancel, view, recover) → [`store`]
//! (projects and jobs) and [`queue`] (work items by priority) → [`worker`] (one pipeline for every
//! item: claim, inputs, render with the engine, settle, retry) → [`storage`] (rendered files and
//! signed links). [`media`] keeps each job's fetched `s3://` media, [`scratch`] the renders'
//! folders, [`model`] the stored records. [`policy`] refuses new jobs over a user's quota or while
//! the queue is full or the disk low, [`config`] reads the settings, [`server`] wires it all
//! together. [`preview`] keeps prepared projects for frame previews (the Studio page,
//! `api::studio`). Only [`api`] speaks HTTP, and only [`server`] and [`cli`] import it.

pub mod api;
pub mod cli;
pub mod config;
pub mod emf;
pub mod error_report;
pub mod jobs;
pub mod media;
pub mod metrics;
pub mod model;
pub mod policy;
pub mod preview;
pub mod queue;
pub mod scratch;
pub mod server;
pub mod storage;
pub mod store;
pub mod tempdir;
pub mod worker;
