//! Each day's per-user partial scores (`sum(weight * score)`, `sum(score)`, rows), computed once
//! from the rollup and kept in `_tally_partials`, one row per segment and day. A day is computed
//! again only when its slices' rows changed (their digests) or the segment's definition changed,
//! so a daily run reads the rollup rows of the new days only, and the cached partials of the rest,
//! even of lookback days pulled again with the same rows.

use std::sync::Arc;

use chrono::NaiveDate;
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use rusqlite::types::ValueRef;

use crate::config::{Rollup, Segment};
use crate::exact::Exact;
use crate::store::{Store, StoreError};
use crate::value::Value;

/// One user's partial score over one day.
#[derive(Debug, Clone, Default)]
pub struct UserDay {
    /// `sum(weight * score measure)`.
    pub weighted: Exact,
    /// `sum(score measure)`, unweighted.
    pub unweighted: Exact,
    /// Rollup rows.
    pub rows: u32,
}

/// Partial scores of one day, by user.
pub type Day = HashMap<Arc<str>, UserDay>;

/// What the partials of a day depend on: the segment's scoring and the day's slices.
fn version(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    day: &str,
) -> Result<String, StoreError> {
    let slices = store.slices_version(&rollup.name, day, day)?;
    let mut weights: Vec<String> = segment
        .weights
        .iter()
        .map(|(k, w)| format!("{k}={w}"))
        .collect();
    weights.sort();
    // The blob's layout is part of what a cached day depends on: a new layout recomputes it.
    Ok(format!(
        "format={FORMAT};{};by={:?};score={};weights={};default={};slices={}",
        rollup.fingerprint(),
        segment.by,
        segment.score,
        weights.join(","),
        segment.default_weight,
        slices
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
        let cached = store.partials(&segment.name, &day)?;
        if let Some((v, blob)) = cached.filter(|(v, _)| *v == version) {
            match decode(&blob, &mut self.names) {
                Some(partial) => return Ok(partial),
                None => tracing::warn!(
                    "segment `{}`: the cached scores of {day} (version {v}) are unreadable; computing them again",
                    segment.name
                ),
            }
        }
        let partial = compute(store, segment, rollup, &day, &mut self.names)?;
        store.save_partials(&segment.name, &day, &version, &encode(&partial))?;
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

/// The first byte of an encoded day: the layout below (1 held 96-bit decimals, 2 text, 3 wider
/// small decimals).
const FORMAT: u8 = 4;

/// A day's partials as one blob (reading 20,000 SQLite rows costs far more than parsing one):
/// after the [`FORMAT`] byte, per user: its name after its length (u32, little-endian), the two
/// exact decimals ([`Exact::encode`]) and the rows (u32, little-endian).
fn encode(day: &Day) -> Vec<u8> {
    let mut blob = Vec::with_capacity(1 + day.keys().map(|u| u.len() + 50).sum::<usize>());
    blob.push(FORMAT);
    for (user, t) in day {
        blob.extend_from_slice(&(user.len() as u32).to_le_bytes());
        blob.extend_from_slice(user.as_bytes());
        t.weighted.encode(&mut blob);
        t.unweighted.encode(&mut blob);
        blob.extend_from_slice(&t.rows.to_le_bytes());
    }
    blob
}

/// Reads a blob written by [`encode`]; `None` when it is not one.
fn decode(blob: &[u8], names: &mut HashSet<Arc<str>>) -> Option<Day> {
    let (&format, mut rest) = blob.split_first()?;
    if format != FORMAT {
        return None;
    }
    let mut day = Day::with_capacity(names.len());
    fn text(rest: &[u8]) -> Option<(&str, usize)> {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        Some((std::str::from_utf8(tail.get(..len)?).ok()?, 4 + len))
    }
    while !rest.is_empty() {
        let (user, n) = text(rest)?;
        let (weighted, tail) = Exact::decode(&rest[n..])?;
        let (unweighted, tail) = Exact::decode(tail)?;
        let (rows, tail) = tail.split_first_chunk::<4>()?;
        let tally = UserDay {
            weighted,
            unweighted,
            rows: u32::from_le_bytes(*rows),
        };
        day.insert(name(names, user), tally);
        rest = tail;
    }
    Some(day)
}

/// Reads the day's rollup rows (one run of rowids) and adds them up per user.
fn compute(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    day: &str,
    names: &mut HashSet<Arc<str>>,
) -> Result<Day, StoreError> {
    let context = || format!("scoring segment `{}`", segment.name);
    let fail = |e: rusqlite::Error| store.err(context(), e);
    let mut partial = Day::with_capacity(names.len());
    let weights: HashMap<&str, Exact> = segment
        .weights
        .iter()
        .map(|(k, w)| (k.as_str(), Exact::from_big(w)))
        .collect();
    let default_weight = Exact::from_big(&segment.default_weight);
    let columns = [segment.by.as_deref(), Some(segment.score.as_str())];
    store.each_row_of_day(&rollup.name, day, &columns, &context, |row| {
        // Text and integers are read in place: this runs once per rollup row.
        let weight = match row.get_ref(1).map_err(fail)? {
            ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(|k| weights.get(k)),
            ValueRef::Null => None,
            other => Value::from_sqlite(other, false)
                .to_key()
                .and_then(|k| weights.get(k.as_str())),
        }
        .unwrap_or(&default_weight);
        let user = row.get_ref(0).map_err(fail)?;
        let user = user.as_str().map_err(|e| fail(e.into()))?;
        let score = match row.get_ref(2).map_err(fail)? {
            ValueRef::Integer(n) => Exact::int(n),
            ValueRef::Null => Exact::default(),
            other => Value::from_sqlite(other, true)
                .to_decimal()
                .map(|d| Exact::from_big(&d))
                .ok_or_else(|| {
                    StoreError::Data(format!(
                        "segment `{}`, {day}: the score measure `{}` of user `{user}` is not a number",
                        segment.name, segment.score
                    ))
                })?,
        };
        let tally = match partial.get_mut(user) {
            Some(t) => t,
            None => partial.entry(name(names, user)).or_default(),
        };
        tally.weighted = tally.weighted.add(&weight.mul(&score));
        tally.unweighted = tally.unweighted.add(&score);
        tally.rows += 1;
        Ok(())
    })?;
    Ok(partial)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_survives_the_blob_exactly_and_shares_names() {
        let mut day = Day::new();
        for (user, weighted, unweighted, rows) in [
            ("0xabc", "12.50000000", "7", 3),
            (
                "유저",
                "-0.000000000000000000000000000000000000001",
                "79228162514264337593543950335000000000000000000000000000000000000000000000000000000000.5",
                1,
            ),
            ("", "0", "0", 0),
        ] {
            let tally = UserDay {
                weighted: Exact::from_big(&crate::value::parse_decimal(weighted).unwrap()),
                unweighted: Exact::from_big(&crate::value::parse_decimal(unweighted).unwrap()),
                rows,
            };
            day.insert(Arc::from(user), tally);
        }
        let mut names = HashSet::new();
        let back = decode(&encode(&day), &mut names).unwrap();
        assert_eq!(back.len(), 3);
        for (user, t) in &day {
            let b = &back[user];
            assert_eq!(
                (&b.weighted, &b.unweighted, b.rows),
                (&t.weighted, &t.unweighted, t.rows)
            );
            // The scale survives too: 12.50000000 stays 12.50000000.
            assert_eq!(
                b.weighted.to_big().to_plain_string(),
                t.weighted.to_big().to_plain_string()
            );
        }
        assert_eq!(names.len(), 3);
        let again = decode(&encode(&day), &mut names).unwrap();
        assert!(Arc::ptr_eq(
            again.keys().find(|k| &***k == "0xabc").unwrap(),
            back.keys().find(|k| &***k == "0xabc").unwrap()
        ));
    }

    #[test]
    fn a_damaged_blob_is_not_read() {
        let mut day = Day::new();
        day.insert(Arc::from("u"), UserDay::default());
        let blob = encode(&day);
        let mut names = HashSet::new();
        assert!(decode(&blob[..blob.len() - 1], &mut names).is_none());
        assert!(decode(&[2], &mut names).is_none());
        assert!(decode(&[], &mut names).is_none());
        assert_eq!(decode(&[FORMAT], &mut names).unwrap().len(), 0);
    }
}
