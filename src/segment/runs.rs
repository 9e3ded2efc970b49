//! The sorted runs scoring reads, one per day, each computed once from the rollup's rows (sorted
//! by user by SQLite) and kept in the store until its inputs change:
//! - a segment's partial scores: per user, `sum(weight * score)`, `sum(score)` and the rows;
//! - the per-user sums of a measure (rewards and claims of the segment_rewards and top_rewarded
//!   reports).

use std::collections::BTreeSet;

use bigdecimal::BigDecimal;
use chrono::NaiveDate;
use foldhash::HashMap;
use rusqlite::types::ValueRef;

use super::Segment;
use crate::exact::Exact;
use crate::rollup::Rollup;
use crate::store::{Store, StoreError};
use crate::value::Value;

/// One user's partial score over one day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserDay {
    /// `sum(weight * score measure)`.
    pub weighted: Exact,
    /// `sum(score measure)`, unweighted.
    pub unweighted: Exact,
    /// Rollup rows.
    pub rows: u32,
}

impl UserDay {
    /// The entry's bytes: the two exact decimals, then the rows (u32, little-endian).
    fn encode(&self, out: &mut Vec<u8>) {
        self.weighted.encode(out);
        self.unweighted.encode(out);
        out.extend_from_slice(&self.rows.to_le_bytes());
    }

    /// Reads what [`UserDay::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Option<UserDay> {
        let (weighted, rest) = Exact::decode(bytes)?;
        let (unweighted, rest) = Exact::decode(rest)?;
        let rows = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?);
        Some(UserDay {
            weighted,
            unweighted,
            rows,
        })
    }
}

/// The layout of partial-score entries: part of what a run depends on.
const FORMAT: u8 = 5;

/// The name of a segment's partial-score runs.
pub fn partials_name(segment: &Segment) -> String {
    format!("partials:{}", segment.name)
}

/// The name of the runs of per-user sums of `measure` of `rollup`.
pub fn sums_name(rollup: &Rollup, measure: &str) -> String {
    format!("sums:{}:{measure}", rollup.name)
}

/// Makes sure the partial-score run of `day` is current: computed again when the day's slices
/// or the segment's scoring changed.
pub fn ensure_partials(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    day: NaiveDate,
) -> Result<(), StoreError> {
    let day = day.to_string();
    let name = partials_name(segment);
    let version = partials_version(store, segment, rollup, &day)?;
    if store.run_is_current(&name, &day, &version)? {
        return Ok(());
    }
    let weights: HashMap<&str, Exact> = segment
        .weights
        .iter()
        .map(|(k, w)| (k.as_str(), Exact::from_big(w)))
        .collect();
    let default_weight = Exact::from_big(&segment.default_weight);
    let mut run = store.begin_run(&name, &day, &version, &rollup.name)?;
    let context = || format!("scoring segment `{}`", segment.name);
    let fail = |e: rusqlite::Error| store.err(context(), e);
    let mut current: Option<(String, UserDay)> = None;
    let mut bytes = Vec::with_capacity(64);
    let mut seen = Seen::Values(BTreeSet::new());
    let columns = [segment.by.as_deref(), Some(segment.score.as_str())];
    store.each_row_of_day_by_user(&rollup.name, &day, &columns, &context, |row| {
        // Text and integers are read in place: this runs once per rollup row.
        let user = row.get_ref(0).map_err(fail)?;
        let user = user.as_str().map_err(|e| fail(e.into()))?;
        let key = match row.get_ref(1).map_err(fail)? {
            ValueRef::Text(t) => std::str::from_utf8(t).ok().map(std::borrow::Cow::Borrowed),
            ValueRef::Null => None,
            other => Value::from_sqlite(other, false)
                .to_key()
                .map(std::borrow::Cow::Owned),
        };
        if let Some(key) = &key {
            seen.add(key);
        }
        let weight = key
            .as_deref()
            .and_then(|k| weights.get(k))
            .unwrap_or(&default_weight);
        let score = score(row.get_ref(2).map_err(fail)?).ok_or_else(|| {
            StoreError::Data(format!(
                "segment `{}`, {day}: the score measure `{}` of user `{user}` is not a number",
                segment.name, segment.score
            ))
        })?;
        if current.as_ref().is_some_and(|(u, _)| u != user) {
            let (u, t) = current.take().expect("checked above");
            bytes.clear();
            t.encode(&mut bytes);
            run.push(&u, &bytes)?;
        }
        let (_, t) = current.get_or_insert_with(|| (user.to_string(), UserDay::default()));
        t.weighted = t.weighted.add(&weight.mul(&score));
        t.unweighted = t.unweighted.add(&score);
        t.rows += 1;
        Ok(())
    })?;
    if let Some((u, t)) = current {
        bytes.clear();
        t.encode(&mut bytes);
        run.push(&u, &bytes)?;
    }
    run.commit()?;
    if segment.by.is_some() {
        store.keep_report_day(&values_key(segment), &day, &version, &seen.lines())?;
    }
    Ok(())
}

/// The most values of a segment's `by` dimension kept per day: an action type has tens; a
/// dimension with more is not one that weights name.
const MAX_SEEN: usize = 1_000;

/// The values of a segment's `by` dimension on one day, kept with its partial scores (so the
/// check of weights that never occur reads no rollup rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// These values.
    Values(BTreeSet<String>),
    /// More than [`MAX_SEEN`].
    Many,
}

impl Seen {
    fn add(&mut self, value: &str) {
        if let Seen::Values(values) = self
            && !values.contains(value)
        {
            if values.len() == MAX_SEEN {
                *self = Seen::Many;
            } else {
                values.insert(value.to_string());
            }
        }
    }

    fn lines(&self) -> String {
        match self {
            Seen::Values(values) => values.iter().map(|v| format!("={v}\n")).collect(),
            Seen::Many => "*".to_string(),
        }
    }

    fn parse(lines: &str) -> Seen {
        if lines == "*" {
            return Seen::Many;
        }
        Seen::Values(
            lines
                .lines()
                .filter_map(|l| l.strip_prefix('='))
                .map(String::from)
                .collect(),
        )
    }
}

fn values_key(segment: &Segment) -> String {
    format!("values:{}", segment.name)
}

/// The values of the segment's `by` dimension on `day`, as kept when its partial scores were
/// computed from the day's current slices; `None` when they were not.
pub fn seen_values(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    day: NaiveDate,
) -> Result<Option<Seen>, StoreError> {
    let day = day.to_string();
    let version = partials_version(store, segment, rollup, &day)?;
    Ok(store
        .report_day(&values_key(segment), &day, &version)?
        .map(|lines| Seen::parse(&lines)))
}

/// What the partial scores of `day` are computed from: the rollup's definition, the segment's
/// scoring and the day's slices; when it changes, they are computed again.
fn partials_version(
    store: &Store,
    segment: &Segment,
    rollup: &Rollup,
    day: &str,
) -> Result<String, StoreError> {
    let mut weights: Vec<String> = segment
        .weights
        .iter()
        .map(|(k, w)| format!("{k}={w}"))
        .collect();
    weights.sort();
    Ok(format!(
        "format={FORMAT};{};by={:?};score={};weights={};default={};slices={}",
        rollup.fingerprint(),
        segment.by,
        segment.score,
        weights.join(","),
        segment.default_weight,
        store.slices_version(&rollup.name, day, day)?
    ))
}

/// A score measure's value: integers read in place, NULL as 0; `None` when it is not a number.
fn score(value: ValueRef<'_>) -> Option<Exact> {
    match value {
        ValueRef::Integer(n) => Some(Exact::int(n)),
        ValueRef::Null => Some(Exact::default()),
        other => Value::from_sqlite(other, true)
            .to_decimal()
            .map(|d| Exact::from_big(&d)),
    }
}

/// Makes sure the run of per-user sums of `measure` of `rollup` on `day` is current. Users whose
/// values are all NULL have no entry; a value that is not a number is an error.
pub fn ensure_sums(
    store: &Store,
    rollup: &Rollup,
    measure: &str,
    day: NaiveDate,
) -> Result<(), StoreError> {
    let text = day.to_string();
    let name = sums_name(rollup, measure);
    let version = format!(
        "{};measure={measure};slices={}",
        rollup.fingerprint(),
        store.slices_version(&rollup.name, &text, &text)?
    );
    if store.run_is_current(&name, &text, &version)? {
        return Ok(());
    }
    let mut run = store.begin_run(&name, &text, &version, &rollup.name)?;
    let ctx = || format!("reading `{}` for {day}", rollup.name);
    let fail = |e: rusqlite::Error| store.err(ctx(), e);
    let mut current: Option<(String, BigDecimal)> = None;
    store.each_row_of_day_by_user(&rollup.name, &text, &[Some(measure)], &ctx, |row| {
        let user = row.get_ref(0).map_err(fail)?;
        let user = user.as_str().map_err(|e| fail(e.into()))?;
        let value = match Value::from_sqlite(row.get_ref(1).map_err(fail)?, true) {
            Value::Null => return Ok(()),
            other => other.to_decimal().ok_or_else(|| {
                StoreError::Data(format!(
                    "rollup `{}`, {day}: measure `{measure}` of user `{user}` is `{other}`, not a number",
                    rollup.name
                ))
            })?,
        };
        match &mut current {
            Some((u, sum)) if u == user => *sum += value,
            _ => {
                if let Some((u, sum)) = current.replace((user.to_string(), value)) {
                    run.push(&u, sum.to_plain_string().as_bytes())?;
                }
            }
        }
        Ok(())
    })?;
    if let Some((u, sum)) = current {
        run.push(&u, sum.to_plain_string().as_bytes())?;
    }
    run.commit()
}

/// Reads a sum written by [`ensure_sums`].
pub fn decode_sum(bytes: &[u8]) -> Option<BigDecimal> {
    crate::value::parse_decimal(std::str::from_utf8(bytes).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_survives_its_bytes_exactly() {
        for (weighted, unweighted, rows) in [
            ("12.50000000", "7", 3),
            (
                "-0.000000000000000000000000000000000000001",
                "79228162514264337593543950335000000000000000000000000000000000000000000000000000000000.5",
                1,
            ),
            ("0", "0", 0),
        ] {
            let t = UserDay {
                weighted: Exact::from_big(&crate::value::parse_decimal(weighted).unwrap()),
                unweighted: Exact::from_big(&crate::value::parse_decimal(unweighted).unwrap()),
                rows,
            };
            let mut bytes = Vec::new();
            t.encode(&mut bytes);
            let back = UserDay::decode(&bytes).unwrap();
            assert_eq!(back, t);
            // The scale survives too: 12.50000000 stays 12.50000000.
            assert_eq!(
                back.weighted.to_big().to_plain_string(),
                t.weighted.to_big().to_plain_string()
            );
            assert!(UserDay::decode(&bytes[..bytes.len() - 1]).is_none());
        }
        assert_eq!(decode_sum(b"-12.50").unwrap().to_plain_string(), "-12.50");
    }
}
