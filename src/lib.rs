//! tally: pulls small, pre-aggregated time slices from production databases into a local SQLite
//! store, scores users into segments, and renders reports that run by themselves.
//!
//! The modules follow the pipeline: [`config`] → [`source`] → [`sync`] → [`store`] →
//! [`segment`] → [`report`] → [`deliver`], one [`run`] of which [`schedule`] repeats; [`cli`]
//! drives them.

pub mod cli;
pub mod config;
pub mod deliver;
pub mod demo;
pub mod error;
pub mod exact;
pub mod report;
pub mod run;
pub mod schedule;
pub mod segment;
pub mod shutdown;
pub mod source;
pub mod store;
pub mod sync;
pub mod value;

pub use error::Error;
