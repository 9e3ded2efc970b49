//! Checkpoints: which slices of which rollup are in the store, and when they were pulled.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::params;

use super::{Store, StoreError};

/// A slice that is in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Slice start (inclusive).
    pub start: DateTime<Utc>,
    /// Slice end (exclusive).
    pub end: DateTime<Utc>,
    /// When it was pulled.
    pub pulled_at: DateTime<Utc>,
}

/// How instants are written in the store: RFC 3339 in UTC, which sorts as text.
pub fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// When a slice was pulled, to the microsecond: cached partial scores compare it to tell a day
/// pulled again, even within the same second.
pub fn pulled_instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

impl Store {
    /// The checkpoints of `rollup` whose day lies in `[first, last]`.
    pub fn checkpoints(
        &self,
        rollup: &str,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<Vec<Checkpoint>, StoreError> {
        let ctx = || format!("reading checkpoints of `{rollup}`");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT start, end, pulled_at FROM _tally_slices \
                 WHERE rollup = ?1 AND day BETWEEN ?2 AND ?3 ORDER BY start",
            )
            .map_err(|e| self.err(ctx(), e))?;
        let rows = stmt
            .query_map(params![rollup, first.to_string(), last.to_string()], |r| {
                Ok(Checkpoint {
                    start: parse(&r.get::<_, String>(0)?),
                    end: parse(&r.get::<_, String>(1)?),
                    pulled_at: parse(&r.get::<_, String>(2)?),
                })
            })
            .map_err(|e| self.err(ctx(), e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| self.err(ctx(), e))
    }

    /// The end of the newest slice of `rollup` in the store.
    pub fn newest_end(&self, rollup: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let end: Option<String> = self
            .conn
            .query_row(
                "SELECT max(end) FROM _tally_slices WHERE rollup = ?1",
                [rollup],
                |r| r.get(0),
            )
            .map_err(|e| self.err(format!("reading checkpoints of `{rollup}`"), e))?;
        Ok(end.as_deref().map(parse))
    }

    /// The newest day of `rollup` whose slices are all final: each ended at least `lookback`
    /// before the newest slice end in the store and was pulled after it ended.
    pub fn newest_final_day(
        &self,
        rollup: &str,
        lookback: std::time::Duration,
    ) -> Result<Option<NaiveDate>, StoreError> {
        let Some(newest) = self.newest_end(rollup)? else {
            return Ok(None);
        };
        let cutoff = newest - chrono::TimeDelta::from_std(lookback).unwrap_or_default();
        let day: Option<String> = self
            .conn
            .query_row(
                "SELECT max(day) FROM _tally_slices WHERE rollup = ?1 AND day NOT IN
                   (SELECT day FROM _tally_slices WHERE rollup = ?1 AND (end > ?2 OR pulled_at < end))",
                params![rollup, instant(cutoff)],
                |r| r.get(0),
            )
            .map_err(|e| self.err(format!("reading checkpoints of `{rollup}`"), e))?;
        Ok(day.and_then(|d| d.parse().ok()))
    }
}
