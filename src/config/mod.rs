//! The whole config, assembled at the top: `tally.toml` read ([`file`]), each part checked by
//! its own stage (sources, rollups, segments, reports, alerts, destinations, each beside its
//! code), the references between parts checked by name ([`check`]), and the checked [`Config`]
//! that `run`, `schedule`, `demo` and `cli` hand out in pieces to the stages.

mod check;
mod file;
mod schedule;
mod slack_app;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use chrono_tz::Tz;
use indexmap::IndexMap;

use crate::check::Issue;
use crate::check::env::{self, Env};
use crate::days::DayRange;
use crate::deliver::Destination;
use crate::report::alert::Alert;
use crate::report::render::Style;
use crate::report::{self, ReportSpec};
use crate::rollup::Rollup;
use crate::segment::Segment;
use crate::source::SourceSpec;
use crate::sync;
pub use schedule::ScheduleSpec;
pub use slack_app::SlackAppSpec;

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
    let config: file::File = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: crate::secret::mask_secrets(e.to_string().trim_end()),
    })?;
    let default_env = crate::check::relative_to(path, ".env");
    let env = match env_file {
        Some(f) => Env::load(Some(f), true),
        None => Env::load(Some(&default_env), false),
    }
    .map_err(ConfigError::Env)?;
    let left = placeholders(&text);
    let config = check::check(config, path, &env).map_err(|issues| {
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
    })?;
    for w in &config.warnings {
        tracing::warn!("{}: {w}", path.display());
    }
    Ok(config)
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

/// The whole checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file it was read from.
    pub config_path: PathBuf,
    /// Zone of days and windows.
    pub timezone: Tz,
    /// The SQLite store file.
    pub store: PathBuf,
    /// Sources by name.
    pub sources: IndexMap<String, SourceSpec>,
    /// Rollups by name.
    pub rollups: IndexMap<String, Rollup>,
    /// Segments by name.
    pub segments: IndexMap<String, Segment>,
    /// Reports by name, in config order.
    pub reports: IndexMap<String, ReportSpec>,
    /// Output directory of `tally run`.
    pub output_dir: PathBuf,
    /// How reports are shown: CSV's formulas, the chart's font.
    pub style: Style,
    /// Destinations, in config order.
    pub destinations: Vec<Destination>,
    /// The daemon's schedule.
    pub schedule: Option<ScheduleSpec>,
    /// The Slack app the daemon runs.
    pub slack_app: Option<SlackAppSpec>,
    /// Alerts on reports' rows, by name.
    pub alerts: IndexMap<String, Alert>,
    /// `[[annotations]]`: notes on days of the reports.
    pub annotations: Vec<crate::report::notes::Annotation>,
    /// What works but is probably not what was meant: logged when the config is loaded, and
    /// printed by `tally check`.
    pub warnings: Vec<Issue>,
    /// Problems of a source or destination whose `${VAR}` is not set, each with its part
    /// (`sources.NAME`, `deliver[N]`): [`Config::require`] raises them for the commands that
    /// use the part.
    pub deferred: Vec<(String, Issue)>,
}

/// The parts of the config a command uses, beyond the store: only these need their `${VAR}`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    /// It reaches the sources (or shows their SQL).
    pub sources: bool,
    /// It delivers, or shows what it would deliver.
    pub destinations: bool,
}

impl Needs {
    /// The store alone: `query`, `history`, `status`, `report --no-sync`.
    pub const STORE: Needs = Needs {
        sources: false,
        destinations: false,
    };
    /// The sources: `sync`, `plan`, `report`.
    pub const SOURCES: Needs = Needs {
        sources: true,
        destinations: false,
    };
    /// The destinations: `deliver`, `run --dry-run`.
    pub const DESTINATIONS: Needs = Needs {
        sources: false,
        destinations: true,
    };
    /// Everything: `run`, `check`, `daemon`.
    pub const ALL: Needs = Needs {
        sources: true,
        destinations: true,
    };
}

impl Config {
    /// Fails, listing every problem, when a part the command `needs` waits for a `${VAR}` that
    /// is not set.
    pub fn require(&self, needs: Needs) -> Result<(), ConfigError> {
        let issues: Vec<Issue> = self
            .deferred
            .iter()
            .filter(|(part, _)| {
                (needs.sources && part.starts_with("sources."))
                    || (needs.destinations
                        && (part.starts_with("deliver[")
                            || part.as_str() == "schedule"
                            || part.as_str() == "slack_app"))
            })
            .map(|(_, issue)| issue.clone())
            .collect();
        if issues.is_empty() {
            return Ok(());
        }
        Err(ConfigError::Invalid {
            path: self.config_path.clone(),
            issues,
        })
    }

    /// What a sync reads: the zone of days, the sources and the rollups.
    pub fn sync_scope(&self) -> sync::Scope<'_> {
        sync::Scope {
            timezone: self.timezone,
            sources: &self.sources,
            rollups: &self.rollups,
        }
    }

    /// What reports read: the rollups, the segments and the style.
    pub fn report_inputs(&self) -> report::Inputs<'_> {
        report::Inputs {
            rollups: &self.rollups,
            segments: &self.segments,
            style: &self.style,
            annotations: &self.annotations,
        }
    }

    /// The days each rollup must hold for the given reports on report date `date`.
    pub fn required_days<'a>(
        &self,
        reports: impl IntoIterator<Item = &'a ReportSpec>,
        date: NaiveDate,
    ) -> IndexMap<String, DayRange> {
        report::required_days(&self.segments, reports, date)
    }

    /// Looks up reports by name; an unknown name is an error naming it.
    pub fn select_reports(&self, names: &[String]) -> Result<Vec<&ReportSpec>, String> {
        if names.is_empty() {
            return Ok(self.reports.values().collect());
        }
        names
            .iter()
            .map(|n| {
                self.reports.get(n).ok_or_else(|| {
                    let known: Vec<&str> = self.reports.keys().map(String::as_str).collect();
                    format!("no report named `{n}` (reports: {})", known.join(", "))
                })
            })
            .collect()
    }
}
