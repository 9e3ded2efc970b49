//! [`Checker`]: what every stage's checks report through. It collects every problem with its
//! dotted key instead of stopping at the first, and holds the helpers that read durations,
//! counts, zones, names, decimals and SQL expressions.

use std::path::Path;
use std::time::Duration;

use super::Issue;
use super::env::Env;
use super::sql::Fragments;
use crate::value::{MAX_DIGITS, parse_decimal};
use bigdecimal::{BigDecimal, Zero};
use chrono_tz::Tz;
use indexmap::IndexMap;

/// Collects issues while the config is checked: every check of every stage reports through it, each
/// problem with its dotted key.
pub struct Checker<'a> {
    pub(super) issues: Vec<Issue>,
    pub(super) env: &'a Env,
    /// The config file: relative paths are relative to its folder.
    pub config_path: &'a Path,
}

impl Checker<'_> {
    /// Records a problem with `key`.
    pub fn issue(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.issues.push(Issue {
            key: key.into(),
            message: message.into(),
        });
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

    /// `text` with `${VAR}` replaced; a variable that is not set (or still a placeholder) is an
    /// issue, and the text is then empty.
    pub fn interpolate(&mut self, key: &str, text: &str) -> String {
        self.env.interpolate(text).unwrap_or_else(|e| {
            self.issue(key, e);
            String::new()
        })
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
        super::sql::expression(sql, rules).unwrap_or_else(|problem| {
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
pub(super) fn names<V>(map: &IndexMap<String, V>) -> String {
    let v: Vec<&str> = map.keys().map(String::as_str).collect();
    if v.is_empty() {
        "none defined".into()
    } else {
        v.join(", ")
    }
}
