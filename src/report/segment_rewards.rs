//! The built-in `segment_rewards` report: per day and per group, how many users, how active, how
//! many were rewarded and their share of the day's rewards. All sums are exact decimals.

use bigdecimal::{BigDecimal, Zero};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::Inputs;
use super::cache::Days;
use crate::days::days_before;
use crate::exact::Exact;
use crate::rollup::Rollup;
use crate::segment::{self, Scored, Segment};
use crate::store::{Store, StoreError};
use crate::value::{Value, at_scale, decimal_text, share};

/// Column names, in order.
pub const COLUMNS: [&str; 8] = [
    "day", "segment", "users", "active", "actions", "rewarded", "rewards", "share",
];

/// What a report of rewards by segment reads: the segment, the rollup it scores, and the rewards
/// rollup with its measure that is summed (`segment_rewards`, `top_rewarded`).
pub struct Rewarded<'a> {
    /// The segment.
    pub segment: &'a Segment,
    /// The rollup the segment scores.
    pub activity: &'a Rollup,
    /// The rewards rollup.
    pub rewards: &'a Rollup,
    /// The measure of `rewards` summed.
    pub amount: &'a str,
}

impl<'a> Rewarded<'a> {
    /// Resolves names (already checked by the config) to their definitions.
    pub fn new(inputs: Inputs<'a>, segment: &str, rewards: &str, amount: &'a str) -> Rewarded<'a> {
        let segment = &inputs.segments[segment];
        Rewarded {
            segment,
            activity: &inputs.rollups[&segment.rollup],
            rewards: &inputs.rollups[rewards],
            amount,
        }
    }
}

/// A built report: its columns, its rows, and each line's share.
pub type Built = (Vec<String>, Vec<Vec<Value>>, Vec<Share>);

/// What the chart and the Slack summary read of one line: a group's rewards and share on a day.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    /// The day.
    pub day: NaiveDate,
    /// The group.
    pub group: String,
    /// The group's rewards that day.
    pub rewards: BigDecimal,
    /// Its share of the day's rewards, in percent, rounded half-even to one decimal.
    pub share: BigDecimal,
}

/// One output row before money is given its final scale; kept in the store with its day's
/// others (decimals as text, exact).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Line {
    #[serde(skip)]
    day: NaiveDate,
    group: String,
    users: i64,
    active: i64,
    #[serde(with = "decimal_text")]
    actions: BigDecimal,
    rewarded: i64,
    #[serde(with = "decimal_text")]
    rewards: BigDecimal,
    #[serde(with = "decimal_text")]
    total: BigDecimal,
}

/// A day's lines read back, given their day.
fn settle(day: NaiveDate, (mut lines, scale): (Vec<Line>, i64)) -> Option<(Vec<Line>, i64)> {
    lines.iter_mut().for_each(|l| l.day = day);
    Some((lines, scale))
}

/// Builds the report for the days `first..=last`. The lines of a day whose inputs are unchanged
/// since a previous run (the segment, the rollups, the digests of the window's and the day's
/// slices) are read from the store; only the other days are scored.
pub fn build(
    store: &Store,
    spec: &Rewarded,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Built, StoreError> {
    let mut days = Days::read(
        store,
        spec.cache_key(),
        (first, last),
        |day| spec.version(store, day),
        settle,
    )?;
    let todo = days.todo();
    // Scored as the users stream by: the `<segment>` table is written only for SQL reports
    // that use it, and memory holds a tally per day and group, not per user.
    let mut tallies: Vec<DayTally> = todo
        .iter()
        .map(|_| DayTally::new(spec.segment.groups.len()))
        .collect();
    for (pass, tallies) in todo
        .chunks(segment::PASS_DAYS)
        .zip(tallies.chunks_mut(segment::PASS_DAYS))
    {
        let sums = [(spec.rewards, spec.amount)];
        segment::merge(
            store,
            spec.segment,
            spec.activity,
            (pass, Scored::Every),
            &sums,
            |user| {
                for (j, tally) in tallies.iter_mut().enumerate() {
                    tally.add(user, j);
                }
                Ok(())
            },
        )?;
    }
    for (day, tally) in todo.iter().zip(tallies) {
        days.keep(*day, tally.lines(spec, *day))?;
    }
    let by_day: Vec<(Vec<Line>, i64)> = days.into_lines().map(|(_, l)| l).collect();
    let amount_scale = by_day.iter().map(|(_, s)| *s).max().unwrap_or(0);
    let lines: Vec<Line> = by_day.into_iter().flat_map(|(lines, _)| lines).collect();
    let shares = lines
        .iter()
        .map(|l| Share {
            day: l.day,
            group: l.group.clone(),
            rewards: l.rewards.clone(),
            share: share(&l.rewards, &l.total),
        })
        .collect();
    let rows = lines
        .into_iter()
        .map(|l| l.into_row(amount_scale))
        .collect();
    Ok((
        COLUMNS.iter().map(|c| c.to_string()).collect(),
        rows,
        shares,
    ))
}

impl Rewarded<'_> {
    /// The cache's name for this report's lines: reports with the same inputs share them.
    fn cache_key(&self) -> String {
        format!(
            "segment_rewards:{}:{}:{}",
            self.segment.name, self.rewards.name, self.amount
        )
    }

    /// Everything the lines of `day` are computed from: the segment, both rollups, the digests
    /// of the window's and the day's slices.
    pub fn version(&self, store: &Store, day: NaiveDate) -> Result<String, StoreError> {
        let window_start = days_before(day, self.segment.window_days - 1).to_string();
        let d = day.to_string();
        let mut weights: Vec<String> = self
            .segment
            .weights
            .iter()
            .map(|(k, w)| format!("{k}={w}"))
            .collect();
        weights.sort();
        let groups: Vec<String> = self
            .segment
            .groups
            .iter()
            .map(|g| format!("{}>={}", g.name, g.min_score))
            .collect();
        Ok(format!(
            "{FORMAT};segment=by:{:?},score:{},window:{},weights:{},default:{},groups:{},inactive:{};\
             activity={}@{};rewards={}:{}@{}",
            self.segment.by,
            self.segment.score,
            self.segment.window_days,
            weights.join(","),
            self.segment.default_weight,
            groups.join(","),
            self.segment.inactive,
            self.activity.fingerprint(),
            store.slices_version(&self.activity.name, &window_start, &d)?,
            self.rewards.fingerprint(),
            self.amount,
            store.slices_version(&self.rewards.name, &d, &d)?,
        ))
    }
}

/// The layout of cached lines; a change of layout (or of how lines are computed) changes it.
const FORMAT: &str = "lines3";

/// What one day's lines add up, user by user.
struct DayTally {
    /// Per group: users, active, actions, rewarded, rewards.
    groups: Vec<(i64, i64, Exact, i64, BigDecimal)>,
    /// Users rewarded without activity in the window: count and rewards.
    inactive: (i64, BigDecimal),
    /// The day's rewards of all users.
    total: BigDecimal,
    /// The largest scale among the day's reward amounts.
    scale: i64,
}

impl DayTally {
    fn new(groups: usize) -> DayTally {
        DayTally {
            groups: vec![(0, 0, Exact::default(), 0, BigDecimal::zero()); groups],
            inactive: (0, BigDecimal::zero()),
            total: BigDecimal::zero(),
            scale: 0,
        }
    }

    /// Adds `user` on the pass's report day `j`.
    fn add(&mut self, user: &segment::User, j: usize) {
        let reward = user.sums[0][j].as_ref();
        if let Some(r) = reward {
            self.total += r;
            self.scale = self.scale.max(r.fractional_digit_count());
        }
        match &user.members[j] {
            Some(member) => {
                let Some(g) = member.group else { return };
                let (users, active, actions, rewarded, rewards) = &mut self.groups[g];
                *users += 1;
                if let Some(today) = &user.today[j] {
                    *active += 1;
                    *actions = actions.add(&today.unweighted);
                }
                if let Some(r) = reward {
                    *rewarded += 1;
                    *rewards += r;
                }
            }
            None => {
                if let Some(r) = reward {
                    self.inactive.0 += 1;
                    self.inactive.1 += r;
                }
            }
        }
    }

    /// The day's lines: one per group, then the inactive group; and the scale of its amounts.
    fn lines(self, spec: &Rewarded, day: NaiveDate) -> (Vec<Line>, i64) {
        let mut lines: Vec<Line> = spec
            .segment
            .groups
            .iter()
            .zip(self.groups)
            .map(
                |(group, (users, active, actions, rewarded, rewards))| Line {
                    day,
                    group: group.name.clone(),
                    users,
                    active,
                    actions: actions.to_big(),
                    rewarded,
                    rewards,
                    total: self.total.clone(),
                },
            )
            .collect();
        let (users, rewards) = self.inactive;
        lines.push(Line {
            day,
            group: spec.segment.inactive.clone(),
            users,
            active: 0,
            actions: BigDecimal::zero(),
            rewarded: users,
            rewards,
            total: self.total,
        });
        (lines, self.scale)
    }
}

impl Line {
    fn into_row(self, scale: i64) -> Vec<Value> {
        // Every day's amounts at the report's largest scale.
        let rewards = at_scale(&self.rewards, scale);
        vec![
            Value::Text(self.day.to_string()),
            Value::Text(self.group),
            Value::Int(self.users),
            Value::Int(self.active),
            Value::from_decimal(self.actions.normalized()),
            Value::Int(self.rewarded),
            Value::Dec(rewards),
            Value::Dec(share(&self.rewards, &self.total)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::cache::{decode, encode};
    use crate::value::parse_decimal;

    #[test]
    fn cached_lines_read_back_exactly() {
        let d = |s| parse_decimal(s).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 3).unwrap();
        let lines = vec![Line {
            day,
            group: "he\"avy".into(),
            users: 3,
            active: 2,
            actions: d("12.50"),
            rewarded: 1,
            rewards: d("0.10000000"),
            total: d("123456789012345678901234567890123456789012345678901234567890.12345678"),
        }];
        let text = encode(&(lines.clone(), 8));
        assert_eq!(decode(&text).and_then(|l| settle(day, l)), Some((lines, 8)));
        assert_eq!(decode::<(Vec<Line>, i64)>("{}"), None);
        assert_eq!(decode::<(Vec<Line>, i64)>("not json"), None);
    }
}
