//! `_tally_report_days`: the computed lines of a built-in report, one row per report and day,
//! with what they were computed from. A day whose inputs did not change is read back instead of
//! computed again.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

impl Store {
    /// What a rollup's rows over `[first, last]` are: each slice's start and digest (or, for
    /// slices stored before digests, when it was pulled).
    pub fn slices_version(
        &self,
        rollup: &str,
        first: &str,
        last: &str,
    ) -> Result<String, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT group_concat(start || '@' || coalesce(digest, pulled_at), ',') FROM
                   (SELECT start, digest, pulled_at FROM _tally_slices
                    WHERE rollup = ?1 AND day BETWEEN ?2 AND ?3 ORDER BY start)",
                params![rollup, first, last],
                |r| r.get(0),
            )
            .map_err(|e| self.err(format!("reading checkpoints of `{rollup}`"), e))?;
        Ok(text.unwrap_or_default())
    }

    /// The stored lines of `report` for `day`, when they were computed from `version`.
    pub fn report_day(
        &self,
        report: &str,
        day: &str,
        version: &str,
    ) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT lines FROM _tally_report_days WHERE report = ?1 AND day = ?2 AND version = ?3",
                params![report, day, version],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(format!("reading the cached lines of `{report}`"), e))
    }

    /// Keeps the lines of `report` for `day`, computed from `version`.
    pub fn keep_report_day(
        &self,
        report: &str,
        day: &str,
        version: &str,
        lines: &str,
    ) -> Result<(), StoreError> {
        if self.read_only() {
            // A store opened to read (the Slack app's answers) computes, and keeps nothing.
            return Ok(());
        }
        self.conn
            .execute(
                "INSERT OR REPLACE INTO _tally_report_days (report, day, version, lines) VALUES (?1, ?2, ?3, ?4)",
                params![report, day, version, lines],
            )
            .map(|_| ())
            .map_err(|e| self.err(format!("caching the lines of `{report}`"), e))
    }
}
