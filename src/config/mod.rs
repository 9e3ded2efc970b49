//! Reading `tally.toml` into a checked [`Config`] before anything connects anywhere: the file
//! as written ([`file`] and each stage's table beside its checks: [`source`], [`rollup`],
//! [`segment`], [`report`], [`schedule`], [`crate::deliver`]), `${VAR}` interpolation ([`env`]),
//! the SQL fragments ([`sql`]), and [`check`], which ties them together.

mod alert;
mod check;
mod checker;
pub mod env;
mod file;
mod report;
mod rollup;
mod schedule;
pub mod secret;
mod segment;
mod source;
mod sql;

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{Days, NaiveDate};
use chrono_tz::Tz;
use indexmap::IndexMap;

pub use crate::deliver::Destination;
pub use alert::*;
pub use checker::Checker;
pub use report::*;
pub use rollup::*;
pub use schedule::*;
pub use secret::Secret;
pub use segment::*;
pub use source::*;

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
    let config: file::File = toml::from_str(&text).map_err(|e| ConfigError::Parse {
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
    /// What CSV does with text cells that look like formulas.
    pub csv_formulas: crate::report::render::CsvFormulas,
    /// Destinations, in config order.
    pub destinations: Vec<crate::deliver::Destination>,
    /// Font of the PNG chart, instead of the built-in one.
    pub chart_font: Option<PathBuf>,
    /// The daemon's schedule.
    pub schedule: Option<ScheduleSpec>,
    /// Alerts on reports' rows, by name.
    pub alerts: IndexMap<String, Alert>,
}

impl Config {
    /// The days each rollup must hold for the given reports on report date `date`: a segment
    /// needs its whole window before the first report day.
    pub fn required_days<'a>(
        &self,
        reports: impl IntoIterator<Item = &'a ReportSpec>,
        date: NaiveDate,
    ) -> IndexMap<String, DayRange> {
        let mut need: IndexMap<String, DayRange> = IndexMap::new();
        let mut add = |rollup: &str, range: DayRange| {
            need.entry(rollup.to_string())
                .and_modify(|r| *r = r.union(range))
                .or_insert(range);
        };
        for report in reports {
            let (first, last) = report.range(date);
            let plain = DayRange { first, last };
            // A segment is scored from `first` on: it needs its window before that day.
            let mut first = first;
            let (rollups, segments): (Vec<&str>, Vec<&str>) = match &report.kind {
                ReportKind::SegmentRewards {
                    segment, rewards, ..
                }
                | ReportKind::TopRewarded {
                    segment, rewards, ..
                } => (vec![rewards.as_str()], vec![segment.as_str()]),
                ReportKind::SegmentFlow {
                    segment,
                    compare_days,
                } => {
                    // Each day's groups are compared with those `compare` days before.
                    first = days_before(first, *compare_days);
                    (vec![], vec![segment.as_str()])
                }
                ReportKind::Sql {
                    rollups, segments, ..
                } => (
                    rollups.iter().map(String::as_str).collect(),
                    segments.iter().map(String::as_str).collect(),
                ),
            };
            for r in rollups {
                add(r, plain);
            }
            for s in segments {
                let seg = &self.segments[s];
                let first = days_before(first, seg.window_days - 1);
                add(&seg.rollup, DayRange { first, last });
            }
        }
        need
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

/// An inclusive range of days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    /// First day.
    pub first: NaiveDate,
    /// Last day (inclusive).
    pub last: NaiveDate,
}

impl DayRange {
    fn union(self, other: DayRange) -> DayRange {
        DayRange {
            first: self.first.min(other.first),
            last: self.last.max(other.last),
        }
    }

    /// Every day of the range, in order.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let last = self.last;
        self.first.iter_days().take_while(move |d| *d <= last)
    }
}

/// `n` days before `date`, or the first day of the calendar when that is further back (never
/// a later day: a `keep` horizon that moved forward would prune what it should keep).
pub fn days_before(date: NaiveDate, n: u32) -> NaiveDate {
    date.checked_sub_days(Days::new(n.into()))
        .unwrap_or(NaiveDate::MIN)
}

/// Resolves `path` relative to the directory of the config file.
pub fn relative_to(config_path: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        config_path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join(p)
    }
}
