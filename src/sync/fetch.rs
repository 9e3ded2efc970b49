//! Fetching: each of a source's connections runs its share of the slice queries, in the planned
//! order, and streams the rows in batches over a bounded channel to the store's single writer
//! ([`super::write`]). The channel is what keeps memory flat: a connection that gets
//! [`AHEAD`] batches ahead of the writer waits, and so does the source behind it.

use std::time::{Duration, Instant};

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
    /// A piece has started and nothing of it is sent yet: its `PieceStart` goes with its first
    /// rows, so that the store's transaction does not wait while the source computes the piece.
    piece_pending: bool,
    /// How long sending waited for the writer since [`Out::take_waited`].
    waited: Duration,
}

impl Out {
    /// Wraps the sending end of a channel made with capacity [`AHEAD`].
    pub(super) fn new(tx: mpsc::Sender<Msg>) -> Out {
        Out {
            tx,
            batch: Vec::with_capacity(BATCH),
            piece_pending: false,
            waited: Duration::ZERO,
        }
    }

    /// Starts a piece of the slice.
    fn begin_piece(&mut self) {
        self.piece_pending = true;
    }

    /// How long sending waited for the writer since the last call: a query whose rows wait
    /// stays open on the source, and its statement timeout keeps counting.
    fn take_waited(&mut self) -> Duration {
        std::mem::take(&mut self.waited)
    }

    /// Sends the rows gathered so far, then `msg`. The end of a piece that sent no rows is not
    /// sent at all: there is nothing to keep or undo.
    async fn send(&mut self, msg: Msg) -> Result<(), Stop> {
        self.flush().await?;
        if self.piece_pending && matches!(msg, Msg::PieceKeep | Msg::PieceDrop) {
            self.piece_pending = false;
            return Ok(());
        }
        self.deliver(msg).await
    }

    async fn deliver(&mut self, msg: Msg) -> Result<(), Stop> {
        let started = Instant::now();
        let sent = self.tx.send(msg).await.map_err(|_| Stop);
        self.waited += started.elapsed();
        sent
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
        if std::mem::take(&mut self.piece_pending) {
            self.deliver(Msg::PieceStart).await?;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.deliver(Msg::Rows(batch)).await
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
    let failed = |e: SourceError, note: &str| SyncError::slice(rollup, slice, format!("{e}{note}"));
    pacer.wait().await;
    out.take_waited();
    match source.pull(rollup, start, end, out).await {
        Ok(rows) => {
            pacer.done(rows);
            return out.send(Msg::Done { rows, pulled_at }).await;
        }
        Err(PullError::Source(e)) if e.timed_out && end - start > HOUR => {
            pacer.done(0);
            tracing::warn!(
                "rollup `{}`: the slice {} [{start}, {end}) hit the statement timeout{}; pulling it in smaller pieces",
                rollup.name,
                slice.day,
                waited_note(out.take_waited())
            );
            out.void(Msg::Split).await?;
        }
        Err(PullError::Source(e)) => return out.fail(failed(e, "")).await,
        Err(PullError::Sink(stop)) => return Err(stop),
    }
    let mut todo = halves(start, end);
    let mut rows = 0;
    while let Some((a, b)) = todo.pop() {
        out.begin_piece();
        pacer.wait().await;
        out.take_waited();
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
                let waited = waited_note(out.take_waited());
                let advice = if waited.is_empty() {
                    "raise statement_timeout or add an index"
                } else {
                    "lower `parallel` or raise statement_timeout"
                };
                let note =
                    format!(" (even the one-hour piece [{a}, {b}) timed out{waited}: {advice})");
                return out.fail(failed(e, &note)).await;
            }
            Err(PullError::Source(e)) => return out.fail(failed(e, "")).await,
            Err(PullError::Sink(stop)) => return Err(stop),
        }
    }
    out.send(Msg::Done { rows, pulled_at }).await
}

/// How long a timed-out query waited for the store to take its rows, when that may be why it
/// timed out (a query that is ahead of the store stays open on the source); empty otherwise.
fn waited_note(waited: Duration) -> String {
    if waited < Duration::from_secs(1) {
        return String::new();
    }
    format!(
        " after waiting {:.1} s for the store to take its rows",
        waited.as_secs_f64()
    )
}
