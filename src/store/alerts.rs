//! `_tally_alert_rows`: which rows each alert matched on each date it was evaluated for, by key,
//! and since when each has matched without a break; so that an alert can send only the rows
//! that newly match, say which stopped matching, and `tally status` can say what is firing.

use chrono::NaiveDate;
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// A row an alert matched: its key (a JSON array of cells) and the date since which it has
/// matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// The row's key cells, a JSON array.
    pub key: String,
    /// The first date of its streak of matches.
    pub since: NaiveDate,
}

/// The key of the row that marks an evaluation (so that one that matched nothing is known).
const EVALUATED: &str = "";

impl Store {
    /// What `alert` matched when it was last evaluated for a date before `date`: that date and
    /// its rows; `None` when it never was.
    pub fn alert_before(
        &self,
        alert: &str,
        date: NaiveDate,
    ) -> Result<Option<(NaiveDate, Vec<Matched>)>, StoreError> {
        let ctx = || format!("reading what alert `{alert}` matched");
        let last: Option<String> = self
            .conn
            .query_row(
                "SELECT max(date) FROM _tally_alert_rows WHERE alert = ?1 AND date < ?2",
                params![alert, date.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(ctx(), e))?
            .flatten();
        let Some(last) = last else {
            return Ok(None);
        };
        let rows = self.alert_rows(alert, &last)?;
        Ok(Some((last.parse().unwrap_or(date), rows)))
    }

    fn alert_rows(&self, alert: &str, date: &str) -> Result<Vec<Matched>, StoreError> {
        let ctx = || format!("reading what alert `{alert}` matched");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT key, since FROM _tally_alert_rows
                 WHERE alert = ?1 AND date = ?2 AND key <> ''
                 ORDER BY since, key",
            )
            .map_err(|e| self.err(ctx(), e))?;
        let rows = stmt
            .query_map(params![alert, date], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(ctx(), e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, since)| {
                Some(Matched {
                    key,
                    since: since.parse().ok()?,
                })
            })
            .collect())
    }

    /// Records what `alert` matched for `date` (replacing an earlier evaluation for it).
    pub fn record_alert(
        &self,
        alert: &str,
        date: NaiveDate,
        matched: &[Matched],
    ) -> Result<(), StoreError> {
        let ctx = || format!("recording what alert `{alert}` matched");
        let fail = |e| self.err(ctx(), e);
        let tx = self.conn.unchecked_transaction().map_err(fail)?;
        let date = date.to_string();
        tx.execute(
            "DELETE FROM _tally_alert_rows WHERE alert = ?1 AND date = ?2",
            params![alert, date],
        )
        .map_err(fail)?;
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO _tally_alert_rows (alert, date, key, since) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(fail)?;
        insert
            .execute(params![alert, date, EVALUATED, date])
            .map_err(fail)?;
        for m in matched {
            insert
                .execute(params![alert, date, m.key, m.since.to_string()])
                .map_err(fail)?;
        }
        drop(insert);
        tx.commit().map_err(fail)
    }

    /// Each alert's newest evaluation: its date and the rows it matched (the alerts firing).
    pub fn alerts_firing(&self) -> Result<Vec<(String, NaiveDate, Vec<Matched>)>, StoreError> {
        let ctx = "reading the alerts that fire";
        let mut stmt = self
            .conn
            .prepare("SELECT alert, max(date) FROM _tally_alert_rows GROUP BY alert ORDER BY alert")
            .map_err(|e| self.err(ctx, e))?;
        let newest = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(ctx, e))?;
        newest
            .into_iter()
            .map(|(alert, date)| {
                let rows = self.alert_rows(&alert, &date)?;
                Ok((alert, date.parse().unwrap_or_default(), rows))
            })
            .collect()
    }
}
