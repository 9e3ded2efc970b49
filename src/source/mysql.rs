//! MySQL and MariaDB through mysql_async: a read-only session in UTC, rows streamed one by one.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Row};
use rust_decimal::Decimal;

use super::query::{Dialect, slice_sql};
use super::{Errors, Explain, PullError, RowSink, SourceError, TableInfo, chain};
use crate::config::{Rollup, SourceSpec};
use crate::value::Value;

/// MariaDB's `max_statement_time` and MySQL's `max_execution_time` errors.
const TIMEOUT_CODES: [u16; 2] = [1969, 3024];

/// An open MySQL or MariaDB session.
pub struct Mysql {
    conn: Conn,
    timezone: Tz,
    errors: Errors,
    /// Zone of each rollup's time column, looked up once per session.
    zones: HashMap<String, Tz>,
}

/// How the time column compares to slice bounds.
enum TimeColumn {
    /// TIMESTAMP: stored in UTC, shown in the session zone, which tally sets to UTC.
    Utc,
    /// DATETIME: naive wall-clock time in the source's zone.
    Naive,
}

impl Mysql {
    /// Connects and makes the session read-only, in UTC, with a statement timeout.
    pub async fn connect(spec: &SourceSpec) -> Result<Mysql, SourceError> {
        let errors = Errors::new(spec);
        let url = match spec.url.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => spec.url.clone(),
        };
        let opts = Opts::from_url(&url).map_err(|e| errors.at("reading the URL", e))?;
        let mut conn = Conn::new(opts)
            .await
            .map_err(|e| errors.at("connecting", chain(&e)))?;
        let version: String = conn
            .query_first("SELECT VERSION()")
            .await
            .map_err(|e| errors.at("connecting", chain(&e)))?
            .unwrap_or_default();
        let timeout = if version.to_ascii_lowercase().contains("mariadb") {
            format!(
                "SET SESSION max_statement_time = {}",
                spec.statement_timeout.as_secs_f64()
            )
        } else {
            format!(
                "SET SESSION max_execution_time = {}",
                spec.statement_timeout.as_millis()
            )
        };
        for setup in [
            "SET SESSION TRANSACTION READ ONLY",
            "SET time_zone = '+00:00'",
            &timeout,
        ] {
            conn.query_drop(setup)
                .await
                .map_err(|e| errors.at("opening a read-only session", e))?;
        }
        Ok(Mysql {
            conn,
            timezone: spec.timezone,
            errors,
            zones: HashMap::new(),
        })
    }

    /// Checks the table, the time column's type, and that the slice query prepares.
    pub async fn check(&mut self, rollup: &Rollup) -> Result<TableInfo, SourceError> {
        let column = self.time_column(rollup).await?;
        self.conn
            .prep(slice_sql(rollup, Dialect::Mysql))
            .await
            .map_err(|e| self.errors.rollup(rollup, e))?;
        let time_column = match column {
            TimeColumn::Utc => "timestamp (UTC)".to_string(),
            TimeColumn::Naive => format!("datetime in {}", self.timezone),
        };
        Ok(TableInfo { time_column })
    }

    async fn time_column(&mut self, rollup: &Rollup) -> Result<TimeColumn, SourceError> {
        let (schema, table) = match rollup.table.as_slice() {
            [schema, table] => (Some(schema.clone()), table.clone()),
            [table] => (None, table.clone()),
            _ => unreachable!("config checks table names"),
        };
        let found: Option<String> = self
            .conn
            .exec_first(
                "SELECT DATA_TYPE FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = ?",
                (schema, table, rollup.time.clone()),
            )
            .await
            .map_err(|e| self.errors.rollup(rollup, e))?;
        match found.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("timestamp") => Ok(TimeColumn::Utc),
            Some("datetime") => Ok(TimeColumn::Naive),
            Some(other) => Err(self.errors.rollup(
                rollup,
                format!(
                    "time column `{}` is {other}; use a DATETIME or TIMESTAMP column",
                    rollup.time
                ),
            )),
            None => Err(self.errors.rollup(
                rollup,
                format!(
                    "table `{}` has no column `{}` (or the table does not exist)",
                    rollup.table.join("."),
                    rollup.time
                ),
            )),
        }
    }

    /// The zone slice bounds are written in for the rollup's time column, looked up once.
    async fn zone(&mut self, rollup: &Rollup) -> Result<Tz, SourceError> {
        if let Some(zone) = self.zones.get(&rollup.name) {
            return Ok(*zone);
        }
        let zone = match self.time_column(rollup).await? {
            TimeColumn::Utc => Tz::UTC,
            TimeColumn::Naive => self.timezone,
        };
        self.zones.insert(rollup.name.clone(), zone);
        Ok(zone)
    }

    /// `EXPLAIN` of the slice query with real bounds: access type ALL on the table is a full scan.
    pub async fn explain(
        &mut self,
        rollup: &Rollup,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Explain, SourceError> {
        let zone = self.zone(rollup).await?;
        let bound = |t: DateTime<Utc>| t.with_timezone(&zone).naive_local();
        let rows: Vec<Row> = self
            .conn
            .exec(
                format!("EXPLAIN {}", slice_sql(rollup, Dialect::Mysql)),
                (bound(start), bound(end)),
            )
            .await
            .map_err(|e| self.errors.rollup(rollup, e))?;
        let table = rollup.table.last().expect("a table name");
        let text = |row: &Row, col: &str| row.get::<Option<String>, _>(col).flatten();
        let mut explain = Explain {
            access: String::new(),
            full_scan: false,
            rows: None,
        };
        let mut parts = Vec::new();
        for row in rows
            .iter()
            .filter(|r| text(r, "table").as_deref() == Some(table.as_str()))
        {
            let access = text(row, "type").unwrap_or_default();
            explain.full_scan |= access.eq_ignore_ascii_case("ALL");
            let key = text(row, "key")
                .map(|k| format!(" using {k}"))
                .unwrap_or_default();
            parts.push(format!("type {access}{key} on {table}"));
            let estimate = row.get::<Option<f64>, _>("rows").flatten();
            explain.rows = explain.rows.into_iter().chain(estimate).reduce(f64::max);
        }
        explain.access = parts.join(", ");
        Ok(explain)
    }

    /// Streams one slice into `sink`.
    pub async fn pull<S: RowSink>(
        &mut self,
        rollup: &Rollup,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        sink: &mut S,
    ) -> Result<u64, PullError<S::Error>> {
        let zone = self.zone(rollup).await?;
        let bound = |t: DateTime<Utc>| t.with_timezone(&zone).naive_local();
        let errors = self.errors.clone();
        let fail = |e: mysql_async::Error| {
            let timed_out =
                matches!(&e, mysql_async::Error::Server(s) if TIMEOUT_CODES.contains(&s.code));
            SourceError {
                timed_out,
                ..errors.rollup(rollup, e)
            }
        };
        let mut result = self
            .conn
            .exec_iter(
                slice_sql(rollup, Dialect::Mysql),
                (bound(start), bound(end)),
            )
            .await
            .map_err(fail)?;
        let mut rows = 0;
        while let Some(row) = result.next().await.map_err(fail)? {
            sink.row(read_row(row)).await.map_err(PullError::Sink)?;
            rows += 1;
        }
        Ok(rows)
    }
}

fn read_row(row: Row) -> Vec<Value> {
    let types: Vec<ColumnType> = row.columns_ref().iter().map(|c| c.column_type()).collect();
    row.unwrap()
        .into_iter()
        .zip(types)
        .map(|(v, ty)| value(v, ty))
        .collect()
}

fn value(v: mysql_async::Value, ty: ColumnType) -> Value {
    use mysql_async::Value as My;
    match v {
        My::NULL => Value::Null,
        My::Int(i) => Value::Int(i),
        My::UInt(u) => i64::try_from(u).map_or_else(|_| Value::Dec(Decimal::from(u)), Value::Int),
        My::Float(f) => Value::Float(f.into()),
        My::Double(f) => Value::Float(f),
        My::Bytes(b) => {
            let text = String::from_utf8_lossy(&b).into_owned();
            let decimal = matches!(
                ty,
                ColumnType::MYSQL_TYPE_NEWDECIMAL | ColumnType::MYSQL_TYPE_DECIMAL
            );
            match text.parse::<Decimal>() {
                Ok(d) if decimal => Value::from_decimal(d),
                _ => Value::Text(text),
            }
        }
        other => Value::Text(other.as_sql(true).trim_matches('\'').to_string()),
    }
}
