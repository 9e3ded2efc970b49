//! `[segments.NAME]`: as written ([`SegmentConfig`]), checked ([`Segment`]), and the checks
//! between them: the rollup and measure scored, the weights, the groups.

use std::collections::{HashMap, HashSet};

use bigdecimal::{BigDecimal, Zero};
use indexmap::IndexMap;
use serde::Deserialize;

use crate::check::{Checker, names};
use crate::rollup::Rollup;

/// `[segments.NAME]`: a weighted score and the groups it assigns.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentConfig {
    /// The rollup scored.
    pub rollup: String,
    /// The measure that is weighted.
    pub score: String,
    /// The dimension whose values carry weights.
    pub by: Option<String>,
    /// Trailing window in days.
    #[serde(default = "default_window")]
    pub window: String,
    /// Weight of each value of `by`.
    #[serde(default)]
    pub weights: IndexMap<String, toml::Value>,
    /// Weight of values not listed in `weights`.
    #[serde(default = "default_weight")]
    pub default_weight: toml::Value,
    /// Groups, highest threshold first.
    pub groups: Vec<GroupConfig>,
    /// Name of the group of users who were rewarded without any activity.
    #[serde(default = "default_inactive")]
    pub inactive: String,
}

/// One entry of `groups`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Group name shown in reports.
    pub name: String,
    /// Lowest score that belongs to this group.
    pub min_score: toml::Value,
}

fn default_window() -> String {
    "7d".into()
}

fn default_weight() -> toml::Value {
    toml::Value::Integer(1)
}

fn default_inactive() -> String {
    "inactive".into()
}

/// The longest segment `window`.
pub const MAX_WINDOW_DAYS: u32 = 366;

/// One group of a segment.
#[derive(Debug, Clone)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Lowest score in the group.
    pub min_score: BigDecimal,
}

/// A checked `[segments.NAME]`.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Segment name, also its table name in the store.
    pub name: String,
    /// Rollup scored.
    pub rollup: String,
    /// Measure weighted.
    pub score: String,
    /// Dimension whose values carry weights.
    pub by: Option<String>,
    /// Window length in days.
    pub window_days: u32,
    /// Weights by dimension value.
    pub weights: HashMap<String, BigDecimal>,
    /// Weight of unlisted values.
    pub default_weight: BigDecimal,
    /// Groups, highest `min_score` first.
    pub groups: Vec<Group>,
    /// Name of the rewarded-without-activity group.
    pub inactive: String,
}

impl Segment {
    /// The group names in config order, then the inactive name: every name a user can have.
    pub fn names(&self) -> Vec<&str> {
        self.groups
            .iter()
            .map(|g| g.name.as_str())
            .chain([self.inactive.as_str()])
            .collect()
    }
}

/// Checks one segment against the rollups it may score.
pub fn check(
    c: &mut Checker,
    name: &str,
    s: &SegmentConfig,
    rollups: &IndexMap<String, Rollup>,
) -> Segment {
    let key = format!("segments.{name}");
    c.name(&key, name);
    match rollups.get(&s.rollup) {
        None => c.issue(
            format!("{key}.rollup"),
            format!(
                "unknown rollup `{}` (rollups: {})",
                s.rollup,
                names(rollups)
            ),
        ),
        Some(r) => {
            if r.measure(&s.score).is_none() {
                c.issue(
                    format!("{key}.score"),
                    format!("rollup `{}` has no measure `{}`", r.name, s.score),
                );
            }
            if let Some(by) =
                s.by.as_ref()
                    .filter(|by| !r.dimensions.iter().any(|d| &d.name == *by))
            {
                c.issue(
                    format!("{key}.by"),
                    format!("rollup `{}` has no dimension `{by}`", r.name),
                );
            }
        }
    }
    if s.by.is_none() && !s.weights.is_empty() {
        c.issue(
            format!("{key}.weights"),
            "weights need `by` (the dimension they apply to)",
        );
    }
    let weights = s
        .weights
        .iter()
        .map(|(k, v)| (k.clone(), c.weight(&format!("{key}.weights.{k}"), v)))
        .collect();
    let groups: Vec<Group> = s
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| Group {
            name: g.name.clone(),
            min_score: c.decimal(&format!("{key}.groups[{i}].min_score"), &g.min_score),
        })
        .collect();
    check_groups(c, &key, &groups, &s.inactive);
    Segment {
        name: name.to_string(),
        rollup: s.rollup.clone(),
        score: s.score.clone(),
        by: s.by.clone(),
        window_days: c.whole_days(&format!("{key}.window"), &s.window, MAX_WINDOW_DAYS),
        weights,
        default_weight: c.weight(&format!("{key}.default_weight"), &s.default_weight),
        groups,
        inactive: s.inactive.clone(),
    }
}

/// What a candidate policy changes of a segment (a report's `candidate`, `tally whatif`): each
/// key given replaces the segment's value; `None` keeps it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Changes<'a> {
    /// Weights by value of `by` (the whole table).
    pub weights: Option<&'a IndexMap<String, toml::Value>>,
    /// Weight of unlisted values.
    pub default_weight: Option<&'a toml::Value>,
    /// Groups, highest threshold first.
    pub groups: Option<&'a [GroupConfig]>,
    /// Trailing window.
    pub window: Option<&'a str>,
}

/// The segment `base` with `changes`, checked as a segment is (keys named under `key`, like
/// `reports.NAME.candidate`). It scores the same rollup and measure by the same dimension; when
/// its weights differ, its partial scores are kept apart from the segment's, under the name
/// `<segment>@<digest of the weights>`.
pub fn candidate(c: &mut Checker, key: &str, base: &Segment, changes: Changes) -> Segment {
    let mut segment = base.clone();
    if let Some(weights) = changes.weights {
        if base.by.is_none() && !weights.is_empty() {
            c.issue(
                format!("{key}.weights"),
                format!("weights need `by`, and segment `{}` has none", base.name),
            );
        }
        segment.weights = weights
            .iter()
            .map(|(k, v)| (k.clone(), c.weight(&format!("{key}.weights.{k}"), v)))
            .collect();
    }
    if let Some(w) = changes.default_weight {
        segment.default_weight = c.weight(&format!("{key}.default_weight"), w);
    }
    if let Some(groups) = changes.groups {
        segment.groups = groups
            .iter()
            .enumerate()
            .map(|(i, g)| Group {
                name: g.name.clone(),
                min_score: c.decimal(&format!("{key}.groups[{i}].min_score"), &g.min_score),
            })
            .collect();
        check_groups(c, key, &segment.groups, &segment.inactive);
    }
    if let Some(window) = changes.window {
        segment.window_days = c.whole_days(&format!("{key}.window"), window, MAX_WINDOW_DAYS);
    }
    if !same_weights(&segment, base) {
        segment.name = format!("{}@{}", base.name, weights_digest(&segment));
    }
    segment
}

/// True when both score every value alike (equal weights, as numbers).
fn same_weights(a: &Segment, b: &Segment) -> bool {
    a.default_weight == b.default_weight && a.weights == b.weights
}

/// A short digest of a segment's weights: what tells candidates' partial scores apart.
fn weights_digest(segment: &Segment) -> String {
    use std::hash::BuildHasher;
    let mut weights: Vec<String> = segment
        .weights
        .iter()
        .map(|(k, w)| format!("{k}={}", w.normalized()))
        .collect();
    weights.sort();
    let text = format!(
        "{};default={}",
        weights.join(","),
        segment.default_weight.normalized()
    );
    let hash = foldhash::quality::FixedState::with_seed(0x0077_6569_6768_7473).hash_one(&text);
    format!("{:08x}", hash >> 32)
}

fn check_groups(c: &mut Checker, key: &str, groups: &[Group], inactive: &str) {
    if groups.is_empty() {
        c.issue(format!("{key}.groups"), "at least one group is needed");
        return;
    }
    let mut names = HashSet::from([inactive]);
    for (i, pair) in groups.windows(2).enumerate() {
        if pair[1].min_score >= pair[0].min_score {
            c.issue(
                format!("{key}.groups[{}].min_score", i + 1),
                format!(
                    "min_score must be strictly descending: `{}` ({}) is not below `{}` ({})",
                    pair[1].name, pair[1].min_score, pair[0].name, pair[0].min_score
                ),
            );
        }
    }
    let last = groups.last().expect("groups is not empty");
    if last.min_score > BigDecimal::zero() {
        c.issue(
            format!("{key}.groups[{}].min_score", groups.len() - 1),
            format!(
                "the last group's min_score must be 0 or less so that every active user gets a group (found {})",
                last.min_score
            ),
        );
    }
    for (i, g) in groups.iter().enumerate() {
        if g.name.trim().is_empty() || !names.insert(g.name.as_str()) {
            c.issue(
                format!("{key}.groups[{i}].name"),
                format!(
                    "group name `{}` is empty or used twice (the inactive group is `{inactive}`)",
                    g.name
                ),
            );
        }
    }
}
