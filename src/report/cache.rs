//! The days of a built-in report kept in the store (`_tally_report_days`): each report day's
//! lines with what they were computed from, so that a day whose inputs did not change is read
//! back instead of computed again, and a daily run computes its new days only.

use chrono::NaiveDate;

use crate::store::{Store, StoreError};

/// A report's days, each with its lines when the store has them current.
pub struct Days<'a, T> {
    store: &'a Store,
    key: String,
    days: Vec<NaiveDate>,
    versions: Vec<String>,
    lines: Vec<Option<T>>,
}

impl<'a, T> Days<'a, T> {
    /// The days `first..=last` of the lines kept under `key`: `version` says what a day's lines
    /// are computed from, `decode` reads them back (`None` when they are not such lines).
    pub fn read(
        store: &'a Store,
        key: String,
        (first, last): (NaiveDate, NaiveDate),
        version: impl Fn(NaiveDate) -> Result<String, StoreError>,
        decode: impl Fn(NaiveDate, &str) -> Option<T>,
    ) -> Result<Days<'a, T>, StoreError> {
        let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
        let mut versions = Vec::with_capacity(days.len());
        let mut lines = Vec::with_capacity(days.len());
        for day in &days {
            let v = version(*day)?;
            let kept = store
                .report_day(&key, &day.to_string(), &v)?
                .and_then(|text| decode(*day, &text));
            lines.push(kept);
            versions.push(v);
        }
        Ok(Days {
            store,
            key,
            days,
            versions,
            lines,
        })
    }

    /// The days whose lines are to be computed, in order.
    pub fn todo(&self) -> Vec<NaiveDate> {
        self.days
            .iter()
            .zip(&self.lines)
            .filter(|(_, l)| l.is_none())
            .map(|(d, _)| *d)
            .collect()
    }

    /// Keeps `lines` as `day`'s, written into the store as `text`.
    pub fn keep(&mut self, day: NaiveDate, lines: T, text: &str) -> Result<(), StoreError> {
        let Some(i) = self.days.iter().position(|d| *d == day) else {
            return Ok(());
        };
        self.store
            .keep_report_day(&self.key, &day.to_string(), &self.versions[i], text)?;
        self.lines[i] = Some(lines);
        Ok(())
    }

    /// Each day with its lines (the days computed since and the days read back).
    pub fn into_lines(self) -> impl Iterator<Item = (NaiveDate, T)> {
        self.days
            .into_iter()
            .zip(self.lines)
            .filter_map(|(d, l)| Some((d, l?)))
    }
}
