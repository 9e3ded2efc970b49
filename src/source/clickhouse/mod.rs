//! ClickHouse over its HTTP interface (port 8123, 8443 with TLS), with reqwest: every query is
//! `readonly=1` with `max_execution_time`, results stream as TabSeparatedWithNamesAndTypes, and
//! the slice query runs with `force_primary_key = 1`, after `system.tables` showed that the time
//! column leads the table's key.
//!
//! Works with ClickHouse 18.16 (Debian's package, which the tests run against) and later: no
//! query parameters, no EXPLAIN, no DateTime64 needed. Sums are exact: integers are summed as
//! `Decimal128(0)`, and since ClickHouse before 20.x overflows decimal sums silently, each sum of
//! a decimal or an integer carries a guard (`sum(abs(toFloat64(x)))`) that refuses a slice whose
//! sum could leave the 38 digits of the result.

mod http;
mod sum;
mod tsv;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::query::Quote;
use super::tls::{self, TlsMode};
use super::{
    BoxFuture, Calls, Canceller, Capabilities, Driver, Encryption, Explain, Lag, LoadFigures,
    LoadLimit, PullError, Range, RowSink, Session, SourceError, SourceSpec, TableInfo, push_row,
};
use crate::rollup::{Agg, Measure, Rollup};
use http::{Transport, literal, query_id};
use sum::{Sum, slice_sql, sum_kind};
use tsv::{Layout, Lines, unwrap_type};

/// The ClickHouse driver.
pub static DRIVER: ClickHouseDriver = ClickHouseDriver;

/// ClickHouse, where chain and event data goes when one PostgreSQL is no longer enough.
pub struct ClickHouseDriver;

/// Functions of the time column that keep its order, so a key that starts with one of them
/// still reads only the slice's range.
const MONOTONIC: [&str; 9] = [
    "toDate",
    "toStartOfDay",
    "toStartOfHour",
    "toStartOfMonth",
    "toStartOfWeek",
    "toMonday",
    "toYYYYMM",
    "toYYYYMMDD",
    "toStartOfFiveMinute",
];

impl Driver for ClickHouseDriver {
    fn name(&self) -> &'static str {
        "ClickHouse"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["clickhouse"]
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            parallel: true,
            file: false,
            // Any metric of `system.metrics`; `Query` counts the queries running.
            load: Some(LoadFigures {
                default: "Query=25",
                names: &[],
                measure: "`system.metrics`",
            }),
            lag: true,
        }
    }

    fn dialect(&self) -> Box<dyn sqlparser::dialect::Dialect> {
        Box::new(sqlparser::dialect::ClickHouseDialect {})
    }

    fn functions(&self) -> &'static str {
        super::functions::CLICKHOUSE
    }

    fn tls_params(&self) -> &'static [&'static str] {
        &["ssl", "sslmode", "sslrootcert"]
    }

    /// The JDBC driver's names: `ssl=true` for HTTPS, `sslmode` = `strict` (the default: the
    /// CA and the host name), `verify-ca` or `none` (encrypted, unverified), and `sslrootcert`.
    /// Without `ssl`, plain HTTP, as ClickHouse's port 8123 speaks.
    fn tls(&self, params: &[(String, String)]) -> tls::Request {
        let get = |name: &str| tls::param(params, &[name]);
        let mut request = tls::Request {
            names: ["sslrootcert", "sslcert", "sslkey"],
            explicit: true,
            ca: get("sslrootcert").map(String::from),
            ..tls::Request::default()
        };
        let on = match get("ssl").map(str::to_ascii_lowercase).as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                request
                    .problems
                    .push(format!("ssl `{other}` must be true or false"));
                false
            }
        };
        request.mode = match (on, get("sslmode")) {
            (false, None) => TlsMode::Disable,
            (false, Some(_)) => {
                request
                    .problems
                    .push("sslmode needs ssl=true (ClickHouse's HTTP port is plain)".into());
                TlsMode::Disable
            }
            (true, None | Some("strict") | Some("verify-full")) => TlsMode::VerifyFull,
            (true, Some("verify-ca")) => TlsMode::VerifyCa,
            (true, Some("none")) => TlsMode::Require,
            (true, Some(other)) => {
                request.problems.push(format!(
                    "sslmode `{other}` is not one of strict, verify-ca, none"
                ));
                TlsMode::VerifyFull
            }
        };
        request
    }

    fn slice_sql(&self, rollup: &Rollup) -> String {
        slice_sql(rollup, &HashMap::new(), ("{start}", "{end}"))
    }

    fn connect<'a>(
        &'a self,
        spec: &'a SourceSpec,
    ) -> BoxFuture<'a, Result<Box<dyn Session>, SourceError>> {
        Box::pin(async move { Ok(Box::new(ClickHouse::connect(spec).await?) as Box<dyn Session>) })
    }
}

/// How the time column compares to slice bounds.
#[derive(Debug, Clone, Copy)]
enum TimeColumn {
    /// `DateTime('zone')`: an instant; bounds are unix seconds.
    Zoned,
    /// `DateTime` without a zone: wall-clock times read in the server's zone, as the rows were
    /// written; bounds are wall-clock times in the source's `timezone`.
    Naive,
}

/// What a session learned about a rollup's table, once.
#[derive(Debug, Clone)]
struct Prepared {
    time: TimeColumn,
    time_type: String,
    sums: HashMap<String, Sum>,
}

/// An open ClickHouse "session": an HTTP client and the settings every query carries.
pub struct ClickHouse {
    http: Transport,
    timezone: Tz,
    prepared: HashMap<String, Prepared>,
    /// The `query_id` of the slice query running now, for `KILL QUERY`.
    running: Rc<RefCell<Option<String>>>,
}

impl ClickHouse {
    /// Builds the client and asks the server for its version, which checks the address, the
    /// login and that read-only queries are allowed.
    async fn connect(spec: &SourceSpec) -> Result<ClickHouse, SourceError> {
        let session = ClickHouse {
            http: Transport::new(spec, Calls::new(spec))?,
            timezone: spec.timezone,
            prepared: HashMap::new(),
            running: Rc::new(RefCell::new(None)),
        };
        session
            .http
            .table("SELECT version()", &[])
            .await
            .map_err(|mut e| {
                e.context = "connecting".into();
                e
            })?;
        Ok(session)
    }

    /// How the rollup's time column and sums are read, looked up once per session.
    async fn prepare(&mut self, rollup: &Rollup) -> Result<Prepared, SourceError> {
        if let Some(p) = self.prepared.get(&rollup.name) {
            return Ok(p.clone());
        }
        let (time, time_type) = self.time_column(rollup).await?;
        let sums = self.sums(rollup).await?;
        let prepared = Prepared {
            time,
            time_type,
            sums,
        };
        self.prepared.insert(rollup.name.clone(), prepared.clone());
        Ok(prepared)
    }

    /// The time column's type, from `system.columns`, and how slice bounds compare with it.
    async fn time_column(&self, rollup: &Rollup) -> Result<(TimeColumn, String), SourceError> {
        let (database, table) = self.table_name(rollup);
        let columns = self
            .http
            .table(
                &format!(
                    "SELECT type FROM system.columns WHERE database = {} AND table = {} AND name = {}",
                    literal(&database),
                    literal(&table),
                    literal(&rollup.time)
                ),
                &[],
            )
            .await
            .map_err(|e| in_rollup(rollup, e))?;
        let Some(time_type) = columns
            .rows
            .first()
            .and_then(|r| r.first().cloned())
            .flatten()
        else {
            return Err(self.http.calls.rollup(
                rollup,
                format!(
                    "table {database}.{table} has no column `{}` (or the table does not exist)",
                    rollup.time
                ),
            ));
        };
        let problem = match unwrap_type(&time_type) {
            t if t.starts_with("DateTime(") || t.starts_with("DateTime64(") && t.contains(',') => {
                return Ok((TimeColumn::Zoned, time_type));
            }
            t if t == "DateTime" || t.starts_with("DateTime64(") => {
                return Ok((TimeColumn::Naive, time_type));
            }
            "Date" | "Date32" => "is a Date; it needs a time of day (DateTime)".to_string(),
            other => format!("has type {other}; use a DateTime column"),
        };
        Err(self
            .http
            .calls
            .rollup(rollup, format!("time column `{}` {problem}", rollup.time)))
    }

    /// How each sum measure is summed, from its argument's type: the expressions are read
    /// against the table without reading a row, so unknown columns and functions fail here.
    async fn sums(&self, rollup: &Rollup) -> Result<HashMap<String, Sum>, SourceError> {
        let sums: Vec<&Measure> = rollup
            .measures
            .iter()
            .filter(|m| m.agg == Agg::Sum)
            .collect();
        let mut select = vec![rollup.user.clone()];
        select.extend(rollup.dimensions.iter().map(|d| d.expr.clone()));
        select.extend(sums.iter().map(|m| m.arg.clone()));
        select.extend(
            rollup
                .measures
                .iter()
                .filter(|m| m.agg != Agg::Sum && m.arg != "*")
                .map(|m| m.arg.clone()),
        );
        let probe = self
            .http
            .table(
                &format!(
                    "SELECT {} FROM {} WHERE {} LIMIT 0",
                    select.join(", "),
                    Quote::Backtick.table(rollup),
                    rollup.filter.as_deref().unwrap_or("1")
                ),
                &[],
            )
            .await
            .map_err(|e| in_rollup(rollup, e))?;
        let first = 1 + rollup.dimensions.len();
        let mut kinds = HashMap::new();
        for (i, m) in sums.iter().enumerate() {
            let ty = probe.types.get(first + i).cloned().unwrap_or_default();
            let kind = sum_kind(&ty).ok_or_else(|| {
                self.http.calls.rollup(
                    rollup,
                    format!(
                        "measure `{}`: sum of {} ({ty}); sum a number column",
                        m.name, m.arg
                    ),
                )
            })?;
            kinds.insert(m.name.clone(), kind);
        }
        Ok(kinds)
    }

    /// The rollup's database and table: `db.table`, or the URL's database.
    fn table_name(&self, rollup: &Rollup) -> (String, String) {
        match rollup.table.as_slice() {
            [db, table] => (db.clone(), table.clone()),
            [table] => (self.http.database.clone(), table.clone()),
            _ => unreachable!("config checks table names"),
        }
    }

    async fn probe(&mut self, rollup: &Rollup) -> Result<TableInfo, SourceError> {
        let p = self.prepare(rollup).await?;
        let time_column = match p.time {
            TimeColumn::Zoned => p.time_type.clone(),
            TimeColumn::Naive => format!("{} in {}", p.time_type, self.timezone),
        };
        Ok(TableInfo { time_column })
    }

    /// ClickHouse has no EXPLAIN before 20.6: what it would read follows from the table's key.
    /// A key that starts with the time column (or a function of it that keeps its order, like
    /// `toDate(t)`) reads the slice's range; any other key reads the whole table.
    async fn explain(&mut self, rollup: &Rollup, _range: Range) -> Result<Explain, SourceError> {
        let (database, table) = self.table_name(rollup);
        let found = self
            .http
            .table(
                &format!(
                    "SELECT engine, sorting_key, primary_key FROM system.tables WHERE database = {} AND name = {}",
                    literal(&database),
                    literal(&table)
                ),
                &[],
            )
            .await
            .map_err(|e| in_rollup(rollup, e))?;
        let Some(row) = found.rows.first() else {
            return Err(self
                .http
                .calls
                .rollup(rollup, format!("table {database}.{table} does not exist")));
        };
        let cell = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        let (engine, sorting, primary) = (cell(0), cell(1), cell(2));
        let key = if primary.is_empty() { sorting } else { primary };
        let leads = key_leads_with(&key, &rollup.time);
        let rest: Vec<&str> = elements(&key)
            .into_iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty() && e.trim_matches('`') != rollup.time)
            .collect();
        let fix = format!(
            "order the table by its time column first: ENGINE = MergeTree ORDER BY ({})",
            std::iter::once(rollup.time.as_str())
                .chain(rest)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let explain = if engine == "Distributed" {
            Explain {
                access: "Distributed: each shard's table is read with force_primary_key = 1".into(),
                full_scan: false,
                rows: None,
                fix,
            }
        } else if leads {
            Explain {
                access: format!("{engine} key ({key}): reads the slice's range"),
                full_scan: false,
                rows: None,
                fix,
            }
        } else {
            let key = if key.is_empty() {
                "no key".to_string()
            } else {
                format!("key ({key})")
            };
            Explain {
                access: format!("{engine} {key} does not start with `{}`", rollup.time),
                full_scan: true,
                rows: None,
                fix,
            }
        };
        Ok(explain)
    }

    async fn pull(
        &mut self,
        rollup: &Rollup,
        range: Range,
        sink: &mut dyn RowSink,
    ) -> Result<u64, PullError> {
        let p = self.prepare(rollup).await?;
        let bound = |t: DateTime<Utc>| match p.time {
            TimeColumn::Zoned => format!("toDateTime({})", t.timestamp()),
            TimeColumn::Naive => format!(
                "toDateTime('{}')",
                t.with_timezone(&self.timezone)
                    .naive_local()
                    .format("%Y-%m-%d %H:%M:%S")
            ),
        };
        let (start, end) = (bound(range.start), bound(range.end));
        let sql = slice_sql(rollup, &p.sums, (&start, &end));
        // Without an index on time, the rollup allowed a full scan.
        let force = if rollup.allow_full_scan { "0" } else { "1" };
        let context = format!("rollup `{}`", rollup.name);
        let calls = self.http.calls.clone();
        let id = query_id();
        *self.running.borrow_mut() = Some(id.clone());
        let settings = [("force_primary_key", force), ("query_id", id.as_str())];
        let mut response = calls
            .answer(rollup, self.http.send(&sql, &settings, &context))
            .await??;
        let mut layout = Layout::new(rollup, sum::guards(rollup, &p.sums));
        let mut lines = Lines::default();
        let mut rows = 0;
        loop {
            let chunk = calls
                .answer(rollup, response.chunk())
                .await?
                .map_err(|e| self.http.http_error(&context, &e))?;
            let Some(chunk) = chunk else { break };
            lines.push(&chunk);
            while let Some(line) = lines.next_line() {
                if let Some(values) = layout
                    .row(&line)
                    .map_err(|m| self.line_error(rollup, &line, m))?
                {
                    push_row(sink, values).await?;
                    rows += 1;
                }
            }
        }
        if !lines.rest.is_empty() {
            let line = String::from_utf8_lossy(&lines.rest).into_owned();
            return Err(self
                .line_error(
                    rollup,
                    &line,
                    "the answer ends in the middle of a row".into(),
                )
                .into());
        }
        Ok(rows)
    }

    /// `KILL QUERY` of the running slice query, by its `query_id`.
    fn canceller(&self) -> Option<Canceller> {
        let running = Rc::clone(&self.running);
        let kill = Rc::new(self.http.killer());
        Some(Canceller::new(move || {
            let id = running.borrow().clone();
            let kill = Rc::clone(&kill);
            Box::pin(async move {
                match id {
                    Some(id) => kill(&id).await,
                    None => Ok(()),
                }
            })
        }))
    }

    /// A line that is not a row: an exception ClickHouse wrote after the rows had started (its
    /// status was already 200), or a value tally cannot read.
    fn line_error(&self, rollup: &Rollup, line: &str, problem: String) -> SourceError {
        if line.starts_with("Code: ") {
            self.http.server_error(
                &format!("rollup `{}`", rollup.name),
                line,
                reqwest::StatusCode::OK,
            )
        } else {
            self.http.calls.rollup(rollup, problem)
        }
    }

    async fn encryption(&mut self) -> Result<Encryption, SourceError> {
        Ok(if self.http.encrypted {
            Encryption {
                version: Some("HTTPS".into()),
                cipher: None,
            }
        } else {
            Encryption::none()
        })
    }

    /// The `system.metrics` named by the limits; `Query` does not count the query that asks.
    async fn load(&mut self, limits: &[LoadLimit]) -> Result<Vec<u64>, SourceError> {
        let names: Vec<String> = limits.iter().map(|l| literal(&l.name)).collect();
        let found = self
            .http
            .table(
                &format!(
                    "SELECT metric, value FROM system.metrics WHERE metric IN ({})",
                    names.join(", ")
                ),
                &[],
            )
            .await
            .map_err(|mut e| {
                e.context = "reading the load".into();
                e
            })?;
        let values: HashMap<String, i64> = found
            .rows
            .iter()
            .filter_map(|r| {
                let name = r.first()?.clone()?;
                let value = r.get(1)?.as_deref()?.parse().ok()?;
                Some((name, value))
            })
            .collect();
        limits
            .iter()
            .map(|l| match values.get(&l.name) {
                Some(v) => {
                    let own = i64::from(l.name == "Query");
                    Ok((v - own).max(0) as u64)
                }
                None => Err(self.http.calls.at(
                    "reading the load",
                    format!("system.metrics has no metric `{}` (max_load)", l.name),
                )),
            })
            .collect()
    }

    /// The largest `absolute_delay` of the server's replicated tables; a server without any is
    /// not a replica.
    async fn lag(&mut self) -> Result<Lag, SourceError> {
        let found = self
            .http
            .table(
                "SELECT count(), max(absolute_delay), max(is_session_expired) FROM system.replicas",
                &[],
            )
            .await
            .map_err(|mut e| {
                e.context = "reading the replica lag".into();
                e
            })?;
        let cell = |i: usize| -> u64 {
            found
                .rows
                .first()
                .and_then(|r| r.get(i).cloned().flatten())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(match (cell(0), cell(2)) {
            (0, _) => Lag::Primary,
            (_, 1) => Lag::Stopped("a replica lost its ZooKeeper session".into()),
            _ => Lag::Behind(std::time::Duration::from_secs(cell(1))),
        })
    }
}

super::forward_session!(ClickHouse);

fn in_rollup(rollup: &Rollup, mut e: SourceError) -> SourceError {
    e.context = format!("rollup `{}`", rollup.name);
    e
}

/// True when the table's key (`a, b`) starts with `time`, or with an order-keeping function
/// of it.
fn key_leads_with(key: &str, time: &str) -> bool {
    let elements = elements(key);
    let first = elements.first().map_or("", |e| e.trim().trim_matches('`'));
    if first == time {
        return true;
    }
    MONOTONIC.iter().any(|f| {
        first
            .strip_prefix(f)
            .and_then(|r| r.trim().strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
            .is_some_and(|arg| arg.trim().trim_matches('`') == time)
    })
}

/// The elements of a comma-separated key, whatever commas its functions hold.
fn elements(key: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in key.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&key[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !key[start..].trim().is_empty() {
        out.push(&key[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_must_start_with_the_time_column() {
        assert!(key_leads_with("ts, u", "ts"));
        assert!(key_leads_with("toDate(ts), u", "ts"));
        assert!(key_leads_with("`ts`", "ts"));
        assert!(!key_leads_with("u, ts", "ts"));
        assert!(!key_leads_with("", "ts"));
        assert!(!key_leads_with("intHash32(ts), u", "ts"));
        assert_eq!(
            elements("toStartOfInterval(ts, 1), u"),
            ["toStartOfInterval(ts, 1)", " u"]
        );
    }
}
