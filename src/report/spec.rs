//! `[reports.NAME]`: as written ([`ReportConfig`]), checked ([`ReportSpec`]), and the checks
//! between them: each kind's keys, the built-in reports' segment, rollups and measures (and
//! segment_flow's `compare`, top_rewarded's claims measure, limit and groups), or the SQL report's
//! query and the tables it names.

use std::collections::HashSet;

use chrono::NaiveDate;
use indexmap::IndexMap;
use serde::Deserialize;

use crate::check::{Checker, names};
use crate::days::days_before;
use crate::rollup::{Agg, Rollup};
use crate::segment::Segment;
use crate::segment::spec::GroupConfig;

/// `[reports.NAME]`: a built-in report (`segment_rewards`, `segment_flow`, `top_rewarded`) or
/// custom SQL.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// `segment_rewards` (the default), `segment_flow`, `top_rewarded` or `sql` (the default
    /// when `sql` is set).
    pub kind: Option<String>,
    /// Title shown above the report.
    pub title: Option<String>,
    /// Number of report days, ending with the report date (default: 1 for segment_flow, 7 for
    /// the others).
    pub days: Option<u32>,
    /// The segment (segment_rewards, segment_flow, top_rewarded).
    pub segment: Option<String>,
    /// The rollup of rewards (segment_rewards, top_rewarded).
    pub rewards: Option<String>,
    /// The measure of `rewards` that is summed (segment_rewards, top_rewarded).
    pub amount: Option<String>,
    /// segment_flow: how many days back each day's groups are compared with.
    pub compare: Option<String>,
    /// top_rewarded: how many users are listed.
    pub limit: Option<i64>,
    /// top_rewarded: only users in these groups (the segment's `inactive` name allowed).
    pub groups: Option<Vec<String>>,
    /// sql: the query, with `:start` and `:end`.
    pub sql: Option<String>,
    /// Decimal places of amounts and per-action values in text, Markdown and Slack (CSV and
    /// JSON stay exact): segment_rewards, top_rewarded, policy_compare, sql.
    pub decimals: Option<i64>,
    /// policy_compare: the candidate policy.
    pub candidate: Option<CandidateConfig>,
    /// lifecycle: `"1d"` or `"7d"`.
    pub interval: Option<String>,
    /// lifecycle: days of history before an interval.
    pub history: Option<String>,
}

/// policy_compare's `candidate`: the segment's keys it replaces, and the payout per group.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CandidateConfig {
    /// Replaces the segment's `weights` (the whole table).
    pub weights: Option<IndexMap<String, toml::Value>>,
    /// Replaces the segment's `default_weight`.
    pub default_weight: Option<toml::Value>,
    /// Replaces the segment's `groups`.
    pub groups: Option<Vec<GroupConfig>>,
    /// Replaces the segment's `window`.
    pub window: Option<String>,
    /// Multiplier of each group's rewards (a group of either side, or the inactive group);
    /// 1 for the groups not listed.
    #[serde(default)]
    pub payout: IndexMap<String, toml::Value>,
}

/// The most `decimals`.
pub const MAX_DECIMALS: i64 = 18;

/// The most days a report covers.
pub const MAX_REPORT_DAYS: u32 = 3_660;

/// The most days a top_rewarded report adds up (its days are merged in one pass).
pub const MAX_TOP_DAYS: u32 = 92;

/// The most users a top_rewarded report lists.
pub const MAX_LIMIT: i64 = 10_000;

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
    /// Who moved between groups: each user's group `compare_days` before each day, and on it.
    SegmentFlow {
        /// Segment name.
        segment: String,
        /// Days between the two groups compared.
        compare_days: u32,
    },
    /// The users who took the most rewards over the report's days.
    TopRewarded {
        /// Segment name.
        segment: String,
        /// Rewards rollup name.
        rewards: String,
        /// Measure of the rewards rollup that is summed.
        amount: String,
        /// The rewards rollup's first `count(*)` measure: the claims.
        claims: String,
        /// Users listed.
        limit: usize,
        /// Only users in these groups; all when empty.
        groups: Vec<String>,
    },
    /// What a candidate policy (other weights, groups, window, payout) would have done to each
    /// group's users and rewards, beside the segment's.
    PolicyCompare {
        /// Segment name.
        segment: String,
        /// Rewards rollup name.
        rewards: String,
        /// Measure of the rewards rollup that is summed.
        amount: String,
        /// The candidate policy.
        candidate: Box<Policy>,
    },
    /// The distribution of the segment's scores on each day, and how many users reach each
    /// group.
    ScoreDistribution {
        /// Segment name.
        segment: String,
        /// The segment's group names, highest first (a column each).
        groups: Vec<String>,
    },
    /// Users by lifecycle state (new, returning, resurrecting, dormant, rewarded without
    /// playing) per day, with their rewards.
    Lifecycle {
        /// Segment name: its rollup and score measure define activity.
        segment: String,
        /// The segment's rollup, read over the history too.
        activity: String,
        /// The rewards rollup and its summed measure, when given.
        rewards: Option<(String, String)>,
        /// Days in an interval (1 or 7).
        interval_days: u32,
        /// Days of history before an interval.
        history_days: u32,
    },
    /// How each group's rewards spread over its claimers: per action, top shares, Gini.
    RewardEfficiency {
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

/// A checked candidate policy: the segment with the candidate's changes, and the payout.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The segment as the candidate scores it (its name tells its partial scores apart when the
    /// weights differ).
    pub segment: Segment,
    /// The multiplier of each group's rewards, by group name (the inactive group's too); 1 for
    /// a group not listed.
    pub payout: Vec<(String, bigdecimal::BigDecimal)>,
}

impl Policy {
    /// The multiplier of `group`'s rewards.
    pub fn payout(&self, group: &str) -> bigdecimal::BigDecimal {
        self.payout
            .iter()
            .find(|(g, _)| g == group)
            .map_or_else(|| 1.into(), |(_, x)| x.clone())
    }
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
    /// Decimal places amounts are shown with in text, Markdown and Slack; `None`: as computed.
    pub decimals: Option<u32>,
}

impl ReportSpec {
    /// First and last report day for report date `date`.
    pub fn range(&self, date: NaiveDate) -> (NaiveDate, NaiveDate) {
        (days_before(date, self.days.saturating_sub(1)), date)
    }

    /// What the report reads besides its own days.
    pub fn reads(&self) -> Reads<'_> {
        let plain = Reads::plain;
        match &self.kind {
            ReportKind::SegmentRewards {
                segment, rewards, ..
            }
            | ReportKind::TopRewarded {
                segment, rewards, ..
            }
            | ReportKind::RewardEfficiency {
                segment, rewards, ..
            } => plain(vec![rewards], segment),
            ReportKind::PolicyCompare {
                segment,
                rewards,
                candidate,
                ..
            } => Reads {
                window: candidate.segment.window_days,
                ..plain(vec![rewards], segment)
            },
            // Activity is read over the history, but the segment is scored on the report days
            // only (for its table).
            ReportKind::Lifecycle {
                segment,
                activity,
                rewards,
                interval_days,
                history_days,
            } => Reads {
                rollups_lead: interval_days - 1 + history_days,
                ..plain(
                    std::iter::once(activity.as_str())
                        .chain(rewards.iter().map(|(r, _)| r.as_str()))
                        .collect(),
                    segment,
                )
            },
            ReportKind::ScoreDistribution { segment, .. } => plain(vec![], segment),
            // Each day's groups are compared with those `compare` days before.
            ReportKind::SegmentFlow {
                segment,
                compare_days,
            } => Reads {
                lead_days: *compare_days,
                ..plain(vec![], segment)
            },
            ReportKind::Sql {
                rollups, segments, ..
            } => Reads {
                rollups: rollups.iter().map(String::as_str).collect(),
                segments: segments.iter().map(String::as_str).collect(),
                ..plain(vec![], "")
            },
        }
    }
}

/// What a report reads: rollups on its own days, and segments scored from `lead_days` before its
/// first day (each segment's rollup also over its window before that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reads<'a> {
    /// Rollups read on the report's days.
    pub rollups: Vec<&'a str>,
    /// Segments scored.
    pub segments: Vec<&'a str>,
    /// Days before the first report day from which the segments are scored.
    pub lead_days: u32,
    /// A window the segments are also scored with, when longer than their own (a candidate
    /// policy's); 0 for none.
    pub window: u32,
    /// Days before the first report day from which the rollups are read too (a lifecycle
    /// report's rewards over its history).
    pub rollups_lead: u32,
}

impl<'a> Reads<'a> {
    /// The rollups `rollups` read on the report's days, and `segment` scored on them.
    fn plain(rollups: Vec<&'a str>, segment: &'a str) -> Reads<'a> {
        Reads {
            rollups,
            segments: vec![segment],
            lead_days: 0,
            window: 0,
            rollups_lead: 0,
        }
    }

    /// The days of rollup rows scoring `segment` reads before a scored day, that day included.
    pub fn window_of(&self, segment: &Segment) -> u32 {
        segment.window_days.max(self.window)
    }
}

/// The keys each kind takes besides `kind`, `title` and `days`.
const KEYS: [(&str, &[&str]); 8] = [
    (
        "segment_rewards",
        &["segment", "rewards", "amount", "decimals"],
    ),
    ("segment_flow", &["segment", "compare"]),
    (
        "top_rewarded",
        &[
            "segment", "rewards", "amount", "limit", "groups", "decimals",
        ],
    ),
    (
        "policy_compare",
        &["segment", "rewards", "amount", "candidate", "decimals"],
    ),
    ("score_distribution", &["segment"]),
    (
        "lifecycle",
        &[
            "segment", "rewards", "amount", "interval", "history", "decimals",
        ],
    ),
    (
        "reward_efficiency",
        &["segment", "rewards", "amount", "decimals"],
    ),
    ("sql", &["sql", "decimals"]),
];

/// Checks one report against the rollups and segments it may read.
pub fn check(
    c: &mut Checker,
    name: &str,
    r: &ReportConfig,
    rollups: &IndexMap<String, Rollup>,
    segments: &IndexMap<String, Segment>,
) -> ReportSpec {
    let key = format!("reports.{name}");
    c.name(&key, name);
    let kind_name = r.kind.clone().unwrap_or_else(|| {
        if r.sql.is_some() {
            "sql"
        } else {
            "segment_rewards"
        }
        .into()
    });
    let days = days(c, &key, &kind_name, r.days);
    foreign_keys(c, &key, &kind_name, r);
    let kind = kind(c, &key, &kind_name, r, (rollups, segments));
    let decimals = r
        .decimals
        .map(|d| c.count(&format!("{key}.decimals"), d, 0, MAX_DECIMALS) as u32);
    ReportSpec {
        name: name.to_string(),
        title: r.title.clone().unwrap_or_else(|| name.replace('_', " ")),
        days,
        kind,
        decimals,
    }
}

/// `days`: 1 to the most a kind covers, by default 1 for segment_flow, 8 for policy_compare and
/// score_distribution, and 7 for the others.
fn days(c: &mut Checker, key: &str, kind: &str, days: Option<u32>) -> u32 {
    let default_days = match kind {
        "segment_flow" => 1,
        "policy_compare" | "score_distribution" | "lifecycle" | "reward_efficiency" => 8,
        _ => 7,
    };
    // A top_rewarded report adds its days up in one merge pass.
    let max_days = if kind == "top_rewarded" {
        MAX_TOP_DAYS
    } else {
        MAX_REPORT_DAYS
    };
    c.count(
        &format!("{key}.days"),
        days.unwrap_or(default_days),
        1,
        max_days,
    )
}

/// The keys that are given and belong to other kinds: each is an issue naming who takes it.
fn foreign_keys(c: &mut Checker, key: &str, kind: &str, r: &ReportConfig) {
    let Some((_, allowed)) = KEYS.iter().find(|(k, _)| *k == kind) else {
        return;
    };
    let given = [
        ("segment", r.segment.is_some()),
        ("rewards", r.rewards.is_some()),
        ("amount", r.amount.is_some()),
        ("compare", r.compare.is_some()),
        ("limit", r.limit.is_some()),
        ("groups", r.groups.is_some()),
        ("sql", r.sql.is_some()),
        ("decimals", r.decimals.is_some()),
        ("candidate", r.candidate.is_some()),
        ("interval", r.interval.is_some()),
        ("history", r.history.is_some()),
    ];
    for (field, _) in given.iter().filter(|(f, set)| *set && !allowed.contains(f)) {
        let takes: Vec<&str> = KEYS
            .iter()
            .filter(|(_, keys)| keys.contains(field))
            .map(|(k, _)| *k)
            .collect();
        c.issue(
            format!("{key}.{field}"),
            format!(
                "not a key of kind = \"{kind}\" (only of {})",
                takes.join(", ")
            ),
        );
    }
}

/// What the report computes, by kind, checked against what it reads.
fn kind(
    c: &mut Checker,
    key: &str,
    kind: &str,
    r: &ReportConfig,
    (rollups, segments): (&IndexMap<String, Rollup>, &IndexMap<String, Segment>),
) -> ReportKind {
    match kind {
        "segment_rewards" => {
            let (segment, rewards, amount) = rewarded(c, key, kind, r, rollups, segments);
            ReportKind::SegmentRewards {
                segment,
                rewards,
                amount,
            }
        }
        "segment_flow" => {
            let segment = segment_of(c, key, kind, r, segments);
            let compare_days = c.whole_days(
                &format!("{key}.compare"),
                r.compare.as_deref().unwrap_or("7d"),
                MAX_REPORT_DAYS,
            );
            ReportKind::SegmentFlow {
                segment,
                compare_days,
            }
        }
        "top_rewarded" => top_rewarded(c, key, r, rollups, segments),
        "policy_compare" => {
            let (segment, rewards, amount) = rewarded(c, key, kind, r, rollups, segments);
            let empty = CandidateConfig::default();
            let config = r.candidate.as_ref().unwrap_or(&empty);
            let candidate = match segments.get(&segment) {
                Some(base) => policy(c, &format!("{key}.candidate"), base, config),
                None => Policy {
                    segment: placeholder_segment(),
                    payout: Vec::new(),
                },
            };
            ReportKind::PolicyCompare {
                segment,
                rewards,
                amount,
                candidate: Box::new(candidate),
            }
        }
        "lifecycle" => lifecycle(c, key, r, rollups, segments),
        "reward_efficiency" => {
            let (segment, rewards, amount) = rewarded(c, key, kind, r, rollups, segments);
            ReportKind::RewardEfficiency {
                segment,
                rewards,
                amount,
            }
        }
        "score_distribution" => {
            let segment = segment_of(c, key, kind, r, segments);
            let groups = segments.get(&segment).map_or_else(Vec::new, |s| {
                s.groups.iter().map(|g| g.name.clone()).collect()
            });
            ReportKind::ScoreDistribution { segment, groups }
        }
        "sql" => sql(c, key, r, rollups, segments),
        other => {
            c.issue(
                format!("{key}.kind"),
                format!(
                    "unknown kind `{other}` (use \"segment_rewards\", \"segment_flow\", \"top_rewarded\", \"policy_compare\", \"score_distribution\", \"lifecycle\", \"reward_efficiency\" or \"sql\")"
                ),
            );
            ReportKind::Sql {
                sql: String::new(),
                rollups: vec![],
                segments: vec![],
            }
        }
    }
}

/// A candidate policy checked against the segment `base` it changes (keys named under `key`,
/// `reports.NAME.candidate`): the segment's keys as a segment's, the payout's groups and
/// multipliers.
pub fn policy(c: &mut Checker, key: &str, base: &Segment, config: &CandidateConfig) -> Policy {
    let changes = crate::segment::spec::Changes {
        weights: config.weights.as_ref(),
        default_weight: config.default_weight.as_ref(),
        groups: config.groups.as_deref(),
        window: config.window.as_deref(),
    };
    let segment = crate::segment::spec::candidate(c, key, base, changes);
    let mut known: Vec<&str> = base.groups.iter().map(|g| g.name.as_str()).collect();
    for g in &segment.groups {
        if !known.contains(&g.name.as_str()) {
            known.push(&g.name);
        }
    }
    known.push(&base.inactive);
    let mut payout = Vec::new();
    for (group, value) in &config.payout {
        let at = format!("{key}.payout.{group}");
        if !known.contains(&group.as_str()) {
            c.issue(
                &at,
                format!(
                    "no group `{group}` in segment `{}` or the candidate (groups: {})",
                    base.name,
                    known.join(", ")
                ),
            );
        }
        let x = c.decimal(&at, value);
        if bigdecimal::Signed::is_negative(&x) {
            c.issue(
                &at,
                format!("a payout multiplier must be 0 or more (found {x})"),
            );
        }
        payout.push((group.clone(), x));
    }
    Policy { segment, payout }
}

/// `kind = "lifecycle"`: the segment, the optional rewards (both `rewards` and `amount`, or
/// neither), the interval (1 or 7 days) and the history (at least the interval).
fn lifecycle(
    c: &mut Checker,
    key: &str,
    r: &ReportConfig,
    rollups: &IndexMap<String, Rollup>,
    segments: &IndexMap<String, Segment>,
) -> ReportKind {
    let segment = segment_of(c, key, "lifecycle", r, segments);
    let rewards = match (&r.rewards, &r.amount) {
        (None, None) => None,
        (Some(_), Some(_)) => {
            let (_, rewards, amount) = rewarded(c, key, "lifecycle", r, rollups, segments);
            Some((rewards, amount))
        }
        (Some(_), None) | (None, Some(_)) => {
            let missing = if r.rewards.is_none() {
                "rewards"
            } else {
                "amount"
            };
            c.issue(
                format!("{key}.{missing}"),
                "lifecycle takes `rewards` and `amount` together, or neither",
            );
            None
        }
    };
    let interval_days = match r.interval.as_deref().unwrap_or("1d") {
        "1d" => 1,
        "7d" => 7,
        other => {
            c.issue(
                format!("{key}.interval"),
                format!("`{other}` is not \"1d\" or \"7d\""),
            );
            1
        }
    };
    let history_days = c.whole_days(
        &format!("{key}.history"),
        r.history.as_deref().unwrap_or("28d"),
        MAX_HISTORY_DAYS,
    );
    if history_days < interval_days {
        c.issue(
            format!("{key}.history"),
            format!("{history_days} days is shorter than the interval ({interval_days} days)"),
        );
    }
    ReportKind::Lifecycle {
        activity: segments
            .get(&segment)
            .map_or_else(String::new, |s| s.rollup.clone()),
        segment,
        rewards,
        interval_days,
        history_days,
    }
}

/// The longest lifecycle `history`: a merge reads one run per day of it at once.
pub const MAX_HISTORY_DAYS: u32 = 366;

/// A segment that stands in for one the config does not have (its report is an issue already).
fn placeholder_segment() -> Segment {
    Segment {
        name: String::new(),
        rollup: String::new(),
        score: String::new(),
        by: None,
        window_days: 1,
        weights: Default::default(),
        default_weight: 1.into(),
        groups: Vec::new(),
        inactive: String::new(),
    }
}

/// `kind = "sql"`: a query that only reads, and the rollups and segments it names.
fn sql(
    c: &mut Checker,
    key: &str,
    r: &ReportConfig,
    rollups: &IndexMap<String, Rollup>,
    segments: &IndexMap<String, Segment>,
) -> ReportKind {
    if let Some(problem) = r.sql.as_deref().and_then(crate::check::sql::writes) {
        c.issue(format!("{key}.sql"), problem);
    }
    let sql = r.sql.clone().unwrap_or_else(|| {
        c.issue(format!("{key}.sql"), "a sql report needs `sql`");
        String::new()
    });
    ReportKind::Sql {
        rollups: mentioned(&sql, rollups.keys()),
        segments: mentioned(&sql, segments.keys()),
        sql,
    }
}

/// The segment a built-in report reads, which must exist.
fn segment_of(
    c: &mut Checker,
    key: &str,
    kind: &str,
    r: &ReportConfig,
    segments: &IndexMap<String, Segment>,
) -> String {
    let Some(segment) = r.segment.clone() else {
        c.issue(
            format!("{key}.segment"),
            format!("required for kind = \"{kind}\""),
        );
        return String::new();
    };
    if !segments.contains_key(&segment) {
        c.issue(
            format!("{key}.segment"),
            format!(
                "unknown segment `{segment}` (segments: {})",
                names(segments)
            ),
        );
    }
    segment
}

/// The segment, the rewards rollup and its summed measure of a report of rewards.
fn rewarded(
    c: &mut Checker,
    key: &str,
    kind: &str,
    r: &ReportConfig,
    rollups: &IndexMap<String, Rollup>,
    segments: &IndexMap<String, Segment>,
) -> (String, String, String) {
    let segment = segment_of(c, key, kind, r, segments);
    let mut required = |field: &str, value: &Option<String>| {
        value.clone().unwrap_or_else(|| {
            c.issue(
                format!("{key}.{field}"),
                format!("required for kind = \"{kind}\""),
            );
            String::new()
        })
    };
    let rewards = required("rewards", &r.rewards);
    let amount = required("amount", &r.amount);
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
    (segment, rewards, amount)
}

/// `kind = "top_rewarded"`: a rewards report with the claims measure, a limit and groups.
fn top_rewarded(
    c: &mut Checker,
    key: &str,
    r: &ReportConfig,
    rollups: &IndexMap<String, Rollup>,
    segments: &IndexMap<String, Segment>,
) -> ReportKind {
    let (segment, rewards, amount) = rewarded(c, key, "top_rewarded", r, rollups, segments);
    let claims = match rollups.get(&rewards) {
        Some(rollup) => match rollup
            .measures
            .iter()
            .find(|m| m.agg == Agg::Count && m.arg == "*")
        {
            Some(m) => m.name.clone(),
            None => {
                c.issue(
                    format!("{key}.rewards"),
                    format!(
                        "rollup `{rewards}` has no count(*) measure, which top_rewarded shows as \
                         `claims`: add one to it, like claims = \"count(*)\""
                    ),
                );
                String::new()
            }
        },
        None => String::new(),
    };
    let limit = c.count(&format!("{key}.limit"), r.limit.unwrap_or(20), 1, MAX_LIMIT) as usize;
    let groups = r.groups.clone().unwrap_or_default();
    if let Some(seg) = segments.get(&segment) {
        let known = seg.names();
        for g in &groups {
            if !known.contains(&g.as_str()) {
                c.issue(
                    format!("{key}.groups"),
                    format!(
                        "segment `{segment}` has no group `{g}` (groups: {})",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    ReportKind::TopRewarded {
        segment,
        rewards,
        amount,
        claims,
        limit,
        groups,
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
