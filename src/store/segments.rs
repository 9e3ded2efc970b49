//! The `<segment>` tables that SQL reports read: the members of a segment per day, written as
//! scoring streams them.

use rusqlite::{Transaction, params};

use super::{Store, StoreError, quote};

impl Store {
    /// Starts replacing `days` of the `<segment>` table (created when missing).
    pub fn begin_segment<'a>(
        &'a self,
        segment: &'a str,
        days: &[String],
    ) -> Result<SegmentWriter<'a>, StoreError> {
        let ctx = || format!("storing segment `{segment}`");
        let table = quote(segment);
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.err(ctx(), e))?;
        tx.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (day TEXT NOT NULL, user TEXT NOT NULL, score REAL NOT NULL, segment TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS {} ON {table} (day, segment);",
            quote(&format!("{segment}_day"))
        ))
        .map_err(|e| self.err(ctx(), e))?;
        for day in days {
            tx.execute(&format!("DELETE FROM {table} WHERE day = ?1"), [day])
                .map_err(|e| self.err(ctx(), e))?;
        }
        Ok(SegmentWriter {
            store: self,
            segment,
            insert: format!(
                "INSERT INTO {table} (day, user, score, segment) VALUES (?1, ?2, ?3, ?4)"
            ),
            tx,
        })
    }
}

/// Writes the members of a segment's days, in one transaction.
pub struct SegmentWriter<'a> {
    store: &'a Store,
    segment: &'a str,
    insert: String,
    tx: Transaction<'a>,
}

impl SegmentWriter<'_> {
    /// One member: the user's score (REAL, for SQL) and group on `day`.
    pub fn insert(
        &mut self,
        day: &str,
        user: &str,
        score: f64,
        group: &str,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(&self.insert)
            .and_then(|mut s| s.execute(params![day, user, score, group]))
            .map(|_| ())
            .map_err(|e| {
                self.store
                    .err(format!("storing segment `{}`", self.segment), e)
            })
    }

    /// Commits the days.
    pub fn commit(self) -> Result<(), StoreError> {
        let ctx = format!("storing segment `{}`", self.segment);
        self.tx.commit().map_err(|e| self.store.err(ctx, e))
    }
}

/// `FROM <rollup> WHERE ...` for the days `?1..=?2`: the rows of a day are written together, so
/// they are one run of rowids, found through the `day` index at both ends.
pub(super) fn days_from(rollup: &str) -> String {
    let t = quote(rollup);
    format!(
        "FROM {t} WHERE rowid BETWEEN (SELECT min(rowid) FROM {t} WHERE day BETWEEN ?1 AND ?2) \
         AND (SELECT max(rowid) FROM {t} WHERE day BETWEEN ?1 AND ?2) AND +day BETWEEN ?1 AND ?2"
    )
}
