//! Configs that run but give wrong numbers, found in the data the store holds: weights for
//! values the `by` dimension never takes (a typo), and a rewards rollup whose users are not the
//! activity rollup's users (a `lower()` on one side only). `tally check` prints these warnings
//! (`--strict` fails on them), and every run logs them once.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use crate::check::Issue;
use crate::config::Config;
use crate::days::days_before;
use crate::report::{Report, ReportKind, ReportSpec};
use crate::segment::{self, Seen, Segment};
use crate::store::{Store, StoreError};
use crate::value::Value;

/// Every warning about the data: unseen weights, then users that do not join. `built` are
/// reports already built for the newest day, whose rows answer without reading the store again.
pub fn data_warnings(
    config: &Config,
    store: &Store,
    built: &[Report],
) -> Result<Vec<Issue>, StoreError> {
    let mut warnings = Vec::new();
    for segment in config.segments.values() {
        warnings.extend(unseen_weights(config, store, segment)?);
    }
    // Each pair of segment and rewards rollup once, answered by a built segment_rewards report
    // of the pair when there is one.
    let mut pairs: Vec<(&str, &str, &ReportSpec)> = Vec::new();
    for spec in config.reports.values() {
        if let Some((segment, rewards)) = rewarded(spec)
            && !pairs.iter().any(|(s, r, _)| *s == segment && *r == rewards)
        {
            pairs.push((segment, rewards, spec));
        }
    }
    for (segment, rewards, spec) in pairs {
        let report = config
            .reports
            .values()
            .filter(|r| matches!(r.kind, ReportKind::SegmentRewards { .. }))
            .filter(|r| rewarded(r) == Some((segment, rewards)))
            .find_map(|r| built.iter().find(|b| b.name == r.name));
        let segment = &config.segments[segment];
        warnings.extend(users_that_do_not_join(
            config,
            store,
            (segment, rewards),
            (spec, report),
        )?);
    }
    Ok(warnings)
}

/// The segment and the rewards rollup of a report of rewards by segment.
fn rewarded(spec: &ReportSpec) -> Option<(&str, &str)> {
    match &spec.kind {
        ReportKind::SegmentRewards {
            segment, rewards, ..
        }
        | ReportKind::TopRewarded {
            segment, rewards, ..
        }
        | ReportKind::PolicyCompare {
            segment, rewards, ..
        } => Some((segment, rewards)),
        _ => None,
    }
}

/// The keys of `weights` that the `by` dimension did not take in the segment's last window of
/// synced days, each with the values seen that are closest to it.
fn unseen_weights(
    config: &Config,
    store: &Store,
    segment: &Segment,
) -> Result<Vec<Issue>, StoreError> {
    let (Some(by), false) = (&segment.by, segment.weights.is_empty()) else {
        return Ok(Vec::new());
    };
    let rollup = &config.rollups[&segment.rollup];
    let Some(last) = store.newest_day(&rollup.name)? else {
        return Ok(Vec::new());
    };
    let first = days_before(last, segment.window_days - 1);
    let mut seen = BTreeSet::new();
    for day in first.iter_days().take_while(|d| *d <= last) {
        match segment::seen_values(store, segment, rollup, day)? {
            Some(Seen::Many) => return Ok(Vec::new()),
            Some(Seen::Values(values)) => seen.extend(values),
            // Not scored yet with these slices: read the day.
            None => seen.extend(store.distinct_values(&rollup.name, by, (day, day), 1_001)?),
        }
    }
    if seen.is_empty() || seen.len() > 1_000 {
        return Ok(Vec::new());
    }
    let mut keys: Vec<&String> = segment
        .weights
        .keys()
        .filter(|k| !seen.contains(*k))
        .collect();
    keys.sort();
    Ok(keys
        .into_iter()
        .map(|key| Issue {
            key: format!("segments.{}.weights.{key}", segment.name),
            message: format!(
                "`{by}` of rollup `{}` was never `{key}` from {first} to {last} (the last {} \
                 days synced), so this weight changes no score; closest values: {}. Fix the \
                 name, or remove the weight",
                rollup.name,
                segment.window_days,
                closest(key, &seen).join(", ")
            ),
        })
        .collect())
}

/// The three values of `seen` closest to `key` (by edit distance, case ignored).
fn closest(key: &str, seen: &BTreeSet<String>) -> Vec<String> {
    let mut scored: Vec<(usize, &String)> = seen
        .iter()
        .map(|v| {
            let distance = strsim::levenshtein(&key.to_lowercase(), &v.to_lowercase());
            (distance, v)
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(3)
        .map(|(_, v)| format!("`{v}`"))
        .collect()
}

/// A segment and rewards rollup (of report `spec`) whose rewarded users, on the rewards rollup's
/// newest day, mostly do not appear in the activity rollup's window: the two `user` expressions
/// likely differ (`lower()` on one side). Shows both expressions and a few users of each side.
fn users_that_do_not_join(
    config: &Config,
    store: &Store,
    (segment, rewards): (&Segment, &str),
    (spec, built): (&ReportSpec, Option<&Report>),
) -> Result<Vec<Issue>, StoreError> {
    let rewards = &config.rollups[rewards];
    let activity = &config.rollups[&segment.rollup];
    let Some(last) = store.newest_day(&rewards.name)? else {
        return Ok(Vec::new());
    };
    let first = days_before(last, segment.window_days - 1);
    let (rewarded, joined) = match built.and_then(|r| joined_from_rows(r, segment, last)) {
        Some(counts) => counts,
        None => store.joined_users((&rewards.name, last), (&activity.name, first, last))?,
    };
    if rewarded == 0 || joined * 2 >= rewarded {
        return Ok(Vec::new());
    }
    let sample = |rollup: &str, days| -> Result<String, StoreError> {
        let users = store.some_users(rollup, days, 3)?;
        Ok(users
            .iter()
            .map(|u| format!("`{u}`"))
            .collect::<Vec<_>>()
            .join(", "))
    };
    Ok(vec![Issue {
        key: format!("reports.{}", spec.name),
        message: format!(
            "only {joined} of the {rewarded} users rewarded on {last} appear in rollup `{}` from \
             {first} to {last}: the two rollups' users may be written differently. \
             rollups.{}.user = `{}` gives {}; rollups.{}.user = `{}` gives {}. Write both the \
             same way (like lower(...) on both sides)",
            activity.name,
            rewards.name,
            rewards.user,
            sample(&rewards.name, (last, last))?,
            activity.name,
            activity.user,
            sample(&activity.name, (first, last))?,
        ),
    }])
}

/// Users rewarded on `day` and how many of them had activity, from a built segment_rewards
/// report's rows (the rewarded of every group; the segment's `inactive` group are those
/// without); `None` when the report does not hold that day.
fn joined_from_rows(report: &Report, segment: &Segment, day: NaiveDate) -> Option<(u64, u64)> {
    let column = |name: &str| report.columns.iter().position(|c| c == name);
    let (day_col, group_col, rewarded_col) =
        (column("day")?, column("segment")?, column("rewarded")?);
    let day = day.to_string();
    let mut rewarded = 0u64;
    let mut inactive = 0u64;
    let mut found = false;
    for row in &report.rows {
        if row[day_col] != Value::Text(day.clone()) {
            continue;
        }
        found = true;
        let n = match &row[rewarded_col] {
            Value::Int(n) => u64::try_from(*n).ok()?,
            _ => return None,
        };
        rewarded += n;
        if row[group_col] == Value::Text(segment.inactive.clone()) {
            inactive += n;
        }
    }
    found.then_some((rewarded, rewarded - inactive))
}
