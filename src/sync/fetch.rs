//! Fetching: each of a source's connections runs its share of the slice queries, in the planned
//! order, and streams the rows in batches over a bounded channel to the store's single writer
//! ([`super::write`]). The channel is what keeps memory flat: a connection that gets
//! [`AHEAD`] batches ahead of the writer waits, and so does the source behind it.
//!
//! Before each query a connection waits for the source's load and lag ([`Throttle`]) and for its
//! pace ([`Pacer`]). A transient failure (a restart, a reset connection) voids the slice's rows
//! so far, reconnects and pulls the slice again, up to [`retry::TRIES`] tries.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::pace::Pacer;
use super::retry::{self, TRIES};
use super::throttle::Throttle;
use super::{HOUR, Planned, Slice, SyncError, halves};
use crate::rollup::Rollup;
use crate::source::SourceSpec;
use crate::source::{BoxFuture, Canceller, PullError, RowSink, SinkClosed, Source, SourceError};
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
    /// The source failed in a way a reconnect may cure: the slice's rows so far are void, and the
    /// slice comes again from the start.
    Restart,
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
pub(super) struct Outbox {
    tx: mpsc::Sender<Msg>,
    batch: Vec<Vec<Value>>,
    /// A piece has started and nothing of it is sent yet: its `PieceStart` goes with its first
    /// rows, so that the store's transaction does not wait while the source computes the piece.
    piece_pending: bool,
    /// How long sending waited for the writer since [`Outbox::take_waited`].
    waited: Duration,
    /// When the current query's first row arrived.
    first_row: Option<Instant>,
}

impl Outbox {
    /// Wraps the sending end of a channel made with capacity [`AHEAD`].
    pub(super) fn new(tx: mpsc::Sender<Msg>) -> Outbox {
        Outbox {
            tx,
            batch: Vec::with_capacity(BATCH),
            piece_pending: false,
            waited: Duration::ZERO,
            first_row: None,
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
        if matches!(msg, Msg::Restart) {
            // The piece in flight goes with the rest of the slice.
            self.piece_pending = false;
        }
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

impl RowSink for Outbox {
    fn push(&mut self, row: Vec<Value>) -> bool {
        if self.first_row.is_none() {
            self.first_row = Some(Instant::now());
        }
        self.batch.push(row);
        self.batch.len() >= BATCH
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), SinkClosed>> {
        Box::pin(async { Outbox::flush(self).await.map_err(|Stop| SinkClosed) })
    }
}

/// One connection of a source, opened on first use and again after a failure.
pub(super) struct Link<'a> {
    pub(super) spec: &'a SourceSpec,
    /// Which connection this is (1 to `of`), for messages.
    number: usize,
    of: usize,
    source: Option<Source>,
}

impl<'a> Link<'a> {
    /// Connection `number` of `of`; not connected yet.
    pub(super) fn new(spec: &'a SourceSpec, number: usize, of: usize) -> Link<'a> {
        Link {
            spec,
            number,
            of,
            source: None,
        }
    }

    /// The open connection, connecting when there is none.
    pub(super) async fn source(&mut self) -> Result<&mut Source, SourceError> {
        if self.source.is_none() {
            let source = Source::connect(self.spec).await.map_err(|mut e| {
                if self.of > 1 {
                    e.context = format!(
                        "{} (connection {} of {}, `parallel = {}`)",
                        e.context, self.number, self.of, self.spec.parallel
                    );
                }
                e
            })?;
            self.source = Some(source);
        }
        Ok(self.source.as_mut().expect("connected above"))
    }

    /// Connects, trying again after transient failures (a server that is restarting).
    pub(super) async fn connect(&mut self) -> Result<&mut Source, SourceError> {
        let mut attempt = 1;
        loop {
            match self.source().await {
                Ok(_) => break,
                Err(e) if e.is_transient() && attempt < TRIES => {
                    crate::metrics::source_retry(&self.spec.name);
                    let wait = retry::backoff(attempt);
                    tracing::warn!(
                        "{e}; connecting again in {:.1} s (try {} of {TRIES})",
                        wait.as_secs_f64(),
                        attempt + 1
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
        self.source().await
    }

    /// Closes the connection after a failure; the next use opens a new one.
    fn reset(&mut self) {
        self.source = None;
    }
}

/// The slice queries running now, each with what cancels it on the server: when tally stops (a
/// signal drops the sync), it cancels them before it exits, so no query keeps running without
/// anyone waiting for it.
#[derive(Clone, Default)]
pub(super) struct Running(Rc<RefCell<HashMap<usize, (String, Canceller)>>>);

impl Running {
    /// Records connection `id`'s query until the returned guard is dropped.
    fn start(&self, id: usize, source: &str, cancel: Option<Canceller>) -> RunningQuery {
        if let Some(cancel) = cancel {
            self.0.borrow_mut().insert(id, (source.to_string(), cancel));
        }
        RunningQuery {
            running: self.clone(),
            id,
        }
    }

    /// Cancels every query still recorded as running.
    pub(super) async fn cancel_all(&self, limit: Duration) {
        let running: Vec<(String, Canceller)> =
            self.0.borrow_mut().drain().map(|(_, q)| q).collect();
        for (source, cancel) in running {
            cancel.cancel(&source, limit).await;
        }
    }
}

/// A query recorded in [`Running`] while it lives.
struct RunningQuery {
    running: Running,
    id: usize,
}

impl Drop for RunningQuery {
    fn drop(&mut self) {
        self.running.0.borrow_mut().remove(&self.id);
    }
}

/// A connection's tools for its queries.
pub(super) struct Worker<'a> {
    pub(super) link: Link<'a>,
    pub(super) pacer: Pacer,
    pub(super) throttle: Throttle<'a>,
    /// The source's connections that are in a slice query (shared with the throttles).
    pub(super) busy: Arc<AtomicUsize>,
    /// Every connection's running query, and this connection's key in it.
    pub(super) running: Running,
    pub(super) id: usize,
}

/// How much time on the source a slice has left (`max_slice_time`): what its queries took, with
/// their retries and halvings, counts; waits for the load, the pace and the store do not.
struct Budget {
    limit: Option<Duration>,
    spent: Duration,
}

impl Budget {
    /// What the next query may take; `None` without a limit.
    fn left(&self) -> Option<Duration> {
        self.limit.map(|l| l.saturating_sub(self.spent))
    }
}

/// Counts a connection as busy while it lives.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn new(count: &Arc<AtomicUsize>) -> Busy {
        count.fetch_add(1, Ordering::Relaxed);
        Busy(Arc::clone(count))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs one connection's slice queries in order, until they are all sent or the connection
/// must stop.
pub(super) async fn fetch_all<'a>(
    worker: &mut Worker<'_>,
    work: impl Iterator<Item = &'a (&'a Rollup, &'a Planned)>,
    mut out: Outbox,
) {
    for (rollup, planned) in work {
        if fetch(worker, rollup, &planned.slice, &mut out)
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Why an attempt at a slice ended early.
enum Attempt {
    /// The writer is gone.
    Stop,
    /// The source failed; the text is added to the error message.
    Failed(SourceError, String),
    /// The slice used up `max_slice_time`; its query was cancelled.
    OutOfTime,
}

impl From<Stop> for Attempt {
    fn from(_: Stop) -> Attempt {
        Attempt::Stop
    }
}

/// Pulls one slice, reconnecting and starting the slice again after a transient failure, up to
/// [`TRIES`] tries.
async fn fetch(
    worker: &mut Worker<'_>,
    rollup: &Rollup,
    slice: &Slice,
    out: &mut Outbox,
) -> Result<(), Stop> {
    let mut attempt = 1;
    let spec = worker.link.spec;
    let mut budget = Budget {
        limit: spec.max_slice_time,
        spent: Duration::ZERO,
    };
    loop {
        let (e, note) = match attempt_slice(worker, rollup, slice, out, &mut budget).await {
            Ok(()) => return Ok(()),
            Err(Attempt::Stop) => return Err(Stop),
            Err(Attempt::Failed(e, note)) => (e, note),
            Err(Attempt::OutOfTime) => {
                let limit = humantime::format_duration(budget.limit.unwrap_or_default());
                let message = format!(
                    "gave up after max_slice_time ({limit}) of queries on the source, with \
                     {attempt} tr{} and any halving, and asked the server to cancel the query in \
                     flight (raise max_slice_time, add an index, or use smaller slices)",
                    if attempt == 1 { "y" } else { "ies" },
                );
                return out.fail(SyncError::slice(rollup, slice, message)).await;
            }
        };
        if e.is_transient() && attempt < TRIES {
            crate::metrics::source_retry(&spec.name);
            crate::service::alive();
            let wait = retry::backoff(attempt);
            tracing::warn!(
                "rollup `{}`, slice {} [{}, {}): {e}; reconnecting and pulling the slice again in {:.1} s (try {} of {TRIES})",
                rollup.name,
                slice.day,
                slice.start,
                slice.end,
                wait.as_secs_f64(),
                attempt + 1
            );
            worker.link.reset();
            out.void(Msg::Restart).await?;
            tokio::time::sleep(wait).await;
            attempt += 1;
            continue;
        }
        let tries = if attempt > 1 {
            format!(" (after {attempt} tries)")
        } else {
            String::new()
        };
        return out
            .fail(SyncError::slice(
                rollup,
                slice,
                format!("{}{note}{tries}", e.within_rollup(&rollup.name)),
            ))
            .await;
    }
}

/// One attempt at a slice. A query that hits the statement timeout is run again in pieces,
/// halving each piece that times out, down to one hour.
async fn attempt_slice(
    worker: &mut Worker<'_>,
    rollup: &Rollup,
    slice: &Slice,
    out: &mut Outbox,
    budget: &mut Budget,
) -> Result<(), Attempt> {
    let (start, end) = (slice.start, slice.end);
    let pulled_at = Utc::now();
    match query(worker, rollup, (start, end), out, budget).await {
        Ok(rows) => return Ok(out.send(Msg::Done { rows, pulled_at }).await?),
        Err(Attempt::Failed(e, waited)) if e.timed_out() && end - start > HOUR => {
            tracing::warn!(
                "rollup `{}`: the slice {} [{start}, {end}) hit the statement timeout{waited}; pulling it in smaller pieces",
                rollup.name,
                slice.day,
            );
            out.void(Msg::Split).await?;
        }
        Err(other) => return Err(other),
    }
    let mut todo = halves(start, end);
    let mut rows = 0;
    while let Some((a, b)) = todo.pop() {
        out.begin_piece();
        match query(worker, rollup, (a, b), out, budget).await {
            Ok(n) => {
                out.send(Msg::PieceKeep).await?;
                rows += n;
            }
            Err(Attempt::Failed(e, _)) if e.timed_out() && b - a > HOUR => {
                out.void(Msg::PieceDrop).await?;
                todo.extend(halves(a, b));
            }
            Err(Attempt::Failed(e, waited)) if e.timed_out() => {
                let advice = if waited.is_empty() {
                    "raise statement_timeout or add an index"
                } else {
                    "lower `parallel` or raise statement_timeout"
                };
                let note =
                    format!(" (even the one-hour piece [{a}, {b}) timed out{waited}: {advice})");
                return Err(Attempt::Failed(e, note));
            }
            Err(other) => return Err(other),
        }
    }
    Ok(out.send(Msg::Done { rows, pulled_at }).await?)
}

/// One query for `[a, b)`: connect if needed, wait for the source's load and for the pace, then
/// stream the rows, within what is left of the slice's `max_slice_time` (a query past it is
/// cancelled on the server). A failure carries how long its rows waited for the store, when that
/// may be why a query timed out.
async fn query(
    worker: &mut Worker<'_>,
    rollup: &Rollup,
    (a, b): (DateTime<Utc>, DateTime<Utc>),
    out: &mut Outbox,
    budget: &mut Budget,
) -> Result<u64, Attempt> {
    let failed = |e| Attempt::Failed(e, String::new());
    let spec = worker.link.spec;
    let source = worker.link.source().await.map_err(failed)?;
    worker.throttle.wait(source).await.map_err(failed)?;
    worker.pacer.wait().await;
    out.take_waited();
    out.first_row = None;
    let started = Instant::now();
    let busy = Busy::new(&worker.busy);
    let cancel = source.canceller();
    let running = worker.running.start(worker.id, &spec.name, cancel.clone());
    let pulled = source.pull(rollup, a, b, out);
    let result = match budget.left() {
        None => pulled.await,
        Some(left) => match tokio::time::timeout(left, pulled).await {
            Ok(result) => result,
            Err(_) => {
                drop(running);
                if let Some(cancel) = cancel {
                    cancel.cancel(&spec.name, spec.connect_timeout).await;
                }
                worker.link.reset();
                budget.spent += started.elapsed();
                return Err(Attempt::OutOfTime);
            }
        },
    };
    drop(running);
    drop(busy);
    budget.spent += started.elapsed();
    let waited = out.take_waited();
    // The source's work on an aggregate is done when its first row arrives (a hash aggregate
    // reads the whole range first); what follows is mostly tally reading rows.
    let took = out.first_row.unwrap_or_else(Instant::now) - started;
    match result {
        Ok(rows) => {
            worker.pacer.done(rows, took);
            Ok(rows)
        }
        Err(PullError::Source(e)) => {
            worker.pacer.done(0, took);
            let note = if e.timed_out() {
                waited_note(waited)
            } else {
                String::new()
            };
            Err(Attempt::Failed(e, note))
        }
        Err(PullError::Sink(SinkClosed)) => Err(Attempt::Stop),
    }
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
