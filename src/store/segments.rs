//! The `<segment>` tables that SQL reports read: the members of a segment per day, written as
//! scoring streams them.

use rusqlite::{OptionalExtension, Transaction};

use super::{Store, StoreError, literal, quote};

impl Store {
    /// Makes sure the `<segment>` table, when there, has tally's current layout (keyed by day
    /// and user); one of an older layout is dropped, to be written again. True when it is there.
    pub fn segment_table_ready(&self, segment: &str) -> Result<bool, StoreError> {
        let sql: Option<String> = self
            .conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [segment],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(format!("reading segment `{segment}`"), e))?;
        match sql {
            None => Ok(false),
            Some(sql) if sql.contains("WITHOUT ROWID") => Ok(true),
            Some(_) => {
                self.claim(segment, "segment")?;
                self.conn
                    .execute_batch(&format!("DROP TABLE {}", quote(segment)))
                    .map_err(|e| self.err(format!("replacing segment `{segment}`"), e))?;
                Ok(false)
            }
        }
    }

    /// Starts replacing `days` of the `<segment>` table (created when missing): one row per day
    /// and user, keyed by them (rows arrive in that order, so the table grows at its end).
    pub fn begin_segment<'a>(
        &'a self,
        segment: &'a str,
        days: &[String],
    ) -> Result<SegmentWriter<'a>, StoreError> {
        let ctx = || format!("storing segment `{segment}`");
        let view = format!("{segment}_bi");
        self.claim(segment, "segment")?;
        self.claim(&view, "view")?;
        let table = quote(segment);
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.err(ctx(), e))?;
        // The view is the table as it is (its score is REAL already): every table of tally's has
        // a `_bi` name for BI tools.
        tx.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (day TEXT NOT NULL, user TEXT NOT NULL, \
                score REAL NOT NULL, segment TEXT NOT NULL, PRIMARY KEY (day, user)) WITHOUT ROWID;
             CREATE VIEW IF NOT EXISTS {} AS SELECT day, user, score, segment FROM {table};
             INSERT OR IGNORE INTO _tally_tables (name, kind) VALUES ({}, 'segment'), ({}, 'view');",
            quote(&view),
            literal(segment),
            literal(&view),
        ))
        .map_err(|e| self.err(ctx(), e))?;
        for day in days {
            tx.execute(&format!("DELETE FROM {table} WHERE day = ?1"), [day])
                .map_err(|e| self.err(ctx(), e))?;
        }
        Ok(SegmentWriter {
            store: self,
            segment,
            table,
            pending: Vec::with_capacity(CHUNK),
            tx,
        })
    }
}

/// Rows per multi-row INSERT (4 values each, under SQLite's 999 bound parameters).
const CHUNK: usize = 64;

/// One member of a segment on one day.
type Member = (String, String, f64, String);

/// Writes the members of a segment's days, in one transaction.
pub struct SegmentWriter<'a> {
    store: &'a Store,
    segment: &'a str,
    table: String,
    pending: Vec<Member>,
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
        self.pending
            .push((day.to_string(), user.to_string(), score, group.to_string()));
        if self.pending.len() == CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the pending members in one statement.
    fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let values = vec!["(?, ?, ?, ?)"; self.pending.len()].join(", ");
        let sql = format!(
            "INSERT INTO {} (day, user, score, segment) VALUES {values}",
            self.table
        );
        let params = self.pending.iter().flat_map(|(d, u, s, g)| {
            [
                rusqlite::types::Value::Text(d.clone()),
                rusqlite::types::Value::Text(u.clone()),
                rusqlite::types::Value::Real(*s),
                rusqlite::types::Value::Text(g.clone()),
            ]
        });
        self.tx
            .prepare_cached(&sql)
            .and_then(|mut s| s.execute(rusqlite::params_from_iter(params)))
            .map(|_| ())
            .map_err(|e| {
                self.store
                    .err(format!("storing segment `{}`", self.segment), e)
            })?;
        self.pending.clear();
        Ok(())
    }

    /// Commits the days.
    pub fn commit(mut self) -> Result<(), StoreError> {
        self.flush()?;
        let ctx = format!("storing segment `{}`", self.segment);
        self.tx.commit().map_err(|e| self.store.err(ctx, e))
    }
}

/// The columns of a `<segment>` table, as tally creates it.
const SEGMENT_COLUMNS: [&str; 4] = ["day", "user", "score", "segment"];

impl Store {
    /// Makes sure tally may create, replace or write `name` for a `kind` (`rollup`, `view`,
    /// `segment`): it is not there, or tally made it. A segment table that an earlier tally made
    /// before tables were recorded (exactly tally's columns) is taken as tally's.
    pub(super) fn claim(&self, name: &str, kind: &'static str) -> Result<(), StoreError> {
        let ctx = || format!("checking the table `{name}`");
        let ours: bool = self
            .conn
            .query_row(
                "SELECT count(*) > 0 FROM _tally_tables WHERE name = ?1 COLLATE NOCASE",
                [name],
                |r| r.get(0),
            )
            .map_err(|e| self.err(ctx(), e))?;
        if ours {
            return Ok(());
        }
        let columns: Vec<String> = self
            .conn
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .and_then(|mut s| s.query_map([name], |r| r.get(0))?.collect())
            .map_err(|e| self.err(ctx(), e))?;
        let exists: bool = self
            .conn
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE name = ?1 COLLATE NOCASE",
                [name],
                |r| r.get(0),
            )
            .map_err(|e| self.err(ctx(), e))?;
        let earlier_segment = kind == "segment" && columns == SEGMENT_COLUMNS;
        if exists && !earlier_segment {
            let kind = if kind == "view" { "rollup" } else { kind };
            return Err(StoreError::NotOurs {
                path: self.path.clone(),
                name: name.to_string(),
                kind,
            });
        }
        Ok(())
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
