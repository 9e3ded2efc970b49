//! Reports over the store (`[reports.NAME]`, [`spec`]): the built-in [`segment_rewards`],
//! [`segment_flow`], [`top_rewarded`], [`policy_compare`], [`score_distribution`],
//! [`lifecycle`] and [`reward_efficiency`] reports and
//! custom SQL ([`sql`]), rendered by [`render`]
//! and drawn by [`chart`]; [`alert`]s look at a report's rows.

pub mod alert;
mod cache;
pub mod chart;
pub mod lifecycle;
pub mod notes;
pub mod policy_compare;
mod rank;
pub mod render;
pub mod revise;
pub mod reward_efficiency;
pub mod score_distribution;
pub mod segment_flow;
pub mod segment_rewards;
pub mod spec;
pub mod sql;
pub mod top_rewarded;
pub mod user;

use chrono::NaiveDate;
use indexmap::IndexMap;

use crate::days::{DayRange, days_before};
use crate::rollup::Rollup;
use crate::segment::{self, Segment};
use crate::store::{Store, StoreError};
use crate::value::Value;
pub use spec::{ReportConfig, ReportKind, ReportSpec};

/// What reports read of the config: the rollups and segments they are built from, and how they
/// are shown.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Rollups by name.
    pub rollups: &'a IndexMap<String, Rollup>,
    /// Segments by name.
    pub segments: &'a IndexMap<String, Segment>,
    /// How every report is shown.
    pub style: &'a render::Style,
    /// `[[annotations]]`.
    pub annotations: &'a [notes::Annotation],
}

/// A report failure.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The chart could not be drawn, or its font loaded.
    #[error("{0}")]
    Chart(String),
    /// An alert's condition failed on the report's rows.
    #[error("alert `{alert}`: {message}")]
    Alert {
        /// The alert's name.
        alert: String,
        /// SQLite's message.
        message: String,
    },
    /// A signal interrupted the report's SQL.
    #[error("stopped by a signal while the SQL of `{0}` ran")]
    Interrupted(String),
    /// The report's SQL failed.
    #[error("{}{message}", if report == "query" { "query: ".to_string() } else { format!("report `{report}`: ") })]
    Sql {
        /// Report name (or "query").
        report: String,
        /// SQLite's message.
        message: String,
    },
}

/// A computed report: a titled table for a range of days.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Report name from the config.
    pub name: String,
    /// Title.
    pub title: String,
    /// First report day.
    pub first: NaiveDate,
    /// Last report day (the report date).
    pub last: NaiveDate,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<Value>>,
    /// What the report is, beyond its table.
    pub body: Body,
    /// How it is shown.
    pub style: render::Style,
    /// What it is computed from ([`revise::definition`]); empty for what is not a built report.
    pub definition: String,
}

/// What a report is, for what reads more than its table (the chart, the Slack summary): they
/// never guess from column names or read cells by position.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A table only (SQL reports, query results).
    Table,
    /// The built-in segment_rewards report: each group's rewards and share per day.
    SegmentRewards(Vec<segment_rewards::Share>),
    /// The built-in segment_flow report: each day's square of moves between groups.
    SegmentFlow(Vec<segment_flow::Flow>),
    /// The built-in policy_compare report: each group's share now and under the candidate.
    PolicyCompare(Vec<policy_compare::Shares>),
    /// The built-in lifecycle report: each state's users per day.
    Lifecycle(Vec<lifecycle::Count>),
    /// The built-in reward_efficiency report: each group's top share and Gini per day.
    RewardEfficiency(Vec<reward_efficiency::Spread>),
    /// The built-in score_distribution report: each day's histogram of scores, and the groups'
    /// thresholds.
    ScoreDistribution {
        /// Per day.
        histograms: Vec<score_distribution::Histogram>,
        /// Each group's name and `min_score`, highest first.
        thresholds: Vec<(String, f64)>,
    },
    /// An alert: the rows of a report that matched its condition.
    Alert {
        /// The report whose rows matched.
        report: String,
        /// The condition, as written in the config.
        condition: String,
    },
    /// An alert's rows that no longer match (their keys), answering the alert message that
    /// first sent them.
    Resolved {
        /// The report whose rows no longer match.
        report: String,
        /// The condition, as written in the config.
        condition: String,
        /// The alert's report name (`alerts.NAME`), whose delivery of `since` it answers.
        alert: String,
        /// The date of that alert message.
        since: NaiveDate,
    },
}

/// The days each rollup must hold for `reports` on report date `date`: a segment needs its whole
/// window before the first report day.
pub fn required_days<'a>(
    segments: &IndexMap<String, Segment>,
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
        let reads = report.reads();
        for rollup in &reads.rollups {
            let first = days_before(first, reads.rollups_lead);
            add(rollup, DayRange { first, last });
        }
        let scored_from = days_before(first, reads.lead_days);
        for name in &reads.segments {
            let segment = &segments[*name];
            let first = days_before(scored_from, reads.window_of(segment) - 1);
            add(&segment.rollup, DayRange { first, last });
        }
    }
    need
}

/// The columns that `decimals` rounds: a built-in report's amounts (`rewards`,
/// `rewards_per_action`); in an sql report, every column of numbers that are not all whole.
fn amounts(kind: &ReportKind, columns: &[String], rows: &[Vec<Value>]) -> Vec<usize> {
    let named = |names: &[&str]| -> Vec<usize> {
        (0..columns.len())
            .filter(|&i| names.contains(&columns[i].as_str()))
            .collect()
    };
    match kind {
        ReportKind::SegmentRewards { .. } => named(&["rewards"]),
        ReportKind::TopRewarded { .. } => named(&["rewards", "rewards_per_action"]),
        ReportKind::PolicyCompare { .. } => named(&["rewards_now", "rewards_candidate"]),
        ReportKind::Lifecycle { .. } => named(&["rewards"]),
        ReportKind::RewardEfficiency { .. } => named(&["rewards", "rewards_per_action"]),
        ReportKind::SegmentFlow { .. } | ReportKind::ScoreDistribution { .. } => Vec::new(),
        ReportKind::Sql { .. } => (0..columns.len())
            .filter(|&i| {
                let cells = rows.iter().map(|r| &r[i]).filter(|v| **v != Value::Null);
                let fraction = |v: &Value| match v {
                    Value::Dec(d) => d.fractional_digit_count() > 0,
                    Value::Float(_) => true,
                    Value::Text(t) => crate::value::parse_decimal(t)
                        .is_some_and(|d| d.fractional_digit_count() > 0),
                    _ => false,
                };
                let numeric = |v: &Value| {
                    v.is_numeric()
                        || matches!(v, Value::Text(t) if crate::value::parse_decimal(t).is_some())
                };
                cells.clone().all(numeric) && cells.clone().any(fraction)
            })
            .collect(),
    }
}

/// Brings each segment the reports read up to date in its `<segment>` table (and `_bi` view),
/// for the days the reports score: what custom SQL and BI tools read. Only days whose inputs
/// changed are written again.
pub fn segment_tables<'a>(
    inputs: Inputs<'_>,
    store: &Store,
    reports: impl IntoIterator<Item = &'a ReportSpec>,
    date: NaiveDate,
) -> Result<(), ReportError> {
    let mut days: IndexMap<&str, DayRange> = IndexMap::new();
    for report in reports {
        let (first, last) = report.range(date);
        let reads = report.reads();
        let range = DayRange {
            first: days_before(first, reads.lead_days),
            last,
        };
        for name in reads.segments {
            days.entry(name)
                .and_modify(|r| *r = r.union(range))
                .or_insert(range);
        }
    }
    for (name, range) in days {
        let segment = &inputs.segments[name];
        let list: Vec<NaiveDate> = range
            .first
            .iter_days()
            .take_while(|d| *d <= range.last)
            .collect();
        segment::refresh(store, segment, &inputs.rollups[&segment.rollup], &list)?;
    }
    Ok(())
}

/// The columns of the report `spec` builds: fixed for the built-in kinds; for an sql report,
/// from preparing its query on `store` (`None` without a store).
pub fn columns(
    spec: &ReportSpec,
    store: Option<&Store>,
) -> Result<Option<Vec<String>>, ReportError> {
    let fixed: &[&str] = match &spec.kind {
        ReportKind::SegmentRewards { .. } => &segment_rewards::COLUMNS,
        ReportKind::SegmentFlow { .. } => &segment_flow::COLUMNS,
        ReportKind::TopRewarded { .. } => &top_rewarded::COLUMNS,
        ReportKind::PolicyCompare { .. } => &policy_compare::COLUMNS,
        ReportKind::Lifecycle { rewards, .. } => {
            let n = if rewards.is_some() { 7 } else { 4 };
            &lifecycle::COLUMNS[..n]
        }
        ReportKind::RewardEfficiency { .. } => &reward_efficiency::COLUMNS,
        ReportKind::ScoreDistribution { groups, .. } => {
            return Ok(Some(score_distribution::columns(groups)));
        }
        ReportKind::Sql { sql, .. } => {
            return store
                .map(|store| sql::columns(store, &spec.name, sql))
                .transpose();
        }
    };
    Ok(Some(fixed.iter().map(|c| c.to_string()).collect()))
}

/// Computes one report for report date `date` from what the store holds.
pub fn build(
    inputs: Inputs<'_>,
    store: &Store,
    spec: &ReportSpec,
    date: NaiveDate,
) -> Result<Report, ReportError> {
    let (first, last) = spec.range(date);
    let (columns, rows, body) = table(inputs, store, spec, (first, last))?;
    let style = style(inputs, store, spec, (&columns, &rows), (first, last))?;
    Ok(Report {
        name: spec.name.clone(),
        title: spec.title.clone(),
        first,
        last,
        columns,
        rows,
        body,
        style,
        definition: revise::definition(inputs, spec),
    })
}

/// A built report's columns, rows and body.
type Table = (Vec<String>, Vec<Vec<Value>>, Body);

/// Computes what `spec` shows over the days of `range`.
fn table(
    inputs: Inputs<'_>,
    store: &Store,
    spec: &ReportSpec,
    range: (NaiveDate, NaiveDate),
) -> Result<Table, ReportError> {
    let (first, last) = range;
    Ok(match &spec.kind {
        ReportKind::SegmentRewards {
            segment,
            rewards,
            amount,
        } => {
            let s = segment_rewards::Rewarded::new(inputs, segment, rewards, amount);
            let (columns, rows, shares) = segment_rewards::build(store, &s, first, last)?;
            (columns, rows, Body::SegmentRewards(shares))
        }
        ReportKind::SegmentFlow {
            segment,
            compare_days,
        } => {
            let (rows, flows) = segment_flow::build(inputs, store, segment, *compare_days, range)?;
            let columns = segment_flow::COLUMNS.map(String::from).to_vec();
            (columns, rows, Body::SegmentFlow(flows))
        }
        ReportKind::TopRewarded {
            segment,
            rewards,
            amount,
            claims,
            limit,
            groups,
        } => {
            let s = segment_rewards::Rewarded::new(inputs, segment, rewards, amount);
            let rows = top_rewarded::build(store, &s, claims, *limit, groups, first, last)?;
            (
                top_rewarded::COLUMNS.map(String::from).to_vec(),
                rows,
                Body::Table,
            )
        }
        ReportKind::PolicyCompare {
            segment,
            rewards,
            amount,
            candidate,
        } => policy_compare::table(inputs, store, (segment, rewards, amount), candidate, range)?,
        ReportKind::Lifecycle {
            segment,
            rewards,
            interval_days,
            history_days,
            ..
        } => lifecycle::table(
            inputs,
            store,
            (segment, rewards),
            (*interval_days, *history_days),
            range,
        )?,
        ReportKind::RewardEfficiency {
            segment,
            rewards,
            amount,
        } => reward_efficiency::table(inputs, store, (segment, rewards, amount), range)?,
        ReportKind::ScoreDistribution { segment, groups } => {
            score_distribution::table(inputs, store, (segment, groups), range)?
        }
        ReportKind::Sql { sql, segments, .. } => {
            let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
            for name in segments {
                let seg = &inputs.segments[name];
                segment::refresh(store, seg, &inputs.rollups[&seg.rollup], &days)?;
            }
            let (columns, rows) = sql::run(store, &spec.name, sql, Some(range))?;
            (columns, rows, Body::Table)
        }
    })
}

/// How a built report is shown: its `decimals`, its provisional days and its notes.
fn style(
    inputs: Inputs<'_>,
    store: &Store,
    spec: &ReportSpec,
    (columns, rows): (&[String], &[Vec<Value>]),
    range: (NaiveDate, NaiveDate),
) -> Result<render::Style, ReportError> {
    let rounding = spec.decimals.map(|places| render::Rounding {
        places,
        columns: amounts(&spec.kind, columns, rows),
    });
    Ok(render::Style {
        rounding,
        provisional: provisional(inputs, spec, columns, range),
        notes: notes::of_report(inputs, store, spec, range)?,
        ..inputs.style.clone()
    })
}

/// The report's days that a later daily run pulls again, for a report with a `day` column: a
/// day is provisional when a slice of it lies within the `lookback` (from the end of the report
/// date) of a rollup the report reads.
fn provisional(
    inputs: Inputs<'_>,
    spec: &ReportSpec,
    columns: &[String],
    (first, last): (NaiveDate, NaiveDate),
) -> Option<render::Provisional> {
    let column = columns.iter().position(|c| c == "day")?;
    let reads = spec.reads();
    let rollups = reads.rollups.into_iter().chain(
        reads
            .segments
            .iter()
            .filter_map(|s| inputs.segments.get(*s).map(|s| s.rollup.as_str())),
    );
    let read: Vec<&Rollup> = rollups.filter_map(|r| inputs.rollups.get(r)).collect();
    let lookback = read.iter().map(|r| r.lookback).max().unwrap_or_default();
    let zone = read.first().map_or(chrono_tz::Tz::UTC, |r| r.day_zone);
    let end = crate::days::day_start(zone, last.succ_opt().unwrap_or(last));
    let from = end - chrono::TimeDelta::from_std(lookback).unwrap_or_default();
    let days = first
        .iter_days()
        .take_while(|d| *d <= last)
        .filter(|d| crate::days::day_start(zone, d.succ_opt().unwrap_or(*d)) > from)
        .map(|d| d.to_string())
        .collect();
    Some(render::Provisional {
        column,
        days,
        again_days: lookback.as_secs().div_ceil(86_400) as u32,
    })
}
