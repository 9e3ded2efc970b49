//! Sorted runs: a day's per-user result (a segment's partial scores, the per-user sums of a
//! measure), stored in user order as chunks of encoded entries in `_tally_sorted`, with what it was
//! computed from in `_tally_sorted_heads`. Readers stream a run a chunk at a time, so scoring a
//! million users holds a few chunks per day, not a million entries; and a run whose inputs did
//! not change is read instead of computed again.

use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::segments::days_from;
use super::{Store, StoreError, quote};

/// About how many bytes one chunk holds.
const CHUNK_BYTES: usize = 64 * 1024;

impl Store {
    /// True when the run `name` of `day` was computed from `version`.
    pub fn run_is_current(&self, name: &str, day: &str, version: &str) -> Result<bool, StoreError> {
        let stored: Option<String> = self
            .conn
            .query_row(
                "SELECT version FROM _tally_sorted_heads WHERE name = ?1 AND day = ?2",
                params![name, day],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(format!("reading run `{name}` of {day}"), e))?;
        Ok(stored.as_deref() == Some(version))
    }

    /// Starts writing the run `name` of `day` (computed from `version`, out of `rollup`'s rows);
    /// it replaces the old one when committed.
    pub fn begin_run<'a>(
        &'a self,
        name: &'a str,
        day: &'a str,
        version: &'a str,
        rollup: &'a str,
    ) -> Result<RunWriter<'a>, StoreError> {
        let ctx = || format!("writing run `{name}` of {day}");
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.err(ctx(), e))?;
        tx.execute(
            "DELETE FROM _tally_sorted WHERE name = ?1 AND day = ?2",
            params![name, day],
        )
        .map_err(|e| self.err(ctx(), e))?;
        Ok(RunWriter {
            store: self,
            tx,
            name,
            day,
            version,
            rollup,
            chunk: 0,
            buf: Vec::with_capacity(CHUNK_BYTES + 1024),
            last: None,
        })
    }

    /// Chunk `chunk` of the run `name` of `day`, or `None` past its end.
    fn run_chunk(&self, name: &str, day: &str, chunk: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT data FROM _tally_sorted WHERE name = ?1 AND day = ?2 AND chunk = ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![name, day, chunk], |r| r.get(0))
                    .optional()
            })
            .map_err(|e| self.err(format!("reading run `{name}` of {day}"), e))
    }

    /// A reader of the run `name` of `day`, in user order.
    pub fn read_run<'a>(&'a self, name: &str, day: &str) -> RunReader<'a> {
        RunReader {
            store: self,
            name: name.to_string(),
            day: day.to_string(),
            next_chunk: 0,
            buf: Vec::new(),
            pos: 0,
            done: false,
        }
    }

    /// Hands the rollup's rows of `day` (whose user is not NULL) to `each` in user order: the
    /// user, then the given columns (`None` reads as NULL). SQLite sorts them, in bounded memory
    /// (it spills to temporary files).
    pub fn each_row_of_day_by_user(
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
            "SELECT user, {} {} AND user IS NOT NULL ORDER BY user",
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

    /// Removes the runs computed from `rollup`'s days before `first_kept` (they went with the
    /// rollup's rows).
    pub(super) fn prune_runs(
        tx: &Transaction<'_>,
        rollup: &str,
        first_kept: &str,
    ) -> rusqlite::Result<usize> {
        tx.execute(
            "DELETE FROM _tally_sorted WHERE (name, day) IN
               (SELECT name, day FROM _tally_sorted_heads WHERE rollup = ?1 AND day < ?2)",
            params![rollup, first_kept],
        )?;
        tx.execute(
            "DELETE FROM _tally_sorted_heads WHERE rollup = ?1 AND day < ?2",
            params![rollup, first_kept],
        )
    }
}

/// Writes one run, entry by entry, in increasing user order.
pub struct RunWriter<'a> {
    store: &'a Store,
    tx: Transaction<'a>,
    name: &'a str,
    day: &'a str,
    version: &'a str,
    rollup: &'a str,
    chunk: i64,
    buf: Vec<u8>,
    /// The last user written, to check the order.
    last: Option<String>,
}

impl RunWriter<'_> {
    /// Appends `user`'s entry. Users must come in increasing order (bytewise, as SQLite sorts
    /// text), each once.
    pub fn push(&mut self, user: &str, payload: &[u8]) -> Result<(), StoreError> {
        if self.last.as_deref().is_some_and(|last| last >= user) {
            return Err(StoreError::Data(format!(
                "run `{}` of {}: user `{user}` out of order",
                self.name, self.day
            )));
        }
        self.last = Some(user.to_string());
        self.buf
            .extend_from_slice(&(user.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(user.as_bytes());
        self.buf
            .extend_from_slice(&(payload.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(payload);
        if self.buf.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.tx
            .execute(
                "INSERT INTO _tally_sorted (name, day, chunk, data) VALUES (?1, ?2, ?3, ?4)",
                params![self.name, self.day, self.chunk, self.buf],
            )
            .map_err(|e| self.store.err(format!("writing run `{}`", self.name), e))?;
        self.chunk += 1;
        self.buf.clear();
        Ok(())
    }

    /// Writes the rest and the run's head, and commits.
    pub fn commit(mut self) -> Result<(), StoreError> {
        self.flush()?;
        let ctx = || format!("writing run `{}` of {}", self.name, self.day);
        self.tx
            .execute(
                "INSERT OR REPLACE INTO _tally_sorted_heads (name, day, version, rollup, chunks)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![self.name, self.day, self.version, self.rollup, self.chunk],
            )
            .map_err(|e| self.store.err(ctx(), e))?;
        self.tx.commit().map_err(|e| self.store.err(ctx(), e))
    }
}

/// Reads one run in user order, a chunk at a time.
pub struct RunReader<'a> {
    store: &'a Store,
    name: String,
    day: String,
    next_chunk: i64,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
}

impl RunReader<'_> {
    /// Loads the next chunk when the current one is read through; after this, [`peek`] shows
    /// the current entry.
    ///
    /// [`peek`]: RunReader::peek
    pub fn fill(&mut self) -> Result<(), StoreError> {
        while self.pos >= self.buf.len() && !self.done {
            match self
                .store
                .run_chunk(&self.name, &self.day, self.next_chunk)?
            {
                Some(chunk) => {
                    self.buf = chunk;
                    self.pos = 0;
                    self.next_chunk += 1;
                }
                None => {
                    self.done = true;
                    self.buf = Vec::new();
                    self.pos = 0;
                }
            }
        }
        Ok(())
    }

    /// The current entry (user, payload) after [`RunReader::fill`]; `None` at the end.
    pub fn peek(&self) -> Result<Option<(&str, &[u8])>, StoreError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let damaged = || {
            StoreError::Data(format!(
                "run `{}` of {} is damaged; delete it from _tally_sorted_heads to compute it again",
                self.name, self.day
            ))
        };
        let (user, next) = field(&self.buf, self.pos).ok_or_else(damaged)?;
        let (payload, _) = field(&self.buf, next).ok_or_else(damaged)?;
        let user = std::str::from_utf8(user).map_err(|_| damaged())?;
        Ok(Some((user, payload)))
    }

    /// Moves past the current entry.
    pub fn advance(&mut self) {
        self.pos = field(&self.buf, self.pos)
            .and_then(|(_, next)| field(&self.buf, next))
            .map_or(self.buf.len(), |(_, end)| end);
    }
}

/// A length-prefixed field at `pos`: its bytes and where the next field starts.
fn field(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let len = u32::from_le_bytes(buf.get(pos..pos + 4)?.try_into().ok()?) as usize;
    let start = pos + 4;
    Some((buf.get(start..start + len)?, start + len))
}
