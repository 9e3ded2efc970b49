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
    /// Per report day: the user's place under the candidate segment of [`merge_with`] (empty
    /// without one).
    pub candidate: &'a [Option<Member>],
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
    days: (&[NaiveDate], Scored),
    sums: &[(&Rollup, &str)],
    each: impl FnMut(&User) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    merge_with(store, (segment, None), rollup, days, sums, each)
}

/// [`merge`], each user also placed by `candidate` (another scoring of the same rollup and
/// measure: other weights, groups or window) on every scored day.
pub fn merge_with(
    store: &Store,
    (segment, candidate): (&Segment, Option<&Segment>),
    rollup: &Rollup,
    (days, scored): (&[NaiveDate], Scored),
    sums: &[(&Rollup, &str)],
    mut each: impl FnMut(&User) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    if days.is_empty() {
        return Ok(());
    }
    let segments: Vec<&Segment> = std::iter::once(segment).chain(candidate).collect();
    let pass = Pass::open(store, &segments, rollup, (days, scored), sums)?;
    pass.run(&mut each)
}

/// One scoring a pass places users by: the indexes of each scored report day's window among the
/// pass's activity runs, and the groups' thresholds.
struct Scoring {
    /// For each report day that is scored, its window's runs among the activity runs.
    windows: Vec<Option<Vec<usize>>>,
    /// `min_score * window` of each group.
    thresholds: Vec<Exact>,
}

impl Scoring {
    /// A user's place on each scored report day, from their partial scores of the activity
    /// runs.
    fn place(&self, activity: &[Option<UserDay>], members: &mut [Option<Member>]) {
        for (member, window) in members.iter_mut().zip(&self.windows) {
            let Some(window) = window else { continue };
            let mut weighted = Exact::default();
            let mut rows = 0u32;
            for t in window.iter().filter_map(|&i| activity[i].as_ref()) {
                weighted = weighted.add(&t.weighted);
                rows += t.rows;
            }
            *member = (rows > 0).then(|| Member {
                group: self.thresholds.iter().position(|t| weighted >= *t),
                weighted,
            });
        }
    }
}

/// The report days of one merge and the runs it reads.
struct Pass<'a> {
    days: &'a [NaiveDate],
    /// The segment's scoring, then the candidate's.
    scorings: Vec<Scoring>,
    /// For each report day, the segment's run of that day among the activity runs.
    own: Vec<usize>,
    activity: Vec<RunReader<'a>>,
    /// Per measure, per report day.
    sums: Vec<Vec<RunReader<'a>>>,
}

impl<'a> Pass<'a> {
    /// Makes sure every run of the batch is current, and opens them.
    fn open(
        store: &'a Store,
        segments: &[&Segment],
        rollup: &Rollup,
        (days, scored): (&'a [NaiveDate], Scored),
        sums: &[(&Rollup, &str)],
    ) -> Result<Pass<'a>, StoreError> {
        let is_scored = |j: usize| scored == Scored::Every || j + 1 == days.len();
        // The activity runs, each (partials name, day) once: a candidate with the segment's
        // weights reads the segment's runs.
        let mut runs: Vec<(String, NaiveDate)> = Vec::new();
        let mut index = |segment: &Segment, day: NaiveDate| -> Result<usize, StoreError> {
            let name = runs::partials_name(segment);
            if let Some(i) = runs.iter().position(|(n, d)| *n == name && *d == day) {
                return Ok(i);
            }
            runs::ensure_partials(store, segment, rollup, day)?;
            runs.push((name, day));
            Ok(runs.len() - 1)
        };
        let own = days
            .iter()
            .map(|d| index(segments[0], *d))
            .collect::<Result<_, _>>()?;
        let mut scorings = Vec::with_capacity(segments.len());
        for segment in segments {
            // Only the days of the scored days' windows are read.
            let mut windows = Vec::with_capacity(days.len());
            for (j, d) in days.iter().enumerate() {
                if !is_scored(j) {
                    windows.push(None);
                    continue;
                }
                let window = days_before(*d, segment.window_days - 1)
                    .iter_days()
                    .take_while(|x| x <= d)
                    .map(|x| index(segment, x))
                    .collect::<Result<_, _>>()?;
                windows.push(Some(window));
            }
            // `weighted / window >= min_score` is `weighted >= min_score * window`: one
            // multiplication per group instead of a division per user and day, and as exact.
            let window = BigDecimal::from(segment.window_days);
            let thresholds = segment
                .groups
                .iter()
                .map(|g| Exact::from_big(&(&g.min_score * &window)))
                .collect();
            scorings.push(Scoring {
                windows,
                thresholds,
            });
        }
        let activity = runs
            .iter()
            .map(|(name, day)| store.read_run(name, &day.to_string()))
            .collect();
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
        Ok(Pass {
            days,
            scorings,
            own,
            activity,
            sums: sum_runs,
        })
    }

    /// Merges the runs user by user.
    fn run(
        mut self,
        each: &mut impl FnMut(&User) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let n = self.days.len();
        let mut user = String::new();
        let mut activity: Vec<Option<UserDay>> = vec![None; self.activity.len()];
        let mut sums: Vec<Vec<Option<BigDecimal>>> = vec![vec![None; n]; self.sums.len()];
        let mut members: Vec<Vec<Option<Member>>> = vec![vec![None; n]; self.scorings.len()];
        let mut today: Vec<Option<UserDay>> = vec![None; n];
        while self.next_user(&mut user)? {
            self.take(&user, &mut activity, &mut sums)?;
            for (j, own) in self.own.iter().enumerate() {
                today[j] = activity[*own].clone();
            }
            for (scoring, members) in self.scorings.iter().zip(members.iter_mut()) {
                scoring.place(&activity, members);
            }
            let view = User {
                name: &user,
                days: self.days,
                members: &members[0],
                candidate: members.get(1).map_or(&[], Vec::as_slice),
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
