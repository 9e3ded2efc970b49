//! What scoring reads and writes: a day's rollup rows (one run of rowids), the cached partial
//! scores of a day (`_tally_partials`), and the `<segment>` tables that SQL reports read.

use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError, quote};

/// One member of a segment on one day, as the `<segment>` table holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member<'a> {
    /// The user.
    pub user: &'a str,
    /// The score (REAL in the table, for SQL; groups were assigned on exact values).
    pub score: f64,
    /// The group's name.
    pub group: &'a str,
}

impl Store {
    /// Hands each of the rollup's rows of `day` (whose user is not NULL) to `each`: the user,
    /// then the given columns (`None` reads as NULL), read in place.
    pub fn each_row_of_day(
        &self,
        rollup: &str,
        day: &str,
        columns: &[Option<&str>],
        context: &dyn Fn() -> String,
        mut each: impl FnMut(&Row<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let columns: Vec<String> = columns
            .iter()
            .map(|c| c.map_or_else(|| "NULL".to_string(), quote))
            .collect();
        let sql = format!(
            "SELECT user, {} {} AND user IS NOT NULL",
            columns.join(", "),
            days_from(rollup)
        );
        let fail = |e| self.err(context(), e);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(fail)?;
        let mut rows = stmt.query([day, day]).map_err(fail)?;
        while let Some(row) = rows.next().map_err(fail)? {
            each(row)?;
        }
        Ok(())
    }

    /// The cached partial scores of `segment` on `day`, with the version they were computed
    /// for.
    pub fn partials(
        &self,
        segment: &str,
        day: &str,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        self.conn
            .query_row(
                "SELECT version, partials FROM _tally_partials WHERE segment = ?1 AND day = ?2",
                params![segment, day],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(format!("reading the scores of `{segment}`"), e))
    }

    /// Keeps the partial scores of `segment` on `day`, computed for `version`.
    pub fn save_partials(
        &self,
        segment: &str,
        day: &str,
        version: &str,
        blob: &[u8],
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO _tally_partials (segment, day, version, partials)
                 VALUES (?1, ?2, ?3, ?4)",
                params![segment, day, version, blob],
            )
            .map(|_| ())
            .map_err(|e| self.err(format!("storing the scores of `{segment}`"), e))
    }

    /// Replaces the given days of the `<segment>` table (created when missing) with their
    /// members, in one transaction.
    pub fn write_segment<'a>(
        &self,
        segment: &str,
        days: impl IntoIterator<Item = (String, Vec<Member<'a>>)>,
    ) -> Result<(), StoreError> {
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
        {
            let mut delete = tx
                .prepare(&format!("DELETE FROM {table} WHERE day = ?1"))
                .map_err(|e| self.err(ctx(), e))?;
            let mut insert = tx
                .prepare(&format!(
                    "INSERT INTO {table} (day, user, score, segment) VALUES (?1, ?2, ?3, ?4)"
                ))
                .map_err(|e| self.err(ctx(), e))?;
            for (day, members) in days {
                delete.execute([&day]).map_err(|e| self.err(ctx(), e))?;
                for m in members {
                    insert
                        .execute(params![day, m.user, m.score, m.group])
                        .map_err(|e| self.err(ctx(), e))?;
                }
            }
        }
        tx.commit().map_err(|e| self.err(ctx(), e))
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
