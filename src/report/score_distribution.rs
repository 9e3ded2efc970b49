//! The built-in `score_distribution` report: per day, the percentiles of the segment's scores
//! and how many users reach each group, to see where a threshold would fall. Scores are ranked
//! exactly in a temporary file ([`super::rank`]), never in memory.

use std::collections::HashMap;

use bigdecimal::BigDecimal;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::cache::Days;
use super::rank::Ranker;
use crate::days::days_before;
use crate::rollup::Rollup;
use crate::segment::{self, Scored, Segment};
use crate::store::{Store, StoreError};
use crate::value::{Value, decimal_texts, div_half_even};

/// The percentiles, in order.
pub const PERCENTILES: [u32; 6] = [10, 25, 50, 75, 90, 99];

/// Column names: `day, users, p10, ..., p99, max`, then `at_least_<group>` per group (the
/// segment's groups, highest first).
pub fn columns(groups: &[String]) -> Vec<String> {
    ["day", "users"]
        .into_iter()
        .map(String::from)
        .chain(PERCENTILES.iter().map(|p| format!("p{p}")))
        .chain(["max".to_string()])
        .chain(groups.iter().map(|g| format!("at_least_{g}")))
        .collect()
}

/// The report's table for the days of `range`.
pub(super) fn table(
    inputs: super::Inputs<'_>,
    store: &Store,
    (segment, groups): (&str, &[String]),
    (first, last): (NaiveDate, NaiveDate),
) -> Result<super::Table, StoreError> {
    let seg = &inputs.segments[segment];
    let rollup = &inputs.rollups[&seg.rollup];
    let (rows, histograms) = build(store, seg, rollup, first, last)?;
    let body = super::Body::ScoreDistribution {
        histograms,
        thresholds: thresholds(seg),
    };
    Ok((columns(groups), rows, body))
}

/// Each group's name and `min_score` (for the chart's lines).
fn thresholds(segment: &Segment) -> Vec<(String, f64)> {
    segment
        .groups
        .iter()
        .map(|g| {
            let min = bigdecimal::ToPrimitive::to_f64(&g.min_score).unwrap_or(0.0);
            (g.name.clone(), min)
        })
        .collect()
}

/// Histogram bins per power of ten (the chart's log scale).
pub const BINS_PER_DECADE: i32 = 5;

/// One day's scores as the chart draws them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// The day.
    #[serde(skip)]
    pub day: NaiveDate,
    /// Users with a score of 0 or less (not on a log scale).
    pub zero_or_less: i64,
    /// `(bin, users)` for positive scores: bin `b` holds scores in
    /// `[10^(b / BINS_PER_DECADE), 10^((b + 1) / BINS_PER_DECADE))`.
    pub bins: Vec<(i32, i64)>,
}

/// Builds the rows and the histograms for the days `first..=last`. The lines of a day whose
/// inputs are unchanged since an earlier run are read from the store.
pub fn build(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<(Vec<Vec<Value>>, Vec<Histogram>), StoreError> {
    let mut days = Days::read(
        store,
        format!("score_distribution:{}", segment.name),
        (first, last),
        |day| version(store, segment, rollup, day),
        settle,
    )?;
    for pass in days.todo().chunks(segment::PASS_DAYS) {
        for day in rank(store, segment, rollup, pass)? {
            days.keep(day.day, day)?;
        }
    }
    let days: Vec<Day> = days.into_lines().map(|(_, d)| d).collect();
    let rows = days.iter().map(|d| d.row(segment)).collect();
    let histograms = days.into_iter().map(|d| d.histogram).collect();
    Ok((rows, histograms))
}

/// Everything a day's line is computed from.
fn version(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    day: NaiveDate,
) -> Result<String, StoreError> {
    let window_start = days_before(day, segment.window_days - 1).to_string();
    Ok(format!(
        "{FORMAT};segment={};activity={}@{}",
        super::revise::segment_definition(segment),
        rollup.fingerprint(),
        store.slices_version(&rollup.name, &window_start, &day.to_string())?,
    ))
}

/// The layout of cached lines.
const FORMAT: &str = "scores2";

/// One day's line: the users, the weighted sums (`score × window`, exact) at the percentiles and
/// the highest, the users at or above each group's threshold, and the histogram; kept in the
/// store (decimals as text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Day {
    #[serde(skip)]
    day: NaiveDate,
    users: i64,
    /// The percentiles' weighted sums, then the highest; empty without users.
    #[serde(with = "decimal_texts")]
    scores: Vec<BigDecimal>,
    at_least: Vec<i64>,
    histogram: Histogram,
}

/// A day read back, given its day.
fn settle(day: NaiveDate, mut kept: Day) -> Option<Day> {
    (kept.day, kept.histogram.day) = (day, day);
    Some(kept)
}

impl Day {
    fn row(&self, segment: &Segment) -> Vec<Value> {
        let mut row = vec![Value::Text(self.day.to_string()), Value::Int(self.users)];
        // The score, `weighted / window`, rounded once, half-even, to 2 places.
        let window = BigDecimal::from(segment.window_days);
        let shown = |w: &BigDecimal| Value::Dec(div_half_even(w, &window, 2));
        if self.scores.is_empty() {
            row.extend((0..=PERCENTILES.len()).map(|_| Value::Null));
        } else {
            row.extend(self.scores.iter().map(shown));
        }
        row.extend(
            (0..segment.groups.len())
                .map(|g| Value::Int(self.at_least.get(g).copied().unwrap_or(0))),
        );
        row
    }
}

/// The most distinct scores kept in memory, over the days of a pass: past it, the scores are
/// ranked in a temporary file instead (a score measure with many decimals).
const MAX_DISTINCT: usize = 100_000;

/// What one merge over a pass's days adds up.
struct Tally {
    users: Vec<i64>,
    /// Per day, per group: the members placed in it.
    counts: Vec<Vec<i64>>,
    histograms: Vec<std::collections::BTreeMap<i32, i64>>,
    zero_or_less: Vec<i64>,
    /// Per day, each distinct weighted sum and its users, while there are few of them.
    distinct: Option<Vec<HashMap<BigDecimal, i64>>>,
    kept: usize,
}

impl Tally {
    fn add(&mut self, j: usize, member: &segment::Member, window: f64) {
        self.users[j] += 1;
        if let Some(g) = member.group {
            self.counts[j][g] += 1;
        }
        // The histogram is a picture: f64 is fine there.
        let score = member.weighted.to_f64() / window;
        if score > 0.0 {
            let bin = (score.log10() * f64::from(BINS_PER_DECADE)).floor() as i32;
            *self.histograms[j].entry(bin).or_default() += 1;
        } else {
            self.zero_or_less[j] += 1;
        }
        let Some(maps) = &mut self.distinct else {
            return;
        };
        let count = maps[j]
            .entry(member.weighted.to_big().normalized())
            .or_insert(0);
        if *count == 0 {
            self.kept += 1;
        }
        *count += 1;
        if self.kept > MAX_DISTINCT {
            self.distinct = None;
        }
    }
}

/// The ranks a day of `n` users is read at: the nearest rank of each percentile (the
/// `ceil(p × n / 100)`-th smallest), then the highest.
fn ranks(n: i64) -> Vec<i64> {
    let mut wanted: Vec<i64> = PERCENTILES
        .iter()
        .map(|p| ((i64::from(*p) * n + 99) / 100).max(1))
        .collect();
    wanted.push(n);
    wanted
}

/// Scores `days` (one merge pass) and reads each day's scores at its ranks: from the distinct
/// scores and their counts when there are few (whole numbers of actions have few), else ranked
/// in a temporary file in a second pass, never in memory.
fn rank(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    days: &[NaiveDate],
) -> Result<Vec<Day>, StoreError> {
    let n = days.len();
    let mut tally = Tally {
        users: vec![0; n],
        counts: vec![vec![0; segment.groups.len()]; n],
        histograms: vec![Default::default(); n],
        zero_or_less: vec![0; n],
        distinct: Some(vec![HashMap::new(); n]),
        kept: 0,
    };
    let window = f64::from(segment.window_days);
    segment::merge(store, segment, rollup, (days, Scored::Every), &[], |user| {
        for (j, member) in user.members.iter().enumerate() {
            if let Some(member) = member {
                tally.add(j, member, window);
            }
        }
        Ok(())
    })?;
    let scores = match tally.distinct.take() {
        Some(maps) => maps
            .into_iter()
            .zip(&tally.users)
            .map(|(map, n)| at_ranks(map, &ranks(*n)))
            .collect(),
        None => ranked(store, segment, rollup, days, &tally.users)?,
    };
    let mut out = Vec::with_capacity(n);
    for (j, (day, scores)) in days.iter().zip(scores).enumerate() {
        // Cumulative from the top group down.
        let at_least = tally.counts[j]
            .iter()
            .scan(0, |sum, c| {
                *sum += c;
                Some(*sum)
            })
            .collect();
        out.push(Day {
            day: *day,
            users: tally.users[j],
            scores,
            at_least,
            histogram: Histogram {
                day: *day,
                zero_or_less: tally.zero_or_less[j],
                bins: std::mem::take(&mut tally.histograms[j])
                    .into_iter()
                    .collect(),
            },
        });
    }
    Ok(out)
}

/// The values at `wanted` ranks (ascending, from 1) of distinct values with their counts.
fn at_ranks(map: HashMap<BigDecimal, i64>, wanted: &[i64]) -> Vec<BigDecimal> {
    if map.is_empty() {
        return Vec::new();
    }
    let mut values: Vec<(BigDecimal, i64)> = map.into_iter().collect();
    values.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::with_capacity(wanted.len());
    let mut below = 0;
    let mut next = 0;
    for (value, count) in values {
        below += count;
        while next < wanted.len() && wanted[next] <= below {
            out.push(value.clone());
            next += 1;
        }
    }
    out
}

/// The values at each day's ranks, from a second merge that ranks every score in a temporary
/// file.
fn ranked(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    days: &[NaiveDate],
    users: &[i64],
) -> Result<Vec<Vec<BigDecimal>>, StoreError> {
    let mut ranker = Ranker::new(&format!("the scores of segment `{}`", segment.name))?;
    segment::merge(store, segment, rollup, (days, Scored::Every), &[], |user| {
        for (j, member) in user.members.iter().enumerate() {
            if let Some(member) = member {
                ranker.push(j as i64, &member.weighted.to_big())?;
            }
        }
        Ok(())
    })?;
    let mut out = Vec::with_capacity(days.len());
    for (j, n) in users.iter().enumerate() {
        let wanted = ranks(*n);
        let mut scores = Vec::new();
        if *n > 0 {
            let mut next = 0;
            ranker.ascending(j as i64, |rank, weighted| {
                while next < wanted.len() && wanted[next] == rank {
                    scores.push(weighted.clone());
                    next += 1;
                }
                next < wanted.len()
            })?;
        }
        out.push(scores);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::cache::{decode, encode};
    use crate::value::parse_decimal;

    #[test]
    fn a_kept_day_reads_back_exactly() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 3).unwrap();
        let kept = Day {
            day,
            users: 3,
            scores: vec![
                parse_decimal("1.50").unwrap(),
                parse_decimal("-2").unwrap(),
                parse_decimal("123456789012345678901234567890.000000000000000001").unwrap(),
            ],
            at_least: vec![1, 3],
            histogram: Histogram {
                day,
                zero_or_less: 1,
                bins: vec![(-3, 1), (7, 2)],
            },
        };
        let text = encode(&kept);
        assert_eq!(decode(&text).and_then(|d| settle(day, d)), Some(kept));
        assert_eq!(decode::<Day>("{}"), None);
    }
}
