//! Reading `tally.toml`: the raw file ([`raw`]), `${VAR}` interpolation ([`env`]), and the checks
//! that turn it into a [`Plan`] ([`check`]) before anything connects anywhere.

mod check;
pub mod env;
pub mod plan;
pub mod raw;
pub mod secret;
mod source;
mod sql;

use std::fmt;
use std::path::{Path, PathBuf};

pub use crate::deliver::Destination;
pub use check::Checker;
pub use plan::*;
pub use secret::Secret;

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
    #[error("cannot read config file {}: {source}{}", path.display(), read_hint(path, source))]
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

/// Where tally looked, and how to get a config, when there is none.
fn read_hint(path: &Path, e: &std::io::Error) -> String {
    if e.kind() != std::io::ErrorKind::NotFound {
        return String::new();
    }
    let looked = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    format!(
        " (looked for {}; pass another with -c FILE or TALLY_CONFIG, write one with `tally init`, \
         or try `tally demo`, which needs no database)",
        looked.display()
    )
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
pub fn load(path: &Path, env_file: Option<&Path>) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // toml's message quotes the line: mask what may be a secret on it.
    let config: raw::File = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: crate::error::mask_secrets(e.to_string().trim_end()),
    })?;
    let default_env = relative_to(path, ".env");
    let env = match env_file {
        Some(f) => env::Env::load(Some(f), true),
        None => env::Env::load(Some(&default_env), false),
    }
    .map_err(ConfigError::Env)?;
    let left = placeholders(&text);
    check::check(config, path, &env).map_err(|issues| {
        // With `<fill in: ...>` values left, say what to fill in, not what they break.
        let (from_env, others): (Vec<Issue>, Vec<Issue>) = issues
            .into_iter()
            .partition(|i| i.message.starts_with(env::LEFT));
        let issues = if left.is_empty() && from_env.is_empty() {
            others
        } else {
            left.into_iter().chain(from_env).collect()
        };
        ConfigError::Invalid {
            path: path.to_path_buf(),
            issues,
        }
    })
}

/// Every `<fill in: ...>` string that `tally init` left in the file, by its dotted key.
fn placeholders(text: &str) -> Vec<Issue> {
    fn walk(value: &toml::Value, key: &str, out: &mut Vec<Issue>) {
        match value {
            toml::Value::String(s) if s.contains(env::PLACEHOLDER) => out.push(Issue {
                key: key.to_string(),
                message: format!("{} {s}", env::LEFT),
            }),
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let sub = if key.is_empty() {
                        k.clone()
                    } else {
                        format!("{key}.{k}")
                    };
                    walk(v, &sub, out);
                }
            }
            toml::Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(v, &format!("{key}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(table) = text.parse::<toml::Table>() {
        walk(&toml::Value::Table(table), "", &mut out);
    }
    out
}
