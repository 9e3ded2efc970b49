//! `_tally_segment_changes`: each segment's definition as it was first seen, and each change
//! of it since (on the report date of the run that first saw it, with what changed), so that
//! reports can mark the day a policy changed.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

impl Store {
    /// The newest recorded definition of `segment` from a day before `day` (any day with
    /// `None`): that day and its text.
    pub fn segment_definition_before(
        &self,
        segment: &str,
        day: Option<&str>,
    ) -> Result<Option<(String, String)>, StoreError> {
        self.conn
            .query_row(
                "SELECT day, definition FROM _tally_segment_changes
                 WHERE segment = ?1 AND (?2 IS NULL OR day < ?2)
                 ORDER BY day DESC LIMIT 1",
                params![segment, day],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(format!("reading the definition of segment `{segment}`"), e))
    }

    /// Forgets the definition recorded for `segment` on `day` (it is the one before it again).
    pub fn forget_segment_definition(&self, segment: &str, day: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM _tally_segment_changes WHERE segment = ?1 AND day = ?2",
                params![segment, day],
            )
            .map(|_| ())
            .map_err(|e| self.err(format!("recording a change of segment `{segment}`"), e))
    }

    /// Records `segment`'s definition as of `day`, and what changed (empty for the first one).
    pub fn record_segment_definition(
        &self,
        segment: &str,
        day: &str,
        definition: &str,
        changed: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO _tally_segment_changes (segment, day, definition, changed)
                 VALUES (?1, ?2, ?3, ?4)",
                params![segment, day, definition, changed],
            )
            .map(|_| ())
            .map_err(|e| self.err(format!("recording a change of segment `{segment}`"), e))
    }

    /// The recorded changes of `segment` on the days `first..=last`: `(day, what changed)`,
    /// oldest first.
    pub fn segment_changes(
        &self,
        segment: &str,
        (first, last): (&str, &str),
    ) -> Result<Vec<(String, String)>, StoreError> {
        let ctx = || format!("reading the changes of segment `{segment}`");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT day, changed FROM _tally_segment_changes
                 WHERE segment = ?1 AND day >= ?2 AND day <= ?3 AND changed <> ''
                 ORDER BY day",
            )
            .map_err(|e| self.err(ctx(), e))?;
        stmt.query_map(params![segment, first, last], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(ctx(), e))
    }
}
