//! Segments: each user's weighted score over a trailing window, and the group it puts them in.
//! Scores are exact decimals; the store's `<segment>` table shows them for custom SQL.

mod daily;

use std::collections::VecDeque;
use std::sync::Arc;

use bigdecimal::BigDecimal;

use crate::exact::Exact;
use chrono::NaiveDate;
use foldhash::{HashMap, HashMapExt};

use crate::config::{Rollup, Segment, days_before};
use crate::store::{Member as Member_, Store, StoreError};
use daily::UserDay;

/// A user's place in a segment on one day.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Index into the segment's groups; `None` when the score is below every group (weights are
    /// never negative, so only when the score measure itself has negative values).
    pub group: Option<usize>,
    /// `sum(weight * score measure)` over the window; the score is this divided by the
    /// window's days ([`Member::score`]).
    pub weighted: Exact,
}

impl Member {
    /// `sum(weight * score measure) / window days`.
    pub fn score(&self, window_days: u32) -> BigDecimal {
        self.weighted.to_big() / BigDecimal::from(window_days)
    }
}

/// Members of a segment on one day, by user. User names are shared between days (one
/// allocation per user, however many days are scored).
pub type Members = HashMap<Arc<str>, Member>;

/// A segment on one day: its members, and each user's unweighted score measure on that day
/// (users with a rollup row that day).
#[derive(Debug)]
pub struct Scored<'a> {
    /// The day.
    pub day: NaiveDate,
    /// Members by user.
    pub members: Members,
    /// The day's partial scores by user: `unweighted` is its `sum(score measure)`.
    pub activity: &'a daily::Day,
}

/// Hands each day of `days` to `each`, in order, with its members (one day at a time, so
/// memory holds the window, not every day). Scores every user with an activity row in each
/// day's window `[day - window + 1, day]` and
/// puts them in the first group whose `min_score` their score reaches. Every user with a row in
/// the window is a member, so that "no activity in the window" is simply "not in the map".
///
/// Each day's per-user partials come from [`daily::Partials`] (cached in the store), and the
/// window slides over them: a day is added when it enters and subtracted (exactly, in
/// decimals) when it leaves.
pub fn assign(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    days: &[NaiveDate],
    mut each: impl FnMut(Scored) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let (Some(first_day), Some(last)) = (days.first(), days.last()) else {
        return Ok(());
    };
    let first = days_before(*first_day, segment.window_days - 1);
    let mut partials = daily::Partials::new(store, segment, rollup);
    // Only the days inside the window are held in memory.
    let mut in_window: VecDeque<daily::Day> = VecDeque::new();
    // `weighted / window >= min_score` is `weighted >= min_score * window`: one multiplication
    // per group instead of a division per user and day, and just as exact.
    let window = BigDecimal::from(segment.window_days);
    let thresholds: Vec<Exact> = segment
        .groups
        .iter()
        .map(|g| Exact::from_big(&(&g.min_score * &window)))
        .collect();
    let mut running: HashMap<Arc<str>, UserDay> = HashMap::new();
    for day in first.iter_days().take_while(|d| d <= last) {
        let today = partials.day(day)?;
        for (user, t) in today.iter() {
            let r = running.entry(Arc::clone(user)).or_default();
            r.weighted = r.weighted.add(&t.weighted);
            r.rows += t.rows;
        }
        in_window.push_back(today);
        if in_window.len() > segment.window_days as usize {
            let leaving = in_window.pop_front().expect("longer than the window");
            for (user, t) in leaving.iter() {
                let r = running.get_mut(user).expect("added when it entered");
                r.weighted = r.weighted.sub(&t.weighted);
                r.rows -= t.rows;
            }
            running.retain(|_, r| r.rows > 0);
        }
        if days.contains(&day) {
            let members = running
                .iter()
                .map(|(user, r)| {
                    let group = thresholds.iter().position(|t| r.weighted >= *t);
                    let weighted = r.weighted.clone();
                    (Arc::clone(user), Member { group, weighted })
                })
                .collect();
            each(Scored {
                day,
                members,
                activity: in_window.back().expect("today was just added"),
            })?;
        }
    }
    Ok(())
}

/// Computes the segment for each day and stores it in the `<segment>` table
/// (`day, user, score, segment`), replacing those days. Returns the members by day.
pub fn materialize(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    days: &[NaiveDate],
) -> Result<Vec<(NaiveDate, Members)>, StoreError> {
    let mut by_day: Vec<(NaiveDate, Members)> = Vec::with_capacity(days.len());
    assign(store, segment, rollup, days, |s| {
        by_day.push((s.day, s.members));
        Ok(())
    })?;
    let rows = by_day.iter().map(|(day, members)| {
        let members = members
            .iter()
            .filter_map(|(user, m)| {
                m.group.map(|g| Member_ {
                    user,
                    // REAL so that `score > 10` works in SQL; groups were assigned on exact
                    // values.
                    score: bigdecimal::ToPrimitive::to_f64(&m.score(segment.window_days))
                        .unwrap_or_default(),
                    group: &segment.groups[g].name,
                })
            })
            .collect();
        (day.to_string(), members)
    });
    store.write_segment(&segment.name, rows)?;
    Ok(by_day)
}
