//! Segments: each user's weighted score over a trailing window, and the group it puts them in
//! (`[segments.NAME]`, [`spec`]). Scores are exact decimals; the store's `<segment>` table shows
//! them for custom SQL.
//!
//! Scoring never holds users in memory: each day's partial scores are a sorted run in the store
//! ([`runs`]), and the days of a window are merged user by user ([`merge`]), so memory grows
//! with the number of days, not the number of users.

mod merge;
mod runs;
pub mod spec;

use bigdecimal::BigDecimal;
use chrono::NaiveDate;

use crate::exact::Exact;
use crate::rollup::Rollup;
use crate::store::{Store, StoreError};
pub use merge::{PASS_DAYS, Scored, User, merge, merge_with};
pub use runs::{Seen, UserDay, seen_values};
pub use spec::{Group, Segment, SegmentConfig};

/// A user's place in a segment on one day.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Index into the segment's groups; `None` when the score is below every group (weights are
    /// never negative, so only when the score measure itself has negative values).
    pub group: Option<usize>,
    /// `sum(weight * score measure)` over the window; the score is this divided by the
    /// window's days ([`Member::score`]).
    pub weighted: Exact,
}

impl Member {
    /// `sum(weight * score measure) / window days`.
    pub fn score(&self, window_days: u32) -> BigDecimal {
        self.weighted.to_big() / BigDecimal::from(window_days)
    }
}

/// Writes the days of `days` into the `<segment>` table whose inputs changed since they were
/// written (the rollup's slices in their window, the scoring, the groups), or that were never
/// written: a daily run writes about one new day, not the whole report's.
pub fn refresh(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    days: &[NaiveDate],
) -> Result<(), StoreError> {
    let key = format!("table:{}", segment.name);
    let there = store.segment_table_ready(&segment.name)?;
    let mut stale = Vec::new();
    for day in days {
        let version = table_version(store, segment, rollup, *day)?;
        let current = there
            && store
                .report_day(&key, &day.to_string(), &version)?
                .is_some();
        if !current {
            stale.push((*day, version));
        }
    }
    if stale.is_empty() {
        return Ok(());
    }
    let stale_days: Vec<NaiveDate> = stale.iter().map(|(d, _)| *d).collect();
    materialize(store, segment, rollup, &stale_days)?;
    for (day, version) in stale {
        store.keep_report_day(&key, &day.to_string(), &version, "")?;
    }
    Ok(())
}

/// What a day of the `<segment>` table is computed from: the rollup, the scoring, the groups and
/// the digests of the slices of the window that ends on `day`, hashed.
fn table_version(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    day: NaiveDate,
) -> Result<String, StoreError> {
    use std::hash::BuildHasher;
    let first = crate::days::days_before(day, segment.window_days - 1);
    let slices = store.slices_version(&rollup.name, &first.to_string(), &day.to_string())?;
    let mut weights: Vec<String> = segment
        .weights
        .iter()
        .map(|(k, w)| format!("{k}={w}"))
        .collect();
    weights.sort();
    let groups: Vec<String> = segment
        .groups
        .iter()
        .map(|g| format!("{}>={}", g.name, g.min_score))
        .collect();
    let text = format!(
        "{};by={:?};score={};weights={};default={};window={};groups={};{slices}",
        rollup.fingerprint(),
        segment.by,
        segment.score,
        weights.join(","),
        segment.default_weight,
        segment.window_days,
        groups.join(","),
    );
    let [a, b] = [0x7365_676d_656e_7431_u64, 0x7461_626c_6576_6572]
        .map(|seed| foldhash::quality::FixedState::with_seed(seed).hash_one(&text));
    Ok(format!("{a:016x}{b:016x}"))
}

/// Computes the segment for each day and stores it in the `<segment>` table
/// (`day, user, score, segment`), replacing those days, as the users stream by.
pub fn materialize(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    days: &[NaiveDate],
) -> Result<(), StoreError> {
    // The partial scores the merge reads are made current first: the table is written in one
    // transaction, and a run is written in one of its own.
    for day in days {
        let first = crate::days::days_before(*day, segment.window_days - 1);
        for d in first.iter_days().take_while(|d| d <= day) {
            runs::ensure_partials(store, segment, rollup, d)?;
        }
    }
    let texts: Vec<String> = days.iter().map(NaiveDate::to_string).collect();
    let mut writer = store.begin_segment(&segment.name, &texts)?;
    for pass in days.chunks(PASS_DAYS) {
        merge(store, segment, rollup, (pass, Scored::Every), &[], |u| {
            for (day, member) in u.days.iter().zip(u.members) {
                let Some((member, group)) = member.as_ref().and_then(|m| Some((m, m.group?)))
                else {
                    continue;
                };
                // REAL so that `score > 10` works in SQL, rounded to 6 decimal places; groups
                // were assigned on exact values. (No decimal division per user: this runs for
                // every member of every day written.)
                let score = member.weighted.to_f64() / f64::from(segment.window_days);
                let score = (score * 1e6).round() / 1e6;
                writer.insert(&day.to_string(), u.name, score, &segment.groups[group].name)?;
            }
            Ok(())
        })?;
    }
    writer.commit()
}
