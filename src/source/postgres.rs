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
use tokio_postgres::{Client, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::query::{Quote, SliceSql, standard};
use super::{
    BoxFuture, Capabilities, Driver, Encryption, Errors, Explain, Failure, Lag, LoadFigures,
    PullError, Range, RowSink, Session, SourceError, TableInfo, chain, deliver, io_error,
    io_is_transient, tls,
};
use crate::config::{LoadLimit, Rollup, SourceSpec, Tls, TlsMode};
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

/// An open PostgreSQL session.
pub struct Postgres {
    client: Client,
    timezone: Tz,
    pub(super) errors: Errors,
    /// Each rollup's prepared slice query, prepared once per session.
    statements: HashMap<String, Statement>,
}

impl Postgres {
    /// Connects (with TLS as `sslmode` asks) and makes the session read-only with a statement
    /// timeout.
    async fn connect(spec: &SourceSpec) -> Result<Postgres, SourceError> {
        let errors = Errors::new(spec);
        let mut config: tokio_postgres::Config = spec
            .url
            .expose()
            .parse()
            .map_err(|e| errors.at("reading the URL", chain(&e)))?;
        config.ssl_mode(match spec.tls.mode {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            _ => String::new(),
        };
        let rustls = tls::client_config(&spec.tls).map_err(|m| errors.at("setting up TLS", m))?;
        let (client, connection) = config
            .connect(MakeRustlsConnect::new(rustls))
            .await
            .map_err(|e| connect_error(&errors, &spec.tls, &host, &e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("postgres connection closed: {e}");
            }
        });
        let setup = format!(
            "SET default_transaction_read_only = on; SET statement_timeout = {}; \
             SET application_name = 'tally'",
            spec.statement_timeout.as_millis()
        );
        client.batch_execute(&setup).await.map_err(|e| {
            errors.failed("opening a read-only session", db_message(&e), failure(&e))
        })?;
        Ok(Postgres {
            client,
            timezone: spec.timezone,
            errors,
            statements: HashMap::new(),
        })
    }

    /// The TLS version and cipher of this session, from `pg_stat_ssl`.
    async fn encryption(&mut self) -> Result<Encryption, SourceError> {
        let row = self
            .client
            .query_opt(
                "SELECT version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl",
                &[],
            )
            .await
            .map_err(|e| self.errors.at("reading pg_stat_ssl", db_message(&e)))?;
        Ok(Encryption {
            version: row.as_ref().and_then(|r| r.get(0)),
            cipher: row.as_ref().and_then(|r| r.get(1)),
        })
    }

    /// Active backends other than this session (`active` is the one load figure).
    async fn load(&mut self, limits: &[LoadLimit]) -> Result<Vec<u64>, SourceError> {
        let row = self
            .client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .map_err(|e| self.errors.failed("reading the load", db_message(&e), failure(&e)))?;
        let active = row.get::<_, i64>(0).max(0) as u64;
        Ok(vec![active; limits.len()])
    }

    /// On a hot standby, how far replay is behind: zero when it has replayed everything it
    /// received (an idle primary writes nothing, so the last replayed transaction grows old
    /// without any lag).
    async fn lag(&mut self) -> Result<Lag, SourceError> {
        let row = self
            .client
            .query_one(
                "SELECT pg_is_in_recovery(), CASE \
                   WHEN NOT pg_is_in_recovery() THEN NULL \
                   WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0::float8 \
                   ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END",
                &[],
            )
            .await
            .map_err(|e| {
                self.errors
                    .failed("reading the replica lag", db_message(&e), failure(&e))
            })?;
        let standby: bool = row.get(0);
        let seconds: Option<f64> = row.get(1);
        Ok(match (standby, seconds) {
            (false, _) => Lag::Primary,
            (true, Some(s)) => Lag::Behind(Duration::from_secs_f64(s.max(0.0))),
            (true, None) => Lag::Stopped("the standby has not replayed any transaction yet".into()),
        })
    }

    /// Prepares the slice query: PostgreSQL checks the table and columns and tells the time
    /// column's type.
    async fn check(&mut self, rollup: &Rollup) -> Result<TableInfo, SourceError> {
        let stmt = self.prepare(rollup).await?;
        let time_column = match stmt.params().first() {
            Some(t) if *t == Type::TIMESTAMPTZ => "timestamptz".to_string(),
            Some(t) => format!("{t} in {}", self.timezone),
            None => "unknown".into(),
        };
        Ok(TableInfo { time_column })
    }

    async fn prepare(&mut self, rollup: &Rollup) -> Result<Statement, SourceError> {
        if let Some(stmt) = self.statements.get(&rollup.name) {
            return Ok(stmt.clone());
        }
        let sql = slice_sql(rollup);
        let prepared = async {
            self.client
                .prepare(&sql)
                .await
                .map_err(|e| self.query_error(rollup, &e))
        };
        let stmt = self
            .errors
            .bounded(&format!("rollup `{}`", rollup.name), prepared)
            .await?;
        self.statements.insert(rollup.name.clone(), stmt.clone());
        Ok(stmt)
    }

    /// `EXPLAIN (FORMAT JSON)` of the slice query with real bounds: a custom plan, as the
    /// slice query gets.
    async fn explain(&mut self, rollup: &Rollup, range: Range) -> Result<Explain, SourceError> {
        let Range { start, end } = range;
        let sql = format!("EXPLAIN (FORMAT JSON) {}", slice_sql(rollup));
        let stmt = self
            .client
            .prepare(&sql)
            .await
            .map_err(|e| self.query_error(rollup, &e))?;
        let bounds = self.bounds(rollup, stmt.params().first(), start, end)?;
        let params: Vec<&(dyn ToSql + Sync)> = bounds.iter().map(|b| b.as_ref()).collect();
        let row = self
            .client
            .query_one(&stmt, &params)
            .await
            .map_err(|e| self.query_error(rollup, &e))?;
        let config: serde_json::Value =
            row.try_get(0).map_err(|e| self.errors.rollup(rollup, e))?;
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

    /// Streams one slice into `sink`.
    async fn pull(
        &mut self,
        rollup: &Rollup,
        range: Range,
        sink: &mut dyn RowSink,
    ) -> Result<u64, PullError> {
        let Range { start, end } = range;
        let stmt = self.prepare(rollup).await?;
        let bounds = self.bounds(rollup, stmt.params().first(), start, end)?;
        // A transaction of its own, read-only whatever the session's default has become (an
        // expression may call a function that changes it), rolled back whatever happens.
        let begun = async {
            self.client
                .batch_execute("BEGIN READ ONLY")
                .await
                .map_err(|e| self.query_error(rollup, &e))
        };
        self.errors
            .bounded("starting a read-only transaction", begun)
            .await?;
        let result = self.stream(rollup, &stmt, &bounds, sink).await;
        // After a failure the connection may be gone or silent; a new one starts clean.
        let rollback = self.client.batch_execute("ROLLBACK");
        let _ = tokio::time::timeout(self.errors.connect_timeout, rollback).await;
        result
    }

    async fn stream(
        &mut self,
        rollup: &Rollup,
        stmt: &Statement,
        bounds: &[Box<dyn ToSql + Sync>; 2],
        sink: &mut dyn RowSink,
    ) -> Result<u64, PullError> {
        let params: Vec<&(dyn ToSql + Sync)> = bounds.iter().map(|b| b.as_ref()).collect();
        let stream = self
            .errors
            .answer(rollup, self.client.query_raw(stmt, params))
            .await?
            .map_err(|e| self.query_error(rollup, &e))?;
        pin_mut!(stream);
        let mut rows = 0;
        while let Some(row) = self
            .errors
            .answer(rollup, stream.try_next())
            .await?
            .map_err(|e| self.query_error(rollup, &e))?
        {
            let values = (0..row.len())
                .map(|i| value(&row, i).map_err(|m| format!("{}: {m}", rollup.column(i))))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| self.errors.rollup(rollup, m))?;
            deliver(sink, values).await?;
            rows += 1;
        }
        Ok(rows)
    }

    /// Slice bounds typed like the time column: instants for timestamptz, wall-clock times in
    /// the source's zone for naive timestamps.
    fn bounds(
        &self,
        rollup: &Rollup,
        param: Option<&Type>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<[Box<dyn ToSql + Sync>; 2], SourceError> {
        let naive = |t: DateTime<Utc>| t.with_timezone(&self.timezone).naive_local();
        match param {
            Some(t) if *t == Type::TIMESTAMPTZ => Ok([Box::new(start), Box::new(end)]),
            Some(t) if *t == Type::TIMESTAMP => Ok([Box::new(naive(start)), Box::new(naive(end))]),
            Some(t) if *t == Type::DATE => Err(self.errors.rollup(
                rollup,
                format!(
                    "time column `{}` is a date; it needs a time of day (timestamp or timestamptz)",
                    rollup.time
                ),
            )),
            other => Err(self.errors.rollup(
                rollup,
                format!(
                    "time column `{}` has type {}; use a timestamp or timestamptz column",
                    rollup.time,
                    other.map(|t| t.to_string()).unwrap_or_default()
                ),
            )),
        }
    }

    fn query_error(&self, rollup: &Rollup, e: &tokio_postgres::Error) -> SourceError {
        self.errors.failed(
            format!("rollup `{}`", rollup.name),
            db_message(e),
            failure(e),
        )
    }
}

/// A failed connection, in words that say what to do about TLS when TLS is the problem.
fn connect_error(errors: &Errors, tls: &Tls, host: &str, e: &tokio_postgres::Error) -> SourceError {
    if let Some(words) = tls::explain(e, tls, host, TLS_NAMES) {
        return errors.at("connecting", words);
    }
    let message = db_message(e);
    let hint = if message.contains("server does not support TLS") {
        " (the server does not accept TLS connections: turn on `ssl` on the server, or use \
         sslmode=prefer or sslmode=disable)"
    } else if message.contains("no encryption") {
        " (the server accepts this user only over TLS: use sslmode=require, or verify-full with \
         sslrootcert=/path/to/ca.pem)"
    } else {
        ""
    };
    errors.failed("connecting", format!("{message}{hint}"), failure(e))
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
