//! What each delivery showed (`_tally_sent`, `_tally_sent_rows`): the report's columns, what it
//! was computed from, and each row's cells as rendered, so that a later delivery of the same
//! report can say which numbers were revised since.

use chrono::{NaiveDate, Utc};
use rusqlite::{OptionalExtension, params};

use super::slices::instant;
use super::{Store, StoreError};

/// The rows of one day as an earlier delivery showed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentDay {
    /// The day of the rows.
    pub day: String,
    /// The report date of the delivery that showed them.
    pub date: NaiveDate,
    /// The destination it went to.
    pub destination: String,
    /// The report's columns then.
    pub columns: Vec<String>,
    /// What the report was computed from then ([`Store::record_sent`]).
    pub definition: String,
    /// When it was sent (RFC 3339, UTC).
    pub sent_at: String,
    /// The rows of the day, cells as rendered.
    pub rows: Vec<Vec<String>>,
}

/// A delivery's rows to record: each row's day and its cells as rendered.
pub type SentRows = [(String, Vec<String>)];

impl Store {
    /// Records what the delivery of `report` for `date` to `destination` showed (replacing an
    /// earlier record of the same delivery, as `--force` sends it again).
    pub fn record_sent(
        &self,
        (destination, report, date): (&str, &str, NaiveDate),
        columns: &[String],
        definition: &str,
        rows: &SentRows,
    ) -> Result<(), StoreError> {
        let ctx = || format!("recording what `{report}` showed");
        let fail = |e| self.err(ctx(), e);
        let tx = self.conn.unchecked_transaction().map_err(fail)?;
        let old: Option<i64> = tx
            .query_row(
                "SELECT id FROM _tally_sent WHERE destination = ?1 AND report = ?2 AND date = ?3",
                params![destination, report, date.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(fail)?;
        if let Some(id) = old {
            tx.execute("DELETE FROM _tally_sent_rows WHERE sent = ?1", [id])
                .map_err(fail)?;
            tx.execute("DELETE FROM _tally_sent WHERE id = ?1", [id])
                .map_err(fail)?;
        }
        tx.execute(
            "INSERT INTO _tally_sent (destination, report, date, columns, definition, sent_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                destination,
                report,
                date.to_string(),
                serde_json::to_string(columns).unwrap_or_default(),
                definition,
                instant(Utc::now()),
            ],
        )
        .map_err(fail)?;
        let id = tx.last_insert_rowid();
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO _tally_sent_rows (sent, day, cells) VALUES (?1, ?2, ?3)",
                )
                .map_err(fail)?;
            for (day, cells) in rows {
                let cells = serde_json::to_string(cells).unwrap_or_default();
                insert.execute(params![id, day, cells]).map_err(fail)?;
            }
        }
        tx.commit().map_err(fail)
    }

    /// For each of `days`, its rows as the most recent delivery of `report` before `date` showed
    /// them: to `destination`, or to any destination when `None`. Days no earlier delivery
    /// showed are left out.
    pub fn earlier_days(
        &self,
        (destination, report, date): (Option<&str>, &str, NaiveDate),
        days: &[String],
    ) -> Result<Vec<SentDay>, StoreError> {
        let ctx = || format!("reading what `{report}` showed before");
        let fail = |e| self.err(ctx(), e);
        let mut found = Vec::new();
        for day in days {
            let head = self
                .conn
                .query_row(
                    "SELECT s.id, s.date, s.destination, s.columns, s.definition, s.sent_at
                     FROM _tally_sent AS s
                     WHERE (?1 IS NULL OR s.destination = ?1) AND s.report = ?2 AND s.date < ?3
                       AND EXISTS (SELECT 1 FROM _tally_sent_rows AS r
                                   WHERE r.sent = s.id AND r.day = ?4)
                     ORDER BY s.date DESC, s.sent_at DESC LIMIT 1",
                    params![destination, report, date.to_string(), day],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, String>(5)?,
                        ))
                    },
                )
                .optional()
                .map_err(fail)?;
            let Some((id, sent_date, destination, columns, definition, sent_at)) = head else {
                continue;
            };
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT cells FROM _tally_sent_rows WHERE sent = ?1 AND day = ?2 ORDER BY rowid",
                )
                .map_err(fail)?;
            let rows = stmt
                .query_map(params![id, day], |r| r.get::<_, String>(0))
                .map_err(fail)?
                .map(|cells| {
                    cells.map(|c| serde_json::from_str::<Vec<String>>(&c).unwrap_or_default())
                })
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(fail)?;
            found.push(SentDay {
                day: day.clone(),
                date: sent_date.parse().unwrap_or(date),
                destination,
                columns: serde_json::from_str(&columns).unwrap_or_default(),
                definition,
                sent_at,
                rows,
            });
        }
        Ok(found)
    }

    /// Forgets the rows of days before `first_kept`, as the rollups forget theirs (`keep`), and
    /// the alert evaluations of dates before it but each alert's newest.
    pub fn prune_sent(&self, first_kept: NaiveDate) -> Result<(), StoreError> {
        let fail = |e| self.err("pruning what deliveries showed", e);
        self.conn
            .execute(
                "DELETE FROM _tally_sent_rows WHERE day <> '' AND day < ?1",
                [first_kept.to_string()],
            )
            .map_err(fail)?;
        self.conn
            .execute(
                "DELETE FROM _tally_sent WHERE date < ?1
                   AND NOT EXISTS (SELECT 1 FROM _tally_sent_rows WHERE sent = _tally_sent.id)",
                [first_kept.to_string()],
            )
            .map_err(fail)?;
        // What alerts matched: older evaluations go, each alert's newest stays (it is what the
        // next date compares with, and what `tally status` shows).
        self.conn
            .execute(
                "DELETE FROM _tally_alert_rows WHERE date < ?1
                   AND date < (SELECT max(date) FROM _tally_alert_rows AS newest
                               WHERE newest.alert = _tally_alert_rows.alert)",
                [first_kept.to_string()],
            )
            .map(|_| ())
            .map_err(fail)
    }

    /// The reasons the slices of `rollups` whose days lie in `[first, last]` changed after
    /// `since` (RFC 3339): `new`, `lookback` or `refresh`.
    pub fn changes_since(
        &self,
        rollups: &[&str],
        (first, last): (&str, &str),
        since: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut reasons = Vec::new();
        for rollup in rollups {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT DISTINCT changed_by FROM _tally_slices
                     WHERE rollup = ?1 AND day BETWEEN ?2 AND ?3 AND changed_at > ?4
                       AND changed_by IS NOT NULL",
                )
                .map_err(|e| self.err("reading why slices changed", e))?;
            let found = stmt
                .query_map(params![rollup, first, last, since], |r| {
                    r.get::<_, String>(0)
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(|e| self.err("reading why slices changed", e))?;
            reasons.extend(found);
        }
        reasons.sort();
        reasons.dedup();
        Ok(reasons)
    }
}
