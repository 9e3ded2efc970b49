//! One user, explained from the store (`tally user`): their group on each day, the days it
//! changed, how their score on the last day is made (per value of the segment's `by`: the count
//! in the window, the weight, the weighted count), and the rewards they took with their share of
//! each day's pool. Exact, like the reports; it reads the user's rows only.

use std::collections::BTreeMap;

use bigdecimal::{BigDecimal, Zero};
use chrono::NaiveDate;
use serde_json::{Value as Json, json};

use crate::days::days_before;
use crate::rollup::Rollup;
use crate::segment::Segment;
use crate::store::{Store, StoreError};
use crate::value::{Value, div_half_even, plain, share};

mod find;
mod text;

pub use find::{Question, Unexplained, find, segment};
pub use text::{Piece, pieces, text};

/// Where the user's rewards are read.
pub struct RewardsOf<'a> {
    /// The rewards rollup.
    pub rollup: &'a Rollup,
    /// Its summed measure.
    pub amount: &'a str,
    /// Its first `count(*)` measure (the claims), when it has one.
    pub claims: Option<&'a str>,
}

/// One part of the score: a value of `by` with its count in the window, weight and product.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The value (`(all)` without `by`).
    pub value: String,
    /// The score measure summed over the window.
    pub count: BigDecimal,
    /// Its weight.
    pub weight: BigDecimal,
    /// `count × weight`.
    pub weighted: BigDecimal,
}

/// A day of rewards.
#[derive(Debug, Clone, PartialEq)]
pub struct RewardDay {
    /// The day.
    pub day: NaiveDate,
    /// Reward rows (when the rollup counts them).
    pub claims: Option<Value>,
    /// The amount taken.
    pub amount: BigDecimal,
    /// Its share of the day's pool, in percent, half-even to 0.1.
    pub share: BigDecimal,
}

/// What `tally user` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Explained {
    /// The user.
    pub user: String,
    /// The segment.
    pub segment: String,
    /// Each day's group (`None`: not in the segment that day).
    pub groups: Vec<(NaiveDate, Option<String>)>,
    /// The score's parts on the last day, largest weighted first.
    pub parts: Vec<Part>,
    /// Their weighted sum.
    pub sum: BigDecimal,
    /// The window in days.
    pub window: u32,
    /// `sum / window`, half-even to 2 places.
    pub score: BigDecimal,
    /// The group on the last day with its `min_score`, and the next group up with its own.
    pub threshold: Option<(String, BigDecimal)>,
    /// The next group up and its `min_score`.
    pub next: Option<(String, BigDecimal)>,
    /// The days the user took rewards.
    pub rewards: Vec<RewardDay>,
}

/// Explains `user` in `segment` (scored from `activity`) over the `days` days ending with
/// `last`, with the rewards of `rewards`.
pub fn explain(
    store: &Store,
    (segment, activity): (&Segment, &Rollup),
    rewards: Option<RewardsOf>,
    user: &str,
    (last, days): (NaiveDate, u32),
) -> Result<Explained, StoreError> {
    let first = days_before(last, days.saturating_sub(1));
    let from = days_before(first, segment.window_days - 1);
    let scoring = Scoring {
        segment,
        by_day: activity_by_day(store, (segment, activity), user, (from, last))?,
    };
    let rewards = match rewards {
        Some(r) => reward_days(store, &r, user, (first, last))?,
        None => Vec::new(),
    };
    let groups = first
        .iter_days()
        .take_while(|d| *d <= last)
        .map(|day| {
            let placed = scoring.place(day);
            let name = match (placed.active, placed.group) {
                (true, Some(g)) => Some(segment.groups[g].name.clone()),
                (true, None) => None,
                (false, _) if rewards.iter().any(|r| r.day == day) => {
                    Some(segment.inactive.clone())
                }
                (false, _) => None,
            };
            (day, name)
        })
        .collect();
    let placed = scoring.place(last);
    let group_at = |g: usize| {
        let g = &segment.groups[g];
        (g.name.clone(), g.min_score.clone())
    };
    // The next group up: the one above the user's, or the lowest for a score below them all.
    let next_up = match placed.group {
        Some(g) => g.checked_sub(1),
        None => segment.groups.len().checked_sub(1),
    };
    Ok(Explained {
        user: user.to_string(),
        segment: segment.name.clone(),
        groups,
        score: div_half_even(&placed.sum, &BigDecimal::from(segment.window_days), 2),
        threshold: placed.group.map(group_at),
        next: next_up.map(group_at),
        parts: placed.parts,
        sum: placed.sum,
        window: segment.window_days,
        rewards,
    })
}

/// Per day, per value of `by`: the user's score measure, from their rollup rows of `range`.
fn activity_by_day(
    store: &Store,
    (segment, activity): (&Segment, &Rollup),
    user: &str,
    (from, last): (NaiveDate, NaiveDate),
) -> Result<BTreeMap<NaiveDate, BTreeMap<String, BigDecimal>>, StoreError> {
    let columns = [segment.by.as_deref(), Some(segment.score.as_str())];
    let range = (from.to_string(), last.to_string());
    let rows = store.user_rows(&activity.name, user, (&range.0, &range.1), &columns)?;
    let mut by_day: BTreeMap<NaiveDate, BTreeMap<String, BigDecimal>> = BTreeMap::new();
    for (day, values) in rows {
        let Ok(day) = day.parse::<NaiveDate>() else {
            continue;
        };
        let key = match &values[0] {
            Value::Null if segment.by.is_some() => "(none)".to_string(),
            Value::Null => "(all)".to_string(),
            v => v.to_key().unwrap_or_else(|| v.to_string()),
        };
        let measure = values[1].to_decimal().unwrap_or_default();
        *by_day.entry(day).or_default().entry(key).or_default() += measure;
    }
    Ok(by_day)
}

/// The user's days of activity, scored as the segment scores them.
struct Scoring<'a> {
    segment: &'a Segment,
    by_day: BTreeMap<NaiveDate, BTreeMap<String, BigDecimal>>,
}

/// The user's place on one day.
struct Placed {
    /// The parts of the score, largest weighted first.
    parts: Vec<Part>,
    /// Their weighted sum.
    sum: BigDecimal,
    /// The group's index (`None` below every group).
    group: Option<usize>,
    /// Whether the user has activity in the window.
    active: bool,
}

impl Scoring<'_> {
    /// The user's score on `day`, over the window that ends on it, in parts, and their group.
    fn place(&self, day: NaiveDate) -> Placed {
        let segment = self.segment;
        let start = days_before(day, segment.window_days - 1);
        let mut counts: BTreeMap<&str, BigDecimal> = BTreeMap::new();
        let mut active = false;
        for (_, values) in self.by_day.range(start..=day) {
            active = true;
            for (value, measure) in values {
                *counts.entry(value.as_str()).or_default() += measure;
            }
        }
        let mut parts: Vec<Part> = counts
            .into_iter()
            .map(|(value, count)| {
                let weight = segment
                    .weights
                    .get(value)
                    .unwrap_or(&segment.default_weight)
                    .clone();
                Part {
                    value: value.to_string(),
                    weighted: &count * &weight,
                    count,
                    weight,
                }
            })
            .collect();
        parts.sort_by(|a, b| b.weighted.cmp(&a.weighted).then(a.value.cmp(&b.value)));
        let sum: BigDecimal = parts.iter().map(|p| &p.weighted).sum();
        // `sum / window >= min_score`, without a division.
        let window = BigDecimal::from(segment.window_days);
        let group = segment
            .groups
            .iter()
            .position(|g| sum >= &g.min_score * &window);
        Placed {
            parts,
            sum,
            group,
            active,
        }
    }
}

/// The user's rewards per day, with the share of each day's pool.
fn reward_days(
    store: &Store,
    r: &RewardsOf,
    user: &str,
    (first, last): (NaiveDate, NaiveDate),
) -> Result<Vec<RewardDay>, StoreError> {
    let range = (first.to_string(), last.to_string());
    let rows = store.user_rows(
        &r.rollup.name,
        user,
        (&range.0, &range.1),
        &[Some(r.amount), r.claims],
    )?;
    let pools: BTreeMap<String, BigDecimal> = store
        .day_totals(&r.rollup.name, r.amount, (&range.0, &range.1))?
        .into_iter()
        .map(|(day, v)| (day, v.to_decimal().unwrap_or_default()))
        .collect();
    let mut days: BTreeMap<String, (BigDecimal, Option<Value>)> = BTreeMap::new();
    for (day, values) in rows {
        let entry = days.entry(day).or_insert((BigDecimal::zero(), None));
        entry.0 += values[0].to_decimal().unwrap_or_default();
        if r.claims.is_some() {
            let claims = entry.1.take().unwrap_or(Value::Int(0));
            entry.1 = Some(claims.add(&values[1]));
        }
    }
    Ok(days
        .into_iter()
        .filter_map(|(day, (amount, claims))| {
            let pool = pools.get(&day).cloned().unwrap_or_default();
            Some(RewardDay {
                day: day.parse().ok()?,
                claims,
                share: share(&amount, &pool),
                amount,
            })
        })
        .collect())
}

impl Explained {
    /// The days the group changed: `(day, from, to)`.
    pub fn changes(&self) -> Vec<(NaiveDate, String, String)> {
        let name = |g: &Option<String>| g.clone().unwrap_or_else(|| "none".to_string());
        self.groups
            .windows(2)
            .filter(|w| w[0].1 != w[1].1)
            .map(|w| (w[1].0, name(&w[0].1), name(&w[1].1)))
            .collect()
    }

    /// As JSON, numbers as exact text.
    pub fn json(&self) -> Json {
        json!({
            "user": self.user,
            "segment": self.segment,
            "groups": self.groups.iter().map(|(d, g)| json!({"day": d.to_string(), "group": g})).collect::<Vec<_>>(),
            "changes": self.changes().iter().map(|(d, f, t)| json!({"day": d.to_string(), "from": f, "to": t})).collect::<Vec<_>>(),
            "score": {
                "parts": self.parts.iter().map(|p| json!({
                    "value": p.value,
                    "count": plain(&p.count.normalized()),
                    "weight": plain(&p.weight.normalized()),
                    "weighted": plain(&p.weighted.normalized()),
                })).collect::<Vec<_>>(),
                "sum": plain(&self.sum.normalized()),
                "window": self.window,
                "score": plain(&self.score),
                "group": self.threshold.as_ref().map(|(g, m)| json!({"name": g, "min_score": plain(&m.normalized())})),
                "next": self.next.as_ref().map(|(g, m)| json!({"name": g, "min_score": plain(&m.normalized())})),
            },
            "rewards": self.rewards.iter().map(|r| json!({
                "day": r.day.to_string(),
                "claims": r.claims.as_ref().map(Value::to_string),
                "amount": plain(&r.amount),
                "share": plain(&r.share),
            })).collect::<Vec<_>>(),
        })
    }
}
