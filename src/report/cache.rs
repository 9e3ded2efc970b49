//! The days of a built-in report kept in the store (`_tally_report_days`): each report day's
//! lines with what they were computed from, so that a day whose inputs did not change is read
//! back instead of computed again, and a daily run computes its new days only.

use chrono::NaiveDate;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{Store, StoreError};

/// Lines as the store keeps them: JSON.
pub fn encode<T: Serialize>(lines: &T) -> String {
    serde_json::to_string(lines).unwrap_or_default()
}

/// Lines read back from [`encode`]'s text; `None` when it holds no such lines.
pub fn decode<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_str(text).ok()
}

/// A report's days, each with its lines when the store has them current.
pub struct Days<'a, T> {
    store: &'a Store,
    key: String,
    days: Vec<NaiveDate>,
    versions: Vec<String>,
    lines: Vec<Option<T>>,
}

impl<'a, T: Serialize + DeserializeOwned> Days<'a, T> {
    /// The days `first..=last` of the lines kept under `key`: `version` says what a day's lines
    /// are computed from; `settle` completes lines read back with their day, or refuses them.
    pub fn read(
        store: &'a Store,
        key: String,
        (first, last): (NaiveDate, NaiveDate),
        version: impl Fn(NaiveDate) -> Result<String, StoreError>,
        settle: impl Fn(NaiveDate, T) -> Option<T>,
    ) -> Result<Days<'a, T>, StoreError> {
        let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
        let mut versions = Vec::with_capacity(days.len());
        let mut lines = Vec::with_capacity(days.len());
        for day in &days {
            let v = version(*day)?;
            let kept = store
                .report_day(&key, &day.to_string(), &v)?
                .and_then(|text| decode(&text))
                .and_then(|lines| settle(*day, lines));
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

    /// Keeps `lines` as `day`'s, here and in the store.
    pub fn keep(&mut self, day: NaiveDate, lines: T) -> Result<(), StoreError> {
        let Some(i) = self.days.iter().position(|d| *d == day) else {
            return Ok(());
        };
        let text = encode(&lines);
        self.store
            .keep_report_day(&self.key, &day.to_string(), &self.versions[i], &text)?;
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
