//! Fetching: each of a source's connections runs its share of the slice queries, in the planned
//! order, and streams the rows in batches over a bounded channel to the store's single writer
//! ([`super::write`]). The channel is what keeps memory flat: a connection that gets
//! [`AHEAD`] batches ahead of the writer waits, and so does the source behind it.

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::pace::Pacer;
use super::{HOUR, Planned, Slice, SyncError, halves};
use crate::config::Rollup;
use crate::source::{PullError, RowSink, Source, SourceError};
use crate::value::Value;

/// Rows per message.
const BATCH: usize = 512;

/// Messages a connection may send ahead of the writer (with [`BATCH`], 8,192 rows).
pub(super) const AHEAD: usize = 16;

/// What a connection tells the writer about its current slice.
pub(super) enum Msg {
    /// Rows of the slice, or of the current piece.
    Rows(Vec<Vec<Value>>),
    /// The slice's query hit the statement timeout: its rows so far are void, and the slice
    /// comes again in pieces.
    Split,
    /// A piece of the slice starts.
    PieceStart,
    /// The piece arrived whole.
    PieceKeep,
    /// The piece's query hit the statement timeout: its rows so far are void.
    PieceDrop,
    /// The slice is complete: `rows` rows from a query that started at `pulled_at`.
    Done {
        /// Rows in the slice.
        rows: u64,
        /// When its (first) query started.
        pulled_at: DateTime<Utc>,
    },
    /// The slice could not be pulled.
    Failed(SyncError),
}

/// The connection stops: the writer is gone (it failed or was stopped), or this connection
/// reported a failed slice.
pub(super) struct Stop;

/// One connection's end of its channel to the writer; gathers rows into batches.
pub(super) struct Out {
    tx: mpsc::Sender<Msg>,
    batch: Vec<Vec<Value>>,
}

impl Out {
    /// Wraps the sending end of a channel made with capacity [`AHEAD`].
    pub(super) fn new(tx: mpsc::Sender<Msg>) -> Out {
        Out {
            tx,
            batch: Vec::with_capacity(BATCH),
        }
    }

    /// Sends the rows gathered so far, then `msg`.
    async fn send(&mut self, msg: Msg) -> Result<(), Stop> {
        self.flush().await?;
        self.tx.send(msg).await.map_err(|_| Stop)
    }

    /// Sends `msg` after dropping the rows gathered so far (they belong to a failed query).
    async fn void(&mut self, msg: Msg) -> Result<(), Stop> {
        self.batch.clear();
        self.send(msg).await
    }

    async fn flush(&mut self) -> Result<(), Stop> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.tx.send(Msg::Rows(batch)).await.map_err(|_| Stop)
    }

    /// Reports a failed slice; the connection then stops.
    async fn fail(&mut self, error: SyncError) -> Result<(), Stop> {
        self.void(Msg::Failed(error)).await?;
        Err(Stop)
    }
}

impl RowSink for Out {
    type Error = Stop;

    async fn row(&mut self, row: Vec<Value>) -> Result<(), Stop> {
        self.batch.push(row);
        if self.batch.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }
}

/// Runs one connection's slice queries in order, until they are all sent or the connection
/// must stop.
pub(super) async fn fetch_all<'a>(
    source: &mut Source,
    pacer: &mut Pacer,
    work: impl Iterator<Item = &'a (&'a Rollup, &'a Planned)>,
    mut out: Out,
) {
    for (rollup, planned) in work {
        if fetch(source, pacer, rollup, &planned.slice, &mut out)
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Pulls one slice. A query that hits the statement timeout is run again in pieces, halving
/// each piece that times out, down to one hour.
async fn fetch(
    source: &mut Source,
    pacer: &mut Pacer,
    rollup: &Rollup,
    slice: &Slice,
    out: &mut Out,
) -> Result<(), Stop> {
    let (start, end) = (slice.start, slice.end);
    let pulled_at = Utc::now();
    let failed = |e: SourceError, note: &str| SyncError::Slice {
        rollup: rollup.name.clone(),
        day: slice.day,
        start,
        end,
        message: format!("{e}{note}"),
    };
    pacer.wait().await;
    match source.pull(rollup, start, end, out).await {
        Ok(rows) => {
            pacer.done(rows);
            return out.send(Msg::Done { rows, pulled_at }).await;
        }
        Err(PullError::Source(e)) if e.timed_out && end - start > HOUR => {
            pacer.done(0);
            tracing::warn!(
                "rollup `{}`: the slice {} [{start}, {end}) hit the statement timeout; pulling it in smaller pieces",
                rollup.name,
                slice.day
            );
            out.void(Msg::Split).await?;
        }
        Err(PullError::Source(e)) => return out.fail(failed(e, "")).await,
        Err(PullError::Sink(stop)) => return Err(stop),
    }
    let mut todo = halves(start, end);
    let mut rows = 0;
    while let Some((a, b)) = todo.pop() {
        out.send(Msg::PieceStart).await?;
        pacer.wait().await;
        match source.pull(rollup, a, b, out).await {
            Ok(n) => {
                pacer.done(n);
                out.send(Msg::PieceKeep).await?;
                rows += n;
            }
            Err(PullError::Source(e)) if e.timed_out && b - a > HOUR => {
                pacer.done(0);
                out.void(Msg::PieceDrop).await?;
                todo.extend(halves(a, b));
            }
            Err(PullError::Source(e)) if e.timed_out => {
                let note = format!(
                    " (even the one-hour piece [{a}, {b}) timed out: raise statement_timeout or add an index)"
                );
                return out.fail(failed(e, &note)).await;
            }
            Err(PullError::Source(e)) => return out.fail(failed(e, "")).await,
            Err(PullError::Sink(stop)) => return Err(stop),
        }
    }
    out.send(Msg::Done { rows, pulled_at }).await
}
