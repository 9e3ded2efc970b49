//! Reading `tally.toml`: the raw file ([`raw`]), `${VAR}` interpolation ([`env`]), and the checks
//! that turn it into a [`Plan`] ([`check`]) before anything connects anywhere.

mod check;
pub mod env;
pub mod plan;
pub mod raw;
mod source;
mod sql;

use std::fmt;
use std::path::{Path, PathBuf};

pub use plan::*;

/// One problem in the config, with the key it concerns.
#[derive(Debug, Clone)]
pub struct Issue {
    /// Dotted key, like `rollups.activity.slice`.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Why a config could not be loaded. Always a configuration error (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("{path}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// toml's message, with the line and a caret under the offending span.
        message: String,
    },
    /// The env file could not be read.
    #[error("{0}")]
    Env(String),
    /// The values are wrong; every problem is listed.
    #[error("{path}: {} problem(s):\n{}", .issues.len(), list(.issues))]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// Every problem found.
        issues: Vec<Issue>,
    },
    /// A command-line value is wrong (a date, a report name).
    #[error("{0}")]
    Usage(String),
}

fn list(issues: &[Issue]) -> String {
    issues
        .iter()
        .map(|i| format!("  - {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads, interpolates and checks the config file. `env_file` is the `--env-file` option; without
/// it, `.env` beside the config is read when present.
pub fn load(path: &Path, env_file: Option<&Path>) -> Result<Plan, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // toml's message quotes the line: mask what may be a secret on it.
    let config: raw::Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: crate::error::mask_secrets(e.to_string().trim_end()),
    })?;
    let default_env = relative_to(path, ".env");
    let env = match env_file {
        Some(f) => env::Env::load(Some(f), true),
        None => env::Env::load(Some(&default_env), false),
    }
    .map_err(ConfigError::Env)?;
    check::check(config, path, &env).map_err(|issues| ConfigError::Invalid {
        path: path.to_path_buf(),
        issues,
    })
}
