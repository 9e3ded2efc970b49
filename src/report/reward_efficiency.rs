//! The built-in `reward_efficiency` report: per day and per group, how the group's rewards are
//! spread over the users who claimed them: rewards per action, the share of the top 1 % and
//! 10 % of claimers, the Gini coefficient, and the claimers who did not play that day. All
//! exact; the claimers' rewards are ranked in a temporary file ([`super::rank`]), never held.

use bigdecimal::{BigDecimal, Zero};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::cache::Days;
use super::rank::Ranker;
use super::segment_rewards::Rewarded;
use crate::exact::Exact;
use crate::segment::{self, Scored};
use crate::store::{Store, StoreError};
use crate::value::{Value, at_scale, decimal_text, div_half_even, largest_scale, share};

/// Column names, in order.
pub const COLUMNS: [&str; 10] = [
    "day",
    "segment",
    "claimers",
    "rewards",
    "actions",
    "rewards_per_action",
    "top1_share",
    "top10_share",
    "gini",
    "claimers_without_actions",
];

/// What the chart reads of one line.
#[derive(Debug, Clone, PartialEq)]
pub struct Spread {
    /// The day.
    pub day: NaiveDate,
    /// The group.
    pub group: String,
    /// The top 10 %'s share, when the group has rewards.
    pub top10_share: Option<BigDecimal>,
    /// The Gini coefficient, when it has one.
    pub gini: Option<BigDecimal>,
}

/// One day's line of one group: what is added up as users stream by, then what the ranking
/// gives.
/// Kept in the store with its day's others (decimals as text, exact).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
struct Line {
    claimers: i64,
    #[serde(with = "decimal_text")]
    rewards: BigDecimal,
    #[serde(with = "decimal_text")]
    actions: BigDecimal,
    without_actions: i64,
    #[serde(with = "decimal_text")]
    top1: BigDecimal,
    #[serde(with = "decimal_text")]
    top10: BigDecimal,
    /// `Σ i·x(i)` over the claimers' rewards in ascending order.
    #[serde(with = "decimal_text")]
    ranked: BigDecimal,
}

/// The report's table for the days of `range`.
pub(super) fn table(
    inputs: super::Inputs<'_>,
    store: &Store,
    (segment, rewards, amount): (&str, &str, &str),
    (first, last): (NaiveDate, NaiveDate),
) -> Result<super::Table, StoreError> {
    let spec = Rewarded::new(inputs, segment, rewards, amount);
    let (rows, spreads) = build(store, &spec, first, last)?;
    let columns = COLUMNS.map(String::from).to_vec();
    Ok((columns, rows, super::Body::RewardEfficiency(spreads)))
}

/// Builds the rows for the days `first..=last` and what the chart draws. The lines of a day
/// whose inputs are unchanged since an earlier run are read from the store.
pub fn build(
    store: &Store,
    spec: &Rewarded,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<(Vec<Vec<Value>>, Vec<Spread>), StoreError> {
    let key = format!(
        "reward_efficiency:{}:{}:{}",
        spec.segment.name, spec.rewards.name, spec.amount
    );
    let version = |day| Ok(format!("{FORMAT};{}", spec.version(store, day)?));
    let mut days = Days::read(store, key, (first, last), version, |_, lines| Some(lines))?;
    for pass in days.todo().chunks(segment::PASS_DAYS) {
        for (day, lines) in pass.iter().zip(compute(store, spec, pass)?) {
            days.keep(*day, lines)?;
        }
    }
    let by_day: Vec<(NaiveDate, Vec<Line>)> = days.into_lines().collect();
    let names = spec.segment.names();
    let scale = largest_scale(
        by_day
            .iter()
            .flat_map(|(_, lines)| lines)
            .map(|l| &l.rewards),
    );
    let mut rows = Vec::new();
    let mut spreads = Vec::new();
    for (day, lines) in &by_day {
        for (name, l) in names.iter().zip(lines) {
            let (top1, top10, gini) = l.spread();
            spreads.push(Spread {
                day: *day,
                group: name.to_string(),
                top10_share: top10.clone(),
                gini: gini.clone(),
            });
            let or_null = |v: Option<BigDecimal>| v.map_or(Value::Null, Value::Dec);
            rows.push(vec![
                Value::Text(day.to_string()),
                Value::Text(name.to_string()),
                Value::Int(l.claimers),
                Value::Dec(at_scale(&l.rewards, scale)),
                Value::from_decimal(l.actions.normalized()),
                or_null((!l.actions.is_zero()).then(|| div_half_even(&l.rewards, &l.actions, 8))),
                or_null(top1),
                or_null(top10),
                or_null(gini),
                Value::Int(l.without_actions),
            ]);
        }
    }
    Ok((rows, spreads))
}

impl Line {
    /// The top 1 % and 10 %'s shares and the Gini coefficient, each `None` when undefined.
    fn spread(&self) -> (Option<BigDecimal>, Option<BigDecimal>, Option<BigDecimal>) {
        if self.rewards.is_zero() {
            return (None, None, None);
        }
        let n = BigDecimal::from(self.claimers);
        // (2 Σ i·x(i)) / (n Σ x) − (n + 1) / n = (2 Σ i·x(i) − (n + 1) Σ x) / (n Σ x).
        let numerator =
            &self.ranked * BigDecimal::from(2) - (&n + BigDecimal::from(1)) * &self.rewards;
        let gini = div_half_even(&numerator, &(&n * &self.rewards), 3);
        (
            Some(share(&self.top1, &self.rewards)),
            Some(share(&self.top10, &self.rewards)),
            Some(gini),
        )
    }
}

/// The lines of each day of one pass: the groups in config order, then the inactive group.
fn compute(
    store: &Store,
    spec: &Rewarded,
    days: &[NaiveDate],
) -> Result<Vec<Vec<Line>>, StoreError> {
    let groups = spec.segment.groups.len() + 1;
    let mut lines: Vec<Vec<Line>> = vec![vec![Line::default(); groups]; days.len()];
    let mut ranker = Ranker::new(&format!("the rewards of segment `{}`", spec.segment.name))?;
    let sums = [(spec.rewards, spec.amount)];
    segment::merge(
        store,
        spec.segment,
        spec.activity,
        (days, Scored::Every),
        &sums,
        |user| {
            for (j, day) in lines.iter_mut().enumerate() {
                let reward = user.sums[0][j].as_ref();
                let group = match &user.members[j] {
                    Some(m) => match m.group {
                        Some(g) => g,
                        None => continue,
                    },
                    None if reward.is_some() => groups - 1,
                    None => continue,
                };
                let line = &mut day[group];
                let today = user.today[j].as_ref().map(|t| &t.unweighted);
                if let Some(t) = today {
                    line.actions += t.to_big();
                }
                let Some(r) = reward else { continue };
                line.claimers += 1;
                line.rewards += r;
                if today.is_none_or(|t| *t == Exact::default()) {
                    line.without_actions += 1;
                }
                ranker.push((j * groups + group) as i64, r)?;
            }
            Ok(())
        },
    )?;
    for (j, day) in lines.iter_mut().enumerate() {
        for (g, line) in day.iter_mut().enumerate() {
            let n = line.claimers;
            // The top shares: ceil(n × p) claimers, the largest rewards (ties do not change
            // the sum).
            let (k1, k10) = ((n + 99) / 100, (n + 9) / 10);
            let (mut top1, mut top10, mut ranked) =
                (BigDecimal::zero(), BigDecimal::zero(), BigDecimal::zero());
            ranker.ascending((j * groups + g) as i64, |i, x| {
                ranked += &x * BigDecimal::from(i);
                if i > n - k10 {
                    top10 += &x;
                }
                if i > n - k1 {
                    top1 += &x;
                }
                true
            })?;
            (line.top1, line.top10, line.ranked) = (top1, top10, ranked);
        }
    }
    Ok(lines)
}

/// The layout of cached lines.
const FORMAT: &str = "efficiency2";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::cache::{decode, encode};
    use crate::value::parse_decimal;

    fn line(values: &[i64]) -> Line {
        let mut sorted = values.to_vec();
        sorted.sort();
        let n = sorted.len() as i64;
        let sum: i64 = sorted.iter().sum();
        let ranked: i64 = sorted
            .iter()
            .enumerate()
            .map(|(i, x)| (i as i64 + 1) * x)
            .sum();
        let top = |k: i64| sorted.iter().rev().take(k as usize).sum::<i64>();
        Line {
            claimers: n,
            rewards: sum.into(),
            top1: top((n + 99) / 100).into(),
            top10: top((n + 9) / 10).into(),
            ranked: ranked.into(),
            ..Line::default()
        }
    }

    #[test]
    fn equal_rewards_have_no_inequality_and_one_taker_has_all() {
        let d = |s: &str| Some(parse_decimal(s).unwrap());
        assert_eq!(
            line(&[5, 5, 5, 5]).spread(),
            (d("25.0"), d("25.0"), d("0.000"))
        );
        // One of four takes everything: G = (2·4·12 − 5·12) / (4·12) = 0.75.
        assert_eq!(
            line(&[0, 0, 0, 12]).spread(),
            (d("100.0"), d("100.0"), d("0.750"))
        );
        assert_eq!(line(&[7]).spread(), (d("100.0"), d("100.0"), d("0.000")));
        assert_eq!(line(&[]).spread(), (None, None, None));
        let cached = line(&[1, 2, 3]);
        assert_eq!(
            decode::<Vec<Line>>(&encode(&vec![cached.clone()])),
            Some(vec![cached])
        );
    }
}
