//! Segments: each user's weighted score over a trailing window, and the group it puts them in.
//! Scores are exact decimals; the store's `<segment>` table shows them for custom SQL.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::NaiveDate;
use rusqlite::types::ValueRef;
use rust_decimal::Decimal;

use crate::config::{Rollup, Segment, days_before};
use crate::store::{Store, StoreError, days_from, quote};
use crate::value::Value;

/// A user's place in a segment on one day.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Index into the segment's groups; `None` when the score is below every group (weights are
    /// never negative, so only when the score measure itself has negative values).
    pub group: Option<usize>,
    /// `sum(weight * score measure) / window days`.
    pub score: Decimal,
}

/// Members of a segment on one day, by user. User names are shared between days (one
/// allocation per user, however many days are scored).
pub type Members = HashMap<Arc<str>, Member>;

/// A user's weighted total and number of rows over the days added so far.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    weighted: Decimal,
    rows: u32,
}

/// Scores every user with an activity row in each day's window `[day - window + 1, day]` and
/// puts them in the first group whose `min_score` their score reaches. Every user with a row in
/// the window is returned, so that "no activity in the window" is simply "not in the map".
///
/// The rollup's rows are read once, in day order, and the window slides: each day is added
/// when it enters the window and subtracted (exactly, in decimals) when it leaves.
pub fn assign(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    days: &[NaiveDate],
) -> Result<Vec<(NaiveDate, Members)>, StoreError> {
    let (Some(first_day), Some(last)) = (days.first(), days.last()) else {
        return Ok(Vec::new());
    };
    let first = days_before(*first_day, segment.window_days - 1);
    let per_day = weighted_per_day(store, segment, rollup, first, *last)?;
    let window = Decimal::from(segment.window_days);
    let mut running: HashMap<Arc<str>, Tally> = HashMap::new();
    let mut out = Vec::with_capacity(days.len());
    for (i, day) in first.iter_days().take_while(|d| d <= last).enumerate() {
        for (user, t) in per_day[i].iter() {
            let r = running.entry(Arc::clone(user)).or_default();
            r.weighted += t.weighted;
            r.rows += t.rows;
        }
        if let Some(leaving) = i.checked_sub(segment.window_days as usize) {
            for (user, t) in per_day[leaving].iter() {
                let r = running.get_mut(user).expect("added when it entered");
                r.weighted -= t.weighted;
                r.rows -= t.rows;
            }
            running.retain(|_, r| r.rows > 0);
        }
        if days.contains(&day) {
            let members = running
                .iter()
                .map(|(user, r)| {
                    let score = r.weighted / window;
                    let group = segment.groups.iter().position(|g| score >= g.min_score);
                    (Arc::clone(user), Member { group, score })
                })
                .collect();
            out.push((day, members));
        }
    }
    Ok(out)
}

/// For each day of `[first, last]`, each user's `sum(weight * score measure)` and row count.
/// Each user's name is allocated once and shared by the days.
fn weighted_per_day(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<HashMap<Arc<str>, Tally>>, StoreError> {
    let by = segment
        .by
        .as_deref()
        .map(quote)
        .unwrap_or_else(|| "NULL".into());
    let sql = format!(
        "SELECT day, user, {by}, {} {} AND user IS NOT NULL",
        quote(&segment.score),
        days_from(&rollup.name)
    );
    let ctx = || format!("scoring segment `{}`", segment.name);
    let fail = |e| store.err(ctx(), e);
    let days: HashMap<String, usize> = first
        .iter_days()
        .take_while(|d| *d <= last)
        .enumerate()
        .map(|(i, d)| (d.to_string(), i))
        .collect();
    let mut per_day: Vec<HashMap<Arc<str>, Tally>> = vec![HashMap::new(); days.len()];
    let mut names: HashSet<Arc<str>> = HashSet::new();
    let mut stmt = store.conn().prepare_cached(&sql).map_err(fail)?;
    let mut rows = stmt
        .query([first.to_string(), last.to_string()])
        .map_err(fail)?;
    while let Some(row) = rows.next().map_err(fail)? {
        let day = row.get_ref(0).map_err(fail)?;
        let Some(&i) = day.as_str().ok().and_then(|d| days.get(d)) else {
            continue;
        };
        // Text and integers are read in place: this loop runs once per rollup row.
        let weight = match row.get_ref(2).map_err(fail)? {
            ValueRef::Text(t) => std::str::from_utf8(t)
                .ok()
                .and_then(|k| segment.weights.get(k)),
            ValueRef::Null => None,
            other => Value::from_sqlite(other, false)
                .to_key()
                .and_then(|k| segment.weights.get(&k)),
        }
        .copied()
        .unwrap_or(segment.default_weight);
        let score = match row.get_ref(3).map_err(fail)? {
            ValueRef::Integer(n) => Decimal::from(n),
            other => Value::from_sqlite(other, true)
                .to_decimal()
                .unwrap_or_default(),
        };
        let user = row.get_ref(1).map_err(fail)?;
        let user = user.as_str().map_err(|e| fail(e.into()))?;
        let day_map = &mut per_day[i];
        let t = match day_map.get_mut(user) {
            Some(t) => t,
            None => {
                let name = match names.get(user) {
                    Some(name) => Arc::clone(name),
                    None => {
                        let name: Arc<str> = Arc::from(user);
                        names.insert(Arc::clone(&name));
                        name
                    }
                };
                day_map.entry(name).or_default()
            }
        };
        t.weighted += weight * score;
        t.rows += 1;
    }
    Ok(per_day)
}

/// Computes the segment for each day and stores it in the `<segment>` table
/// (`day, user, score, segment`), replacing those days. Returns the members by day.
pub fn materialize(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    days: &[NaiveDate],
) -> Result<Vec<(NaiveDate, Members)>, StoreError> {
    let ctx = || format!("storing segment `{}`", segment.name);
    let table = quote(&segment.name);
    let conn = store.conn();
    let by_day = assign(store, segment, rollup, days)?;
    let tx = conn
        .unchecked_transaction()
        .map_err(|e| store.err(ctx(), e))?;
    tx.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {table} (day TEXT NOT NULL, user TEXT NOT NULL, score REAL NOT NULL, segment TEXT NOT NULL);
         CREATE INDEX IF NOT EXISTS {} ON {table} (day, segment);",
        quote(&format!("{}_day", segment.name))
    ))
    .map_err(|e| store.err(ctx(), e))?;
    {
        let mut delete = tx
            .prepare(&format!("DELETE FROM {table} WHERE day = ?1"))
            .map_err(|e| store.err(ctx(), e))?;
        let mut insert = tx
            .prepare(&format!(
                "INSERT INTO {table} (day, user, score, segment) VALUES (?1, ?2, ?3, ?4)"
            ))
            .map_err(|e| store.err(ctx(), e))?;
        for (day, members) in &by_day {
            let day = day.to_string();
            delete.execute([&day]).map_err(|e| store.err(ctx(), e))?;
            for (user, m, group) in members
                .iter()
                .filter_map(|(u, m)| m.group.map(|g| (u, m, g)))
            {
                // REAL so that `score > 10` works in SQL; groups were assigned on exact values.
                let score: f64 = m.score.round_dp(6).try_into().unwrap_or_default();
                insert
                    .execute(rusqlite::params![
                        day,
                        &**user,
                        score,
                        segment.groups[group].name
                    ])
                    .map_err(|e| store.err(ctx(), e))?;
            }
        }
    }
    tx.commit().map_err(|e| store.err(ctx(), e))?;
    Ok(by_day)
}
