//! The built-in `policy_compare` report: per day and per group, the users and the rewards under
//! the segment as it is and under a candidate policy (other weights, groups or window, and a
//! payout multiplier per group that splits the same day's pool again). All sums are exact.

use bigdecimal::{BigDecimal, Zero};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::cache::Days;
use super::spec::Policy;
use crate::days::days_before;
use crate::rollup::Rollup;
use crate::segment::{self, Scored, Segment};
use crate::store::{Store, StoreError};
use crate::value::{Value, at_scale, decimal_text, div_half_even, share};

/// Column names, in order.
pub const COLUMNS: [&str; 10] = [
    "day",
    "segment",
    "users_now",
    "users_candidate",
    "moved_in",
    "moved_out",
    "rewards_now",
    "rewards_candidate",
    "share_now",
    "share_candidate",
];

/// What a policy_compare report reads.
pub struct Compared<'a> {
    /// The segment as it is.
    pub segment: &'a Segment,
    /// The candidate policy.
    pub candidate: &'a Policy,
    /// The rollup both score.
    pub activity: &'a Rollup,
    /// The rewards rollup.
    pub rewards: &'a Rollup,
    /// The measure of `rewards` summed.
    pub amount: &'a str,
}

/// What the chart reads of one line: a group's two shares on a day.
#[derive(Debug, Clone, PartialEq)]
pub struct Shares {
    /// The day.
    pub day: NaiveDate,
    /// The group.
    pub group: String,
    /// Its share of the day's rewards now, in percent.
    pub now: BigDecimal,
    /// Its share under the candidate, in percent.
    pub candidate: BigDecimal,
}

/// One output line before money is given the report's scale; kept in the store with its day's
/// others (decimals as text, exact).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Line {
    #[serde(skip)]
    day: NaiveDate,
    group: String,
    users_now: i64,
    users_candidate: i64,
    moved_in: i64,
    moved_out: i64,
    #[serde(with = "decimal_text")]
    rewards_now: BigDecimal,
    #[serde(with = "decimal_text")]
    rewards_candidate: BigDecimal,
    #[serde(with = "decimal_text")]
    pool: BigDecimal,
}

/// A day's lines read back, given their day.
fn settle(day: NaiveDate, (mut lines, scale): (Vec<Line>, i64)) -> Option<(Vec<Line>, i64)> {
    lines.iter_mut().for_each(|l| l.day = day);
    Some((lines, scale))
}

/// The report's table for the days of `range`.
pub(super) fn table(
    inputs: super::Inputs<'_>,
    store: &Store,
    names: (&str, &str, &str),
    candidate: &Policy,
    (first, last): (NaiveDate, NaiveDate),
) -> Result<super::Table, StoreError> {
    let compared = Compared::new(inputs, names, candidate);
    let (rows, shares) = build(store, &compared, first, last)?;
    let columns = COLUMNS.map(String::from).to_vec();
    Ok((columns, rows, super::Body::PolicyCompare(shares)))
}

/// Builds the report for the days `first..=last`: the rows and each line's shares. The lines
/// of a day whose inputs are unchanged since an earlier run are read from the store.
pub fn build(
    store: &Store,
    spec: &Compared,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<(Vec<Vec<Value>>, Vec<Shares>), StoreError> {
    let mut days = Days::read(
        store,
        spec.cache_key(),
        (first, last),
        |day| spec.version(store, day),
        settle,
    )?;
    let todo = days.todo();
    let groups = Groups::new(spec.segment, &spec.candidate.segment);
    let mut tallies: Vec<DayTally> = todo.iter().map(|_| DayTally::new(&groups)).collect();
    for (pass, tallies) in todo
        .chunks(segment::PASS_DAYS)
        .zip(tallies.chunks_mut(segment::PASS_DAYS))
    {
        let sums = [(spec.rewards, spec.amount)];
        segment::merge_with(
            store,
            (spec.segment, Some(&spec.candidate.segment)),
            spec.activity,
            (pass, Scored::Every),
            &sums,
            |user| {
                for (j, tally) in tallies.iter_mut().enumerate() {
                    tally.add(&groups, user, j);
                }
                Ok(())
            },
        )?;
    }
    for (day, tally) in todo.iter().zip(tallies) {
        days.keep(*day, tally.lines(&groups, spec.candidate, *day))?;
    }
    let by_day: Vec<(Vec<Line>, i64)> = days.into_lines().map(|(_, l)| l).collect();
    let scale = by_day.iter().map(|(_, s)| *s).max().unwrap_or(0);
    let lines: Vec<Line> = by_day.into_iter().flat_map(|(lines, _)| lines).collect();
    let shares = lines
        .iter()
        .map(|l| Shares {
            day: l.day,
            group: l.group.clone(),
            now: share(&l.rewards_now, &l.pool),
            candidate: share(&l.rewards_candidate, &l.pool),
        })
        .collect();
    let rows = lines.into_iter().map(|l| l.into_row(scale)).collect();
    Ok((rows, shares))
}

impl<'a> Compared<'a> {
    /// Resolves names (checked by the config) to their definitions.
    pub fn new(
        inputs: super::Inputs<'a>,
        (segment, rewards, amount): (&str, &str, &'a str),
        candidate: &'a Policy,
    ) -> Compared<'a> {
        let segment = &inputs.segments[segment];
        Compared {
            segment,
            candidate,
            activity: &inputs.rollups[&segment.rollup],
            rewards: &inputs.rollups[rewards],
            amount,
        }
    }
}

impl Compared<'_> {
    /// The cache's name for this report's lines.
    /// The cache's name for this report's lines: one per candidate, so that two candidates (or
    /// a `tally whatif`) do not take each other's days.
    fn cache_key(&self) -> String {
        use std::hash::BuildHasher;
        let candidate = format!(
            "{};{}",
            super::revise::segment_definition(&self.candidate.segment),
            self.payout_text()
        );
        let digest =
            foldhash::quality::FixedState::with_seed(0x706f_6c69_6379).hash_one(&candidate);
        format!(
            "policy_compare:{}:{}:{}:{digest:016x}",
            self.segment.name, self.rewards.name, self.amount
        )
    }

    /// The payout as text, in group order.
    fn payout_text(&self) -> String {
        let mut payout: Vec<String> = self
            .candidate
            .payout
            .iter()
            .map(|(g, x)| format!("{g}={}", x.normalized()))
            .collect();
        payout.sort();
        payout.join(",")
    }

    /// Everything the lines of `day` are computed from.
    fn version(&self, store: &Store, day: NaiveDate) -> Result<String, StoreError> {
        let window = self
            .segment
            .window_days
            .max(self.candidate.segment.window_days);
        let window_start = days_before(day, window - 1).to_string();
        let d = day.to_string();
        // The inactive group's name is on the lines too.
        Ok(format!(
            "{FORMAT};now={};inactive={};candidate={};payout={};activity={}@{};rewards={}:{}@{}",
            super::revise::segment_definition(self.segment),
            self.segment.inactive,
            super::revise::segment_definition(&self.candidate.segment),
            self.payout_text(),
            self.activity.fingerprint(),
            store.slices_version(&self.activity.name, &window_start, &d)?,
            self.rewards.fingerprint(),
            self.amount,
            store.slices_version(&self.rewards.name, &d, &d)?,
        ))
    }
}

/// The layout of cached lines; a change of layout (or of how lines are computed) changes it.
const FORMAT: &str = "policy3";

/// The report's groups: the segment's in config order, then those only the candidate has, then
/// the inactive group; and where each side's groups are among them.
struct Groups {
    names: Vec<String>,
    /// The line of each of the segment's groups.
    now: Vec<usize>,
    /// The line of each of the candidate's groups.
    candidate: Vec<usize>,
    /// The inactive group's line (the last).
    inactive: usize,
}

impl Groups {
    fn new(now: &Segment, candidate: &Segment) -> Groups {
        let mut names: Vec<String> = now.groups.iter().map(|g| g.name.clone()).collect();
        for g in &candidate.groups {
            if !names.contains(&g.name) {
                names.push(g.name.clone());
            }
        }
        let at = |names: &[String], n: &str| names.iter().position(|x| x == n).expect("listed");
        let now_lines = now.groups.iter().map(|g| at(&names, &g.name)).collect();
        let candidate_lines = candidate
            .groups
            .iter()
            .map(|g| at(&names, &g.name))
            .collect();
        names.push(now.inactive.clone());
        Groups {
            inactive: names.len() - 1,
            names,
            now: now_lines,
            candidate: candidate_lines,
        }
    }

    /// The line of a user's place on one side: their group; the inactive group when they have
    /// no activity in the window but a reward that day; none otherwise (and for a score below
    /// every group).
    fn line(
        &self,
        member: Option<&segment::Member>,
        lines: &[usize],
        rewarded: bool,
    ) -> Option<usize> {
        match member {
            Some(m) => m.group.map(|g| lines[g]),
            None => rewarded.then_some(self.inactive),
        }
    }
}

/// What one day's lines add up, user by user.
struct DayTally {
    /// Per line: users now, users under the candidate, moved in, moved out.
    users: Vec<[i64; 4]>,
    /// Per line: the rewards of the users in it now.
    rewards_now: Vec<BigDecimal>,
    /// Per line: the rewards (as they are) of the users in it under the candidate.
    rewards_candidate: Vec<BigDecimal>,
    /// The rewards of users the candidate puts in no group (a score below every group).
    ungrouped: BigDecimal,
    /// The day's rewards of all users: the pool.
    pool: BigDecimal,
    /// The largest scale among the day's reward amounts.
    scale: i64,
}

impl DayTally {
    fn new(groups: &Groups) -> DayTally {
        let n = groups.names.len();
        DayTally {
            users: vec![[0; 4]; n],
            rewards_now: vec![BigDecimal::zero(); n],
            rewards_candidate: vec![BigDecimal::zero(); n],
            ungrouped: BigDecimal::zero(),
            pool: BigDecimal::zero(),
            scale: 0,
        }
    }

    /// Adds `user` on the pass's report day `j`.
    fn add(&mut self, groups: &Groups, user: &segment::User, j: usize) {
        let reward = user.sums[0][j].as_ref();
        if let Some(r) = reward {
            self.pool += r;
            self.scale = self.scale.max(r.fractional_digit_count());
        }
        let now = groups.line(user.members[j].as_ref(), &groups.now, reward.is_some());
        let candidate = groups.line(
            user.candidate[j].as_ref(),
            &groups.candidate,
            reward.is_some(),
        );
        if let Some(g) = now {
            self.users[g][0] += 1;
            if let Some(r) = reward {
                self.rewards_now[g] += r;
            }
        }
        match candidate {
            Some(g) => {
                self.users[g][1] += 1;
                if let Some(r) = reward {
                    self.rewards_candidate[g] += r;
                }
            }
            None => {
                if let Some(r) = reward {
                    self.ungrouped += r;
                }
            }
        }
        if now != candidate {
            if let Some(g) = candidate {
                self.users[g][2] += 1;
            }
            if let Some(g) = now {
                self.users[g][3] += 1;
            }
        }
    }

    /// The day's lines, and the scale of its amounts. The candidate pays each user
    /// `r × payout[g] × pool / Σ(r' × payout[g'])`: summed per group that is
    /// `pool × payout[g] × R[g] / W`, computed exactly and rounded once, half-even, to the
    /// day's scale. With `W` = 0 every user keeps their reward.
    fn lines(self, groups: &Groups, policy: &Policy, day: NaiveDate) -> (Vec<Line>, i64) {
        let payout: Vec<BigDecimal> = groups.names.iter().map(|g| policy.payout(g)).collect();
        let weighted: BigDecimal = self
            .rewards_candidate
            .iter()
            .zip(&payout)
            .map(|(r, x)| r * x)
            .fold(self.ungrouped.clone(), |a, b| a + b);
        let places = u32::try_from(self.scale.max(0)).unwrap_or(0);
        let lines = groups
            .names
            .iter()
            .enumerate()
            .map(|(g, name)| {
                let [users_now, users_candidate, moved_in, moved_out] = self.users[g];
                let paid = if weighted.is_zero() {
                    self.rewards_candidate[g].clone()
                } else {
                    let part = &self.pool * &payout[g] * &self.rewards_candidate[g];
                    div_half_even(&part, &weighted, places)
                };
                Line {
                    day,
                    group: name.clone(),
                    users_now,
                    users_candidate,
                    moved_in,
                    moved_out,
                    rewards_now: self.rewards_now[g].clone(),
                    rewards_candidate: paid,
                    pool: self.pool.clone(),
                }
            })
            .collect();
        (lines, self.scale)
    }
}

impl Line {
    fn into_row(self, scale: i64) -> Vec<Value> {
        // Every day's amounts at the report's largest scale.
        vec![
            Value::Text(self.day.to_string()),
            Value::Text(self.group),
            Value::Int(self.users_now),
            Value::Int(self.users_candidate),
            Value::Int(self.moved_in),
            Value::Int(self.moved_out),
            Value::Dec(at_scale(&self.rewards_now, scale)),
            Value::Dec(at_scale(&self.rewards_candidate, scale)),
            Value::Dec(share(&self.rewards_now, &self.pool)),
            Value::Dec(share(&self.rewards_candidate, &self.pool)),
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
            users_now: 3,
            users_candidate: 2,
            moved_in: 0,
            moved_out: 1,
            rewards_now: d("0.100000000000000000"),
            rewards_candidate: d("123456789012.123456789012345678"),
            pool: d("999999999999.999999999999999999"),
        }];
        let text = encode(&(lines.clone(), 18));
        assert_eq!(
            decode(&text).and_then(|l| settle(day, l)),
            Some((lines, 18))
        );
        assert_eq!(decode::<(Vec<Line>, i64)>("{}"), None);
    }
}
