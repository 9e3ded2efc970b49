//! Delivery records: what was sent where, so a rerun never posts the same report twice and a
//! delivery that stopped halfway resumes where it stopped.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{OptionalExtension, params};

use super::slices::{instant, pulled_instant};
use super::{Store, StoreError};

/// How far a delivery of one report for one day got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The posted message's timestamp (Slack's `ts`), once the message is out.
    pub message_ts: Option<String>,
    /// When a post was attempted that may have arrived without tally knowing its `ts` (its
    /// answer was lost, or tally stopped): the next attempt looks for it first.
    pub posting_since: Option<DateTime<Utc>>,
    /// Why the attempt of `posting_since` may have posted without tally knowing (the answer it
    /// got, like an HTTP 500); `None` when tally stopped before any answer came.
    pub attempt_note: Option<String>,
    /// The files already uploaded into the message's thread, by extension.
    pub uploaded: Vec<String>,
    /// True when everything (message and files) was delivered.
    pub done: bool,
}

impl Store {
    /// The record of `destination`, `report`, `day`; default when nothing was sent.
    pub fn delivery(
        &self,
        destination: &str,
        report: &str,
        day: NaiveDate,
    ) -> Result<Delivery, StoreError> {
        self.conn
            .query_row(
                "SELECT message_ts, done, posting_since, uploaded, attempt_note FROM _tally_deliveries
                 WHERE destination = ?1 AND report = ?2 AND day = ?3",
                params![destination, report, day.to_string()],
                |r| {
                    let since: Option<String> = r.get(2)?;
                    let uploaded: Option<String> = r.get(3)?;
                    Ok(Delivery {
                        message_ts: r.get(0)?,
                        done: r.get(1)?,
                        posting_since: since.and_then(|t| {
                            DateTime::parse_from_rfc3339(&t)
                                .ok()
                                .map(|t| t.with_timezone(&Utc))
                        }),
                        attempt_note: r.get(4)?,
                        uploaded: uploaded
                            .unwrap_or_default()
                            .split(',')
                            .filter(|f| !f.is_empty())
                            .map(String::from)
                            .collect(),
                    })
                },
            )
            .optional()
            .map(Option::unwrap_or_default)
            .map_err(|e| self.err("reading delivery records", e))
    }

    /// The newest report date `report` was delivered for, to any destination.
    pub fn last_delivered(&self, report: &str) -> Result<Option<NaiveDate>, StoreError> {
        let day: Option<String> = self
            .conn
            .query_row(
                "SELECT max(day) FROM _tally_deliveries WHERE report = ?1 AND done",
                [report],
                |r| r.get(0),
            )
            .map_err(|e| self.err("reading delivery records", e))?;
        Ok(day.and_then(|d| d.parse().ok()))
    }

    /// Records how far a delivery got (committed at once: it is the crash-safety point).
    pub fn record_delivery(
        &self,
        destination: &str,
        report: &str,
        day: NaiveDate,
        delivery: &Delivery,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO _tally_deliveries
                   (destination, report, day, message_ts, done, updated_at, posting_since, uploaded,
                    attempt_note)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    destination,
                    report,
                    day.to_string(),
                    delivery.message_ts,
                    delivery.done,
                    instant(Utc::now()),
                    delivery.posting_since.map(pulled_instant),
                    delivery.uploaded.join(","),
                    delivery.attempt_note,
                ],
            )
            .map(|_| ())
            .map_err(|e| self.err("recording a delivery", e))
    }
}
