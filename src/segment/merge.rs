//! Scoring as a merge: the window's days are sorted runs of partial scores, read side by side
//! in user order, so each user's window sum is the sum of that user's entries across the runs,
//! and nothing is kept once the user is passed. Report days go in batches of at most
//! [`BATCH_DAYS`], so a long report holds a bounded number of runs open.

use bigdecimal::BigDecimal;
use chrono::NaiveDate;

use super::Member;
use super::runs::{self, UserDay};
use crate::config::{Rollup, Segment, days_before};
use crate::exact::Exact;
use crate::store::{RunReader, Store, StoreError};

/// Most report days scored in one pass.
const BATCH_DAYS: usize = 31;

/// One user over the report days of one pass.
#[derive(Debug)]
pub struct User<'a> {
    /// The user.
    pub name: &'a str,
    /// The report days of this pass.
    pub days: &'a [NaiveDate],
    /// Per report day: the user's place, or `None` without a rollup row in the window.
    pub members: &'a [Option<Member>],
    /// Per report day: the user's own partial score that day (a row that day).
    pub today: &'a [Option<UserDay>],
    /// Per report day: the user's sum of the measure asked for (`sums`), when it has one.
    pub sums: &'a [Option<BigDecimal>],
}

/// Scores `segment` on each of `days` (sorted) and hands each user to `each`, in user order, once
/// per batch of days. With `sums = Some((rollup, measure))`, each user also carries its per-day
/// sum of that measure, and users with such a sum but no activity come too.
pub fn merge(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    days: &[NaiveDate],
    sums: Option<(&Rollup, &str)>,
    mut each: impl FnMut(&User) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    // `weighted / window >= min_score` is `weighted >= min_score * window`: one multiplication
    // per group instead of a division per user and day, and just as exact.
    let window = BigDecimal::from(segment.window_days);
    let thresholds: Vec<Exact> = segment
        .groups
        .iter()
        .map(|g| Exact::from_big(&(&g.min_score * &window)))
        .collect();
    let mut start = 0;
    while start < days.len() {
        let mut end = start + 1;
        while end < days.len()
            && end - start < BATCH_DAYS
            && (days[end] - days[start]).num_days() < BATCH_DAYS as i64
        {
            end += 1;
        }
        let pass = Pass::open(store, segment, rollup, &days[start..end], sums)?;
        pass.run(&thresholds, &mut each)?;
        start = end;
    }
    Ok(())
}

/// One batch of report days and the runs it reads.
struct Pass<'a> {
    days: &'a [NaiveDate],
    /// For each report day, the index of its own day among the activity days.
    today: Vec<usize>,
    window: usize,
    activity: Vec<RunReader<'a>>,
    sums: Vec<RunReader<'a>>,
}

impl<'a> Pass<'a> {
    /// Makes sure every run of the batch is current, and opens them.
    fn open(
        store: &'a Store,
        segment: &Segment,
        rollup: &Rollup,
        days: &'a [NaiveDate],
        sums: Option<(&Rollup, &str)>,
    ) -> Result<Pass<'a>, StoreError> {
        let first = days_before(days[0], segment.window_days - 1);
        let last = *days.last().expect("a batch has days");
        let activity_days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
        let name = runs::partials_name(segment);
        let mut activity = Vec::with_capacity(activity_days.len());
        for day in &activity_days {
            runs::ensure_partials(store, segment, rollup, *day)?;
            activity.push(store.read_run(&name, &day.to_string()));
        }
        let mut sum_runs = Vec::new();
        if let Some((rollup, measure)) = sums {
            let name = runs::sums_name(rollup, measure);
            for day in days {
                runs::ensure_sums(store, rollup, measure, *day)?;
                sum_runs.push(store.read_run(&name, &day.to_string()));
            }
        }
        let today = days
            .iter()
            .map(|d| (*d - first).num_days() as usize)
            .collect();
        Ok(Pass {
            days,
            today,
            window: segment.window_days as usize,
            activity,
            sums: sum_runs,
        })
    }

    /// Merges the runs user by user.
    fn run(
        mut self,
        thresholds: &[Exact],
        each: &mut impl FnMut(&User) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let n = self.days.len();
        let mut user = String::new();
        let mut activity: Vec<Option<UserDay>> = vec![None; self.activity.len()];
        let mut sums: Vec<Option<BigDecimal>> = vec![None; self.sums.len()];
        let mut members: Vec<Option<Member>> = vec![None; n];
        let mut today: Vec<Option<UserDay>> = vec![None; n];
        let damaged = |what: &str| StoreError::Data(format!("a run of {what} is damaged"));
        loop {
            // The smallest user at the head of any run.
            for r in self.activity.iter_mut().chain(self.sums.iter_mut()) {
                r.fill()?;
            }
            let mut next: Option<&str> = None;
            for r in self.activity.iter().chain(self.sums.iter()) {
                if let Some((u, _)) = r.peek()?
                    && next.is_none_or(|n| u < n)
                {
                    next = Some(u);
                }
            }
            let Some(next) = next else { break };
            user.clear();
            user.push_str(next);
            for (slot, r) in activity.iter_mut().zip(self.activity.iter_mut()) {
                *slot = match r.peek()? {
                    Some((u, bytes)) if u == user => {
                        let t = UserDay::decode(bytes).ok_or_else(|| damaged("partial scores"))?;
                        r.advance();
                        Some(t)
                    }
                    _ => None,
                };
            }
            for (slot, r) in sums.iter_mut().zip(self.sums.iter_mut()) {
                *slot = match r.peek()? {
                    Some((u, bytes)) if u == user => {
                        let s = runs::decode_sum(bytes).ok_or_else(|| damaged("sums"))?;
                        r.advance();
                        Some(s)
                    }
                    _ => None,
                };
            }
            for (j, &k) in self.today.iter().enumerate() {
                let mut weighted = Exact::default();
                let mut rows = 0u32;
                for t in activity[k + 1 - self.window..=k].iter().flatten() {
                    weighted = weighted.add(&t.weighted);
                    rows += t.rows;
                }
                members[j] = (rows > 0).then(|| Member {
                    group: thresholds.iter().position(|t| weighted >= *t),
                    weighted,
                });
                today[j] = activity[k].clone();
            }
            let view = User {
                name: &user,
                days: self.days,
                members: &members,
                today: &today,
                sums: if sums.is_empty() { &[] } else { &sums },
            };
            each(&view)?;
        }
        Ok(())
    }
}
