//! Checking what was written: [`Checker`], which every stage's checks report through. It collects
//! every problem with its dotted key instead of stopping at the first, and holds the helpers that
//! read durations, counts, zones, names, paths, decimals and SQL expressions ([`sql`]), with
//! `${VAR}` filled in from the environment ([`env`]).

pub mod env;
pub mod sql;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bigdecimal::{BigDecimal, Zero};
use chrono_tz::Tz;
use indexmap::IndexMap;

use crate::value::{MAX_DIGITS, parse_decimal};
use env::Env;
use sql::Fragments;

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

/// A destination as the checks of other parts see it (an alert's `to`, `[schedule] notify`): its
/// name and kind, not its type.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    /// The destination's name.
    pub name: &'a str,
    /// Its kind: `slack`, `webhook`, `files`.
    pub kind: &'a str,
    /// Whether it takes run-failure notices.
    pub notices: bool,
}

impl<'a> Recipient<'a> {
    /// The destination named `wanted`, or else the first of the kind `wanted`.
    pub fn find(all: &[Recipient<'a>], wanted: &str) -> Option<Recipient<'a>> {
        all.iter()
            .find(|d| d.name == wanted)
            .or_else(|| all.iter().find(|d| d.kind == wanted))
            .copied()
    }
}

/// What a [`Checker`] found.
#[derive(Debug, Default)]
pub struct Checked {
    /// The problems: the config cannot be used.
    pub issues: Vec<Issue>,
    /// What works but is probably not what was meant.
    pub warnings: Vec<Issue>,
    /// Problems of one part (`sources.NAME`, `deliver[N]`), each with its part: only the
    /// commands that use the part fail on them.
    pub deferred: Vec<(String, Issue)>,
}

/// Collects issues while the config is checked: every check of every stage reports through it, each
/// problem with its dotted key.
pub struct Checker<'a> {
    issues: Vec<Issue>,
    warnings: Vec<Issue>,
    /// Problems that only the commands using a part (`sources.NAME`, `deliver[N]`) meet: a
    /// `${VAR}` of that part is not set. Each with its part.
    deferred: Vec<(String, Issue)>,
    /// While set, every issue is deferred to this part ([`Checker::deferring`]).
    deferring: Option<String>,
    env: &'a Env,
    /// The config file: relative paths are relative to its folder.
    pub config_path: &'a Path,
}

impl<'a> Checker<'a> {
    /// A checker for the config file at `config_path`, filling `${VAR}` from `env`.
    pub fn new(env: &'a Env, config_path: &'a Path) -> Checker<'a> {
        Checker {
            issues: Vec::new(),
            warnings: Vec::new(),
            deferred: Vec::new(),
            deferring: None,
            env,
            config_path,
        }
    }

    /// Every problem recorded, every warning, and the problems deferred to a part.
    pub fn finish(self) -> Checked {
        Checked {
            issues: self.issues,
            warnings: self.warnings,
            deferred: self.deferred,
        }
    }

    /// Runs `check` with every issue it records deferred to `part` (the checks of a rollup
    /// whose source's URL waits for a `${VAR}`: its dialect is not known yet).
    pub fn deferring<T>(&mut self, part: &str, check: impl FnOnce(&mut Self) -> T) -> T {
        let outer = self.deferring.replace(part.to_string());
        let result = check(self);
        self.deferring = outer;
        result
    }

    /// Records something that works but is probably not what was meant, with `key`.
    pub fn warn(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Issue {
            key: key.into(),
            message: message.into(),
        });
    }

    /// True when `key` has a problem already.
    pub fn has_issue(&self, key: &str) -> bool {
        self.issues.iter().any(|i| i.key == key)
    }

    /// `path` as written in the config, relative to the config file's folder.
    pub fn path(&self, path: &str) -> PathBuf {
        relative_to(self.config_path, path)
    }
}

impl Checker<'_> {
    /// Records a problem with `key`.
    pub fn issue(&mut self, key: impl Into<String>, message: impl Into<String>) {
        let issue = Issue {
            key: key.into(),
            message: message.into(),
        };
        match &self.deferring {
            Some(part) => self.deferred.push((part.clone(), issue)),
            None => self.issues.push(issue),
        }
    }

    pub fn tz(&mut self, key: &str, value: &str) -> Tz {
        value.parse().unwrap_or_else(|_| {
            self.issue(
                key,
                format!("unknown time zone `{value}` (use an IANA name such as \"Asia/Seoul\" or \"UTC\")"),
            );
            Tz::UTC
        })
    }

    pub fn duration(&mut self, key: &str, value: &str) -> Duration {
        humantime::parse_duration(value).unwrap_or_else(|e| {
            self.issue(
                key,
                format!(
                    "bad duration `{value}`: {e} (examples: \"100ms\", \"60s\", \"6h\", \"2d\")"
                ),
            );
            Duration::ZERO
        })
    }

    /// A duration within `[min, max]`; outside, an issue that names the range.
    pub fn duration_in(
        &mut self,
        key: &str,
        value: &str,
        min: Duration,
        max: Duration,
    ) -> Duration {
        let before = self.issues.len();
        let d = self.duration(key, value);
        if self.issues.len() == before && (d < min || d > max) {
            self.issue(
                key,
                format!(
                    "`{value}` is out of range: use {} to {}",
                    humantime::format_duration(min),
                    humantime::format_duration(max)
                ),
            );
            return min;
        }
        d
    }

    /// A whole number of days, 1 to `max`.
    pub fn whole_days(&mut self, key: &str, value: &str, max: u32) -> u32 {
        let before = self.issues.len();
        let d = self.duration(key, value);
        if self.issues.len() > before {
            return 1;
        }
        let secs = d.as_secs();
        if secs == 0 || !secs.is_multiple_of(86_400) || d.subsec_nanos() != 0 {
            self.issue(
                key,
                format!("`{value}` must be a whole number of days, at least 1 (like \"7d\")"),
            );
            return 1;
        }
        match u32::try_from(secs / 86_400) {
            Ok(days) if days <= max => days,
            _ => {
                self.issue(key, format!("`{value}` is out of range: use 1d to {max}d"));
                1
            }
        }
    }

    /// A count within `[min, max]`.
    pub fn count<T: Copy + PartialOrd + std::fmt::Display>(
        &mut self,
        key: &str,
        n: T,
        min: T,
        max: T,
    ) -> T {
        if n < min || n > max {
            self.issue(key, format!("{n} is out of range: use {min} to {max}"));
            return min;
        }
        n
    }

    /// `text` with `${VAR}` replaced, for a value of `part` (`sources.NAME`, `deliver[N]`) that
    /// only the commands using that part need: a variable that is not set (or still a
    /// placeholder) is deferred to `part`, and `None` returned; a reference written wrong is an
    /// issue now.
    pub fn interpolate_for(&mut self, part: &str, key: &str, text: &str) -> Option<String> {
        match self.env.resolve(text) {
            Ok(value) => Some(value),
            Err(env::Unresolved::Missing(message)) => {
                let issue = Issue {
                    key: key.to_string(),
                    message,
                };
                self.deferred.push((part.to_string(), issue));
                None
            }
            Err(env::Unresolved::Malformed(message)) => {
                self.issue(key, message);
                None
            }
        }
    }

    /// An `http://` or `https://` URL (a Slack API base or a webhook).
    pub fn http_url(&mut self, key: &str, text: &str) {
        match url::Url::parse(text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            Ok(u) => self.issue(
                key,
                format!(
                    "`{}:` URLs are not delivered to: use an https:// URL",
                    u.scheme()
                ),
            ),
            Err(e) => self.issue(key, format!("not a URL: {e} (use an https:// URL)")),
        }
    }

    pub fn decimal(&mut self, key: &str, value: &toml::Value) -> BigDecimal {
        let parsed = match value {
            toml::Value::Integer(i) => Some(BigDecimal::from(*i)),
            // Display of an f64 is its shortest round-trip form: 0.1 stays 0.1.
            toml::Value::Float(f) if f.is_finite() => parse_decimal(&f.to_string()),
            toml::Value::String(s) => parse_decimal(s),
            _ => None,
        };
        parsed.unwrap_or_else(|| {
            self.issue(
                key,
                format!(
                    "expected a number (at most {MAX_DIGITS} digits written out), found `{value}`"
                ),
            );
            BigDecimal::zero()
        })
    }

    /// Checks an SQL expression that tally puts into its slice query (user, dimensions,
    /// filter) by the source's rules, and returns it as it will be sent.
    pub fn expression(&mut self, key: &str, sql: &str, rules: &Fragments) -> String {
        sql::expression(sql, rules).unwrap_or_else(|problem| {
            self.issue(key, format!("`{sql}` {problem}"));
            sql.to_string()
        })
    }

    /// A weight: a number, 0 or more. A negative weight could push a score below every group,
    /// leaving an active user in no group and outside `inactive`.
    pub fn weight(&mut self, key: &str, value: &toml::Value) -> BigDecimal {
        let w = self.decimal(key, value);
        if w < BigDecimal::zero() {
            self.issue(key, format!("weights must be 0 or more (found {w})"));
        }
        w
    }

    pub fn name(&mut self, key: &str, name: &str) {
        let ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            self.issue(
                key,
                format!("`{name}` is not a valid name: use letters, digits and _ (not first)"),
            );
        } else if name.to_ascii_lowercase().starts_with("_tally") {
            self.issue(
                key,
                format!("`{name}`: names starting with _tally are reserved"),
            );
        }
    }
}

/// The names of a table's entries, for messages: `a, b`, or `none defined`.
pub fn names<V>(map: &IndexMap<String, V>) -> String {
    let v: Vec<&str> = map.keys().map(String::as_str).collect();
    if v.is_empty() {
        "none defined".into()
    } else {
        v.join(", ")
    }
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
