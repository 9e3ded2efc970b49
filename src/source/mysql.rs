//! MySQL and MariaDB through mysql_async: a read-only session in UTC over TLS (rustls, MySQL's
//! `ssl-mode`), rows streamed one by one, load from `SHOW GLOBAL STATUS` and lag from the replica
//! status.

use std::collections::HashMap;
use std::time::Duration;

use bigdecimal::BigDecimal;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use mysql_async::{ClientIdentity, Conn, Opts, OptsBuilder, Row, SslOpts};

use super::query::{Quote, SliceSql, standard};
use super::tls::{Tls, TlsMode};
use super::{
    BoxFuture, Calls, Canceller, Capabilities, Driver, Encryption, Explain, Failure, Lag,
    LoadFigures, PullError, Range, RowSink, Session, SourceError, TableInfo, chain, io_error,
    io_is_transient, push_row, tls,
};
use super::{LoadLimit, SourceSpec};
use crate::rollup::Rollup;
use crate::value::Value;

/// MariaDB's `max_statement_time` and MySQL's `max_execution_time` errors.
const TIMEOUT_CODES: [u16; 2] = [1969, 3024];

/// Server errors a reconnect may cure: shutdown in progress (1053), connection killed (MariaDB
/// 1927), deadlock (1213), lock wait timeout (1205), network read and write errors (1158-1161).
const TRANSIENT_CODES: [u16; 8] = [1053, 1927, 1213, 1205, 1158, 1159, 1160, 1161];

/// The MySQL and MariaDB driver.
pub static DRIVER: MysqlDriver = MysqlDriver;

/// MySQL and MariaDB (and what speaks their protocol: Aurora MySQL, PlanetScale, TiDB).
pub struct MysqlDriver;

impl Driver for MysqlDriver {
    fn name(&self) -> &'static str {
        "MySQL"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["mysql", "mariadb"]
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            parallel: true,
            file: false,
            // Any `SHOW GLOBAL STATUS` variable.
            load: Some(LoadFigures {
                default: "Threads_running=25",
                names: &[],
                measure: "status variables",
            }),
            lag: true,
        }
    }

    fn dialect(&self) -> Box<dyn sqlparser::dialect::Dialect> {
        Box::new(sqlparser::dialect::MySqlDialect {})
    }

    fn functions(&self) -> &'static str {
        super::functions::MYSQL
    }

    fn tls_params(&self) -> &'static [&'static str] {
        &[
            "ssl-mode",
            "ssl_mode",
            "ssl-ca",
            "ssl_ca",
            "ssl-cert",
            "ssl_cert",
            "ssl-key",
            "ssl_key",
            "require_ssl",
            "verify_ca",
            "verify_identity",
        ]
    }

    /// MySQL's `ssl-mode`, `ssl-ca`, `ssl-cert` and `ssl-key` (or with `_`), and mysql_async's
    /// own `require_ssl`, `verify_ca` and `verify_identity`.
    fn tls(&self, params: &[(String, String)]) -> tls::Request {
        let get = |a: &str, b: &str| tls::param(params, &[a, b]);
        let mut request = tls::Request {
            names: ["ssl-ca", "ssl-cert", "ssl-key"],
            explicit: get("ssl-mode", "ssl_mode").is_some() || get("require_ssl", "").is_some(),
            ca: get("ssl-ca", "ssl_ca").map(String::from),
            cert: get("ssl-cert", "ssl_cert").map(String::from),
            key: get("ssl-key", "ssl_key").map(String::from),
            ..tls::Request::default()
        };
        let mut flag = |name: &str| -> Option<bool> {
            match get(name, name)? {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                other => {
                    request
                        .problems
                        .push(format!("{name} `{other}` must be true or false"));
                    None
                }
            }
        };
        let mode = match get("ssl-mode", "ssl_mode")
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            Some("DISABLED") => TlsMode::Disable,
            Some("PREFERRED") => TlsMode::Prefer,
            Some("REQUIRED") => TlsMode::Require,
            Some("VERIFY_CA") => TlsMode::VerifyCa,
            Some("VERIFY_IDENTITY") => TlsMode::VerifyFull,
            Some(other) => {
                request.problems.push(format!(
                    "ssl-mode `{other}` is not one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, \
                     VERIFY_IDENTITY"
                ));
                TlsMode::Prefer
            }
            // mysql_async's own parameters: require_ssl verifies the CA and the name unless
            // verify_ca or verify_identity say otherwise.
            None => match flag("require_ssl") {
                Some(true) => match (flag("verify_ca"), flag("verify_identity")) {
                    (Some(false), _) => TlsMode::Require,
                    (_, Some(false)) => TlsMode::VerifyCa,
                    _ => TlsMode::VerifyFull,
                },
                Some(false) => TlsMode::Disable,
                None => TlsMode::Prefer,
            },
        };
        request.mode = mode;
        request
    }

    fn slice_sql(&self, rollup: &Rollup) -> String {
        slice_sql(rollup, ("'{start}'", "'{end}'"))
    }

    fn connect<'a>(
        &'a self,
        spec: &'a SourceSpec,
    ) -> BoxFuture<'a, Result<Box<dyn Session>, SourceError>> {
        Box::pin(async move { Ok(Box::new(Mysql::connect(spec).await?) as Box<dyn Session>) })
    }
}

/// The slice query with its bounds written in: tally sends only text-protocol queries, so no
/// prepared statement is ever left on a connection that a pooler may hand to someone else.
fn slice_sql(rollup: &Rollup, bounds: (&str, &str)) -> String {
    SliceSql {
        quote: Quote::Backtick,
        bounds,
        measure: &standard,
    }
    .build(rollup)
}

/// A DATETIME literal of a slice bound (`'2026-11-01 00:00:00'`): digits only inside the quotes.
fn datetime(t: chrono::NaiveDateTime) -> String {
    format!("'{}'", t.format("%Y-%m-%d %H:%M:%S"))
}

/// A string literal that reads the same whatever the server's SQL mode: its UTF-8 bytes in hex.
fn text(value: &str) -> String {
    let hex: String = value.bytes().map(|b| format!("{b:02x}")).collect();
    format!("CONVERT(X'{hex}' USING utf8mb4)")
}

/// How a slice query carries its statement timeout and its time zone, so that nothing is set on
/// the connection: MariaDB's `SET STATEMENT ... FOR`, MySQL's optimizer hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// MariaDB: `SET STATEMENT max_statement_time = s, time_zone = '+00:00' FOR SELECT ...`.
    MariaDb,
    /// MySQL: `SELECT /*+ MAX_EXECUTION_TIME(ms) */ ...`, with the session's time zone set to UTC
    /// inside the transaction and set back to the server's default after it.
    Mysql,
}

super::forward_session!(Mysql);

/// MySQL's names, for messages about TLS.
const TLS_NAMES: tls::Names = tls::Names {
    mode: ["ssl-mode", "VERIFY_CA", "VERIFY_IDENTITY"],
    ca: "ssl-ca",
    require: "REQUIRED",
};

/// An open MySQL or MariaDB session. Safe behind a pooler or proxy that hands the connection to
/// others: only text-protocol queries (no prepared statement stays open), read-only transactions,
/// and the statement timeout and time zone set per statement (or, on MySQL, the time zone set
/// back before the transaction ends).
pub struct Mysql {
    conn: Conn,
    timezone: Tz,
    pub(super) calls: Calls,
    flavor: Flavor,
    /// The statement timeout (zero: none).
    timeout: Duration,
    /// What a cancel's own connection needs: the options and this connection's id.
    opts: Opts,
    /// Zone of each rollup's time column, looked up once per session.
    zones: HashMap<String, Tz>,
}

/// How the time column compares to slice bounds.
enum TimeColumn {
    /// TIMESTAMP: stored in UTC, shown in the session zone, which is UTC for tally's queries.
    Utc,
    /// DATETIME: naive wall-clock time in the source's zone.
    Naive,
}

impl Mysql {
    /// Connects (with TLS as `ssl-mode` asks). Nothing is set on the session.
    async fn connect(spec: &SourceSpec) -> Result<Mysql, SourceError> {
        let calls = Calls::new(spec);
        let url = match spec.url.expose().strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => spec.url.expose().to_string(),
        };
        let opts = Opts::from_url(&url).map_err(|e| calls.at("reading the URL", e))?;
        let host = opts.ip_or_hostname().to_string();
        // mysql_async moves a connection to 127.0.0.1 onto the server's unix socket, where it
        // drops TLS: a network source stays on the network unless its URL asks otherwise.
        let mut builder = OptsBuilder::from_opts(opts);
        if !url.contains("prefer_socket=") {
            builder = builder.prefer_socket(false);
        }
        let fail = |e: &mysql_async::Error| connect_error(&calls, &spec.tls, &host, e);
        let mut conn = match Conn::new(builder.clone().ssl_opts(ssl_opts(&calls, &spec.tls)?)).await
        {
            Ok(conn) => conn,
            // PREFERRED: a server without TLS gets a plain connection, as the MySQL client does.
            Err(mysql_async::Error::Driver(
                mysql_async::DriverError::NoClientSslFlagFromServer,
            )) if spec.tls.mode == TlsMode::Prefer => Conn::new(builder.ssl_opts(None))
                .await
                .map_err(|e| fail(&e))?,
            Err(e) => return Err(fail(&e)),
        };
        let version: String = conn
            .query_first("SELECT VERSION()")
            .await
            .map_err(|e| fail(&e))?
            .unwrap_or_default();
        let flavor = if version.to_ascii_lowercase().contains("mariadb") {
            Flavor::MariaDb
        } else {
            Flavor::Mysql
        };
        Ok(Mysql {
            opts: conn.opts().clone(),
            conn,
            timezone: spec.timezone,
            calls,
            flavor,
            timeout: spec.statement_timeout,
            zones: HashMap::new(),
        })
    }

    /// The TLS version and cipher of this session (`Ssl_version`, `Ssl_cipher`).
    async fn encryption(&mut self) -> Result<Encryption, SourceError> {
        let rows: Vec<(String, String)> = self
            .conn
            .query("SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')")
            .await
            .map_err(|e| self.calls.at("reading the TLS status", message(&e)))?;
        let get = |name: &str| {
            rows.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        Ok(Encryption {
            version: get("Ssl_version"),
            cipher: get("Ssl_cipher"),
        })
    }

    /// The `SHOW GLOBAL STATUS` variables named in `limits`; a name the server does not know is
    /// an error that names it.
    async fn load(&mut self, limits: &[LoadLimit]) -> Result<Vec<u64>, SourceError> {
        if limits.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<String> = limits
            .iter()
            .map(|l| format!("'{}'", l.name.replace('\'', "")))
            .collect();
        let rows: Vec<(String, String)> = self
            .conn
            .query(format!(
                "SHOW GLOBAL STATUS WHERE Variable_name IN ({})",
                names.join(", ")
            ))
            .await
            .map_err(|e| {
                self.calls
                    .failed("reading the load", message(&e), failure(&e))
            })?;
        limits
            .iter()
            .map(|l| {
                let value = rows
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&l.name))
                    .map(|(_, v)| v.trim());
                match value.map(str::parse::<f64>) {
                    Some(Ok(v)) => Ok(v.max(0.0) as u64),
                    Some(Err(_)) => Err(self.calls.at(
                        "reading the load",
                        format!("max_load: status variable `{}` is not a number", l.name),
                    )),
                    None => Err(self.calls.at(
                        "reading the load",
                        format!(
                            "max_load: the server has no status variable `{}` (see SHOW GLOBAL STATUS)",
                            l.name
                        ),
                    )),
                }
            })
            .collect()
    }

    /// `Seconds_Behind_Source` (MySQL 8.0.22+) or `Seconds_Behind_Master` of the replica status;
    /// no status at all is a primary.
    async fn lag(&mut self) -> Result<Lag, SourceError> {
        let mut rows: Result<Vec<Row>, _> = self.conn.query("SHOW REPLICA STATUS").await;
        if matches!(&rows, Err(mysql_async::Error::Server(s)) if s.code == 1064) {
            // Before MySQL 8.0.22 and MariaDB 10.5.1.
            rows = self.conn.query("SHOW SLAVE STATUS").await;
        }
        let rows = match rows {
            Ok(rows) => rows,
            // ER_SPECIFIC_ACCESS_DENIED_ERROR: REPLICATION CLIENT / REPLICA MONITOR is missing.
            Err(mysql_async::Error::Server(s)) if s.code == 1227 => {
                return Ok(Lag::Unknown(format!(
                    "{} (grant REPLICATION CLIENT, or REPLICA MONITOR on MariaDB)",
                    s.message
                )));
            }
            Err(e) => {
                return Err(self
                    .calls
                    .failed("reading the replica lag", message(&e), failure(&e)));
            }
        };
        let Some(row) = rows.first() else {
            return Ok(Lag::Primary);
        };
        let column = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|c| row.get_opt::<Option<String>, _>(*c))
                .and_then(Result::ok)
                .flatten()
        };
        let seconds = column(["Seconds_Behind_Source", "Seconds_Behind_Master"])
            .and_then(|s| s.parse::<u64>().ok());
        if let Some(s) = seconds {
            return Ok(Lag::Behind(Duration::from_secs(s)));
        }
        // No lag figure: replication is stopped. A writable server whose replication threads are
        // both stopped is a former replica that became a primary, not a replica behind.
        let stopped = |names| column(names).is_none_or(|v| v.eq_ignore_ascii_case("no"));
        if stopped(["Replica_IO_Running", "Slave_IO_Running"])
            && stopped(["Replica_SQL_Running", "Slave_SQL_Running"])
        {
            let read_only: Option<i64> = self
                .conn
                .query_first("SELECT @@read_only")
                .await
                .map_err(|e| {
                    self.calls
                        .failed("reading the replica lag", message(&e), failure(&e))
                })?;
            if read_only == Some(0) {
                return Ok(Lag::Unknown(
                    "replication is configured but stopped, and the server is writable: taken as a primary".into(),
                ));
            }
        }
        Ok(Lag::Stopped(
            "replication is not running (Seconds_Behind is NULL)".into(),
        ))
    }

    /// Checks the table, the time column's type, and the slice query (by explaining it).
    async fn probe(&mut self, rollup: &Rollup) -> Result<TableInfo, SourceError> {
        let column = self.time_column(rollup).await?;
        let now = Utc::now();
        self.explain(
            rollup,
            Range {
                start: now,
                end: now,
            },
        )
        .await?;
        let time_column = match column {
            TimeColumn::Utc => "timestamp (UTC)".to_string(),
            TimeColumn::Naive => format!("datetime in {}", self.timezone),
        };
        Ok(TableInfo { time_column })
    }

    async fn time_column(&mut self, rollup: &Rollup) -> Result<TimeColumn, SourceError> {
        let (schema, table) = match rollup.table.as_slice() {
            [schema, table] => (text(schema), text(table)),
            [table] => ("DATABASE()".to_string(), text(table)),
            _ => unreachable!("config checks table names"),
        };
        let calls = self.calls.clone();
        let lookup = async {
            self.conn
                .query_first(format!(
                    "SELECT DATA_TYPE FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = {schema} AND TABLE_NAME = {table} AND COLUMN_NAME = {}",
                    text(&rollup.time)
                ))
                .await
                .map_err(|e| {
                    calls.failed(
                        format!("rollup `{}`", rollup.name),
                        message(&e),
                        failure(&e),
                    )
                })
        };
        let found: Option<String> = calls
            .bounded(&format!("rollup `{}`", rollup.name), lookup)
            .await?;
        match found.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("timestamp") => Ok(TimeColumn::Utc),
            Some("datetime") => Ok(TimeColumn::Naive),
            Some(other) => Err(self.calls.rollup(
                rollup,
                format!(
                    "time column `{}` is {other}; use a DATETIME or TIMESTAMP column",
                    rollup.time
                ),
            )),
            None => Err(self.calls.rollup(
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
    async fn explain(&mut self, rollup: &Rollup, range: Range) -> Result<Explain, SourceError> {
        let Range { start, end } = range;
        let zone = self.zone(rollup).await?;
        let bound = |t: DateTime<Utc>| datetime(t.with_timezone(&zone).naive_local());
        let rows: Vec<Row> = self
            .conn
            .query(format!(
                "EXPLAIN {}",
                slice_sql(rollup, (&bound(start), &bound(end)))
            ))
            .await
            .map_err(|e| self.query_error(rollup, &e))?;
        let table = rollup.table.last().expect("a table name");
        let text = |row: &Row, col: &str| row.get::<Option<String>, _>(col).flatten();
        let mut explain = Explain {
            access: String::new(),
            full_scan: false,
            rows: None,
            fix: format!("create an index: {}", Explain::index_hint(rollup)),
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

    /// Streams one slice into `sink`, in a read-only transaction rolled back whatever happens.
    async fn pull(
        &mut self,
        rollup: &Rollup,
        range: Range,
        sink: &mut dyn RowSink,
    ) -> Result<u64, PullError> {
        let Range { start, end } = range;
        let zone = self.zone(rollup).await?;
        let bound = |t: DateTime<Utc>| datetime(t.with_timezone(&zone).naive_local());
        let sql = self.limited(&slice_sql(rollup, (&bound(start), &bound(end))));
        let calls = self.calls.clone();
        let fail = |e: mysql_async::Error| {
            calls.failed(
                format!("rollup `{}`", rollup.name),
                message(&e),
                failure(&e),
            )
        };
        let mut setup = vec!["START TRANSACTION READ ONLY"];
        if self.flavor == Flavor::Mysql {
            setup.push("SET time_zone = '+00:00'");
        }
        let streamed = async {
            for statement in setup {
                calls
                    .answer(rollup, self.conn.query_drop(statement))
                    .await?
                    .map_err(fail)?;
            }
            let mut result = calls
                .answer(rollup, self.conn.query_iter(sql.as_str()))
                .await?
                .map_err(fail)?;
            let mut rows = 0;
            while let Some(row) = calls.answer(rollup, result.next()).await?.map_err(fail)? {
                let values = read_row(row, rollup).map_err(|m| calls.rollup(rollup, m))?;
                push_row(sink, values).await?;
                rows += 1;
            }
            Ok(rows)
        }
        .await;
        // After a failure the connection may be gone or silent; a new one starts clean.
        let mut end = vec!["ROLLBACK"];
        if self.flavor == Flavor::Mysql {
            end.push("SET time_zone = DEFAULT");
        }
        for statement in end {
            let ended = self.conn.query_drop(statement);
            if !matches!(
                tokio::time::timeout(calls.connect_timeout, ended).await,
                Ok(Ok(()))
            ) {
                break;
            }
        }
        streamed
    }

    /// The slice query with its statement timeout and time zone, for this statement alone.
    fn limited(&self, select: &str) -> String {
        match self.flavor {
            Flavor::MariaDb => format!(
                "SET STATEMENT max_statement_time = {}, time_zone = '+00:00' FOR {select}",
                self.timeout.as_secs_f64()
            ),
            Flavor::Mysql if self.timeout.is_zero() => select.to_string(),
            Flavor::Mysql => select.replacen(
                "SELECT ",
                &format!(
                    "SELECT /*+ MAX_EXECUTION_TIME({}) */ ",
                    self.timeout.as_millis()
                ),
                1,
            ),
        }
    }

    /// `KILL QUERY` of this connection's query, sent on a connection of its own.
    fn canceller(&self) -> Option<Canceller> {
        let (opts, id) = (self.opts.clone(), self.conn.id());
        Some(Canceller::new(move || {
            let opts = opts.clone();
            Box::pin(async move {
                let mut conn = Conn::new(opts).await.map_err(|e| message(&e))?;
                let killed = conn.query_drop(format!("KILL QUERY {id}")).await;
                let _ = conn.disconnect().await;
                killed.map_err(|e| message(&e))
            })
        }))
    }
}

impl Mysql {
    fn query_error(&self, rollup: &Rollup, e: &mysql_async::Error) -> SourceError {
        self.calls
            .failed(format!("rollup `{}`", rollup.name), message(e), failure(e))
    }
}

/// mysql_async's options for the TLS mode. The CA file, or else the system's CAs, replaces the
/// driver's built-in Mozilla list, as with PostgreSQL sources.
fn ssl_opts(calls: &Calls, tls: &Tls) -> Result<Option<SslOpts>, SourceError> {
    let opts = SslOpts::default();
    let opts = match tls.mode {
        TlsMode::Disable => return Ok(None),
        TlsMode::Prefer | TlsMode::Require => opts.with_danger_accept_invalid_certs(true),
        TlsMode::VerifyCa | TlsMode::VerifyFull => {
            let roots = match &tls.ca {
                Some(file) => vec![file.clone().into()],
                None => tls::system_roots()
                    .map_err(|m| calls.at("setting up TLS", m))?
                    .into_iter()
                    .map(|der| der.to_vec().into())
                    .collect(),
            };
            opts.with_root_certs(roots)
                .with_disable_built_in_roots(true)
                .with_danger_skip_domain_validation(tls.mode == TlsMode::VerifyCa)
        }
    };
    Ok(Some(match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => opts.with_client_identity(Some(ClientIdentity::new(
            cert.clone().into(),
            key.clone().into(),
        ))),
        _ => opts,
    }))
}

/// A failed connection, in words that say what to do about TLS when TLS is the problem.
fn connect_error(calls: &Calls, tls: &Tls, host: &str, e: &mysql_async::Error) -> SourceError {
    if let Some(words) = tls::explain(e, tls, host, TLS_NAMES) {
        let upstream = if tls.mode == TlsMode::VerifyCa && words.contains("is for") {
            " (with MySQL sources, VERIFY_CA also checks the name: a limitation of the \
             mysql_async driver)"
        } else {
            ""
        };
        return calls.at("connecting", format!("{words}{upstream}"));
    }
    let text = message(e);
    let hint = match e {
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer) => {
            " (the server does not accept TLS connections: configure ssl_cert and ssl_key on the \
             server, or use ssl-mode=PREFERRED or DISABLED)"
        }
        // ER_ACCESS_DENIED_ERROR for a user created with REQUIRE SSL, over a plain connection.
        mysql_async::Error::Server(s) if s.code == 1045 && tls.mode == TlsMode::Disable => {
            " (if this user is created with REQUIRE SSL, use ssl-mode=REQUIRED or VERIFY_IDENTITY)"
        }
        _ => "",
    };
    calls.failed("connecting", format!("{text}{hint}"), failure(e))
}

/// Whether a reconnect may cure `e`: a broken or closed connection, a server going down, a
/// killed connection, a deadlock. Statement timeouts are [`Failure::Timeout`]; bad SQL, missing
/// tables, refused logins and TLS problems are permanent.
fn failure(e: &mysql_async::Error) -> Failure {
    use mysql_async::{DriverError, Error, IoError};
    match e {
        Error::Server(s) if TIMEOUT_CODES.contains(&s.code) => Failure::Timeout,
        Error::Server(s) if TRANSIENT_CODES.contains(&s.code) => Failure::Transient,
        Error::Driver(DriverError::ConnectionClosed) => Failure::Transient,
        Error::Io(IoError::Io(io)) if io_is_transient(io) => Failure::Transient,
        Error::Other(other) => match io_error(other.as_ref()) {
            Some(io) if io_is_transient(io) => Failure::Transient,
            _ => Failure::Permanent,
        },
        _ => Failure::Permanent,
    }
}

/// The error said once: mysql_async's Display repeats "Input/output error:" at each level.
fn message(e: &mysql_async::Error) -> String {
    use mysql_async::{Error, IoError};
    match e {
        Error::Io(IoError::Io(io)) => io.to_string(),
        Error::Io(IoError::Tls(t)) => format!("TLS: {t}"),
        Error::Server(s) => format!("{} (MySQL error {})", s.message, s.code),
        Error::Driver(d) => d.to_string(),
        other => chain(other),
    }
}

fn read_row(row: Row, rollup: &Rollup) -> Result<Vec<Value>, String> {
    let types: Vec<ColumnType> = row.columns_ref().iter().map(|c| c.column_type()).collect();
    row.unwrap()
        .into_iter()
        .zip(types)
        .enumerate()
        .map(|(i, (v, ty))| value(v, ty).map_err(|m| format!("{}: {m}", rollup.column(i))))
        .collect()
}

/// True for the largest DECIMAL of 65 digits (all nines): what MySQL and MariaDB answer, without
/// a warning, for a grouped SUM that does not fit in 65 digits.
fn clamped(text: &str) -> bool {
    let digits: Vec<char> = text.chars().filter(char::is_ascii_digit).collect();
    digits.len() >= 65 && digits.iter().all(|d| *d == '9')
}

/// A cell of the text protocol (every value arrives as text) or the binary one, read by its
/// column's type: integers as integers, DECIMAL exactly, floats as floats, the rest as text.
fn value(v: mysql_async::Value, ty: ColumnType) -> Result<Value, String> {
    use mysql_async::Value as My;
    let unsigned =
        |u: u64| i64::try_from(u).map_or_else(|_| Value::Dec(BigDecimal::from(u)), Value::Int);
    Ok(match v {
        My::NULL => Value::Null,
        My::Int(i) => Value::Int(i),
        My::UInt(u) => unsigned(u),
        My::Float(f) => Value::Float(f.into()),
        My::Double(f) => Value::Float(f),
        My::Bytes(b) => {
            let text = String::from_utf8_lossy(&b).into_owned();
            let parsed = match ty {
                ColumnType::MYSQL_TYPE_NEWDECIMAL | ColumnType::MYSQL_TYPE_DECIMAL => {
                    if clamped(&text) {
                        return Err(format!(
                            "the server answered {text}, the largest DECIMAL of 65 digits: the sum \
                             does not fit a DECIMAL, and MySQL cuts it to that without a warning; \
                             sum with fewer decimals, or in smaller slices"
                        ));
                    }
                    crate::value::parse_decimal(&text).map(Value::from_decimal)
                }
                ColumnType::MYSQL_TYPE_TINY
                | ColumnType::MYSQL_TYPE_SHORT
                | ColumnType::MYSQL_TYPE_INT24
                | ColumnType::MYSQL_TYPE_LONG
                | ColumnType::MYSQL_TYPE_LONGLONG
                | ColumnType::MYSQL_TYPE_YEAR => text
                    .parse::<i64>()
                    .map(Value::Int)
                    .or_else(|_| text.parse::<u64>().map(unsigned))
                    .ok(),
                ColumnType::MYSQL_TYPE_FLOAT | ColumnType::MYSQL_TYPE_DOUBLE => {
                    text.parse::<f64>().ok().map(Value::Float)
                }
                _ => None,
            };
            parsed.unwrap_or(Value::Text(text))
        }
        other => Value::Text(other.as_sql(true).trim_matches('\'').to_string()),
    })
}
