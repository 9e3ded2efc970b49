//! Run history: one row per `tally run` (manual or scheduled), with what it pulled and delivered.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{OptionalExtension, params};

use super::slices::instant;
use super::{Store, StoreError};

/// One run as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// Row id.
    pub id: i64,
    /// Start (RFC 3339, UTC).
    pub started_at: String,
    /// End, unless still running or abandoned.
    pub finished_at: Option<String>,
    /// `running`, `ok`, `failed`, `interrupted` or `abandoned`.
    pub status: String,
    /// `manual`, `schedule`, `catch-up` or `retry`.
    pub trigger: String,
    /// The report date.
    pub report_date: String,
    /// Slices and rows pulled per rollup.
    pub pulled: String,
    /// Deliveries sent, skipped and failed.
    pub deliveries: String,
    /// The error, for failed runs.
    pub error: Option<String>,
}

impl Store {
    /// Records the start of a run; returns its id. Runs left `running` by a process that died
    /// are marked `abandoned` first (the caller holds the run lock, so none is really running).
    pub fn start_run(&self, trigger: &str, date: NaiveDate) -> Result<i64, StoreError> {
        let ctx = "recording a run";
        self.conn
            .execute(
                "UPDATE _tally_runs SET status = 'abandoned' WHERE status = 'running'",
                [],
            )
            .map_err(|e| self.err(ctx, e))?;
        self.conn
            .execute(
                "INSERT INTO _tally_runs (started_at, status, trigger, report_date, pulled, deliveries)
                 VALUES (?1, 'running', ?2, ?3, '', '')",
                params![instant(Utc::now()), trigger, date.to_string()],
            )
            .map_err(|e| self.err(ctx, e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records how a run ended.
    pub fn finish_run(
        &self,
        id: i64,
        status: &str,
        pulled: &str,
        deliveries: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE _tally_runs SET finished_at = ?2, status = ?3, pulled = ?4, deliveries = ?5, error = ?6
                 WHERE id = ?1",
                params![id, instant(Utc::now()), status, pulled, deliveries, error],
            )
            .map(|_| ())
            .map_err(|e| self.err("recording the end of a run", e))
    }

    /// The newest runs first.
    pub fn runs(&self, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
        let ctx = "reading the run history";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, started_at, finished_at, status, trigger, report_date, pulled, deliveries, error
                 FROM _tally_runs ORDER BY id DESC LIMIT ?1",
            )
            .map_err(|e| self.err(ctx, e))?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok(RunRecord {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                    finished_at: r.get(2)?,
                    status: r.get(3)?,
                    trigger: r.get(4)?,
                    report_date: r.get(5)?,
                    pulled: r.get(6)?,
                    deliveries: r.get(7)?,
                    error: r.get(8)?,
                })
            })
            .map_err(|e| self.err(ctx, e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(ctx, e))
    }

    /// When the newest successful run started.
    pub fn last_success(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<String> = self
            .conn
            .query_row(
                "SELECT max(started_at) FROM _tally_runs WHERE status = 'ok'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err("reading the run history", e))?
            .flatten();
        Ok(at
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc)))
    }

    /// A value of tally's own bookkeeping (`_tally_meta`).
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM _tally_meta WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err("reading _tally_meta", e))
    }

    /// Sets (or with `None`, removes) a value of `_tally_meta`.
    pub fn set_meta(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        let result = match value {
            Some(v) => self.conn.execute(
                "INSERT OR REPLACE INTO _tally_meta (key, value) VALUES (?1, ?2)",
                params![key, v],
            ),
            None => self
                .conn
                .execute("DELETE FROM _tally_meta WHERE key = ?1", [key]),
        };
        result
            .map(|_| ())
            .map_err(|e| self.err("writing _tally_meta", e))
    }
}
