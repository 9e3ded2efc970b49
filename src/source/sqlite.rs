//! SQLite files as sources (the demo uses them): opened read-only, with an exact `tally_sum`
//! aggregate and a statement timeout enforced by a progress handler.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags};

use super::SourceSpec;
use super::query::{Quote, SliceSql};
use super::{
    BoxFuture, Calls, Capabilities, Driver, Explain, Failure, PullError, Range, RowSink, Session,
    SourceError, TableInfo, push_row,
};
use crate::rollup::{Agg, Measure, Rollup};
use crate::value::Value;

/// The SQLite driver.
pub static DRIVER: SqliteDriver = SqliteDriver;

/// SQLite files, read in place (the demo's sources).
pub struct SqliteDriver;

impl Driver for SqliteDriver {
    fn name(&self) -> &'static str {
        "SQLite"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["sqlite"]
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            parallel: false,
            file: true,
            load: None,
            lag: false,
        }
    }

    fn dialect(&self) -> Box<dyn sqlparser::dialect::Dialect> {
        Box::new(sqlparser::dialect::SQLiteDialect {})
    }

    fn functions(&self) -> &'static str {
        super::functions::SQLITE
    }

    fn slice_sql(&self, rollup: &Rollup) -> String {
        slice_sql(rollup, &[])
    }

    fn connect<'a>(
        &'a self,
        spec: &'a SourceSpec,
    ) -> BoxFuture<'a, Result<Box<dyn Session>, SourceError>> {
        Box::pin(async move { Ok(Box::new(Sqlite::open(spec)?) as Box<dyn Session>) })
    }
}

/// The slice query with the bounds as `?1` and `?2`. SQLite's own `sum()` goes through floating
/// point; `tally_sum` is exact, and `tally_decimal_sum` reads the floats of the `decimal`
/// columns (declared DECIMAL or NUMERIC) as the decimals they were.
fn slice_sql(rollup: &Rollup, decimal: &[String]) -> String {
    let measure = |m: &Measure| {
        let func = match m.agg {
            Agg::Count => "count",
            Agg::Sum if decimal.contains(&m.name) => "tally_decimal_sum",
            Agg::Sum => "tally_sum",
            Agg::Min => "min",
            Agg::Max => "max",
        };
        format!("{func}({})", m.arg)
    };
    SliceSql {
        quote: Quote::Double,
        bounds: ("?1", "?2"),
        measure: &measure,
    }
    .build(rollup)
}

impl Session for Sqlite {
    fn probe<'a>(
        &'a mut self,
        rollup: &'a Rollup,
    ) -> BoxFuture<'a, Result<TableInfo, SourceError>> {
        Box::pin(async move { self.probe(rollup) })
    }

    fn explain<'a>(
        &'a mut self,
        rollup: &'a Rollup,
        _range: Range,
    ) -> BoxFuture<'a, Result<Explain, SourceError>> {
        Box::pin(async move { self.explain(rollup) })
    }

    fn pull<'a>(
        &'a mut self,
        rollup: &'a Rollup,
        range: Range,
        sink: &'a mut dyn RowSink,
    ) -> BoxFuture<'a, Result<u64, PullError>> {
        Box::pin(self.pull(rollup, range, sink))
    }
}

/// An open, read-only SQLite source.
pub struct Sqlite {
    conn: Connection,
    timezone: Tz,
    timeout: Duration,
    /// Milliseconds since `epoch` at which the running statement must stop (0: none).
    deadline: Arc<AtomicU64>,
    epoch: Instant,
    pub(super) calls: Calls,
    /// How each rollup's time column is stored, sampled once per session.
    formats: HashMap<String, TimeFormat>,
    /// Each rollup's slice query, built once per session.
    queries: HashMap<String, String>,
}

/// How the time column is stored.
#[derive(Clone, Copy)]
enum TimeFormat {
    /// ISO-8601 text in the source's zone, with the given date/time separator.
    Text(char),
    /// Unix seconds.
    Epoch,
}

impl Sqlite {
    /// Opens the file read-only; a missing file is an error (never created).
    fn open(spec: &SourceSpec) -> Result<Sqlite, SourceError> {
        let calls = Calls::new(spec);
        let path = spec.path.as_ref().expect("sqlite sources have a path");
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| calls.at(format!("opening {}", path.display()), e))?;
        conn.execute_batch("PRAGMA query_only = ON")
            .map_err(|e| calls.at("opening a read-only session", e))?;
        crate::value::register_exact_sum(&conn)
            .map_err(|e| calls.at("registering tally_sum", e))?;
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
        .map_err(|e| calls.at("setting the statement timeout", e))?;
        Ok(Sqlite {
            conn,
            timezone: spec.timezone,
            timeout: spec.statement_timeout,
            deadline,
            epoch,
            calls,
            formats: HashMap::new(),
            queries: HashMap::new(),
        })
    }

    /// The rollup's slice query. A sum of a column declared DECIMAL or NUMERIC uses
    /// `tally_decimal_sum`: SQLite keeps such values as floats, and the plain exact sum would
    /// add floats.
    fn query(&mut self, rollup: &Rollup) -> Result<String, SourceError> {
        if let Some(sql) = self.queries.get(&rollup.name) {
            return Ok(sql.clone());
        }
        let q = Quote::Double;
        let (schema, table) = match rollup.table.as_slice() {
            [schema, table] => (format!("{}.", q.ident(schema)), table),
            [table] => (String::new(), table),
            _ => unreachable!("config checks table names"),
        };
        let sql = format!("PRAGMA {schema}table_info({})", q.ident(table));
        let fail = |e| self.calls.rollup(rollup, e);
        let numeric: Vec<String> = {
            let mut stmt = self.conn.prepare(&sql).map_err(fail)?;
            let columns = stmt
                .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
                .map_err(fail)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(fail)?;
            columns
                .into_iter()
                .filter(|(_, ty)| numeric_affinity(ty))
                .map(|(name, _)| name.to_ascii_lowercase())
                .collect()
        };
        let decimal: Vec<String> = rollup
            .measures
            .iter()
            .filter(|m| m.agg == Agg::Sum)
            .filter(|m| {
                let arg = m
                    .arg
                    .trim()
                    .trim_matches(['"', '`', '[', ']'])
                    .to_ascii_lowercase();
                numeric.contains(&arg)
            })
            .map(|m| m.name.clone())
            .collect();
        let sql = slice_sql(rollup, &decimal);
        self.queries.insert(rollup.name.clone(), sql.clone());
        Ok(sql)
    }

    /// Prepares the slice query and looks at how the time column is stored.
    fn probe(&mut self, rollup: &Rollup) -> Result<TableInfo, SourceError> {
        let sql = self.query(rollup)?;
        self.conn
            .prepare(&sql)
            .map_err(|e| self.calls.rollup(rollup, e))?;
        let time_column = match self.time_format(rollup)? {
            TimeFormat::Epoch => "unix seconds".to_string(),
            TimeFormat::Text(_) => format!("ISO-8601 text in {}", self.timezone),
        };
        Ok(TableInfo { time_column })
    }

    fn time_format(&self, rollup: &Rollup) -> Result<TimeFormat, SourceError> {
        let q = Quote::Double;
        let sql = format!(
            "SELECT {t} FROM {} WHERE {t} IS NOT NULL LIMIT 1",
            q.table(rollup),
            t = q.ident(&rollup.time)
        );
        let sample: Option<SqlValue> = self
            .conn
            .query_row(&sql, [], |r| r.get(0))
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(self.calls.rollup(rollup, e)),
            })?;
        Ok(match sample {
            Some(SqlValue::Integer(_) | SqlValue::Real(_)) => TimeFormat::Epoch,
            Some(SqlValue::Text(t)) if t.as_bytes().get(10) == Some(&b'T') => TimeFormat::Text('T'),
            _ => TimeFormat::Text(' '),
        })
    }

    /// `EXPLAIN QUERY PLAN` of the slice query: `SCAN <table>` reads the whole table,
    /// `SEARCH <table> USING INDEX` reads the slice's range.
    fn explain(&mut self, rollup: &Rollup) -> Result<Explain, SourceError> {
        let sql = format!("EXPLAIN QUERY PLAN {}", self.query(rollup)?);
        let fail = |e| self.calls.rollup(rollup, e);
        let mut stmt = self.conn.prepare(&sql).map_err(fail)?;
        let details: Vec<String> = stmt
            .query_map([SqlValue::Null, SqlValue::Null], |r| r.get(3))
            .map_err(fail)?
            .collect::<Result<_, _>>()
            .map_err(fail)?;
        let table = rollup.table.last().expect("a table name");
        let on_table: Vec<&String> = details
            .iter()
            .filter(|d| d.split_whitespace().nth(1) == Some(table.as_str()))
            .collect();
        Ok(Explain {
            full_scan: on_table.iter().any(|d| d.starts_with("SCAN ")),
            access: on_table
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            rows: None,
            fix: format!("create an index: {}", Explain::index_hint(rollup)),
        })
    }

    /// Streams one slice into `sink`.
    async fn pull(
        &mut self,
        rollup: &Rollup,
        range: Range,
        sink: &mut dyn RowSink,
    ) -> Result<u64, PullError> {
        let Range { start, end } = range;
        let format = match self.formats.get(&rollup.name) {
            Some(f) => *f,
            None => {
                let f = self.time_format(rollup)?;
                self.formats.insert(rollup.name.clone(), f);
                f
            }
        };
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
        let sql = self.query(rollup)?;
        // A zero timeout means no limit, as in PostgreSQL and MySQL.
        if !self.timeout.is_zero() {
            let limit = self.epoch.elapsed() + self.timeout;
            self.deadline
                .store(limit.as_millis() as u64, Ordering::Relaxed);
        }
        let result = self.stream(rollup, &sql, (a, b), &sums, sink).await;
        self.deadline.store(0, Ordering::Relaxed);
        result
    }

    async fn stream(
        &self,
        rollup: &Rollup,
        sql: &str,
        bounds: (SqlValue, SqlValue),
        sums: &[bool],
        sink: &mut dyn RowSink,
    ) -> Result<u64, PullError> {
        let fail = |e: rusqlite::Error| {
            let failure =
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) {
                    Failure::Timeout
                } else {
                    Failure::Permanent
                };
            self.calls
                .failed(format!("rollup `{}`", rollup.name), e, failure)
        };
        let mut stmt = self.conn.prepare_cached(sql).map_err(fail)?;
        let mut result = stmt.query([bounds.0, bounds.1]).map_err(fail)?;
        let mut rows = 0;
        while let Some(row) = result.next().map_err(fail)? {
            let values = sums
                .iter()
                .enumerate()
                .map(|(i, is_sum)| Ok(Value::from_sqlite(row.get_ref(i)?, *is_sum)))
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(fail)?;
            push_row(sink, values).await?;
            rows += 1;
        }
        Ok(rows)
    }
}

/// True when SQLite gives a column of this declared type NUMERIC affinity (DECIMAL, NUMERIC,
/// MONEY...): its number-looking text is stored as an integer or a float.
fn numeric_affinity(declared: &str) -> bool {
    let t = declared.to_ascii_uppercase();
    !t.is_empty()
        && ![
            "INT", "CHAR", "CLOB", "TEXT", "BLOB", "REAL", "FLOA", "DOUB",
        ]
        .iter()
        .any(|k| t.contains(k))
}

/// For each result column, whether it is a `sum` measure (whose text result is a decimal).
fn sum_columns(rollup: &Rollup) -> Vec<bool> {
    std::iter::repeat_n(false, 1 + rollup.dimensions.len())
        .chain(rollup.measures.iter().map(|m| m.agg == Agg::Sum))
        .collect()
}
