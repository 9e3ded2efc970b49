//! tally's integration tests, in one binary: real PostgreSQL, MariaDB and SQLite, and the
//! `tally` binary run as a user would.

mod bad_input;
mod blink;
mod chart;
mod clickhouse;
mod crash;
mod cross;
mod demo;
mod docs;
mod economy;
mod incremental;
mod insights;
mod layers;
mod lint;
mod load;
mod money;
mod neighbours;
mod parallel;
mod policy;
mod private;
mod replica;
mod safety;
mod scale;
mod schedule;
mod service;
mod setup;
mod slack;
mod slack_app;
mod support;
mod time;
mod tls;
mod trust;
mod user;
mod wei;
