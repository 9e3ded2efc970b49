//! Each day's per-user partial scores (`sum(weight * score)`, `sum(score)`, rows), computed once
//! from the rollup and kept in `_tally_scores`. A day is computed again only when its slices were
//! pulled again or the segment's definition changed, so a daily run reads the rollup rows of the
//! new days only, and the cached partials (one row per user and day) of the rest.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::Arc;

use chrono::NaiveDate;
use rusqlite::params;
use rusqlite::types::ValueRef;
use rust_decimal::Decimal;

use crate::config::{Rollup, Segment};
use crate::store::{Store, StoreError, days_from, quote};
use crate::value::Value;

/// One user's partial score over one day.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    /// `sum(weight * score measure)`.
    pub weighted: Decimal,
    /// `sum(score measure)`, unweighted.
    pub unweighted: Decimal,
    /// Rollup rows.
    pub rows: u32,
}

/// Partial scores of one day, by user.
pub type Day = HashMap<Arc<str>, Tally>;

/// What the partials of a day depend on: the segment's scoring and the day's slices.
fn version(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    day: &str,
) -> Result<String, StoreError> {
    let slices: Option<String> = store
        .conn()
        .query_row(
            "SELECT group_concat(start || '@' || pulled_at, ',') FROM
               (SELECT start, pulled_at FROM _tally_slices WHERE rollup = ?1 AND day = ?2 ORDER BY start)",
            params![rollup.name, day],
            |r| r.get(0),
        )
        .map_err(|e| store.err(format!("reading checkpoints of `{}`", rollup.name), e))?;
    let mut weights: Vec<String> = segment
        .weights
        .iter()
        .map(|(k, w)| format!("{k}={w}"))
        .collect();
    weights.sort();
    Ok(format!(
        "{};by={:?};score={};weights={};default={};slices={}",
        rollup.fingerprint(),
        segment.by,
        segment.score,
        weights.join(","),
        segment.default_weight,
        slices.unwrap_or_default()
    ))
}

/// Reads days of partial scores, from the cache where it is current, sharing user names.
pub struct Partials<'a> {
    store: &'a Store,
    segment: &'a Segment,
    rollup: &'a Rollup,
    names: HashSet<Arc<str>>,
}

impl<'a> Partials<'a> {
    /// A reader for the segment's partial scores.
    pub fn new(store: &'a Store, segment: &'a Segment, rollup: &'a Rollup) -> Self {
        Partials {
            store,
            segment,
            rollup,
            names: HashSet::new(),
        }
    }

    /// The partial scores of `day`.
    pub fn day(&mut self, day: NaiveDate) -> Result<Day, StoreError> {
        let (store, segment, rollup) = (self.store, self.segment, self.rollup);
        let day = day.to_string();
        let version = version(store, segment, rollup, &day)?;
        let cached: Option<String> = store
            .conn()
            .query_row(
                "SELECT version FROM _tally_score_days WHERE segment = ?1 AND day = ?2",
                params![segment.name, day],
                |r| r.get(0),
            )
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .map_err(|e| store.err(format!("reading the scores of `{}`", segment.name), e))?;
        if cached.as_deref() == Some(version.as_str()) {
            return read_cached(store, segment, &day, &mut self.names);
        }
        let partial = compute(store, segment, rollup, &day, &mut self.names)?;
        write_cache(store, segment, &day, &version, &partial)?;
        Ok(partial)
    }
}

/// The shared name of `user`: one allocation per user, however many days mention it.
fn name(names: &mut HashSet<Arc<str>>, user: &str) -> Arc<str> {
    match names.get(user) {
        Some(name) => Arc::clone(name),
        None => {
            let name: Arc<str> = Arc::from(user);
            names.insert(Arc::clone(&name));
            name
        }
    }
}

fn read_cached(
    store: &Store,
    segment: &Segment,
    day: &str,
    names: &mut HashSet<Arc<str>>,
) -> Result<Day, StoreError> {
    let fail = |e| store.err(format!("reading the scores of `{}`", segment.name), e);
    let mut stmt = store
        .conn()
        .prepare_cached(
            "SELECT user, weighted, unweighted, rows FROM _tally_scores WHERE segment = ?1 AND day = ?2",
        )
        .map_err(fail)?;
    let mut rows = stmt.query(params![segment.name, day]).map_err(fail)?;
    // Most days have about the users seen so far: one allocation instead of repeated growth.
    let mut partial = Day::with_capacity(names.len());
    while let Some(row) = rows.next().map_err(fail)? {
        let decimal = |i| -> Result<Decimal, StoreError> {
            Ok(match row.get_ref(i).map_err(fail)? {
                ValueRef::Integer(n) => Decimal::from(n),
                other => Value::from_sqlite(other, true)
                    .to_decimal()
                    .unwrap_or_default(),
            })
        };
        let user = row.get_ref(0).map_err(fail)?;
        let user = name(names, user.as_str().map_err(|e| fail(e.into()))?);
        let tally = Tally {
            weighted: decimal(1)?,
            unweighted: decimal(2)?,
            rows: row.get(3).map_err(fail)?,
        };
        partial.insert(user, tally);
    }
    Ok(partial)
}

/// Reads the day's rollup rows (one run of rowids) and adds them up per user.
fn compute(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    day: &str,
    names: &mut HashSet<Arc<str>>,
) -> Result<Day, StoreError> {
    let by = segment
        .by
        .as_deref()
        .map(quote)
        .unwrap_or_else(|| "NULL".into());
    let sql = format!(
        "SELECT user, {by}, {} {} AND user IS NOT NULL",
        quote(&segment.score),
        days_from(&rollup.name)
    );
    let fail = |e| store.err(format!("scoring segment `{}`", segment.name), e);
    let mut stmt = store.conn().prepare_cached(&sql).map_err(fail)?;
    let mut rows = stmt.query([day, day]).map_err(fail)?;
    let mut partial = Day::with_capacity(names.len());
    while let Some(row) = rows.next().map_err(fail)? {
        // Text and integers are read in place: this loop runs once per rollup row.
        let weight = match row.get_ref(1).map_err(fail)? {
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
        let score = match row.get_ref(2).map_err(fail)? {
            ValueRef::Integer(n) => Decimal::from(n),
            other => Value::from_sqlite(other, true)
                .to_decimal()
                .unwrap_or_default(),
        };
        let user = row.get_ref(0).map_err(fail)?;
        let user = user.as_str().map_err(|e| fail(e.into()))?;
        let tally = match partial.get_mut(user) {
            Some(t) => t,
            None => partial.entry(name(names, user)).or_default(),
        };
        tally.weighted += weight * score;
        tally.unweighted += score;
        tally.rows += 1;
    }
    Ok(partial)
}

fn write_cache(
    store: &Store,
    segment: &Segment,
    day: &str,
    version: &str,
    partial: &Day,
) -> Result<(), StoreError> {
    let fail = |e| store.err(format!("storing the scores of `{}`", segment.name), e);
    let tx = store.conn().unchecked_transaction().map_err(fail)?;
    tx.execute(
        "DELETE FROM _tally_scores WHERE segment = ?1 AND day = ?2",
        params![segment.name, day],
    )
    .map_err(fail)?;
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO _tally_scores (segment, day, user, weighted, unweighted, rows)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(fail)?;
        for (user, t) in partial {
            insert
                .execute(params![
                    segment.name,
                    day,
                    &**user,
                    Value::from_decimal(t.weighted),
                    Value::from_decimal(t.unweighted),
                    t.rows
                ])
                .map_err(fail)?;
        }
    }
    tx.execute(
        "INSERT OR REPLACE INTO _tally_score_days (segment, day, version) VALUES (?1, ?2, ?3)",
        params![segment.name, day, version],
    )
    .map_err(fail)?;
    tx.commit().map_err(fail)
}
