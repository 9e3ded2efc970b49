//! Sources: the databases tally reads from. Each driver opens a read-only session that carries the
//! statement timeout, over TLS when the server offers it, and streams the rows of one slice query
//! into a sink, row by row. Drivers also read the server's load and replica lag, and tell failures
//! that a reconnect may cure from those it cannot.

mod clickhouse;
pub mod functions;
mod mysql;
mod postgres;
pub mod query;
pub mod spec;
mod sqlite;
pub mod tls;
mod url;

use std::rc::Rc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::rollup::Rollup;
use crate::value::Value;
pub use spec::{LoadLimit, SourceConfig, SourceSpec};

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

impl SourceError {
    /// The error as part of a message that already names the source and the rollup (a
    /// failed slice): what was being done, unless that is the rollup, and the driver's message.
    pub fn within_rollup(&self, rollup: &str) -> String {
        if self.context == format!("rollup `{rollup}`") {
            self.message.clone()
        } else {
            format!("{}: {}", self.context, self.message)
        }
    }
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
    /// The server said nothing for longer than the statement timeout allows: tally stopped
    /// waiting (and asked the server to cancel the query). Not retried.
    Silent,
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

impl Encryption {
    /// No TLS.
    pub fn none() -> Encryption {
        Encryption {
            version: None,
            cipher: None,
        }
    }
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
pub enum PullError {
    /// The source failed.
    Source(SourceError),
    /// The sink took no more rows (the store's writer stopped).
    Sink(SinkClosed),
}

impl From<SourceError> for PullError {
    fn from(e: SourceError) -> Self {
        PullError::Source(e)
    }
}

impl From<SinkClosed> for PullError {
    fn from(e: SinkClosed) -> Self {
        PullError::Sink(e)
    }
}

/// The sink takes no more rows: the pull stops.
#[derive(Debug)]
pub struct SinkClosed;

/// Where the rows of a slice query go, as they arrive: gathered into batches, each sent on
/// while the source streams the next.
pub trait RowSink {
    /// Takes one result row (user, dimension values, measures). True when the batch is full:
    /// [`RowSink::flush`] it before the next row.
    fn push(&mut self, row: Vec<Value>) -> bool;

    /// Sends the rows gathered so far; waits while the receiver is full.
    fn flush(&mut self) -> BoxFuture<'_, Result<(), SinkClosed>>;
}

/// Hands `row` to `sink`, flushing a full batch.
pub async fn push_row(sink: &mut dyn RowSink, row: Vec<Value>) -> Result<(), SinkClosed> {
    if sink.push(row) {
        sink.flush().await?;
    }
    Ok(())
}

/// What `tally check` learns about a rollup's table.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// How the time column is compared, like `timestamptz` or `datetime in Asia/Seoul`.
    pub time_column: String,
}

/// How the source would run a slice query (from EXPLAIN, or what the database says instead).
#[derive(Debug, Clone, PartialEq)]
pub struct Explain {
    /// The access path, like `Index Scan using actions_block_time_idx on actions`.
    pub access: String,
    /// True when the plan reads the whole table (PostgreSQL Seq Scan, MySQL type ALL, SQLite
    /// SCAN, a ClickHouse key that does not start with the time column).
    pub full_scan: bool,
    /// The source's estimate of rows read per slice, when it gives one.
    pub rows: Option<f64>,
    /// What would let the source read only the slice's range, like `CREATE INDEX ...`.
    pub fix: String,
}

impl Explain {
    /// `CREATE INDEX` on the time column: what SQL databases need to read a slice's range.
    pub fn index_hint(rollup: &Rollup) -> String {
        let table = rollup.table.join(".");
        let name = format!(
            "{}_{}_idx",
            rollup.table.last().expect("a table name"),
            rollup.time
        );
        format!("CREATE INDEX {name} ON {table} ({})", rollup.time)
    }

    /// Why the rollup may not run this plan: it reads the whole table, and the rollup does not
    /// allow that. The one rule that `sync` and `tally check` both apply.
    pub fn refusal(&self, rollup: &Rollup) -> Option<String> {
        (self.full_scan && !rollup.allow_full_scan).then(|| {
            format!(
                "the slice query would scan the whole table ({}); {} (or set allow_full_scan = true)",
                self.access, self.fix
            )
        })
    }
}

/// Stops the query a session runs, from outside the session: PostgreSQL's cancel request, or
/// `KILL QUERY` sent on a new connection. tally sends it whenever it stops waiting for a query (a
/// silent server, a signal, `max_slice_time`), so that no work keeps running on the server after
/// tally gave up on it.
#[derive(Clone)]
pub struct Canceller(Rc<dyn Fn() -> BoxFuture<'static, Result<(), String>>>);

impl Canceller {
    /// A canceller that runs `cancel` each time it is used.
    pub fn new(cancel: impl Fn() -> BoxFuture<'static, Result<(), String>> + 'static) -> Self {
        Canceller(Rc::new(cancel))
    }

    /// Sends the cancel, waiting at most `limit` for it to be taken; a failure is logged only
    /// (the server's own statement timeout still ends the query).
    pub async fn cancel(&self, source: &str, limit: Duration) {
        match tokio::time::timeout(limit, (self.0)()).await {
            Ok(Ok(())) => {
                tracing::debug!("source `{source}`: asked the server to cancel the query")
            }
            Ok(Err(e)) => tracing::warn!("source `{source}`: cancelling the running query: {e}"),
            Err(_) => tracing::warn!(
                "source `{source}`: cancelling the running query: no answer within {}",
                humantime::format_duration(limit)
            ),
        }
    }
}

/// A future a [`Session`] or a [`Driver`] returns. Not `Send`: tally runs on one thread, and a
/// SQLite statement cannot move between threads.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + 'a>>;

/// What a database can do beyond running slice queries; the sync, the config check and `tally
/// check` ask these instead of naming databases.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    /// Slice queries may run on several connections at once (`parallel`). A source read in
    /// tally's own process (a file) cannot: its connections would only take turns.
    pub parallel: bool,
    /// The URL is `scheme://PATH` of a file, relative to the config file: no server, so no TLS,
    /// load or lag.
    pub file: bool,
    /// The load figures `max_load` may name, and its default; `None` when the source has none.
    pub load: Option<LoadFigures>,
    /// The source can tell its replica lag (`max_lag`).
    pub lag: bool,
}

/// The load figures of a database (`max_load`).
#[derive(Debug, Clone, Copy)]
pub struct LoadFigures {
    /// The default `max_load`, like `"active=25"`.
    pub default: &'static str,
    /// The figures it knows; empty when any name is accepted (MySQL's status variables).
    pub names: &'static [&'static str],
    /// What they measure, for messages, like "`active` backends".
    pub measure: &'static str,
}

/// A database tally can read: everything about it lives in its own file, and it is found by
/// the scheme of a source's URL ([`driver_for`]), as sqlx's `AnyDriver` is.
pub trait Driver: Sync {
    /// Its name in messages, like `PostgreSQL`.
    fn name(&self) -> &'static str;

    /// The URL schemes it answers to, like `postgres` and `postgresql`.
    fn schemes(&self) -> &'static [&'static str];

    /// What it can do besides slice queries.
    fn capabilities(&self) -> Capabilities;

    /// The SQL dialect that rollups' expressions are parsed in.
    fn dialect(&self) -> Box<dyn sqlparser::dialect::Dialect>;

    /// The functions rollups' expressions may call ([`functions`]): one lower-case name a line.
    fn functions(&self) -> &'static str;

    /// The URL query parameters that set TLS, which tally reads itself ([`Driver::tls`]) and
    /// removes from the URL the driver gets.
    fn tls_params(&self) -> &'static [&'static str] {
        &[]
    }

    /// What the URL's TLS parameters (those named by [`Driver::tls_params`]) ask for.
    fn tls(&self, _params: &[(String, String)]) -> tls::Request {
        tls::Request::default()
    }

    /// The rollup's slice query as `tally plan` shows it.
    fn slice_sql(&self, rollup: &Rollup) -> String;

    /// Opens a session: read-only, with the statement timeout, encrypted as the URL asks.
    fn connect<'a>(
        &'a self,
        spec: &'a SourceSpec,
    ) -> BoxFuture<'a, Result<Box<dyn Session>, SourceError>>;
}

impl std::fmt::Debug for dyn Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An open session with a database. [`Source`] bounds every call in time and names the rollup
/// in its errors, so a session does not have to.
pub trait Session {
    /// How the connection is encrypted.
    fn encryption(&mut self) -> BoxFuture<'_, Result<Encryption, SourceError>> {
        Box::pin(async { Ok(Encryption::none()) })
    }

    /// The current value of each load figure in `limits`.
    fn load<'a>(
        &'a mut self,
        limits: &'a [LoadLimit],
    ) -> BoxFuture<'a, Result<Vec<u64>, SourceError>> {
        Box::pin(async move { Ok(vec![0; limits.len()]) })
    }

    /// The replica lag.
    fn lag(&mut self) -> BoxFuture<'_, Result<Lag, SourceError>> {
        Box::pin(async { Ok(Lag::Primary) })
    }

    /// What stops the query this session runs from outside it; `None` for a source read in
    /// tally's own process (its queries end with tally).
    fn canceller(&self) -> Option<Canceller> {
        None
    }

    /// Checks that the rollup's table and columns exist (by preparing its slice query) and
    /// tells how the time column is read.
    fn probe<'a>(&'a mut self, rollup: &'a Rollup)
    -> BoxFuture<'a, Result<TableInfo, SourceError>>;

    /// How the source would run the slice query for `range`.
    fn explain<'a>(
        &'a mut self,
        rollup: &'a Rollup,
        range: Range,
    ) -> BoxFuture<'a, Result<Explain, SourceError>>;

    /// Runs the slice query for `range` and hands each result row to `sink` as it arrives.
    /// Returns the number of rows.
    fn pull<'a>(
        &'a mut self,
        rollup: &'a Rollup,
        range: Range,
        sink: &'a mut dyn RowSink,
    ) -> BoxFuture<'a, Result<u64, PullError>>;
}

/// Implements [`Session`] for a driver's session type whose inherent async methods have the
/// trait's names and arguments.
macro_rules! forward_session {
    ($session:ty) => {
        impl $crate::source::Session for $session {
            fn encryption(
                &mut self,
            ) -> $crate::source::BoxFuture<
                '_,
                Result<$crate::source::Encryption, $crate::source::SourceError>,
            > {
                Box::pin(<$session>::encryption(self))
            }

            fn load<'a>(
                &'a mut self,
                limits: &'a [$crate::source::LoadLimit],
            ) -> $crate::source::BoxFuture<'a, Result<Vec<u64>, $crate::source::SourceError>> {
                Box::pin(<$session>::load(self, limits))
            }

            fn lag(
                &mut self,
            ) -> $crate::source::BoxFuture<
                '_,
                Result<$crate::source::Lag, $crate::source::SourceError>,
            > {
                Box::pin(<$session>::lag(self))
            }

            fn canceller(&self) -> Option<$crate::source::Canceller> {
                <$session>::canceller(self)
            }

            fn probe<'a>(
                &'a mut self,
                rollup: &'a $crate::rollup::Rollup,
            ) -> $crate::source::BoxFuture<
                'a,
                Result<$crate::source::TableInfo, $crate::source::SourceError>,
            > {
                Box::pin(<$session>::probe(self, rollup))
            }

            fn explain<'a>(
                &'a mut self,
                rollup: &'a $crate::rollup::Rollup,
                range: $crate::source::Range,
            ) -> $crate::source::BoxFuture<
                'a,
                Result<$crate::source::Explain, $crate::source::SourceError>,
            > {
                Box::pin(<$session>::explain(self, rollup, range))
            }

            fn pull<'a>(
                &'a mut self,
                rollup: &'a $crate::rollup::Rollup,
                range: $crate::source::Range,
                sink: &'a mut dyn $crate::source::RowSink,
            ) -> $crate::source::BoxFuture<'a, Result<u64, $crate::source::PullError>> {
                Box::pin(<$session>::pull(self, rollup, range, sink))
            }
        }
    };
}
use forward_session;

/// The time range `[start, end)` of a slice query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First instant of the slice.
    pub start: DateTime<Utc>,
    /// First instant after it.
    pub end: DateTime<Utc>,
}

/// Every database tally reads. A new one is a new file in this folder and a line here.
static DRIVERS: &[&dyn Driver] = &[
    &postgres::DRIVER,
    &mysql::DRIVER,
    &sqlite::DRIVER,
    &clickhouse::DRIVER,
];

/// The driver for a URL scheme.
pub fn driver_for(scheme: &str) -> Option<&'static dyn Driver> {
    DRIVERS
        .iter()
        .copied()
        .find(|d| d.schemes().contains(&scheme))
}

/// Every scheme tally reads, for messages: `postgres://, ..., sqlite://PATH`.
pub fn schemes() -> String {
    DRIVERS
        .iter()
        .flat_map(|d| {
            let file = d.capabilities().file;
            d.schemes().iter().map(move |s| {
                if file {
                    format!("{s}://PATH")
                } else {
                    format!("{s}://")
                }
            })
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// An open connection to one source, whatever its database: every call is bounded in time.
pub struct Source {
    session: Box<dyn Session>,
    calls: Calls,
}

impl Source {
    /// Connects and opens a read-only session with the statement timeout, within the source's
    /// `connect_timeout` (TCP, TLS handshake, login and session setup together).
    pub async fn connect(spec: &SourceSpec) -> Result<Source, SourceError> {
        let calls = Calls::new(spec);
        match tokio::time::timeout(spec.connect_timeout, spec.driver.connect(spec)).await {
            Ok(session) => Ok(Source {
                session: session?,
                calls,
            }),
            Err(_) => Err(calls.at(
                "connecting",
                format!(
                    "no answer within connect_timeout ({}): the server accepted no connection, or \
                     accepted it and said nothing",
                    humantime::format_duration(spec.connect_timeout)
                ),
            )),
        }
    }

    /// How the connection is encrypted.
    pub async fn encryption(&mut self) -> Result<Encryption, SourceError> {
        let run = self.session.encryption();
        self.calls.bounded("reading the TLS status", run).await
    }

    /// The current value of each load figure in `limits`.
    pub async fn load(&mut self, limits: &[LoadLimit]) -> Result<Vec<u64>, SourceError> {
        let run = self.session.load(limits);
        self.calls.bounded("reading the load", run).await
    }

    /// The replica lag.
    pub async fn lag(&mut self) -> Result<Lag, SourceError> {
        let run = self.session.lag();
        self.calls.bounded("reading the replica lag", run).await
    }

    /// Checks that the rollup's table and columns exist by preparing its slice query.
    pub async fn probe(&mut self, rollup: &Rollup) -> Result<TableInfo, SourceError> {
        let run = self.session.probe(rollup);
        self.calls
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
        let run = self.session.explain(rollup, Range { start, end });
        self.calls
            .bounded(&format!("rollup `{}`", rollup.name), run)
            .await
    }

    /// Runs the slice query for `[start, end)` and hands each result row to `sink`, without
    /// holding the result in memory. Returns the number of rows. When the server stops answering,
    /// tally stops waiting and asks the server to cancel the query.
    pub async fn pull(
        &mut self,
        rollup: &Rollup,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        sink: &mut dyn RowSink,
    ) -> Result<u64, PullError> {
        let result = self.session.pull(rollup, Range { start, end }, sink).await;
        if let Err(PullError::Source(e)) = &result
            && e.failure == Failure::Silent
            && let Some(cancel) = self.canceller()
        {
            cancel
                .cancel(&self.calls.source_name, self.calls.connect_timeout)
                .await;
        }
        result
    }

    /// What stops the query this connection runs, from outside it.
    pub fn canceller(&self) -> Option<Canceller> {
        self.session.canceller()
    }
}

/// How one source's calls are bounded in time and named in errors: every [`SourceError`] of a
/// session is built here, and every query it sends is bounded here.
#[derive(Debug, Clone)]
struct Calls {
    source_name: String,
    /// How long a slice query may be silent before tally gives up on it (see [`row_timeout`]).
    row_timeout: Option<Duration>,
    /// The limit of tally's small queries (load, lag, EXPLAIN, preparing) when slice queries
    /// have none: the connect timeout.
    connect_timeout: Duration,
}

impl Calls {
    fn new(spec: &SourceSpec) -> Calls {
        Calls {
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
        self.failed(
            what,
            format!(
                "no answer from the server within {}: the server or the network is stuck",
                humantime::format_duration(limit)
            ),
            Failure::Silent,
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
