//! The built-in `top_rewarded` report: the users who took the most rewards over the report's
//! days, with their group, claims, actions and rewards per action. Users stream by in the merge
//! of the days' runs, and a heap keeps the best `limit`: memory does not grow with users.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use bigdecimal::{BigDecimal, Zero};
use chrono::NaiveDate;

use crate::exact::Exact;
use crate::segment::{self, Scored, Segment};
use crate::store::{Store, StoreError};
use crate::value::{Value, div_half_even, largest_scale};

use super::segment_rewards::Rewarded;

/// Column names, in order.
pub const COLUMNS: [&str; 7] = [
    "user",
    "group",
    "rewards",
    "claims",
    "actions",
    "active_days",
    "rewards_per_action",
];

/// Decimals of `rewards_per_action`.
const PER_ACTION_PLACES: u32 = 8;

/// One user's line.
#[derive(Debug, PartialEq, Eq)]
struct Line {
    rewards: BigDecimal,
    user: String,
    group: String,
    claims: BigDecimal,
    actions: BigDecimal,
    active_days: i64,
}

impl Ord for Line {
    /// Better lines are greater: more rewards, then the user first in order.
    fn cmp(&self, other: &Self) -> Ordering {
        self.rewards
            .cmp(&other.rewards)
            .then_with(|| other.user.cmp(&self.user))
    }
}

impl PartialOrd for Line {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Builds the report's rows (of [`COLUMNS`]) over the days `first..=last`: the users who took the
/// most of `spec`'s rewards, `claims` the rewards rollup's count measure, the best `limit` of
/// those in `groups` (all when empty).
pub fn build(
    store: &Store,
    spec: &Rewarded,
    claims: &str,
    limit: usize,
    groups: &[String],
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<Vec<Value>>, StoreError> {
    let (seg, activity, rewards, amount) = (spec.segment, spec.activity, spec.rewards, spec.amount);
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    let mut best: BinaryHeap<Reverse<Line>> = BinaryHeap::with_capacity(limit + 1);
    let sums = [(rewards, amount), (rewards, claims)];
    segment::merge(store, seg, activity, (&days, Scored::Last), &sums, |user| {
        let Some(line) = line(seg, user) else {
            return Ok(());
        };
        if !groups.is_empty() && !groups.contains(&line.group) {
            return Ok(());
        }
        if best.len() < limit {
            best.push(Reverse(line));
        } else if best.peek().is_some_and(|Reverse(worst)| line > *worst) {
            best.pop();
            best.push(Reverse(line));
        }
        Ok(())
    })?;
    // Best first (`into_sorted_vec` of the reversed lines is ascending in them).
    let lines: Vec<Line> = best.into_sorted_vec().into_iter().map(|r| r.0).collect();
    Ok(rows(lines))
}

/// A user's line: what they took over the days, with their group on the last day; `None` for a
/// user who took nothing.
fn line(seg: &Segment, user: &segment::User) -> Option<Line> {
    let add = |values: &[Option<BigDecimal>]| {
        values
            .iter()
            .flatten()
            .fold(None, |sum: Option<BigDecimal>, v| {
                Some(sum.unwrap_or_default() + v)
            })
    };
    let taken = add(&user.sums[0])?;
    let group = user
        .members
        .last()
        .and_then(|m| m.as_ref())
        .and_then(|m| m.group)
        .map_or(seg.inactive.as_str(), |g| seg.groups[g].name.as_str());
    Some(Line {
        rewards: taken,
        user: user.name.to_string(),
        group: group.to_string(),
        claims: add(&user.sums[1]).unwrap_or_default(),
        actions: user
            .today
            .iter()
            .flatten()
            .fold(Exact::default(), |sum, t| sum.add(&t.unweighted))
            .to_big(),
        // A day counts when its actions add up to more than nothing (a rollup row whose score
        // measure is 0 or NULL is not an action).
        active_days: user
            .today
            .iter()
            .flatten()
            .filter(|t| t.unweighted > Exact::default())
            .count() as i64,
    })
}

/// The lines as rows, every amount at the largest scale among them, as the other reports show
/// money.
fn rows(lines: Vec<Line>) -> Vec<Vec<Value>> {
    let scale = largest_scale(lines.iter().map(|l| &l.rewards));
    lines
        .into_iter()
        .map(|l| {
            let per_action = if l.actions.is_zero() {
                Value::Null
            } else {
                Value::Dec(div_half_even(&l.rewards, &l.actions, PER_ACTION_PLACES))
            };
            vec![
                Value::Text(l.user),
                Value::Text(l.group),
                Value::Dec(l.rewards.with_scale(scale)),
                Value::from_decimal(l.claims.normalized()),
                Value::from_decimal(l.actions.normalized()),
                Value::Int(l.active_days),
                per_action,
            ]
        })
        .collect()
}
