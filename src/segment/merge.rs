//! Scoring as a merge: the window's days are sorted runs of partial scores, read side by side
//! in user order, so each user's window sum is the sum of that user's entries across the runs,
//! and nothing is kept once the user is passed. One merge reads the runs of every day it is
//! asked about at once: callers cut long reports into passes of at most [`PASS_DAYS`] days.

use bigdecimal::BigDecimal;
use chrono::NaiveDate;

use super::Member;
use super::Segment;
use super::runs::{self, UserDay};
use crate::days::days_before;
use crate::exact::Exact;
use crate::rollup::Rollup;
use crate::store::{RunReader, Store, StoreError};

/// Most report days one merge should be asked about: it holds a chunk of each of their runs, and
/// of the runs of their windows.
pub const PASS_DAYS: usize = 31;

/// One user over the report days of one pass.
#[derive(Debug)]
pub struct User<'a> {
    /// The user.
    pub name: &'a str,
    /// The report days of this pass.
    pub days: &'a [NaiveDate],
    /// Per report day: the user's place, or `None` without a rollup row in the window (or when
    /// the day is not scored).
    pub members: &'a [Option<Member>],
    /// Per report day: the user's own partial score that day (a row that day).
    pub today: &'a [Option<UserDay>],
    /// Per measure asked for (`sums`), per report day: the user's sum, when it has one.
    pub sums: &'a [Vec<Option<BigDecimal>>],
}

/// Which report days of a pass get a place in the segment (the others carry only the user's own
/// day and sums).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scored {
    /// Every day.
    Every,
    /// The last day only: its window is summed, not every day's.
    Last,
}

/// Scores `segment` on `days` (sorted, at most a few dozen: see [`PASS_DAYS`]; all of them or
/// the last, as `scored` says) and hands each user to `each`, in user order, once. For each
/// `(rollup, measure)` of `sums`, each user also carries its per-day sum of that measure, and
/// users with such a sum but no activity come too.
pub fn merge(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    (days, scored): (&[NaiveDate], Scored),
    sums: &[(&Rollup, &str)],
    mut each: impl FnMut(&User) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    if days.is_empty() {
        return Ok(());
    }
    // `weighted / window >= min_score` is `weighted >= min_score * window`: one multiplication
    // per group instead of a division per user and day, and just as exact.
    let window = BigDecimal::from(segment.window_days);
    let thresholds: Vec<Exact> = segment
        .groups
        .iter()
        .map(|g| Exact::from_big(&(&g.min_score * &window)))
        .collect();
    let pass = Pass::open(store, segment, rollup, (days, scored), sums)?;
    pass.run(&thresholds, &mut each)
}

/// The report days of one merge and the runs it reads.
struct Pass<'a> {
    days: &'a [NaiveDate],
    /// For each report day that is scored, the indexes of its window's days among the activity
    /// days.
    windows: Vec<Option<Vec<usize>>>,
    /// For each report day, its own index among the activity days.
    own: Vec<usize>,
    activity: Vec<RunReader<'a>>,
    /// Per measure, per report day.
    sums: Vec<Vec<RunReader<'a>>>,
}

impl<'a> Pass<'a> {
    /// Makes sure every run of the batch is current, and opens them.
    fn open(
        store: &'a Store,
        segment: &Segment,
        rollup: &Rollup,
        (days, scored): (&'a [NaiveDate], Scored),
        sums: &[(&Rollup, &str)],
    ) -> Result<Pass<'a>, StoreError> {
        // Only the report days and the days of the scored days' windows are read.
        let window = |d: NaiveDate| {
            days_before(d, segment.window_days - 1)
                .iter_days()
                .take_while(move |x| *x <= d)
        };
        let is_scored = |j: usize| scored == Scored::Every || j + 1 == days.len();
        let mut activity_days: Vec<NaiveDate> = days
            .iter()
            .enumerate()
            .filter(|(j, _)| is_scored(*j))
            .flat_map(|(_, d)| window(*d))
            .chain(days.iter().copied())
            .collect();
        activity_days.sort();
        activity_days.dedup();
        let name = runs::partials_name(segment);
        let mut activity = Vec::with_capacity(activity_days.len());
        for day in &activity_days {
            runs::ensure_partials(store, segment, rollup, *day)?;
            activity.push(store.read_run(&name, &day.to_string()));
        }
        let mut sum_runs = Vec::new();
        for (rollup, measure) in sums {
            let name = runs::sums_name(rollup, measure);
            let mut readers = Vec::with_capacity(days.len());
            for day in days {
                runs::ensure_sums(store, rollup, measure, *day)?;
                readers.push(store.read_run(&name, &day.to_string()));
            }
            sum_runs.push(readers);
        }
        let index = |x: NaiveDate| activity_days.binary_search(&x).expect("collected above");
        let windows = days
            .iter()
            .enumerate()
            .map(|(j, d)| is_scored(j).then(|| window(*d).map(index).collect()))
            .collect();
        let own = days.iter().map(|d| index(*d)).collect();
        Ok(Pass {
            days,
            windows,
            own,
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
        let mut sums: Vec<Vec<Option<BigDecimal>>> = vec![vec![None; n]; self.sums.len()];
        let mut members: Vec<Option<Member>> = vec![None; n];
        let mut today: Vec<Option<UserDay>> = vec![None; n];
        while self.next_user(&mut user)? {
            self.take(&user, &mut activity, &mut sums)?;
            for (j, window) in self.windows.iter().enumerate() {
                today[j] = activity[self.own[j]].clone();
                let Some(window) = window else { continue };
                let mut weighted = Exact::default();
                let mut rows = 0u32;
                for t in window.iter().filter_map(|&i| activity[i].as_ref()) {
                    weighted = weighted.add(&t.weighted);
                    rows += t.rows;
                }
                members[j] = (rows > 0).then(|| Member {
                    group: thresholds.iter().position(|t| weighted >= *t),
                    weighted,
                });
            }
            let view = User {
                name: &user,
                days: self.days,
                members: &members,
                today: &today,
                sums: &sums,
            };
            each(&view)?;
        }
        Ok(())
    }

    /// Puts the smallest user at the head of any run into `user`; false when every run is done.
    fn next_user(&mut self, user: &mut String) -> Result<bool, StoreError> {
        for r in self
            .activity
            .iter_mut()
            .chain(self.sums.iter_mut().flatten())
        {
            r.fill()?;
        }
        let mut next: Option<&str> = None;
        for r in self.activity.iter().chain(self.sums.iter().flatten()) {
            if let Some((u, _)) = r.peek()?
                && next.is_none_or(|n| u < n)
            {
                next = Some(u);
            }
        }
        let Some(next) = next else {
            return Ok(false);
        };
        user.clear();
        user.push_str(next);
        Ok(true)
    }

    /// Takes `user`'s entries off the head of each run: partial scores into `activity`, sums
    /// into `sums` (`None` where a run has none for the user).
    fn take(
        &mut self,
        user: &str,
        activity: &mut [Option<UserDay>],
        sums: &mut [Vec<Option<BigDecimal>>],
    ) -> Result<(), StoreError> {
        let damaged = |what: &str| StoreError::Data(format!("a run of {what} is damaged"));
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
        for (slot, r) in sums
            .iter_mut()
            .flatten()
            .zip(self.sums.iter_mut().flatten())
        {
            *slot = match r.peek()? {
                Some((u, bytes)) if u == user => {
                    let s = runs::decode_sum(bytes).ok_or_else(|| damaged("sums"))?;
                    r.advance();
                    Some(s)
                }
                _ => None,
            };
        }
        Ok(())
    }
}
