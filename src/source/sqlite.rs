//! SQLite files as sources (the demo uses them): opened read-only, with an exact `tally_sum`
//! aggregate and a statement timeout enforced by a progress handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags};
use rust_decimal::Decimal;

use super::query::{Dialect, slice_sql};
use super::{Errors, PullError, SourceError, TableInfo};
use crate::config::{Agg, Rollup, SourceSpec};
use crate::value::Value;

/// An open, read-only SQLite source.
pub struct Sqlite {
    conn: Connection,
    timezone: Tz,
    timeout: Duration,
    /// Milliseconds since `epoch` at which the running statement must stop (0: none).
    deadline: Arc<AtomicU64>,
    epoch: Instant,
    errors: Errors,
}

/// How the time column is stored.
enum TimeFormat {
    /// ISO-8601 text in the source's zone, with the given date/time separator.
    Text(char),
    /// Unix seconds.
    Epoch,
}

impl Sqlite {
    /// Opens the file read-only; a missing file is an error (never created).
    pub fn open(spec: &SourceSpec) -> Result<Sqlite, SourceError> {
        let errors = Errors::new(spec);
        let path = spec
            .sqlite_path
            .as_ref()
            .expect("sqlite sources have a path");
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| errors.at(format!("opening {}", path.display()), e))?;
        conn.execute_batch("PRAGMA query_only = ON")
            .map_err(|e| errors.at("opening a read-only session", e))?;
        conn.create_aggregate_function(
            "tally_sum",
            1,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            ExactSum,
        )
        .map_err(|e| errors.at("registering tally_sum", e))?;
        let deadline = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let watch = Arc::clone(&deadline);
        conn.progress_handler(
            10_000,
            Some(move || {
                let d = watch.load(Ordering::Relaxed);
                d != 0 && epoch.elapsed().as_millis() as u64 > d
            }),
        )
        .map_err(|e| errors.at("setting the statement timeout", e))?;
        Ok(Sqlite {
            conn,
            timezone: spec.timezone,
            timeout: spec.statement_timeout,
            deadline,
            epoch,
            errors,
        })
    }

    /// Prepares the slice query and looks at how the time column is stored.
    pub fn check(&mut self, rollup: &Rollup) -> Result<TableInfo, SourceError> {
        self.conn
            .prepare(&slice_sql(rollup, Dialect::Sqlite))
            .map_err(|e| self.errors.rollup(rollup, e))?;
        let time_column = match self.time_format(rollup)? {
            TimeFormat::Epoch => "unix seconds".to_string(),
            TimeFormat::Text(_) => format!("ISO-8601 text in {}", self.timezone),
        };
        Ok(TableInfo { time_column })
    }

    fn time_format(&self, rollup: &Rollup) -> Result<TimeFormat, SourceError> {
        let d = Dialect::Sqlite;
        let sql = format!(
            "SELECT {t} FROM {} WHERE {t} IS NOT NULL LIMIT 1",
            d.table(rollup),
            t = d.quote(&rollup.time)
        );
        let sample: Option<SqlValue> = self
            .conn
            .query_row(&sql, [], |r| r.get(0))
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(self.errors.rollup(rollup, e)),
            })?;
        Ok(match sample {
            Some(SqlValue::Integer(_) | SqlValue::Real(_)) => TimeFormat::Epoch,
            Some(SqlValue::Text(t)) if t.as_bytes().get(10) == Some(&b'T') => TimeFormat::Text('T'),
            _ => TimeFormat::Text(' '),
        })
    }

    /// Streams one slice into `sink`.
    pub fn pull<E>(
        &mut self,
        rollup: &Rollup,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        sink: &mut dyn FnMut(&[Value]) -> Result<(), E>,
    ) -> Result<u64, PullError<E>> {
        let format = self.time_format(rollup)?;
        let bound = |t: DateTime<Utc>| match format {
            TimeFormat::Epoch => SqlValue::Integer(t.timestamp()),
            TimeFormat::Text(sep) => SqlValue::Text(
                t.with_timezone(&self.timezone)
                    .format(&format!("%Y-%m-%d{sep}%H:%M:%S"))
                    .to_string(),
            ),
        };
        let (a, b) = (bound(start), bound(end));
        let sums: Vec<bool> = sum_columns(rollup);
        let limit = self.epoch.elapsed() + self.timeout;
        self.deadline
            .store(limit.as_millis() as u64, Ordering::Relaxed);
        let result = self.stream(rollup, (a, b), &sums, sink);
        self.deadline.store(0, Ordering::Relaxed);
        result
    }

    fn stream<E>(
        &self,
        rollup: &Rollup,
        bounds: (SqlValue, SqlValue),
        sums: &[bool],
        sink: &mut dyn FnMut(&[Value]) -> Result<(), E>,
    ) -> Result<u64, PullError<E>> {
        let fail = |e: rusqlite::Error| {
            let timed_out =
                e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted);
            SourceError {
                timed_out,
                ..self.errors.rollup(rollup, e)
            }
        };
        let mut stmt = self
            .conn
            .prepare_cached(&slice_sql(rollup, Dialect::Sqlite))
            .map_err(fail)?;
        let mut result = stmt.query([bounds.0, bounds.1]).map_err(fail)?;
        let mut buf = Vec::with_capacity(sums.len());
        let mut rows = 0;
        while let Some(row) = result.next().map_err(fail)? {
            buf.clear();
            for (i, is_sum) in sums.iter().enumerate() {
                buf.push(Value::from_sqlite(row.get_ref(i).map_err(fail)?, *is_sum));
            }
            sink(&buf).map_err(PullError::Sink)?;
            rows += 1;
        }
        Ok(rows)
    }
}

/// For each result column, whether it is a `sum` measure (whose text result is a decimal).
fn sum_columns(rollup: &Rollup) -> Vec<bool> {
    std::iter::repeat_n(false, 1 + rollup.dimensions.len())
        .chain(rollup.measures.iter().map(|m| m.agg == Agg::Sum))
        .collect()
}

/// `tally_sum(x)`: integers sum as integers, decimal text sums exactly (keeping its scale),
/// floats as floats.
struct ExactSum;

enum Acc {
    Int(i64),
    Dec(Decimal),
    Float(f64),
}

impl Aggregate<Option<Acc>, Option<SqlValue>> for ExactSum {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Option<Acc>> {
        Ok(None)
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut Option<Acc>) -> rusqlite::Result<()> {
        let next = match ctx.get_raw(0) {
            ValueRef::Null => return Ok(()),
            ValueRef::Integer(i) => Acc::Int(i),
            ValueRef::Real(f) => Acc::Float(f),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .map(Acc::Dec)
                .ok_or_else(|| {
                    rusqlite::Error::UserFunctionError(
                        format!(
                            "tally_sum: `{}` is not a number",
                            String::from_utf8_lossy(t)
                        )
                        .into(),
                    )
                })?,
            ValueRef::Blob(_) => {
                return Err(rusqlite::Error::UserFunctionError("tally_sum: blob".into()));
            }
        };
        *acc = Some(match (acc.take(), next) {
            (None, n) => n,
            (Some(Acc::Int(a)), Acc::Int(b)) => match a.checked_add(b) {
                Some(s) => Acc::Int(s),
                None => Acc::Dec(Decimal::from(a) + Decimal::from(b)),
            },
            (Some(Acc::Float(a)), n) | (Some(n), Acc::Float(a)) => Acc::Float(a + n.as_f64()),
            (Some(a), b) => Acc::Dec(a.as_decimal() + b.as_decimal()),
        });
        Ok(())
    }

    fn finalize(
        &self,
        _: &mut Context<'_>,
        acc: Option<Option<Acc>>,
    ) -> rusqlite::Result<Option<SqlValue>> {
        Ok(acc.flatten().map(|a| match a {
            Acc::Int(i) => SqlValue::Integer(i),
            Acc::Dec(d) => SqlValue::Text(d.to_string()),
            Acc::Float(f) => SqlValue::Real(f),
        }))
    }
}

impl Acc {
    fn as_f64(&self) -> f64 {
        match self {
            Acc::Int(i) => *i as f64,
            Acc::Dec(d) => d.to_string().parse().unwrap_or(f64::NAN),
            Acc::Float(f) => *f,
        }
    }

    fn as_decimal(&self) -> Decimal {
        match self {
            Acc::Int(i) => Decimal::from(*i),
            Acc::Dec(d) => *d,
            Acc::Float(f) => Decimal::try_from(*f).unwrap_or_default(),
        }
    }
}
