//! `[reports.NAME]`: as written ([`ReportConfig`]), checked ([`ReportSpec`]), and the checks
//! between them: the built-in segment_rewards report's segment, rollup and measure, or the SQL
//! report's query and the tables it names.

use std::collections::HashSet;

use chrono::NaiveDate;
use indexmap::IndexMap;
use serde::Deserialize;

use super::checker::names;
use super::rollup::Rollup;
use super::segment::Segment;
use super::{Checker, days_before};

/// `[reports.NAME]`: the built-in segment-rewards report or custom SQL.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// `segment_rewards` or `sql` (the default when `sql` is set).
    pub kind: Option<String>,
    /// Title shown above the report.
    pub title: Option<String>,
    /// Number of report days, ending with the report date.
    #[serde(default = "default_days")]
    pub days: u32,
    /// segment_rewards: the segment.
    pub segment: Option<String>,
    /// segment_rewards: the rollup of rewards.
    pub rewards: Option<String>,
    /// segment_rewards: the measure of `rewards` that is summed.
    pub amount: Option<String>,
    /// sql: the query, with `:start` and `:end`.
    pub sql: Option<String>,
}

fn default_days() -> u32 {
    7
}

/// The most days a report covers.
pub const MAX_REPORT_DAYS: u32 = 3_660;

/// What a report computes.
#[derive(Debug, Clone)]
pub enum ReportKind {
    /// The built-in report: rewards per segment group per day.
    SegmentRewards {
        /// Segment name.
        segment: String,
        /// Rewards rollup name.
        rewards: String,
        /// Measure of the rewards rollup that is summed.
        amount: String,
    },
    /// Custom SQL over the store.
    Sql {
        /// The query.
        sql: String,
        /// Rollups the query names (synced before it runs).
        rollups: Vec<String>,
        /// Segments the query names (materialized before it runs).
        segments: Vec<String>,
    },
}

/// A checked `[reports.NAME]`.
#[derive(Debug, Clone)]
pub struct ReportSpec {
    /// Report name (file names use it).
    pub name: String,
    /// Title shown above it.
    pub title: String,
    /// Number of days, ending with the report date.
    pub days: u32,
    /// What it computes.
    pub kind: ReportKind,
}

impl ReportSpec {
    /// First and last report day for report date `date`.
    pub fn range(&self, date: NaiveDate) -> (NaiveDate, NaiveDate) {
        (days_before(date, self.days.saturating_sub(1)), date)
    }
}

pub(super) fn check(
    c: &mut Checker,
    name: &str,
    r: &ReportConfig,
    rollups: &IndexMap<String, Rollup>,
    segments: &IndexMap<String, Segment>,
) -> ReportSpec {
    let key = format!("reports.{name}");
    c.name(&key, name);
    let days = c.count(&format!("{key}.days"), r.days, 1, MAX_REPORT_DAYS);
    let kind_name = r.kind.clone().unwrap_or_else(|| {
        if r.sql.is_some() {
            "sql"
        } else {
            "segment_rewards"
        }
        .into()
    });
    let kind = match kind_name.as_str() {
        "segment_rewards" => segment_rewards(c, &key, r, rollups, segments),
        "sql" => {
            let sql = r.sql.clone().unwrap_or_else(|| {
                c.issue(format!("{key}.sql"), "a sql report needs `sql`");
                String::new()
            });
            for field in [
                ("segment", &r.segment),
                ("rewards", &r.rewards),
                ("amount", &r.amount),
            ] {
                if field.1.is_some() {
                    c.issue(
                        format!("{key}.{}", field.0),
                        "only for kind = \"segment_rewards\"",
                    );
                }
            }
            ReportKind::Sql {
                rollups: mentioned(&sql, rollups.keys()),
                segments: mentioned(&sql, segments.keys()),
                sql,
            }
        }
        other => {
            c.issue(
                format!("{key}.kind"),
                format!("unknown kind `{other}` (use \"segment_rewards\" or \"sql\")"),
            );
            ReportKind::Sql {
                sql: String::new(),
                rollups: vec![],
                segments: vec![],
            }
        }
    };
    ReportSpec {
        name: name.to_string(),
        title: r.title.clone().unwrap_or_else(|| name.replace('_', " ")),
        days,
        kind,
    }
}

fn segment_rewards(
    c: &mut Checker,
    key: &str,
    r: &ReportConfig,
    rollups: &IndexMap<String, Rollup>,
    segments: &IndexMap<String, Segment>,
) -> ReportKind {
    if r.sql.is_some() {
        c.issue(
            format!("{key}.sql"),
            "not allowed with kind = \"segment_rewards\"",
        );
    }
    let mut required = |field: &str, value: &Option<String>| {
        value.clone().unwrap_or_else(|| {
            c.issue(
                format!("{key}.{field}"),
                "required for kind = \"segment_rewards\"",
            );
            String::new()
        })
    };
    let segment = required("segment", &r.segment);
    let rewards = required("rewards", &r.rewards);
    let amount = required("amount", &r.amount);
    if !segment.is_empty() && !segments.contains_key(&segment) {
        c.issue(
            format!("{key}.segment"),
            format!(
                "unknown segment `{segment}` (segments: {})",
                names(segments)
            ),
        );
    }
    match rollups.get(&rewards) {
        None if !rewards.is_empty() => c.issue(
            format!("{key}.rewards"),
            format!("unknown rollup `{rewards}` (rollups: {})", names(rollups)),
        ),
        Some(rollup) if !amount.is_empty() && rollup.measure(&amount).is_none() => c.issue(
            format!("{key}.amount"),
            format!("rollup `{rewards}` has no measure `{amount}`"),
        ),
        _ => {}
    }
    ReportKind::SegmentRewards {
        segment,
        rewards,
        amount,
    }
}

/// The names that occur in `sql` as whole words.
fn mentioned<'a>(sql: &str, names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let words: HashSet<String> = sql
        .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
        .map(str::to_ascii_lowercase)
        .collect();
    names
        .filter(|n| words.contains(&n.to_ascii_lowercase()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_reports_find_the_tables_they_use() {
        assert_eq!(
            mentioned(
                "SELECT * FROM activity JOIN engagement_x",
                ["activity".to_string(), "engagement".to_string()].iter()
            ),
            vec!["activity".to_string()]
        );
    }
}
