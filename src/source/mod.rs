//! Sources: the databases tally reads from. Each driver opens a read-only session that carries the
//! statement timeout, and streams the rows of one slice query into a sink, row by row.

mod mysql;
mod postgres;
pub mod query;
mod sqlite;

use chrono::{DateTime, Utc};

use crate::config::{Rollup, SourceKind, SourceSpec};
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
    /// True when the statement timeout cancelled the query.
    pub timed_out: bool,
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
    /// Connects and opens a read-only session with the statement timeout.
    pub async fn connect(spec: &SourceSpec) -> Result<Source, SourceError> {
        Ok(match spec.kind {
            SourceKind::Postgres => Source::Postgres(postgres::Postgres::connect(spec).await?),
            SourceKind::Mysql => Source::Mysql(mysql::Mysql::connect(spec).await?),
            SourceKind::Sqlite => Source::Sqlite(sqlite::Sqlite::open(spec)?),
        })
    }

    /// Checks that the rollup's table and columns exist by preparing its slice query.
    pub async fn check(&mut self, rollup: &Rollup) -> Result<TableInfo, SourceError> {
        match self {
            Source::Postgres(s) => s.check(rollup).await,
            Source::Mysql(s) => s.check(rollup).await,
            Source::Sqlite(s) => s.check(rollup),
        }
    }

    /// Asks the source how it would run the slice query for `[start, end)`.
    pub async fn explain(
        &mut self,
        rollup: &Rollup,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Explain, SourceError> {
        match self {
            Source::Postgres(s) => s.explain(rollup, start, end).await,
            Source::Mysql(s) => s.explain(rollup, start, end).await,
            Source::Sqlite(s) => s.explain(rollup),
        }
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
}

impl Errors {
    fn new(spec: &SourceSpec) -> Errors {
        Errors {
            source_name: spec.name.clone(),
        }
    }

    fn at(&self, context: impl Into<String>, message: impl ToString) -> SourceError {
        SourceError {
            source_name: self.source_name.clone(),
            context: context.into(),
            message: message.to_string(),
            timed_out: false,
        }
    }

    fn rollup(&self, rollup: &Rollup, message: impl ToString) -> SourceError {
        self.at(format!("rollup `{}`", rollup.name), message)
    }
}

/// A driver error with its chain of causes ("error connecting to server: Connection refused").
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
