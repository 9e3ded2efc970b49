//! Rollup tables: `<rollup>` holds one row per day, user and dimension values. With sub-day slices
//! each slice's rows are kept in `_tally_<rollup>_slices` and the day's rows are rebuilt from them
//! (measures added up exactly in Rust) inside the slice's transaction.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{CachedStatement, Connection, OptionalExtension, params, params_from_iter};

use super::digest::Digest;
use super::slices::{instant, pulled_instant};
use super::{Store, StoreError, literal, quote};
use crate::rollup::{Agg, Rollup};
use crate::value::Value;

/// Name of the table of per-slice rows of a rollup with sub-day slices.
fn slice_table(rollup: &Rollup) -> String {
    quote(&format!("_tally_{}_slices", rollup.name))
}

fn columns(rollup: &Rollup) -> Vec<String> {
    rollup
        .dimensions
        .iter()
        .map(|d| quote(&d.name))
        .chain(rollup.measures.iter().map(|m| quote(&m.name)))
        .collect()
}

/// The rollup's columns with their declared types, which BI tools read: counts are INTEGER,
/// sums TEXT (exact decimals in plain notation; SQLite's NUMERIC would make them floats),
/// dimensions and min/max keep the source's values as they are (no type).
fn typed_columns(rollup: &Rollup) -> Vec<String> {
    rollup
        .dimensions
        .iter()
        .map(|d| quote(&d.name))
        .chain(rollup.measures.iter().map(|m| {
            let ty = match m.agg {
                Agg::Count => " INTEGER",
                Agg::Sum => " TEXT",
                Agg::Min | Agg::Max => "",
            };
            format!("{}{ty}", quote(&m.name))
        }))
        .collect()
}

/// `<rollup>_bi`: the rollup for BI tools, with its sums as REAL (approximate: the table's TEXT
/// values stay the truth).
fn bi_view(rollup: &Rollup) -> String {
    let cols: Vec<String> = ["day".to_string(), "user".to_string()]
        .into_iter()
        .chain(rollup.dimensions.iter().map(|d| quote(&d.name)))
        .chain(rollup.measures.iter().map(|m| match m.agg {
            Agg::Sum => format!("CAST({0} AS REAL) AS {0}", quote(&m.name)),
            _ => quote(&m.name),
        }))
        .collect();
    format!(
        "CREATE VIEW IF NOT EXISTS {} AS SELECT {} FROM {};",
        quote(&bi_name(rollup)),
        cols.join(", "),
        quote(&rollup.name)
    )
}

/// The name of the rollup's view for BI tools.
fn bi_name(rollup: &Rollup) -> String {
    format!("{}_bi", rollup.name)
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

impl Store {
    /// Creates the rollup's tables. When the rollup's definition changed since its rows were
    /// pulled, its rows and checkpoints are dropped so that it is pulled again; returns true then.
    pub fn ensure_rollup(&mut self, rollup: &Rollup) -> Result<bool, StoreError> {
        let ctx = || format!("preparing the tables of `{}`", rollup.name);
        let stored = self.fingerprint(rollup).map_err(|e| self.err(ctx(), e))?;
        let fingerprint = rollup.fingerprint();
        if stored.as_deref() == Some(fingerprint.as_str()) {
            // Stores made before the view existed get it too.
            self.conn
                .execute_batch(&bi_view(rollup))
                .map_err(|e| self.err(ctx(), e))?;
            return Ok(false);
        }
        for (table, kind) in [(rollup.name.clone(), "rollup"), (bi_name(rollup), "view")] {
            self.claim(&table, kind)?;
        }
        let cols = typed_columns(rollup).join(", ");
        let name = quote(&rollup.name);
        let slices = slice_table(rollup);
        let index = quote(&format!("{}_day", rollup.name));
        let mut sql = format!(
            "BEGIN IMMEDIATE;
             DROP VIEW IF EXISTS {view};
             DROP TABLE IF EXISTS {name};
             DROP TABLE IF EXISTS {slices};
             DELETE FROM _tally_slices WHERE rollup = {lit};
             CREATE TABLE {name} (day TEXT NOT NULL, user TEXT{sep}{cols});
             CREATE INDEX {index} ON {name} (day);
             {bi}",
            view = quote(&bi_name(rollup)),
            bi = bi_view(rollup),
            lit = literal(&rollup.name),
            sep = if cols.is_empty() { "" } else { ", " },
        );
        if rollup.slice_hours < 24 {
            let key: Vec<String> = std::iter::once("user".to_string())
                .chain(rollup.dimensions.iter().map(|d| quote(&d.name)))
                .collect();
            sql.push_str(&format!(
                "CREATE TABLE {slices} (slice TEXT NOT NULL, day TEXT NOT NULL, user, {cols});
                 CREATE INDEX {} ON {slices} (slice);
                 CREATE INDEX {} ON {slices} (day, {});",
                quote(&format!("_tally_{}_slices_slice", rollup.name)),
                quote(&format!("_tally_{}_slices_day", rollup.name)),
                key.join(", ")
            ));
        }
        sql.push_str(&format!(
            "INSERT OR REPLACE INTO _tally_rollups (name, fingerprint, created_at)
             VALUES ({lit}, {}, {});
             INSERT OR IGNORE INTO _tally_tables (name, kind)
             VALUES ({lit}, 'rollup'), ({}, 'view');
             COMMIT;",
            literal(&fingerprint),
            literal(&instant(Utc::now())),
            literal(&bi_name(rollup)),
            lit = literal(&rollup.name),
        ));
        if let Err(e) = self.conn.execute_batch(&sql) {
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(self.err(ctx(), e));
        }
        Ok(stored.is_some())
    }

    /// True when the rollup's rows in the store were pulled with its current definition.
    pub fn rollup_is_current(&self, rollup: &Rollup) -> Result<bool, StoreError> {
        let stored = self
            .fingerprint(rollup)
            .map_err(|e| self.err(format!("reading the definition of `{}`", rollup.name), e))?;
        Ok(stored.as_deref() == Some(rollup.fingerprint().as_str()))
    }

    fn fingerprint(&self, rollup: &Rollup) -> rusqlite::Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT fingerprint FROM _tally_rollups WHERE name = ?1",
                [&rollup.name],
                |r| r.get(0),
            )
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
    }

    /// Starts replacing one slice: opens the transaction and deletes the slice's old rows.
    /// Rows go in with [`SliceWriter::insert`]; nothing is visible until [`SliceWriter::commit`].
    ///
    /// With `pieces`, the slice arrives in several sub-range queries (after a statement timeout),
    /// so the same user and dimension values may come more than once: rows then go to a staging
    /// table and are added up into the day at commit, as sub-day slices always are.
    ///
    /// A day slice pulled again (the lookback) goes to that staging table too: most come back
    /// unchanged, and then the day's rows are never touched (no delete and re-insert of every
    /// row under the rollup's index, only to roll them back).
    pub fn begin_slice<'s>(
        &'s self,
        rollup: &'s Rollup,
        day: NaiveDate,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        pieces: bool,
    ) -> Result<SliceWriter<'s>, StoreError> {
        let ctx = || format!("replacing a slice of `{}`", rollup.name);
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(ctx(), e))?;
        let day = day.to_string();
        let cols = columns(rollup).join(", ");
        let sep = if cols.is_empty() { "" } else { ", " };
        let width = columns(rollup).len() + 1;
        let prepared = self
            .staging(rollup, (start, end), pieces)
            .and_then(|staging| {
                let (into, head) = match &staging {
                    Some(table) => (
                        format!("{table} (slice, day, user{sep}{cols})"),
                        vec![Value::Text(instant(start)), Value::Text(day.clone())],
                    ),
                    None => (
                        format!("{} (day, user{sep}{cols})", quote(&rollup.name)),
                        vec![Value::Text(day.clone())],
                    ),
                };
                self.clear_slice(rollup, staging.as_deref(), &day, start, &cols)?;
                let (insert_one, insert_chunk, chunk) = self.inserts(&into, head.len() + width)?;
                Ok((staging, head, insert_one, insert_chunk, chunk))
            });
        let (staging, head, insert_one, insert_chunk, chunk) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(self.err(ctx(), e));
            }
        };
        Ok(SliceWriter {
            store: self,
            rollup,
            day,
            start,
            end,
            insert_one,
            insert_chunk,
            chunk,
            head,
            staging,
            digest: Digest::default(),
            piece_mark: None,
            done: false,
        })
    }

    /// Where the slice's rows gather before they are added up into the day: the rollup's slice
    /// table for sub-day slices, a temporary table for a slice that comes in pieces or again;
    /// `None` when they go straight into the day.
    fn staging(
        &self,
        rollup: &Rollup,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        pieces: bool,
    ) -> rusqlite::Result<Option<String>> {
        let again = self
            .conn
            .prepare_cached(
                "SELECT 1 FROM _tally_slices WHERE rollup = ?1 AND start = ?2 AND end = ?3",
            )?
            .exists(params![rollup.name, instant(start), instant(end)])?;
        Ok(if rollup.slice_hours < 24 {
            Some(slice_table(rollup))
        } else if pieces || again {
            Some(quote(&format!("_tally_{}_pieces", rollup.name)))
        } else {
            None
        })
    }

    /// The prepared inserts of one row and of a chunk of rows of `width` values into `into`,
    /// and the chunk's length.
    fn inserts<'s>(
        &'s self,
        into: &str,
        width: usize,
    ) -> rusqlite::Result<(CachedStatement<'s>, CachedStatement<'s>, usize)> {
        let row = format!("({})", placeholders(width));
        let chunk = CHUNK.min(MAX_PARAMS / width).max(1);
        let insert = |rows: usize| {
            format!(
                "INSERT INTO {into} VALUES {}",
                vec![row.as_str(); rows].join(", ")
            )
        };
        Ok((
            self.conn.prepare_cached(&insert(1))?,
            self.conn.prepare_cached(&insert(chunk))?,
            chunk,
        ))
    }

    /// Deletes the slice's old rows, or empties the temporary table its pieces gather in.
    fn clear_slice(
        &self,
        rollup: &Rollup,
        staging: Option<&str>,
        day: &str,
        start: DateTime<Utc>,
        cols: &str,
    ) -> rusqlite::Result<()> {
        let sep = if cols.is_empty() { "" } else { ", " };
        match staging {
            Some(table) if rollup.slice_hours < 24 => self
                .conn
                .execute(
                    &format!("DELETE FROM {table} WHERE slice = ?1"),
                    [instant(start)],
                )
                .map(|_| ()),
            // A temporary table: private to this connection, gone when it closes.
            Some(table) => self.conn.execute_batch(&format!(
                "CREATE TEMP TABLE IF NOT EXISTS {table} (slice TEXT, day TEXT, user{sep}{cols});
                 DELETE FROM temp.{table};"
            )),
            None => self
                .conn
                .execute(
                    &format!("DELETE FROM {} WHERE day = ?1", quote(&rollup.name)),
                    [day],
                )
                .map(|_| ()),
        }
    }

    /// Deletes rows and checkpoints of days before `first_kept`, and only those. A prune that
    /// empties a rollup that had rows says so, with how much it removes.
    pub fn prune(&self, rollup: &Rollup, first_kept: NaiveDate) -> Result<usize, StoreError> {
        let day = first_kept.to_string();
        let ctx = || format!("pruning `{}`", rollup.name);
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.err(ctx(), e))?;
        let table = quote(&rollup.name);
        let (old_rows, old_days, all_rows): (i64, i64, i64) = tx
            .query_row(
                &format!(
                    "SELECT (SELECT count(*) FROM {table} WHERE day < ?1),
                            (SELECT count(DISTINCT day) FROM {table} WHERE day < ?1),
                            (SELECT count(*) FROM {table})"
                ),
                [&day],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| self.err(ctx(), e))?;
        if old_rows > 0 && old_rows == all_rows {
            tracing::warn!(
                "rollup `{}`: keep ({} days) removes all of its {old_rows} rows, over {old_days} days before {day}",
                rollup.name,
                rollup.keep_days
            );
        }
        let mut deleted = tx
            .execute(&format!("DELETE FROM {table} WHERE day < ?1"), [&day])
            .map_err(|e| self.err(ctx(), e))?;
        if rollup.slice_hours < 24 {
            deleted += tx
                .execute(
                    &format!("DELETE FROM {} WHERE day < ?1", slice_table(rollup)),
                    [&day],
                )
                .map_err(|e| self.err(ctx(), e))?;
        }
        Store::prune_runs(&tx, &rollup.name, &day).map_err(|e| self.err(ctx(), e))?;
        tx.execute(
            "DELETE FROM _tally_slices WHERE rollup = ?1 AND day < ?2",
            params![rollup.name, day],
        )
        .map_err(|e| self.err(ctx(), e))?;
        tx.commit().map_err(|e| self.err(ctx(), e))?;
        Ok(deleted)
    }
}

/// One slice being replaced, inside an open transaction. Dropping it without
/// [`commit`](SliceWriter::commit) rolls back: the old slice stays as it was.
pub struct SliceWriter<'s> {
    store: &'s Store,
    rollup: &'s Rollup,
    day: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// The prepared one-row insert, held for the slice's lifetime.
    insert_one: CachedStatement<'s>,
    /// The prepared insert of `chunk` rows at once: fewer statement runs for the same rows.
    insert_chunk: CachedStatement<'s>,
    chunk: usize,
    /// The values before the user in every inserted row: (slice, day) or (day).
    head: Vec<Value>,
    /// Where rows wait to be added up into the day at commit (sub-day slices, or pieces).
    staging: Option<String>,
    /// The digest of the rows inserted so far.
    digest: Digest,
    /// The digest when the current piece began, to undo a failed piece's rows.
    piece_mark: Option<Digest>,
    done: bool,
}

impl SliceWriter<'_> {
    /// Adds rows (user, dimension values, measures) of the slice.
    pub fn insert(&mut self, rows: &[Vec<Value>]) -> Result<(), StoreError> {
        self.digest.add(rows);
        self.insert_rows(rows).map_err(|e| {
            self.store
                .err(format!("writing rows of `{}`", self.rollup.name), e)
        })
    }

    /// Inserts whole chunks with the multi-row statement, the rest one by one.
    fn insert_rows(&mut self, rows: &[Vec<Value>]) -> rusqlite::Result<()> {
        let mut chunks = rows.chunks_exact(self.chunk);
        for chunk in &mut chunks {
            execute(&mut self.insert_chunk, &self.head, chunk)?;
        }
        for row in chunks.remainder() {
            execute(&mut self.insert_one, &self.head, std::slice::from_ref(row))?;
        }
        Ok(())
    }

    /// Marks the start of one piece of the slice: a piece that fails can be undone alone.
    pub fn begin_piece(&mut self) -> Result<(), StoreError> {
        self.piece_mark = Some(self.digest);
        self.batch("SAVEPOINT piece")
    }

    /// Keeps the rows of the piece.
    pub fn keep_piece(&mut self) -> Result<(), StoreError> {
        self.piece_mark = None;
        self.batch("RELEASE piece")
    }

    /// Undoes the rows of a piece that failed halfway.
    pub fn drop_piece(&mut self) -> Result<(), StoreError> {
        if let Some(mark) = self.piece_mark.take() {
            self.digest = mark;
        }
        self.batch("ROLLBACK TO piece; RELEASE piece")
    }

    fn batch(&self, sql: &str) -> Result<(), StoreError> {
        self.store.conn.execute_batch(sql).map_err(|e| {
            self.store
                .err(format!("writing a piece of `{}`", self.rollup.name), e)
        })
    }

    /// Adds up the staged rows into the day (sub-day slices, pieces), records the checkpoint
    /// and commits, atomically. When the slice's rows are the ones already stored (same digest),
    /// nothing but the checkpoint's time changes, and the day's cached scores stay valid; returns
    /// false then.
    pub fn commit(
        mut self,
        rows: u64,
        pulled_at: DateTime<Utc>,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let ctx = || format!("committing a slice of `{}`", self.rollup.name);
        let digest = self.digest.text();
        let stored: Option<String> = self
            .store
            .conn
            .query_row(
                "SELECT digest FROM _tally_slices WHERE rollup = ?1 AND start = ?2 AND end = ?3 AND rows = ?4",
                params![self.rollup.name, instant(self.start), instant(self.end), rows as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.store.err(ctx(), e))?
            .flatten();
        if stored.as_deref() == Some(digest.as_str()) {
            self.done = true;
            self.store
                .conn
                .execute_batch("ROLLBACK")
                .map_err(|e| self.store.err(ctx(), e))?;
            self.store
                .conn
                .execute(
                    "UPDATE _tally_slices SET pulled_at = ?3 WHERE rollup = ?1 AND start = ?2",
                    params![
                        self.rollup.name,
                        instant(self.start),
                        pulled_instant(pulled_at)
                    ],
                )
                .map_err(|e| self.store.err(ctx(), e))?;
            return Ok(false);
        }
        if let Some(staging) = &self.staging {
            rebuild_day(&self.store.conn, self.rollup, staging, &self.day)
                .map_err(|e| self.store.err(ctx(), e))?;
        }
        self.store
            .conn
            .execute(
                "INSERT OR REPLACE INTO _tally_slices
                   (rollup, start, end, day, rows, pulled_at, digest, changed_by, changed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    self.rollup.name,
                    instant(self.start),
                    instant(self.end),
                    self.day,
                    rows as i64,
                    pulled_instant(pulled_at),
                    digest,
                    reason,
                    pulled_instant(Utc::now()),
                ],
            )
            .map_err(|e| self.store.err(ctx(), e))?;
        self.store
            .conn
            .execute_batch("COMMIT")
            .map_err(|e| self.store.err(ctx(), e))?;
        self.done = true;
        Ok(true)
    }
}

impl Drop for SliceWriter<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.store.conn.execute_batch("ROLLBACK");
        }
    }
}

/// Rows per multi-row INSERT.
const CHUNK: usize = 32;

/// Bound parameters per statement that every SQLite build accepts.
const MAX_PARAMS: usize = 999;

/// Runs a prepared insert of `rows.len()` rows, each after the `head` values.
fn execute(
    stmt: &mut CachedStatement,
    head: &[Value],
    rows: &[Vec<Value>],
) -> rusqlite::Result<()> {
    // Users are keys shared across sources: always text, even from a numeric column.
    let users: Vec<Cow<Value>> = rows
        .iter()
        .map(|row| match row.first() {
            Some(user @ (Value::Text(_) | Value::Null)) => Cow::Borrowed(user),
            Some(user) => Cow::Owned(user.to_key().map_or(Value::Null, Value::Text)),
            None => Cow::Owned(Value::Null),
        })
        .collect();
    let values = rows.iter().zip(&users).flat_map(|(row, user)| {
        head.iter()
            .chain(std::iter::once(user.as_ref()))
            .chain(row.iter().skip(1))
    });
    stmt.execute(params_from_iter(values)).map(|_| ())
}

/// Replaces the day's rows with the sum of its slices' rows. Streams the slice rows in key order
/// and merges neighbours, so memory does not grow with the day's size.
fn rebuild_day(
    conn: &Connection,
    rollup: &Rollup,
    staging: &str,
    day: &str,
) -> rusqlite::Result<()> {
    let name = quote(&rollup.name);
    conn.execute(&format!("DELETE FROM {name} WHERE day = ?1"), [day])?;
    let cols = columns(rollup);
    let keys = 1 + rollup.dimensions.len();
    let key_cols: Vec<String> = std::iter::once("user".to_string())
        .chain(rollup.dimensions.iter().map(|d| quote(&d.name)))
        .collect();
    let select = format!(
        "SELECT user{}{} FROM {} WHERE day = ?1 ORDER BY {}",
        if cols.is_empty() { "" } else { ", " },
        cols.join(", "),
        staging,
        key_cols.join(", ")
    );
    let insert = format!(
        "INSERT INTO {name} (day, user{}{}) VALUES (?, {})",
        if cols.is_empty() { "" } else { ", " },
        cols.join(", "),
        placeholders(cols.len() + 1)
    );
    let mut read = conn.prepare(&select)?;
    let mut write = conn.prepare(&insert)?;
    let day_value = Value::Text(day.to_string());
    let mut flush = |row: &[Value]| -> rusqlite::Result<()> {
        write.execute(params_from_iter(std::iter::once(&day_value).chain(row)))?;
        Ok(())
    };
    let mut current: Option<Vec<Value>> = None;
    let mut rows = read.query([day])?;
    while let Some(r) = rows.next()? {
        let row: Vec<Value> = (0..keys + rollup.measures.len())
            .map(|i| r.get_ref(i).map(|v| Value::from_sqlite(v, i >= keys)))
            .collect::<rusqlite::Result<_>>()?;
        match &mut current {
            Some(acc) if acc[..keys] == row[..keys] => {
                for (m, measure) in rollup.measures.iter().enumerate() {
                    let i = keys + m;
                    acc[i] = merge(measure.agg, &acc[i], &row[i]);
                }
            }
            _ => {
                if let Some(done) = current.replace(row) {
                    flush(&done)?;
                }
            }
        }
    }
    if let Some(done) = current {
        flush(&done)?;
    }
    Ok(())
}

/// Combines one measure of two slices of the same day.
fn merge(agg: Agg, a: &Value, b: &Value) -> Value {
    use std::cmp::Ordering::*;
    match (agg, a, b) {
        (_, Value::Null, v) | (_, v, Value::Null) => v.clone(),
        (Agg::Count | Agg::Sum, a, b) => a.add(b),
        (Agg::Min, a, b) => if a.compare(b) == Greater { b } else { a }.clone(),
        (Agg::Max, a, b) => if a.compare(b) == Less { b } else { a }.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rollup of `count(*)` per user and `kind`, in daily slices.
    fn rollup() -> Rollup {
        Rollup {
            name: "r".into(),
            source: "s".into(),
            table: vec!["t".into()],
            time: "at".into(),
            user: "who".into(),
            dimensions: vec![crate::rollup::Dimension {
                name: "kind".into(),
                expr: "kind".into(),
            }],
            measures: vec![crate::rollup::Measure {
                name: "n".into(),
                agg: Agg::Count,
                arg: "*".into(),
            }],
            filter: None,
            slice_hours: 24,
            lookback: std::time::Duration::ZERO,
            keep_days: 90,
            day_zone: chrono_tz::UTC,
            source_zone: chrono_tz::UTC,
            allow_full_scan: false,
        }
    }

    #[test]
    fn rows_go_in_by_chunks_and_one_by_one_with_users_as_text() {
        let dir = tempfile::tempdir().unwrap();
        let rollup = &rollup();
        let mut store = Store::open(&dir.path().join("store.sqlite")).unwrap();
        store.ensure_rollup(rollup).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 6, 10).unwrap();
        let start = crate::days::day_start(chrono_tz::UTC, day);
        let end = start + chrono::TimeDelta::days(1);
        // 70 rows: two chunks of 32, then 6 one by one; integer users are stored as text.
        let rows: Vec<Vec<Value>> = (0..70)
            .map(|i| {
                vec![
                    Value::Int(i),
                    Value::Text(format!("k{}", i % 3)),
                    Value::Int(i),
                ]
            })
            .collect();
        let mut writer = store.begin_slice(rollup, day, (start, end), false).unwrap();
        writer.insert(&rows).unwrap();
        writer
            .insert(&[vec![Value::Null, Value::Null, Value::Int(1000)]])
            .unwrap();
        writer.commit(71, Utc::now(), "new").unwrap();
        let (count, texts, sum, users): (i64, i64, i64, String) = store
            .conn
            .query_row(
                "SELECT count(*), sum(typeof(user) = 'text'), sum(n), group_concat(user, ',')
                 FROM (SELECT * FROM r WHERE day = '2026-06-10' ORDER BY rowid)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!((count, texts, sum), (71, 70, 70 * 69 / 2 + 1000));
        let expected: Vec<String> = (0..70).map(|i| i.to_string()).collect();
        assert_eq!(users, expected.join(","));
    }
}
