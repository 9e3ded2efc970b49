//! Segments: each user's weighted score over a trailing window, and the group it puts them in.
//! Scores are exact decimals; the store's `<segment>` table shows them for custom SQL.

use std::collections::HashMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::config::{Rollup, Segment, days_before};
use crate::store::{Store, StoreError, quote};
use crate::value::Value;

/// A user's place in a segment on one day.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Index into the segment's groups; `None` when the score is below every group (only
    /// possible with negative weights).
    pub group: Option<usize>,
    /// `sum(weight * score measure) / window days`.
    pub score: Decimal,
}

/// Members of a segment on one day, by user.
pub type Members = HashMap<String, Member>;

/// Scores every user with an activity row in `day`'s window `[day - window + 1, day]` and puts
/// them in the first group whose `min_score` their score reaches. Every user with a row in the
/// window is returned, so that "no activity in the window" is simply "not in the map".
pub fn assign(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    day: NaiveDate,
) -> Result<Members, StoreError> {
    let first = days_before(day, segment.window_days - 1);
    let by = segment
        .by
        .as_deref()
        .map(quote)
        .unwrap_or_else(|| "NULL".into());
    let sql = format!(
        "SELECT user, {by}, {} FROM {} WHERE day BETWEEN ?1 AND ?2 AND user IS NOT NULL",
        quote(&segment.score),
        quote(&rollup.name)
    );
    let ctx = || format!("scoring segment `{}` for {day}", segment.name);
    let mut stmt = store
        .conn()
        .prepare_cached(&sql)
        .map_err(|e| store.err(ctx(), e))?;
    let mut rows = stmt
        .query([first.to_string(), day.to_string()])
        .map_err(|e| store.err(ctx(), e))?;
    let mut totals: HashMap<String, Decimal> = HashMap::new();
    while let Some(row) = rows.next().map_err(|e| store.err(ctx(), e))? {
        let user: String = row.get(0).map_err(|e| store.err(ctx(), e))?;
        let by_value = Value::from_sqlite(row.get_ref(1).map_err(|e| store.err(ctx(), e))?, false);
        let score = Value::from_sqlite(row.get_ref(2).map_err(|e| store.err(ctx(), e))?, true)
            .to_decimal()
            .unwrap_or_default();
        let weight = by_value
            .to_key()
            .and_then(|k| segment.weights.get(&k).copied())
            .unwrap_or(segment.default_weight);
        *totals.entry(user).or_default() += weight * score;
    }
    let days = Decimal::from(segment.window_days);
    Ok(totals
        .into_iter()
        .map(|(user, total)| {
            let score = total / days;
            let group = segment.groups.iter().position(|g| score >= g.min_score);
            (user, Member { group, score })
        })
        .collect())
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
    let by_day = days
        .iter()
        .map(|d| assign(store, segment, rollup, *d).map(|m| (*d, m)))
        .collect::<Result<Vec<_>, _>>()?;
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
                        user,
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
