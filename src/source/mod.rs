//! Sources: the databases tally reads from. Each driver opens a read-only session that carries the
//! statement timeout, over TLS when the server offers it, and streams the rows of one slice query
//! into a sink, row by row. Drivers also read the server's load and replica lag, and tell failures
//! that a reconnect may cure from those it cannot.

mod mysql;
mod postgres;
pub mod query;
mod sqlite;
pub mod tls;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{LoadLimit, Rollup, SourceKind, SourceSpec};
use crate::value::Value;

/// A source failure, with the source's name and what tally was doing.
#[derive(Debug, thiserror::Error)]
#[error("source `{source_name}`: {context}: {message}")]
pub struct SourceError {
    /// The source's name in the config.
    pub source_name: String,
    /// What tally was doing ("connecting", "rollup `activity`").
    pub context: String,
    /// The driver's message (never contains the URL).
    pub message: String,
    /// What kind of failure it is: it decides whether tally retries.
    pub failure: Failure,
}

/// What kind of failure a [`SourceError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Retrying cannot help: bad SQL, a missing table, a refused login, an untrusted certificate.
    Permanent,
    /// The server or the network blinked (a restart, a failover, a reset connection, a recovery
    /// conflict): reconnecting and running the query again may work.
    Transient,
    /// The statement timeout cancelled the query: a smaller range may work.
    Timeout,
}

impl SourceError {
    /// True when reconnecting and trying again may work.
    pub fn is_transient(&self) -> bool {
        self.failure == Failure::Transient
    }

    /// True when the statement timeout cancelled the query.
    pub fn timed_out(&self) -> bool {
        self.failure == Failure::Timeout
    }
}

/// The replica lag of a source.
#[derive(Debug, Clone, PartialEq)]
pub enum Lag {
    /// A primary: nothing to wait for.
    Primary,
    /// A replica this far behind its primary.
    Behind(Duration),
    /// A replica that is not replaying (replication stopped, or nothing replayed yet).
    Stopped(String),
    /// The lag is not checked (no privilege to read it, or replication stopped on a server that
    /// became a primary): the reason.
    Unknown(String),
}

/// How a connection is encrypted, as the server reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Encryption {
    /// The TLS version (`TLSv1.3`), or `None` when the connection is not encrypted.
    pub version: Option<String>,
    /// The cipher, when encrypted.
    pub cipher: Option<String>,
}

impl std::fmt::Display for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.version, &self.cipher) {
            (Some(v), Some(c)) => write!(f, "encrypted, {v} ({c})"),
            (Some(v), None) => write!(f, "encrypted, {v}"),
            _ => f.write_str("NOT encrypted"),
        }
    }
}

/// A failure while streaming a slice: from the source, or from the sink that stores the rows.
#[derive(Debug)]
pub enum PullError<E> {
    /// The source failed.
    Source(SourceError),
    /// The sink refused a row.
    Sink(E),
}

impl<E> From<SourceError> for PullError<E> {
    fn from(e: SourceError) -> Self {
        PullError::Source(e)
    }
}

/// Where the rows of a slice query go, one at a time, as they arrive.
pub trait RowSink {
    /// Why the sink refused a row.
    type Error;

    /// Takes one result row (user, dimension values, measures); waits while the sink is full.
    fn row(&mut self, row: Vec<Value>) -> impl Future<Output = Result<(), Self::Error>>;
}

/// What `tally check` learns about a rollup's table.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// How the time column is compared, like `timestamptz` or `datetime in Asia/Seoul`.
    pub time_column: String,
}

/// How the source would run a slice query (from EXPLAIN).
#[derive(Debug, Clone, PartialEq)]
pub struct Explain {
    /// The access path, like `Index Scan using actions_block_time_idx on actions`.
    pub access: String,
    /// True when the plan reads the whole table (PostgreSQL Seq Scan, MySQL type ALL, SQLite SCAN).
    pub full_scan: bool,
    /// The source's estimate of rows read per slice, when it gives one.
    pub rows: Option<f64>,
}

impl Explain {
    /// The index that would avoid a full scan.
    pub fn index_hint(rollup: &Rollup) -> String {
        let table = rollup.table.join(".");
        let name = format!(
            "{}_{}_idx",
            rollup.table.last().expect("a table name"),
            rollup.time
        );
        format!("CREATE INDEX {name} ON {table} ({})", rollup.time)
    }
}

/// An open connection to one source.
pub enum Source {
    /// PostgreSQL.
    Postgres(postgres::Postgres),
    /// MySQL or MariaDB.
    Mysql(mysql::Mysql),
    /// A SQLite file.
    Sqlite(sqlite::Sqlite),
}

impl Source {
    /// Connects and opens a read-only session with the statement timeout, within the source's
    /// `connect_timeout` (TCP, TLS handshake, login and session setup together).
    pub async fn connect(spec: &SourceSpec) -> Result<Source, SourceError> {
        let connect = async {
            Ok(match spec.kind {
                SourceKind::Postgres => Source::Postgres(postgres::Postgres::connect(spec).await?),
                SourceKind::Mysql => Source::Mysql(mysql::Mysql::connect(spec).await?),
                SourceKind::Sqlite => Source::Sqlite(sqlite::Sqlite::open(spec)?),
            })
        };
        match tokio::time::timeout(spec.connect_timeout, connect).await {
            Ok(result) => result,
            Err(_) => Err(Errors::new(spec).at(
                "connecting",
                format!(
                    "no answer within connect_timeout ({}): the server accepted no connection, or \
                     accepted it and said nothing",
                    humantime::format_duration(spec.connect_timeout)
                ),
            )),
        }
    }

    fn errors(&self) -> &Errors {
        match self {
            Source::Postgres(s) => &s.errors,
            Source::Mysql(s) => &s.errors,
            Source::Sqlite(s) => &s.errors,
        }
    }

    /// How the connection is encrypted.
    pub async fn encryption(&mut self) -> Result<Encryption, SourceError> {
        let errors = self.errors().clone();
        let run = async {
            match self {
                Source::Postgres(s) => s.encryption().await,
                Source::Mysql(s) => s.encryption().await,
                Source::Sqlite(_) => Ok(Encryption {
                    version: None,
                    cipher: None,
                }),
            }
        };
        errors.bounded("reading the TLS status", run).await
    }

    /// The current value of each load figure in `limits`.
    pub async fn load(&mut self, limits: &[LoadLimit]) -> Result<Vec<u64>, SourceError> {
        let errors = self.errors().clone();
        let run = async {
            match self {
                Source::Postgres(s) => s.load(limits).await,
                Source::Mysql(s) => s.load(limits).await,
                Source::Sqlite(_) => Ok(vec![0; limits.len()]),
            }
        };
        errors.bounded("reading the load", run).await
    }

    /// The replica lag.
    pub async fn lag(&mut self) -> Result<Lag, SourceError> {
        let errors = self.errors().clone();
        let run = async {
            match self {
                Source::Postgres(s) => s.lag().await,
                Source::Mysql(s) => s.lag().await,
                Source::Sqlite(_) => Ok(Lag::Primary),
            }
        };
        errors.bounded("reading the replica lag", run).await
    }

    /// Checks that the rollup's table and columns exist by preparing its slice query.
    pub async fn check(&mut self, rollup: &Rollup) -> Result<TableInfo, SourceError> {
        let errors = self.errors().clone();
        let run = async {
            match self {
                Source::Postgres(s) => s.check(rollup).await,
                Source::Mysql(s) => s.check(rollup).await,
                Source::Sqlite(s) => s.check(rollup),
            }
        };
        errors
            .bounded(&format!("rollup `{}`", rollup.name), run)
            .await
    }

    /// Asks the source how it would run the slice query for `[start, end)`.
    pub async fn explain(
        &mut self,
        rollup: &Rollup,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Explain, SourceError> {
        let errors = self.errors().clone();
        let run = async {
            match self {
                Source::Postgres(s) => s.explain(rollup, start, end).await,
                Source::Mysql(s) => s.explain(rollup, start, end).await,
                Source::Sqlite(s) => s.explain(rollup),
            }
        };
        errors
            .bounded(&format!("rollup `{}`", rollup.name), run)
            .await
    }

    /// Runs the slice query for `[start, end)` and hands each result row to `sink`, without
    /// holding the result in memory. Returns the number of rows.
    pub async fn pull<S: RowSink>(
        &mut self,
        rollup: &Rollup,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        sink: &mut S,
    ) -> Result<u64, PullError<S::Error>> {
        match self {
            Source::Postgres(s) => s.pull(rollup, start, end, sink).await,
            Source::Mysql(s) => s.pull(rollup, start, end, sink).await,
            Source::Sqlite(s) => s.pull(rollup, start, end, sink).await,
        }
    }
}

/// Builds [`SourceError`]s for one source.
#[derive(Debug, Clone)]
struct Errors {
    source_name: String,
    /// How long a slice query may be silent before tally gives up on it (see [`row_timeout`]).
    row_timeout: Option<Duration>,
    /// The limit of tally's small queries (load, lag, EXPLAIN, preparing) when slice queries
    /// have none: the connect timeout.
    connect_timeout: Duration,
}

impl Errors {
    fn new(spec: &SourceSpec) -> Errors {
        Errors {
            source_name: spec.name.clone(),
            row_timeout: row_timeout(spec),
            connect_timeout: spec.connect_timeout,
        }
    }

    /// A permanent failure.
    fn at(&self, context: impl Into<String>, message: impl ToString) -> SourceError {
        self.failed(context, message, Failure::Permanent)
    }

    fn failed(
        &self,
        context: impl Into<String>,
        message: impl ToString,
        failure: Failure,
    ) -> SourceError {
        SourceError {
            source_name: self.source_name.clone(),
            context: context.into(),
            message: message.to_string(),
            failure,
        }
    }

    fn rollup(&self, rollup: &Rollup, message: impl ToString) -> SourceError {
        self.at(format!("rollup `{}`", rollup.name), message)
    }

    /// The server said nothing for [`row_timeout`].
    fn silent(&self, rollup: &Rollup) -> SourceError {
        self.silent_for(
            &format!("rollup `{}`", rollup.name),
            self.row_timeout.unwrap_or_default(),
        )
    }

    /// The server said nothing for `limit` while tally was doing `what`.
    fn silent_for(&self, what: &str, limit: Duration) -> SourceError {
        self.at(
            what,
            format!(
                "no answer from the server within {}: the server or the network is stuck",
                humantime::format_duration(limit)
            ),
        )
    }

    /// Runs one of tally's small queries, at most [`row_timeout`] (or the connect timeout when
    /// slice queries have no limit): every query tally sends is bounded, so that a server that
    /// stops answering never hangs tally.
    async fn bounded<T>(
        &self,
        what: &str,
        query: impl Future<Output = Result<T, SourceError>>,
    ) -> Result<T, SourceError> {
        let limit = self.row_timeout.unwrap_or(self.connect_timeout);
        tokio::time::timeout(limit, query)
            .await
            .unwrap_or_else(|_| Err(self.silent_for(what, limit)))
    }

    /// Waits for the server's next answer, at most [`row_timeout`]: a server that has stopped
    /// talking (a dead network, a hung host) never fires its own statement timeout.
    async fn answer<T>(
        &self,
        rollup: &Rollup,
        next: impl Future<Output = T>,
    ) -> Result<T, SourceError> {
        match self.row_timeout {
            Some(limit) => tokio::time::timeout(limit, next)
                .await
                .map_err(|_| self.silent(rollup)),
            None => Ok(next.await),
        }
    }
}

/// How long a slice query may go without an answer (its first row, or the next): the statement
/// timeout, which the server enforces, plus the connect timeout as a margin. None when the
/// statement timeout is off.
fn row_timeout(spec: &SourceSpec) -> Option<Duration> {
    (!spec.statement_timeout.is_zero()).then(|| spec.statement_timeout + spec.connect_timeout)
}

/// True for I/O errors that a new connection may cure: refused, reset, aborted, broken, closed
/// too early, timed out.
fn io_is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | BrokenPipe
            | UnexpectedEof
            | TimedOut
            | NotConnected
            | HostUnreachable
            | NetworkUnreachable
    )
}

/// The first I/O error in `e`'s chain of causes.
fn io_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        next = err.source();
    }
    None
}

/// A driver error with its chain of causes ("error connecting to server: Connection refused"),
/// each said once.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    text
}
