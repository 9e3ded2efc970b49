//! tally: pulls small, pre-aggregated time slices from production databases into a local SQLite
//! store, scores users into segments, and renders reports that run by themselves.
//!
//! The modules are layers, each importing only the ones below it (see `docs/architecture.md`):
//!
//! - the ground: plain values ([`value`], [`exact`], [`days`]), [`secret`]s and their masking,
//!   the checks of what was written ([`check`]), [`shutdown`], [`stdout`], what tally counts
//!   about itself ([`metrics`]) and what it tells systemd ([`service`]);
//! - the stages, each with its part of the config beside its code: what to pull ([`rollup`]),
//!   the databases ([`source`]), the local [`store`], [`sync`], [`segment`]s, [`report`]s and
//!   alerts, and the destinations that [`deliver`] them;
//! - the top: the whole [`config`] assembled, the warnings about its data ([`lint`]), one [`run`], the daemon's [`schedule`], the
//!   [`demo`], the [`cli`], and the [`error`] that maps every stage's error to an exit code.

pub mod check;
pub mod cli;
pub mod config;
pub mod days;
pub mod deliver;
pub mod demo;
pub mod error;
pub mod exact;
pub mod lint;
pub mod metrics;
pub mod report;
pub mod rollup;
pub mod run;
pub mod schedule;
pub mod secret;
pub mod segment;
pub mod service;
pub mod shutdown;
pub mod slack_app;
pub mod source;
pub mod stdout;
pub mod store;
pub mod sync;
pub mod value;

pub use error::Error;
