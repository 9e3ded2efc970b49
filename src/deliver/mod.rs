//! Delivery of rendered reports. Today: files on disk ([`files`]).

pub mod files;
