//! `vrender-service`: the `vrender` CLI and the REST render service (API → store/queue → worker →
//! engine → storage) on top of `vrender-engine`.

pub mod cli;
