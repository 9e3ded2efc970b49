//! PostgreSQL through tokio-postgres: a read-only session over TLS (rustls, libpq's `sslmode`),
//! rows streamed with `query_raw`, load from `pg_stat_activity` and lag from the replay position.

use std::collections::HashMap;
use std::time::Duration;

use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use futures_util::{TryStreamExt, pin_mut};
use num_bigint::BigInt;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

mod cancel;

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

/// The PostgreSQL driver.
pub static DRIVER: PostgresDriver = PostgresDriver;

/// PostgreSQL (and what speaks its protocol: Aurora, Cloud SQL, Azure, Neon, Supabase).
pub struct PostgresDriver;

impl Driver for PostgresDriver {
    fn name(&self) -> &'static str {
        "PostgreSQL"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["postgres", "postgresql"]
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            parallel: true,
            file: false,
            load: Some(LoadFigures {
                default: "active=25",
                names: &["active"],
                measure: "`active` backends",
            }),
            lag: true,
        }
    }

    fn dialect(&self) -> Box<dyn sqlparser::dialect::Dialect> {
        Box::new(sqlparser::dialect::PostgreSqlDialect {})
    }

    fn functions(&self) -> &'static str {
        super::functions::POSTGRES
    }

    fn tls_params(&self) -> &'static [&'static str] {
        &["sslmode", "sslrootcert", "sslcert", "sslkey"]
    }

    /// libpq's `sslmode`, `sslrootcert`, `sslcert` and `sslkey`. As in libpq,
    /// `sslrootcert=system` means the system's CAs and `verify-full`.
    fn tls(&self, params: &[(String, String)]) -> tls::Request {
        let get = |name: &str| tls::param(params, &[name]);
        let mut request = tls::Request {
            names: ["sslrootcert", "sslcert", "sslkey"],
            explicit: get("sslmode").is_some(),
            cert: get("sslcert").map(String::from),
            key: get("sslkey").map(String::from),
            ..tls::Request::default()
        };
        let system = get("sslrootcert") == Some("system");
        request.mode = match get("sslmode").map(str::to_ascii_lowercase).as_deref() {
            None if system => TlsMode::VerifyFull,
            None | Some("prefer") | Some("allow") => TlsMode::Prefer,
            Some("disable") => TlsMode::Disable,
            Some("require") => TlsMode::Require,
            Some("verify-ca") => TlsMode::VerifyCa,
            Some("verify-full") => TlsMode::VerifyFull,
            Some(other) => {
                request.problems.push(format!(
                    "sslmode `{other}` is not one of disable, prefer, require, verify-ca, verify-full"
                ));
                TlsMode::Prefer
            }
        };
        if system && request.mode != TlsMode::VerifyFull {
            request.problems.push(
                "sslrootcert=system needs sslmode=verify-full (as in libpq): the system's CAs \
                 vouch for host names"
                    .into(),
            );
        }
        request.ca = get("sslrootcert").filter(|_| !system).map(String::from);
        request
    }

    fn slice_sql(&self, rollup: &Rollup) -> String {
        slice_sql(rollup)
    }

    fn connect<'a>(
        &'a self,
        spec: &'a SourceSpec,
    ) -> BoxFuture<'a, Result<Box<dyn Session>, SourceError>> {
        Box::pin(async move { Ok(Box::new(Postgres::connect(spec).await?) as Box<dyn Session>) })
    }
}

/// The slice query, with the bounds as parameters `$1` and `$2`.
fn slice_sql(rollup: &Rollup) -> String {
    SliceSql {
        quote: Quote::Double,
        bounds: ("$1", "$2"),
        measure: &standard,
    }
    .build(rollup)
}

super::forward_session!(Postgres);

/// libpq's names, for messages about TLS.
const TLS_NAMES: tls::Names = tls::Names {
    mode: ["sslmode", "verify-ca", "verify-full"],
    ca: "sslrootcert",
    require: "require",
};

/// An open PostgreSQL session. It is safe behind a connection pooler in transaction mode
/// (pgbouncer, Supavisor, RDS Proxy), which hands the server connection to other clients between
/// transactions: everything tally sets lives in one transaction (`BEGIN READ ONLY`, `SET LOCAL`),
/// and every statement is unnamed (`query_typed`), so nothing is left on the server connection.
pub struct Postgres {
    client: Client,
    timezone: Tz,
    pub(super) calls: Calls,
    /// `SET LOCAL statement_timeout` of every transaction, in milliseconds (0: none).
    timeout_ms: u128,
    /// What a cancel request for the running query goes through: the TLS setup and where the
    /// session connected.
    tls: MakeRustlsConnect,
    address: Option<cancel::Address>,
    /// Each rollup's time column type, looked up once per session.
    time_types: HashMap<String, Type>,
}

impl Postgres {
    /// Connects (with TLS as `sslmode` asks). Nothing is set on the session: each query runs in a
    /// read-only transaction of its own that carries the statement timeout.
    async fn connect(spec: &SourceSpec) -> Result<Postgres, SourceError> {
        let calls = Calls::new(spec);
        let mut config: tokio_postgres::Config = spec
            .url
            .expose()
            .parse()
            .map_err(|e| calls.at("reading the URL", chain(&e)))?;
        config.ssl_mode(match spec.tls.mode {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
        if config.get_application_name().is_none() {
            // A startup parameter every pooler passes on (unlike `options`).
            config.application_name("tally");
        }
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            _ => String::new(),
        };
        let address = config.get_hosts().first().map(|host| cancel::Address {
            host: host.clone(),
            port: config.get_ports().first().copied().unwrap_or(5432),
        });
        let rustls = tls::client_config(&spec.tls).map_err(|m| calls.at("setting up TLS", m))?;
        let tls = MakeRustlsConnect::new(rustls);
        let (client, connection) = config
            .connect(tls.clone())
            .await
            .map_err(|e| connect_error(&calls, &spec.tls, &host, &e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("postgres connection closed: {e}");
            }
        });
        Ok(Postgres {
            client,
            timezone: spec.timezone,
            calls,
            timeout_ms: spec.statement_timeout.as_millis(),
            tls,
            address,
            time_types: HashMap::new(),
        })
    }

    /// Opens the read-only transaction that every query of tally's runs in.
    async fn begin(&self) -> Result<(), tokio_postgres::Error> {
        self.client
            .batch_execute(&format!(
                "BEGIN READ ONLY; SET LOCAL statement_timeout = {}",
                self.timeout_ms
            ))
            .await
    }

    /// Ends the transaction, whatever happened in it. After a failure the connection may be gone
    /// or silent; a new one starts clean.
    async fn end(&self) {
        let rollback = self.client.batch_execute("ROLLBACK");
        let _ = tokio::time::timeout(self.calls.connect_timeout, rollback).await;
    }

    /// One of tally's small queries (an unnamed statement) in a transaction of its own.
    async fn read(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.begin().await?;
        let rows = self.client.query_typed(sql, params).await;
        self.end().await;
        rows
    }

    /// The TLS version and cipher of this session, from `pg_stat_ssl`.
    async fn encryption(&mut self) -> Result<Encryption, SourceError> {
        let rows = self
            .read(
                "SELECT version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl",
                &[],
            )
            .await
            .map_err(|e| self.calls.at("reading pg_stat_ssl", db_message(&e)))?;
        let row = rows.first();
        Ok(Encryption {
            version: row.and_then(|r| r.get(0)),
            cipher: row.and_then(|r| r.get(1)),
        })
    }

    /// Active backends other than this session (`active` is the one load figure).
    async fn load(&mut self, limits: &[LoadLimit]) -> Result<Vec<u64>, SourceError> {
        let rows = self
            .read(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .map_err(|e| self.calls.failed("reading the load", db_message(&e), failure(&e)))?;
        let active = rows.first().map_or(0, |r| r.get::<_, i64>(0)).max(0) as u64;
        Ok(vec![active; limits.len()])
    }

    /// On a hot standby, how far replay is behind: zero when it has replayed everything it
    /// received (an idle primary writes nothing, so the last replayed transaction grows old
    /// without any lag).
    async fn lag(&mut self) -> Result<Lag, SourceError> {
        let rows = self
            .read(
                "SELECT pg_is_in_recovery(), CASE \
                   WHEN NOT pg_is_in_recovery() THEN NULL \
                   WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0::float8 \
                   ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END",
                &[],
            )
            .await
            .map_err(|e| {
                self.calls
                    .failed("reading the replica lag", db_message(&e), failure(&e))
            })?;
        let Some(row) = rows.first() else {
            return Ok(Lag::Primary);
        };
        let standby: bool = row.get(0);
        let seconds: Option<f64> = row.get(1);
        Ok(match (standby, seconds) {
            (false, _) => Lag::Primary,
            (true, Some(s)) => Lag::Behind(Duration::from_secs_f64(s.max(0.0))),
            (true, None) => Lag::Stopped("the standby has not replayed any transaction yet".into()),
        })
    }

    /// Checks the table, its time column's type, and the slice query (by planning it).
    async fn probe(&mut self, rollup: &Rollup) -> Result<TableInfo, SourceError> {
        let ty = self.time_type(rollup).await?;
        let time_column = if ty == Type::TIMESTAMPTZ {
            "timestamptz".to_string()
        } else {
            format!("{ty} in {}", self.timezone)
        };
        let now = Utc::now();
        self.explain(
            rollup,
            Range {
                start: now,
                end: now,
            },
        )
        .await?;
        Ok(TableInfo { time_column })
    }

    /// The type of the rollup's time column, from the catalog (looked up once per session): the
    /// slice bounds are sent with it, as an unnamed statement's parameters must be.
    async fn time_type(&mut self, rollup: &Rollup) -> Result<Type, SourceError> {
        if let Some(ty) = self.time_types.get(&rollup.name) {
            return Ok(ty.clone());
        }
        let table = Quote::Double.table(rollup);
        let sql = "SELECT a.atttypid FROM pg_attribute a \
                   WHERE a.attrelid = $1::regclass AND a.attname = $2 AND NOT a.attisdropped";
        let found = async {
            self.read(sql, &[(&table, Type::TEXT), (&rollup.time, Type::TEXT)])
                .await
                .map_err(|e| self.query_error(rollup, &e))
        };
        let rows = self
            .calls
            .bounded(&format!("rollup `{}`", rollup.name), found)
            .await?;
        let Some(row) = rows.first() else {
            return Err(self.calls.rollup(
                rollup,
                format!("table {table} has no column `{}`", rollup.time),
            ));
        };
        let oid: u32 = row.get(0);
        let ty = match Type::from_oid(oid) {
            Some(t) if t == Type::TIMESTAMPTZ || t == Type::TIMESTAMP => t,
            Some(t) if t == Type::DATE => {
                return Err(self.calls.rollup(
                    rollup,
                    format!(
                        "time column `{}` is a date; it needs a time of day (timestamp or timestamptz)",
                        rollup.time
                    ),
                ));
            }
            other => {
                return Err(self.calls.rollup(
                    rollup,
                    format!(
                        "time column `{}` has type {}; use a timestamp or timestamptz column",
                        rollup.time,
                        other.map_or_else(|| format!("oid {oid}"), |t| t.to_string())
                    ),
                ));
            }
        };
        self.time_types.insert(rollup.name.clone(), ty.clone());
        Ok(ty)
    }

    /// `EXPLAIN (FORMAT JSON)` of the slice query with real bounds: a custom plan, as the
    /// slice query gets.
    async fn explain(&mut self, rollup: &Rollup, range: Range) -> Result<Explain, SourceError> {
        let ty = self.time_type(rollup).await?;
        let sql = format!("EXPLAIN (FORMAT JSON) {}", slice_sql(rollup));
        let [a, b] = self.bounds(&ty, range);
        let rows = self
            .read(&sql, &[(a.as_ref(), ty.clone()), (b.as_ref(), ty)])
            .await
            .map_err(|e| self.query_error(rollup, &e))?;
        let row = rows
            .first()
            .ok_or_else(|| self.calls.rollup(rollup, "EXPLAIN returned no plan"))?;
        let config: serde_json::Value = row.try_get(0).map_err(|e| self.calls.rollup(rollup, e))?;
        let table = rollup.table.last().expect("a table name");
        let mut scans = Vec::new();
        scan_nodes(&config[0]["Plan"], &mut scans);
        let full_scan = scans.iter().any(|n| {
            n["Node Type"] == "Seq Scan" && n["Relation Name"].as_str() == Some(table.as_str())
        });
        let access = scans.iter().map(describe).collect::<Vec<_>>().join(", ");
        let rows = scans
            .iter()
            .filter_map(|n| n["Plan Rows"].as_f64())
            .reduce(f64::max);
        Ok(Explain {
            access,
            full_scan,
            rows,
            fix: format!("create an index: {}", Explain::index_hint(rollup)),
        })
    }

    /// Streams one slice into `sink`, in a read-only transaction rolled back whatever happens.
    async fn pull(
        &mut self,
        rollup: &Rollup,
        range: Range,
        sink: &mut dyn RowSink,
    ) -> Result<u64, PullError> {
        let ty = self.time_type(rollup).await?;
        let begun = async { self.begin().await.map_err(|e| self.query_error(rollup, &e)) };
        self.calls
            .bounded("starting a read-only transaction", begun)
            .await?;
        let result = self.stream(rollup, &ty, range, sink).await;
        self.end().await;
        result
    }

    async fn stream(
        &mut self,
        rollup: &Rollup,
        ty: &Type,
        range: Range,
        sink: &mut dyn RowSink,
    ) -> Result<u64, PullError> {
        let [a, b] = self.bounds(ty, range);
        let params = [(a.as_ref(), ty.clone()), (b.as_ref(), ty.clone())];
        let sql = slice_sql(rollup);
        let stream = self
            .calls
            .answer(rollup, self.client.query_typed_raw(&sql, params))
            .await?
            .map_err(|e| self.query_error(rollup, &e))?;
        pin_mut!(stream);
        let mut rows = 0;
        while let Some(row) = self
            .calls
            .answer(rollup, stream.try_next())
            .await?
            .map_err(|e| self.query_error(rollup, &e))?
        {
            let values = (0..row.len())
                .map(|i| value(&row, i).map_err(|m| format!("{}: {m}", rollup.column(i))))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| self.calls.rollup(rollup, m))?;
            push_row(sink, values).await?;
            rows += 1;
        }
        Ok(rows)
    }

    /// Slice bounds typed like the time column: instants for timestamptz, wall-clock times in
    /// the source's zone for naive timestamps.
    fn bounds(&self, ty: &Type, range: Range) -> [Box<dyn ToSql + Sync>; 2] {
        let naive = |t: DateTime<Utc>| t.with_timezone(&self.timezone).naive_local();
        if *ty == Type::TIMESTAMPTZ {
            [Box::new(range.start), Box::new(range.end)]
        } else {
            [Box::new(naive(range.start)), Box::new(naive(range.end))]
        }
    }

    /// A cancel request for the query this session runs (through a pooler too, which passes it
    /// on to the server connection the query runs on).
    fn canceller(&self) -> Option<Canceller> {
        let token = self.client.cancel_token();
        let (tls, address) = (self.tls.clone(), self.address.clone()?);
        Some(Canceller::new(move || {
            let (token, tls, address) = (token.clone(), tls.clone(), address.clone());
            Box::pin(async move { cancel::cancel(&token, &tls, &address).await })
        }))
    }

    fn query_error(&self, rollup: &Rollup, e: &tokio_postgres::Error) -> SourceError {
        self.calls.failed(
            format!("rollup `{}`", rollup.name),
            db_message(e),
            failure(e),
        )
    }
}

/// A failed connection, in words that say what to do about TLS when TLS is the problem.
fn connect_error(calls: &Calls, tls: &Tls, host: &str, e: &tokio_postgres::Error) -> SourceError {
    if let Some(words) = tls::explain(e, tls, host, TLS_NAMES) {
        return calls.at("connecting", words);
    }
    let message = db_message(e);
    let hint = if message.contains("unsupported startup parameter") {
        " (a connection pooler refuses startup parameters it does not know: remove `options` \
         and the like from the URL, or add them to the pooler's ignore_startup_parameters)"
    } else if message.contains("server does not support TLS") {
        " (the server does not accept TLS connections: turn on `ssl` on the server, or use \
         sslmode=prefer or sslmode=disable)"
    } else if message.contains("no encryption") {
        " (the server accepts this user only over TLS: use sslmode=require, or verify-full with \
         sslrootcert=/path/to/ca.pem)"
    } else {
        ""
    };
    calls.failed("connecting", format!("{message}{hint}"), failure(e))
}

/// Whether a reconnect may cure `e`: connection exceptions (class 08), shutdowns (57P01-57P03),
/// recovery conflicts and serialization failures (40001), deadlocks (40P01), and a connection
/// that closed or broke. A cancelled query (57014) is taken as the statement timeout, which is
/// what cancels tally's queries (the message that says so is translated on non-English servers).
fn failure(e: &tokio_postgres::Error) -> Failure {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        return if *code == SqlState::QUERY_CANCELED {
            Failure::Timeout
        } else if code.code().starts_with("08")
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::T_R_SERIALIZATION_FAILURE,
                SqlState::T_R_DEADLOCK_DETECTED,
            ]
            .contains(code)
        {
            Failure::Transient
        } else {
            Failure::Permanent
        };
    }
    match io_error(e) {
        Some(io) if io_is_transient(io) => Failure::Transient,
        Some(_) => Failure::Permanent,
        None if e.is_closed() => Failure::Transient,
        None => Failure::Permanent,
    }
}

/// The server's message when there is one (tokio-postgres' Display says only "db error"),
/// otherwise the error with its causes.
fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.hint() {
            Some(hint) => format!("{} (hint: {hint})", db.message()),
            None => db.message().to_string(),
        },
        None => chain(e),
    }
}

/// A PostgreSQL `numeric` of any size, read from its binary form exactly.
struct Numeric(BigDecimal);

impl<'a> tokio_postgres::types::FromSql<'a> for Numeric {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> Result<Numeric, Box<dyn std::error::Error + Sync + Send>> {
        numeric(raw).map(Numeric).map_err(Into::into)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// The binary `numeric`: digit count, weight (of the first base-10000 digit), sign, display
/// scale, then the base-10000 digits.
fn numeric(raw: &[u8]) -> Result<BigDecimal, String> {
    let word = |i: usize| -> Result<u16, String> {
        raw.get(2 * i..2 * i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a numeric value is cut short".to_string())
    };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(1)? as i16);
    let sign = word(2)?;
    let dscale = i64::from(word(3)?);
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Err("the sum is NaN, which is not an amount".into()),
        0xD000 | 0xF000 => return Err("the sum is infinite, which is not an amount".into()),
        other => return Err(format!("unknown numeric sign {other:#x}")),
    }
    let mut int = BigInt::from(0);
    for i in 0..ndigits {
        int = int * 10_000 + word(4 + i)?;
    }
    if sign == 0x4000 {
        int = -int;
    }
    // The last digit's place is 10000^(weight - ndigits + 1).
    let exponent = 4 * (weight - ndigits as i64 + 1);
    let exact = BigDecimal::new(int, -exponent);
    // The digits may end in zeros beyond the display scale: dropping them loses nothing.
    Ok(exact.with_scale(dscale))
}

fn value(row: &Row, i: usize) -> Result<Value, String> {
    let ty = row.columns()[i].type_();
    let err = |e: tokio_postgres::Error| {
        let cause = std::error::Error::source(&e).map(|c| c.to_string());
        format!("({ty}) {}", cause.unwrap_or_else(|| e.to_string()))
    };
    let v = match *ty {
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)
            .map_err(err)?
            .map(|b| Value::Int(b.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)
            .map_err(err)?
            .map(|n| Value::Int(n.into())),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)
            .map_err(err)?
            .map(|n| Value::Int(n.into())),
        Type::INT8 => row
            .try_get::<_, Option<i64>>(i)
            .map_err(err)?
            .map(Value::Int),
        Type::OID => row
            .try_get::<_, Option<u32>>(i)
            .map_err(err)?
            .map(|n| Value::Int(n.into())),
        Type::NUMERIC => row
            .try_get::<_, Option<Numeric>>(i)
            .map_err(err)?
            .map(|n| Value::from_decimal(n.0)),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)
            .map_err(err)?
            .map(|f| Value::Float(f.into())),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(i)
            .map_err(err)?
            .map(Value::Float),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => row
            .try_get::<_, Option<String>>(i)
            .map_err(err)?
            .map(Value::Text),
        Type::TIMESTAMP => row
            .try_get::<_, Option<NaiveDateTime>>(i)
            .map_err(err)?
            .map(|t| Value::Text(t.to_string())),
        Type::TIMESTAMPTZ => row
            .try_get::<_, Option<DateTime<Utc>>>(i)
            .map_err(err)?
            .map(|t| Value::Text(t.to_rfc3339())),
        Type::DATE => row
            .try_get::<_, Option<NaiveDate>>(i)
            .map_err(err)?
            .map(|d| Value::Text(d.to_string())),
        _ => {
            return Err(format!(
                "type {ty} is not one tally stores; cast it in the expression (e.g. `expr::text`)"
            ));
        }
    };
    Ok(v.unwrap_or(Value::Null))
}

/// The nodes of a plan that read a relation (scans), depth first.
fn scan_nodes<'a>(node: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
    if node["Relation Name"].is_string()
        || node["Node Type"]
            .as_str()
            .is_some_and(|t| t.contains("Index Scan"))
    {
        out.push(node);
    }
    for child in node["Plans"].as_array().into_iter().flatten() {
        scan_nodes(child, out);
    }
}

/// `Index Scan using idx on actions`, `Seq Scan on actions`.
fn describe(node: &&serde_json::Value) -> String {
    let mut text = node["Node Type"].as_str().unwrap_or("?").to_string();
    if let Some(index) = node["Index Name"].as_str() {
        text += &format!(" using {index}");
    }
    if let Some(rel) = node["Relation Name"].as_str() {
        text += &format!(" on {rel}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The binary numeric of `digits` (base 10000) with `weight`, `sign` and `dscale`.
    fn raw(digits: &[u16], weight: i16, sign: u16, dscale: u16) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [digits.len() as u16, weight as u16, sign, dscale] {
            v.extend_from_slice(&w.to_be_bytes());
        }
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_of_any_size_are_read_exactly() {
        let n = |d: &[u16], w, s, sc| numeric(&raw(d, w, s, sc)).unwrap().to_plain_string();
        assert_eq!(n(&[12, 3400], 0, 0, 2), "12.34");
        assert_eq!(n(&[12, 3400], 0, 0x4000, 4), "-12.3400");
        assert_eq!(n(&[], 0, 0, 3), "0.000");
        assert_eq!(n(&[5], 6, 0, 8), "5000000000000000000000000.00000000");
        assert_eq!(n(&[1], -2, 0, 8), "0.00000001");
        assert!(
            numeric(&raw(&[], 0, 0xC000, 0))
                .unwrap_err()
                .contains("NaN")
        );
        assert!(numeric(&[0, 1]).is_err());
    }
}
