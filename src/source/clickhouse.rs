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

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use bigdecimal::BigDecimal;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::query::{Quote, SliceSql};
use super::{
    BoxFuture, Canceller, Capabilities, Driver, Encryption, Errors, Explain, Failure, Lag,
    LoadFigures, PullError, Range, RowSink, Session, SourceError, TableInfo, deliver, io_error,
    io_is_transient, tls,
};
use crate::config::{Agg, LoadLimit, Measure, Rollup, Secret, SourceSpec, Tls, TlsMode};
use crate::value::{Value, parse_decimal};

/// The ClickHouse driver.
pub static DRIVER: ClickHouseDriver = ClickHouseDriver;

/// ClickHouse, where chain and event data goes when one PostgreSQL is no longer enough.
pub struct ClickHouseDriver;

/// Server errors a new request may cure: network errors (210), socket timeouts (209), too many
/// queries at once (202), a replica or ZooKeeper that is away (242, 999, 225), an aborted query
/// (236, the server is shutting down).
const TRANSIENT_CODES: [u32; 7] = [202, 209, 210, 225, 236, 242, 999];

/// `TIMEOUT_EXCEEDED`: `max_execution_time` stopped the query.
const TIMEOUT_CODE: u32 = 159;

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

/// How a sum measure is summed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Sum {
    /// Floats: summed as floats, as every database does.
    Float,
    /// Integers, as `Decimal128(0)` (ClickHouse's integer sums wrap around).
    Integer,
    /// Decimals of this scale: the sum keeps it.
    Decimal(u32),
}

impl Sum {
    /// The largest sum of absolute values that cannot overflow the 38-digit result.
    fn bound(self) -> f64 {
        let scale = match self {
            Sum::Decimal(s) => s,
            _ => 0,
        };
        // A margin for the float sum's own rounding.
        0.99 * 10f64.powi(38 - scale as i32)
    }
}

/// The slice query. `sums` says how each sum measure is summed (standard `sum` when it is not
/// known yet); each non-float sum is followed by its guard column.
fn slice_sql(rollup: &Rollup, sums: &HashMap<String, Sum>, bounds: (&str, &str)) -> String {
    let measure = |m: &Measure| match (m.agg, sums.get(&m.name)) {
        (Agg::Count, _) => format!("count({})", m.arg),
        (Agg::Min, _) => format!("min({})", m.arg),
        (Agg::Max, _) => format!("max({})", m.arg),
        (Agg::Sum, Some(Sum::Float) | None) => format!("sum({})", m.arg),
        (Agg::Sum, Some(Sum::Integer)) => {
            format!("sum(toDecimal128({0}, 0)), sum(abs(toFloat64({0})))", m.arg)
        }
        (Agg::Sum, Some(Sum::Decimal(_))) => {
            format!("sum({0}), sum(abs(toFloat64({0})))", m.arg)
        }
    };
    SliceSql {
        quote: Quote::Backtick,
        bounds,
        measure: &measure,
    }
    .build(rollup)
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

/// The names of ClickHouse's JDBC driver, for messages about TLS.
const TLS_NAMES: tls::Names = tls::Names {
    mode: ["sslmode", "verify-ca", "strict"],
    ca: "sslrootcert",
    require: "none",
};

/// An open ClickHouse "session": an HTTP client and the settings every query carries.
pub struct ClickHouse {
    http: reqwest::Client,
    /// `http(s)://host:port/`, with no credentials.
    endpoint: url::Url,
    user: String,
    password: Option<Secret>,
    /// The URL's own parameters (settings), then tally's, which win.
    params: Vec<(String, String)>,
    database: String,
    timezone: Tz,
    encrypted: bool,
    /// The TLS settings and the host, for plain words about certificates.
    tls: Tls,
    host: String,
    errors: Errors,
    prepared: HashMap<String, Prepared>,
    /// The `query_id` of the slice query running now, for `KILL QUERY`.
    running: Rc<RefCell<Option<String>>>,
}

/// A `query_id` no other query of this process has used.
fn query_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "tally-{}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_millis(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A ClickHouse result as text: the column names and types, then rows.
struct Table {
    types: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

impl ClickHouse {
    /// Builds the client and asks the server for its version, which checks the address, the
    /// login and that read-only queries are allowed.
    async fn connect(spec: &SourceSpec) -> Result<ClickHouse, SourceError> {
        let errors = Errors::new(spec);
        let url =
            url::Url::parse(spec.url.expose()).map_err(|e| errors.at("reading the URL", e))?;
        let encrypted = spec.tls.mode != TlsMode::Disable;
        let host = url.host_str().unwrap_or("localhost").to_string();
        let port = url.port().unwrap_or(if encrypted { 8443 } else { 8123 });
        let scheme = if encrypted { "https" } else { "http" };
        let endpoint = url::Url::parse(&format!("{scheme}://{}:{port}/", bracketed(&host)))
            .map_err(|e| errors.at("reading the URL", e))?;
        let decode = |t: &str| {
            percent_encoding::percent_decode_str(t)
                .decode_utf8_lossy()
                .into_owned()
        };
        let user = match url.username() {
            "" => "default".to_string(),
            name => decode(name),
        };
        let password = url.password().map(|p| Secret::new(decode(p)));
        let database = match url.path().trim_matches('/') {
            "" => "default".to_string(),
            db => decode(db),
        };
        let mut params: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "readonly" && k != "max_execution_time")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        params.push(("database".into(), database.clone()));
        if !spec.statement_timeout.is_zero() {
            // Whole seconds: ClickHouse 18 reads no fractions.
            let secs = spec.statement_timeout.as_millis().div_ceil(1000);
            params.push(("max_execution_time".into(), secs.to_string()));
        }
        params.push(("readonly".into(), "1".into()));
        // reqwest's rustls wants a process-wide provider even for plain HTTP; installing it
        // again is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(spec.connect_timeout)
            .user_agent(concat!("tally/", env!("CARGO_PKG_VERSION")));
        if encrypted {
            let config =
                tls::client_config(&spec.tls).map_err(|m| errors.at("setting up TLS", m))?;
            builder = builder.use_preconfigured_tls(config);
        }
        let http = builder
            .build()
            .map_err(|e| errors.at("setting up HTTP", e))?;
        let session = ClickHouse {
            http,
            endpoint,
            user,
            password,
            params,
            database,
            timezone: spec.timezone,
            encrypted,
            tls: spec.tls.clone(),
            host,
            errors,
            prepared: HashMap::new(),
            running: Rc::new(RefCell::new(None)),
        };
        session
            .table("SELECT version()", &[])
            .await
            .map_err(|mut e| {
                e.context = "connecting".into();
                e
            })?;
        Ok(session)
    }

    /// Sends `sql` and returns the response once its status says the query started well.
    async fn send(
        &self,
        sql: &str,
        settings: &[(&str, &str)],
        context: &str,
    ) -> Result<reqwest::Response, SourceError> {
        let mut url = self.endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in &self.params {
                if settings.iter().all(|(s, _)| s != k) {
                    query.append_pair(k, v);
                }
            }
            for (k, v) in settings {
                query.append_pair(k, v);
            }
        }
        let body = format!("{sql} FORMAT TabSeparatedWithNamesAndTypes");
        let request = self
            .http
            .post(url)
            .basic_auth(&self.user, self.password.as_ref().map(Secret::expose))
            .body(body);
        let response = request
            .send()
            .await
            .map_err(|e| self.http_error(context, &e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Err(self.server_error(context, &text, status))
    }

    /// A small query's whole result (tally's own queries: a few rows).
    async fn table(&self, sql: &str, settings: &[(&str, &str)]) -> Result<Table, SourceError> {
        let response = self.send(sql, settings, "querying").await?;
        let text = response
            .text()
            .await
            .map_err(|e| self.http_error("reading an answer", &e))?;
        let mut lines = text.lines();
        let _names = lines.next();
        let types: Vec<String> = lines
            .next()
            .map(|l| {
                l.split('\t')
                    .map(|t| unescape(t).ok().flatten().unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default();
        let rows = lines
            .map(|l| l.split('\t').map(|t| unescape(t).ok().flatten()).collect())
            .collect();
        Ok(Table { types, rows })
    }

    /// How the rollup's time column and sums are read, looked up once per session.
    async fn prepare(&mut self, rollup: &Rollup) -> Result<Prepared, SourceError> {
        if let Some(p) = self.prepared.get(&rollup.name) {
            return Ok(p.clone());
        }
        let (database, table) = self.table_name(rollup);
        let q = Quote::Backtick;
        let columns = self
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
            .map_err(|e| self.in_rollup(rollup, e))?;
        let time_type = match columns
            .rows
            .first()
            .and_then(|r| r.first())
            .cloned()
            .flatten()
        {
            Some(t) => t,
            None => {
                return Err(self.errors.rollup(
                    rollup,
                    format!(
                        "table {database}.{table} has no column `{}` (or the table does not exist)",
                        rollup.time
                    ),
                ));
            }
        };
        let time = match unwrap_type(&time_type) {
            t if t.starts_with("DateTime(") || t.starts_with("DateTime64(") && t.contains(',') => {
                TimeColumn::Zoned
            }
            "DateTime" => TimeColumn::Naive,
            t if t.starts_with("DateTime64(") => TimeColumn::Naive,
            "Date" | "Date32" => {
                return Err(self.errors.rollup(
                    rollup,
                    format!(
                        "time column `{}` is a Date; it needs a time of day (DateTime)",
                        rollup.time
                    ),
                ));
            }
            other => {
                return Err(self.errors.rollup(
                    rollup,
                    format!(
                        "time column `{}` has type {other}; use a DateTime column",
                        rollup.time
                    ),
                ));
            }
        };
        // The expressions, read against the table without reading a row: unknown columns and
        // functions fail here, and the sums' argument types come back.
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
            .table(
                &format!(
                    "SELECT {} FROM {} WHERE {} LIMIT 0",
                    select.join(", "),
                    q.table(rollup),
                    rollup.filter.as_deref().unwrap_or("1")
                ),
                &[],
            )
            .await
            .map_err(|e| self.in_rollup(rollup, e))?;
        let first = 1 + rollup.dimensions.len();
        let mut kinds = HashMap::new();
        for (i, m) in sums.iter().enumerate() {
            let ty = probe.types.get(first + i).cloned().unwrap_or_default();
            let kind = sum_kind(&ty).ok_or_else(|| {
                self.errors.rollup(
                    rollup,
                    format!(
                        "measure `{}`: sum of {} ({ty}); sum a number column",
                        m.name, m.arg
                    ),
                )
            })?;
            kinds.insert(m.name.clone(), kind);
        }
        let prepared = Prepared {
            time,
            time_type,
            sums: kinds,
        };
        self.prepared.insert(rollup.name.clone(), prepared.clone());
        Ok(prepared)
    }

    /// The rollup's database and table: `db.table`, or the URL's database.
    fn table_name(&self, rollup: &Rollup) -> (String, String) {
        match rollup.table.as_slice() {
            [db, table] => (db.clone(), table.clone()),
            [table] => (self.database.clone(), table.clone()),
            _ => unreachable!("config checks table names"),
        }
    }

    async fn check(&mut self, rollup: &Rollup) -> Result<TableInfo, SourceError> {
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
            .table(
                &format!(
                    "SELECT engine, sorting_key, primary_key FROM system.tables WHERE database = {} AND name = {}",
                    literal(&database),
                    literal(&table)
                ),
                &[],
            )
            .await
            .map_err(|e| self.in_rollup(rollup, e))?;
        let Some(row) = found.rows.first() else {
            return Err(self
                .errors
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
        let errors = self.errors.clone();
        let id = query_id();
        *self.running.borrow_mut() = Some(id.clone());
        let settings = [("force_primary_key", force), ("query_id", id.as_str())];
        let mut response = errors
            .answer(rollup, self.send(&sql, &settings, &context))
            .await??;
        let mut layout = Layout::new(rollup, &p);
        let mut lines = Lines::default();
        let mut rows = 0;
        loop {
            let chunk = errors
                .answer(rollup, response.chunk())
                .await?
                .map_err(|e| self.http_error(&context, &e))?;
            let Some(chunk) = chunk else { break };
            lines.push(&chunk);
            while let Some(line) = lines.next_line() {
                if let Some(values) = layout
                    .row(&line)
                    .map_err(|m| self.line_error(rollup, &line, m))?
                {
                    deliver(sink, values).await?;
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

    /// `KILL QUERY` of the running slice query, by its `query_id`, in a request of its own (not
    /// read-only: ClickHouse refuses KILL in a read-only request).
    fn canceller(&self) -> Option<Canceller> {
        let (http, running) = (self.http.clone(), Rc::clone(&self.running));
        let (user, password) = (self.user.clone(), self.password.clone());
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("database", &self.database);
        Some(Canceller::new(move || {
            let id = running.borrow().clone();
            let request = http
                .post(url.clone())
                .basic_auth(&user, password.as_ref().map(Secret::expose));
            Box::pin(async move {
                let Some(id) = id else { return Ok(()) };
                let sql = format!("KILL QUERY WHERE query_id = {} ASYNC", literal(&id));
                let response = request.body(sql).send().await.map_err(|e| e.to_string())?;
                match response.status() {
                    s if s.is_success() => Ok(()),
                    s => Err(format!(
                        "HTTP {s}: {}",
                        response.text().await.unwrap_or_default()
                    )),
                }
            })
        }))
    }

    /// A line that is not a row: an exception ClickHouse wrote after the rows had started (its
    /// status was already 200), or a value tally cannot read.
    fn line_error(&self, rollup: &Rollup, line: &str, problem: String) -> SourceError {
        if line.starts_with("Code: ") {
            self.server_error(
                &format!("rollup `{}`", rollup.name),
                line,
                reqwest::StatusCode::OK,
            )
        } else {
            self.errors.rollup(rollup, problem)
        }
    }

    fn in_rollup(&self, rollup: &Rollup, mut e: SourceError) -> SourceError {
        e.context = format!("rollup `{}`", rollup.name);
        e
    }

    /// A failed request: the network (a reset or refused connection is worth another try), or
    /// TLS (in plain words).
    fn http_error(&self, context: &str, e: &reqwest::Error) -> SourceError {
        let failure = match io_error(e) {
            Some(io) if io_is_transient(io) => Failure::Transient,
            _ if e.is_connect() || e.is_request() || e.is_body() => Failure::Transient,
            _ => Failure::Permanent,
        };
        if let Some(words) = tls::explain(e, &self.tls, &self.host, TLS_NAMES) {
            return self.errors.at(context, words);
        }
        let mut message = super::chain(e);
        if let Some(url) = e.url() {
            // reqwest names the URL, whose query holds the settings; the host is enough.
            message = message.replace(url.as_str(), &format!("{}://{}", url.scheme(), self.host));
        }
        self.errors.failed(context, message, failure)
    }

    /// An exception from the server: `Code: 60, e.displayText() = DB::Exception: ...` (18.x) or
    /// `Code: 60. DB::Exception: ... (UNKNOWN_TABLE)` (later).
    fn server_error(&self, context: &str, text: &str, status: reqwest::StatusCode) -> SourceError {
        let text = text.trim();
        let code: Option<u32> = text
            .strip_prefix("Code: ")
            .and_then(|rest| {
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .map(str::to_string)
            })
            .and_then(|digits| digits.parse().ok());
        let message = text
            .split_once("DB::Exception: ")
            .map_or(text, |(_, m)| m)
            .trim_end_matches(", e.what() = DB::Exception")
            .trim()
            .to_string();
        let failure = match code {
            Some(TIMEOUT_CODE) => Failure::Timeout,
            Some(c) if TRANSIENT_CODES.contains(&c) => Failure::Transient,
            None if status.is_server_error() => Failure::Transient,
            _ => Failure::Permanent,
        };
        let message = match code {
            Some(c) => format!("{message} (ClickHouse error {c})"),
            None if message.is_empty() => format!("HTTP {status}"),
            None => format!("HTTP {status}: {message}"),
        };
        self.errors.failed(context, message, failure)
    }

    async fn encryption(&mut self) -> Result<Encryption, SourceError> {
        Ok(if self.encrypted {
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
                None => Err(self.errors.at(
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

/// How the result's columns map to a row: the user and dimensions, then each measure, with the
/// guard that follows a non-float sum.
struct Layout {
    /// Per measure: its sum's bound when a guard column follows it.
    guards: Vec<Option<f64>>,
    /// Columns before the measures.
    keys: usize,
    /// Whether each measure is a sum (its text is a decimal).
    sums: Vec<bool>,
    names: Vec<String>,
    /// The header lines (names, types) are still to come.
    header: u8,
    types: Vec<String>,
}

impl Layout {
    fn new(rollup: &Rollup, p: &Prepared) -> Layout {
        let guards = rollup
            .measures
            .iter()
            .map(|m| match p.sums.get(&m.name) {
                Some(s @ (Sum::Integer | Sum::Decimal(_))) if m.agg == Agg::Sum => Some(s.bound()),
                _ => None,
            })
            .collect();
        Layout {
            guards,
            keys: 1 + rollup.dimensions.len(),
            sums: rollup.measures.iter().map(|m| m.agg == Agg::Sum).collect(),
            names: rollup.measures.iter().map(|m| m.name.clone()).collect(),
            header: 2,
            types: Vec::new(),
        }
    }

    /// The values of a line; `None` for the header lines.
    fn row(&mut self, line: &str) -> Result<Option<Vec<Value>>, String> {
        if self.header > 0 {
            self.header -= 1;
            if self.header == 0 {
                self.types = line
                    .split('\t')
                    .map(|t| unescape(t).ok().flatten().unwrap_or_default())
                    .collect();
            }
            return Ok(None);
        }
        let cells: Vec<&str> = line.split('\t').collect();
        let want = self.keys + self.sums.len() + self.guards.iter().flatten().count();
        if cells.len() != want || self.types.len() != want {
            return Err(format!(
                "a row of {} columns where {want} were expected",
                cells.len()
            ));
        }
        let mut values = Vec::with_capacity(self.keys + self.sums.len());
        for (cell, ty) in cells.iter().zip(&self.types).take(self.keys) {
            values.push(value(cell, ty)?);
        }
        let mut i = self.keys;
        for (m, guard) in self.guards.iter().enumerate() {
            let v = value(cells[i], &self.types[i])
                .map_err(|e| format!("measure `{}`: {e}", self.names[m]))?;
            i += 1;
            if let Some(bound) = guard {
                let spread: f64 = cells[i].parse().unwrap_or(f64::INFINITY);
                i += 1;
                if spread.is_nan() || spread >= *bound {
                    return Err(format!(
                        "measure `{}`: the sum of this slice may not fit in the 38 digits of a \
                         ClickHouse Decimal128 (its values add up to about {spread:e} in absolute \
                         value), and ClickHouse does not say when a decimal sum overflows; sum \
                         fewer decimals, or in smaller slices",
                        self.names[m]
                    ));
                }
            }
            values.push(v);
        }
        Ok(Some(values))
    }
}

/// Lines of a streamed answer, cut at `\n` as the chunks arrive.
#[derive(Default)]
struct Lines {
    rest: Vec<u8>,
}

impl Lines {
    fn push(&mut self, chunk: &[u8]) {
        self.rest.extend_from_slice(chunk);
    }

    fn next_line(&mut self) -> Option<String> {
        let end = self.rest.iter().position(|b| *b == b'\n')?;
        let line: Vec<u8> = self.rest.drain(..=end).collect();
        Some(String::from_utf8_lossy(&line[..end]).into_owned())
    }
}

/// A cell read by its column's type: integers as integers, decimals exactly, floats as floats,
/// the rest as text.
fn value(cell: &str, ty: &str) -> Result<Value, String> {
    let Some(text) = unescape(cell)? else {
        return Ok(Value::Null);
    };
    let ty = unwrap_type(ty);
    let bad = || format!("`{text}` is not a {ty}");
    Ok(match ty {
        "UInt8" | "UInt16" | "UInt32" | "Int8" | "Int16" | "Int32" | "Int64" => {
            Value::Int(text.parse().map_err(|_| bad())?)
        }
        "UInt64" => {
            let u: u64 = text.parse().map_err(|_| bad())?;
            i64::try_from(u).map_or_else(|_| Value::Dec(BigDecimal::from(u)), Value::Int)
        }
        "Float32" | "Float64" => Value::Float(text.parse().map_err(|_| bad())?),
        t if t.starts_with("Decimal") || t.starts_with("Int128") || t.starts_with("UInt128") => {
            Value::from_decimal(parse_decimal(&text).ok_or_else(bad)?)
        }
        _ => Value::Text(text),
    })
}

/// The type inside `Nullable(...)` and `LowCardinality(...)`.
fn unwrap_type(ty: &str) -> &str {
    let mut t = ty.trim();
    for wrapper in ["LowCardinality(", "Nullable("] {
        if let Some(inner) = t.strip_prefix(wrapper).and_then(|r| r.strip_suffix(')')) {
            t = inner.trim();
        }
    }
    t
}

/// How a sum of a column of type `ty` is summed; `None` when it is not a number.
fn sum_kind(ty: &str) -> Option<Sum> {
    let t = unwrap_type(ty);
    if t.starts_with("Float") {
        return Some(Sum::Float);
    }
    if t.starts_with("Int") || t.starts_with("UInt") {
        return Some(Sum::Integer);
    }
    // Decimal(P, S), Decimal32(S), Decimal64(S), Decimal128(S).
    let args = t.strip_prefix("Decimal")?;
    let inner = args.split_once('(')?.1.trim_end_matches(')');
    let scale = inner.rsplit(',').next()?.trim().parse().ok()?;
    Some(Sum::Decimal(scale))
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

/// A cell of TabSeparated: `\N` is NULL, and backslash escapes are undone.
fn unescape(cell: &str) -> Result<Option<String>, String> {
    if cell == "\\N" {
        return Ok(None);
    }
    if !cell.contains('\\') {
        return Ok(Some(cell.to_string()));
    }
    let mut out = String::with_capacity(cell.len());
    let mut chars = cell.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('t') => '\t',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('0') => '\0',
            Some('a') => '\u{7}',
            Some('v') => '\u{b}',
            Some(other) => other,
            None => return Err(format!("`{cell}` ends in a backslash")),
        });
    }
    Ok(Some(out))
}

/// A string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// An IPv6 host in brackets, as URLs write it.
fn bracketed(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_separated_cells_are_unescaped() {
        assert_eq!(unescape("\\N").unwrap(), None);
        assert_eq!(unescape("a\\tb\\\\n\\n").unwrap().unwrap(), "a\tb\\n\n");
        assert_eq!(unescape("it\\'s").unwrap().unwrap(), "it's");
        assert!(unescape("x\\").is_err());
    }

    #[test]
    fn cells_are_read_by_type() {
        assert_eq!(value("42", "UInt64").unwrap(), Value::Int(42));
        assert_eq!(
            value("18446744073709551615", "UInt64").unwrap().to_string(),
            "18446744073709551615"
        );
        assert_eq!(
            value("1.500000000000000000", "Decimal(38, 18)")
                .unwrap()
                .to_string(),
            "1.500000000000000000"
        );
        assert_eq!(value("\\N", "Nullable(Int64)").unwrap(), Value::Null);
        assert_eq!(
            value("x\\ty", "String").unwrap(),
            Value::Text("x\ty".into())
        );
        assert!(value("abc", "Int32").is_err());
    }

    #[test]
    fn sums_are_made_exact() {
        assert_eq!(sum_kind("Int32"), Some(Sum::Integer));
        assert_eq!(sum_kind("Nullable(UInt64)"), Some(Sum::Integer));
        assert_eq!(sum_kind("Decimal(38, 18)"), Some(Sum::Decimal(18)));
        assert_eq!(sum_kind("Decimal64(4)"), Some(Sum::Decimal(4)));
        assert_eq!(sum_kind("Float64"), Some(Sum::Float));
        assert_eq!(sum_kind("String"), None);
        assert!(Sum::Decimal(18).bound() < 1e20 && Sum::Decimal(18).bound() > 9e19);
    }

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
