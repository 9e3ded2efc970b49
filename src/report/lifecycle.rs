//! The built-in `lifecycle` report: each day's users by where they are in their life with the
//! product (new, returning, resurrecting, dormant, and rewarded without playing), with the
//! rewards each state took. A user is active on a day when the segment's score measure sums
//! above 0 that day; all sums are exact.

use bigdecimal::{BigDecimal, Zero};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::cache::Days;
use crate::days::days_before;
use crate::exact::Exact;
use crate::rollup::Rollup;
use crate::segment::{self, Scored, Segment};
use crate::store::{Store, StoreError};
use crate::value::{Value, at_scale, decimal_text, largest_scale, share};

/// The states, in the report's order.
pub const STATES: [&str; 5] = ["new", "returning", "resurrecting", "dormant", "inactive"];

/// Column names with rewards; without, the first four.
pub const COLUMNS: [&str; 7] = [
    "day", "state", "users", "actions", "rewarded", "rewards", "share",
];

/// What a lifecycle report reads.
pub struct Lives<'a> {
    /// The segment: its rollup and score measure define activity.
    pub segment: &'a Segment,
    /// Its rollup.
    pub activity: &'a Rollup,
    /// The rewards rollup and its summed measure, when the report has rewards.
    pub rewards: Option<(&'a Rollup, &'a str)>,
    /// Days in an interval: 1 or 7.
    pub interval: u32,
    /// Days of history before an interval.
    pub history: u32,
}

/// What the chart reads: each state's users on a day.
#[derive(Debug, Clone, PartialEq)]
pub struct Count {
    /// The day.
    pub day: NaiveDate,
    /// The state.
    pub state: String,
    /// Its users.
    pub users: i64,
}

/// A built report: its columns, its rows, and each state's users per day.
pub type Built = (Vec<String>, Vec<Vec<Value>>, Vec<Count>);

/// Lines read back, when each names a state this tally knows.
fn settle(_day: NaiveDate, lines: Vec<Line>) -> Option<Vec<Line>> {
    lines
        .iter()
        .all(|l| l.state < STATES.len())
        .then_some(lines)
}

/// One day's line of one state; kept in the store with its day's others (decimals as text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Line {
    /// Index into [`STATES`].
    state: usize,
    users: i64,
    #[serde(with = "decimal_text")]
    actions: BigDecimal,
    rewarded: i64,
    #[serde(with = "decimal_text")]
    rewards: BigDecimal,
}

impl<'a> Lives<'a> {
    /// Resolves names (checked by the config) to their definitions.
    pub fn new(
        inputs: super::Inputs<'a>,
        segment: &str,
        rewards: &'a Option<(String, String)>,
        (interval, history): (u32, u32),
    ) -> Lives<'a> {
        let segment = &inputs.segments[segment];
        Lives {
            segment,
            activity: &inputs.rollups[&segment.rollup],
            rewards: rewards
                .as_ref()
                .map(|(r, a)| (&inputs.rollups[r], a.as_str())),
            interval,
            history,
        }
    }
}

impl Lives<'_> {
    /// Days from the first day the report's first day reads (its history) to the last.
    fn span(&self, first: NaiveDate, last: NaiveDate) -> Vec<NaiveDate> {
        let from = days_before(first, self.interval - 1 + self.history);
        from.iter_days().take_while(|d| *d <= last).collect()
    }

    fn cache_key(&self) -> String {
        let rewards = self
            .rewards
            .map_or(String::new(), |(r, a)| format!(":{}:{a}", r.name));
        format!(
            "lifecycle:{}:{}d:{}d{rewards}",
            self.segment.name, self.interval, self.history
        )
    }

    /// Everything a day's lines are computed from.
    fn version(&self, store: &Store, day: NaiveDate) -> Result<String, StoreError> {
        let d = day.to_string();
        let from = days_before(day, self.interval - 1 + self.history).to_string();
        let rewards = match self.rewards {
            Some((r, amount)) => format!(
                "{}:{amount}@{}",
                r.fingerprint(),
                store.slices_version(
                    &r.name,
                    &days_before(day, self.interval - 1).to_string(),
                    &d
                )?
            ),
            None => String::new(),
        };
        Ok(format!(
            "{FORMAT};score={};interval={};history={};activity={}@{};rewards={rewards}",
            self.segment.score,
            self.interval,
            self.history,
            self.activity.fingerprint(),
            store.slices_version(&self.activity.name, &from, &d)?,
        ))
    }
}

/// The layout of cached lines.
const FORMAT: &str = "lifecycle2";

/// The report's table for the days of `range`.
pub(super) fn table(
    inputs: super::Inputs<'_>,
    store: &Store,
    (segment, rewards): (&str, &Option<(String, String)>),
    days: (u32, u32),
    (first, last): (NaiveDate, NaiveDate),
) -> Result<super::Table, StoreError> {
    let lives = Lives::new(inputs, segment, rewards, days);
    let (columns, rows, counts) = build(store, &lives, first, last)?;
    Ok((columns, rows, super::Body::Lifecycle(counts)))
}

/// Builds the rows for the days `first..=last` (and what the chart draws). The lines of a day
/// whose inputs are unchanged since an earlier run are read from the store.
pub fn build(
    store: &Store,
    spec: &Lives,
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
    if let (Some(from), Some(to)) = (todo.first(), todo.last()) {
        let computed = compute(store, spec, *from, *to)?;
        for (day, lines) in computed.into_iter().filter(|(d, _)| todo.contains(d)) {
            days.keep(day, lines)?;
        }
    }
    let by_day: Vec<(NaiveDate, Vec<Line>)> = days.into_lines().collect();
    let with_rewards = spec.rewards.is_some();
    let scale = largest_scale(
        by_day
            .iter()
            .flat_map(|(_, lines)| lines)
            .map(|l| &l.rewards),
    );
    let mut rows = Vec::new();
    let mut counts = Vec::new();
    for (day, lines) in &by_day {
        let total: BigDecimal = lines.iter().map(|l| &l.rewards).sum();
        for l in lines {
            counts.push(Count {
                day: *day,
                state: STATES[l.state].to_string(),
                users: l.users,
            });
            let mut row = vec![
                Value::Text(day.to_string()),
                Value::Text(STATES[l.state].to_string()),
                Value::Int(l.users),
                Value::from_decimal(l.actions.normalized()),
            ];
            if with_rewards {
                row.extend([
                    Value::Int(l.rewarded),
                    Value::Dec(at_scale(&l.rewards, scale)),
                    Value::Dec(share(&l.rewards, &total)),
                ]);
            }
            rows.push(row);
        }
    }
    let n = if with_rewards { 7 } else { 4 };
    let columns = COLUMNS[..n].iter().map(|c| c.to_string()).collect();
    Ok((columns, rows, counts))
}

/// Each day's lines from `first` to `last`, in one merge over the days they read.
fn compute(
    store: &Store,
    spec: &Lives,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<(NaiveDate, Vec<Line>)>, StoreError> {
    let span = spec.span(first, last);
    let report_from = span.len() - (last - first).num_days() as usize - 1;
    let states = if spec.rewards.is_some() { 5 } else { 4 };
    let zero = || Line {
        state: 0,
        users: 0,
        actions: BigDecimal::zero(),
        rewarded: 0,
        rewards: BigDecimal::zero(),
    };
    let mut tallies: Vec<Vec<Line>> = (report_from..span.len())
        .map(|_| (0..states).map(|s| Line { state: s, ..zero() }).collect())
        .collect();
    let sums: Vec<(&Rollup, &str)> = spec.rewards.into_iter().collect();
    let (i, h) = (spec.interval as usize, spec.history as usize);
    segment::merge(
        store,
        spec.segment,
        spec.activity,
        (&span, Scored::Last),
        &sums,
        |user| {
            let active: Vec<bool> = user
                .today
                .iter()
                .map(|t| t.as_ref().is_some_and(|t| t.unweighted > Exact::default()))
                .collect();
            let any = |from: usize, to: usize| active[from..=to].iter().any(|a| *a);
            for (k, tally) in tallies.iter_mut().enumerate() {
                let j = report_from + k;
                let in_i = any(j + 1 - i, j);
                let in_p = any(j + 1 - 2 * i, j - i);
                let in_h = any(j + 1 - i - h, j - i);
                let reward = user.sums.first().and_then(|s| {
                    s[j + 1 - i..=j]
                        .iter()
                        .flatten()
                        .fold(None, |a: Option<BigDecimal>, r| {
                            Some(a.unwrap_or_default() + r)
                        })
                });
                let state = match (in_i, in_p, in_h) {
                    (true, _, false) => 0,
                    (true, true, _) => 1,
                    (true, false, true) => 2,
                    (false, true, _) => 3,
                    (false, false, _) if reward.is_some() && states == 5 => 4,
                    _ => continue,
                };
                let line = &mut tally[state];
                line.users += 1;
                for t in user.today[j + 1 - i..=j].iter().flatten() {
                    line.actions += t.unweighted.to_big();
                }
                if let Some(r) = reward {
                    line.rewarded += 1;
                    line.rewards += r;
                }
            }
            Ok(())
        },
    )?;
    Ok(span[report_from..].iter().copied().zip(tallies).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::cache::{decode, encode};
    use crate::value::parse_decimal;

    #[test]
    fn kept_lines_read_back_exactly_and_an_unknown_state_is_refused() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 3).unwrap();
        let line = Line {
            state: 4,
            users: 2,
            actions: parse_decimal("12.50").unwrap(),
            rewarded: 1,
            rewards: parse_decimal("123456789012.123456789012345678").unwrap(),
        };
        let text = encode(&vec![line.clone()]);
        assert_eq!(
            decode(&text).and_then(|l| settle(day, l)),
            Some(vec![line.clone()])
        );
        let unknown = encode(&vec![Line { state: 9, ..line }]);
        assert_eq!(decode(&unknown).and_then(|l| settle(day, l)), None);
    }
}
