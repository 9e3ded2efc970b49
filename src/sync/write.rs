//! Writing: the store's single writer takes each slice's rows from the connection that fetched
//! it ([`super::fetch`]), each connection's slices in the planned order, and commits the slice
//! with its checkpoint in one transaction.

use futures_util::future::select_all;
use indexmap::IndexMap;
use tokio::sync::mpsc;

use super::fetch::Msg;
use super::{Planned, Progress, Pulled, SyncError};
use crate::rollup::Rollup;
use crate::store::{SliceWriter, Store, StoreError};

/// One source's slices as the writer sees them: slice `i` arrives on `channels[i % n]`, for `n`
/// connections. The writer takes whichever connection's next slice arrives first, not the
/// source's slices in order: behind a connection pooler with fewer server connections than
/// `parallel` (or a pool the application keeps busy), a connection that waits for the writer
/// holds a server connection, and must not wait for a slice whose connection waits for that one.
pub(super) struct Lane<'a> {
    /// The source's name.
    pub(super) source: &'a str,
    work: &'a [(&'a Rollup, &'a Planned)],
    channels: Vec<mpsc::Receiver<Msg>>,
    /// For each connection, the next of its slices to write.
    next: Vec<usize>,
    /// For each connection, whether its next slice comes in pieces (its whole query timed out).
    pieces: Vec<bool>,
    /// The source's earliest failed slice and why: the slices before it on the other
    /// connections are still written, so what is kept is every slice up to the failure.
    failing: Option<(usize, SyncError)>,
    /// Why the source failed, once nothing before its failed slice is left to write.
    pub(super) failed: Option<SyncError>,
}

impl<'a> Lane<'a> {
    /// The slices of one source and the channels of its connections.
    pub(super) fn new(
        source: &'a str,
        work: &'a [(&'a Rollup, &'a Planned)],
        channels: Vec<mpsc::Receiver<Msg>>,
    ) -> Lane<'a> {
        let n = channels.len();
        Lane {
            source,
            work,
            channels,
            next: (0..n).collect(),
            pieces: vec![false; n],
            failing: None,
            failed: None,
        }
    }

    /// Where the slices to write end: at the earliest failed slice, or at the last one.
    fn limit(&self) -> usize {
        self.failing.as_ref().map_or(self.work.len(), |(at, _)| *at)
    }

    fn done(&self) -> bool {
        self.failed.is_some() || self.next.iter().all(|&i| i >= self.limit())
    }

    /// Connection `c`'s slice failed with `e`: nothing more is taken from it, and the source is
    /// set aside once the slices before the earliest failure are written.
    fn fail(&mut self, c: usize, e: SyncError) {
        let at = self.next[c];
        self.next[c] = usize::MAX;
        if self
            .failing
            .as_ref()
            .is_none_or(|(earliest, _)| at < *earliest)
        {
            self.failing = Some((at, e));
        }
        self.settle();
    }

    /// Sets the source aside when its failure is all that is left.
    fn settle(&mut self) {
        if self.failing.is_some()
            && self.next.iter().all(|&i| i >= self.limit())
            && let Some((_, e)) = self.failing.take()
        {
            tracing::error!("source `{}`: {e}", self.source);
            self.failed = Some(e);
            // Its connections stop when their channels close.
            self.channels.clear();
        }
    }

    /// The first message of the next slice of whichever connection sends first, with that
    /// connection's number (`None`: the connection stopped).
    async fn first(&mut self) -> (usize, Option<Msg>) {
        let limit = self.limit();
        let waiting: Vec<_> = self
            .channels
            .iter_mut()
            .enumerate()
            .filter(|(c, _)| self.next[*c] < limit)
            .map(|(c, channel)| Box::pin(async move { (c, channel.recv().await) }))
            .collect();
        // Receiving is cancel-safe: the channels that lost keep their messages.
        select_all(waiting).await.0
    }
}

/// Writes every source's slices, each connection's in order, one slice at a time: the next slice
/// written is one whose first rows have arrived, taking the sources in turn, so that their
/// queries overlap and none waits behind another. A slice that restarts or splits gives the
/// writer back until its rows come. A source that fails is set aside (its connections stop) once
/// its slices before the failed one are written, and the others go on; a store failure stops
/// everything. Stops between two slices when a signal
/// asks.
pub(super) async fn write_lanes(
    store: &Store,
    lanes: &mut [Lane<'_>],
    progress: &Progress,
    pulled: &mut IndexMap<String, Pulled>,
) -> Result<(), SyncError> {
    let mut turn = 0;
    loop {
        // Let the signal listener run, then stop between slices if asked to.
        tokio::task::yield_now().await;
        if crate::shutdown::requested() {
            return Err(SyncError::Interrupted);
        }
        // The lanes in turn, starting after the last one written: when several are ready, the
        // first in this order wins.
        let count = lanes.len();
        let (head, tail) = lanes.split_at_mut(turn % count.max(1));
        let waiting: Vec<_> = tail
            .iter_mut()
            .chain(head.iter_mut())
            .enumerate()
            .filter(|(_, lane)| !lane.done())
            .map(|(k, lane)| Box::pin(async move { (k, lane.first().await) }))
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        // Receiving is cancel-safe: the lanes that lost keep their messages.
        let ((k, (c, first)), _, rest) = select_all(waiting).await;
        drop(rest);
        let started = std::time::Instant::now();
        let i = (turn % count + k) % count;
        turn = i + 1;
        let lane = &mut lanes[i];
        let (rollup, planned) = lane.work[lane.next[c]];
        let n = lane.channels.len();
        let channel = &mut lane.channels[c];
        let slice = &planned.slice;
        match write(store, rollup, planned, lane.pieces[c], first, channel).await {
            Ok(Written::Slice { rows, changed }) => {
                lane.next[c] += n;
                lane.pieces[c] = false;
                let totals = pulled.entry(rollup.name.clone()).or_default();
                totals.slices += 1;
                totals.rows += rows;
                crate::metrics::slice_pulled(&rollup.name, rows);
                crate::service::alive();
                progress.slice(&rollup.name, planned, rows, changed, started.elapsed());
                lane.settle();
            }
            Ok(Written::Again { pieces }) => lane.pieces[c] = pieces,
            // Name the slice that the store failed on.
            Err(SyncError::Store(e)) => return Err(SyncError::slice(rollup, slice, e.to_string())),
            Err(e) => lane.fail(c, e),
        }
    }
}

/// What became of a slice the writer took up.
enum Written {
    /// It is in the store: `rows` rows, `changed` false when they were the ones already there.
    Slice { rows: u64, changed: bool },
    /// Its rows so far are void and it comes again (in pieces, or from the start): the writer
    /// goes back to the other sources meanwhile.
    Again { pieces: bool },
}

/// Replaces one slice with the rows that arrive for it. The transaction opens with the first
/// rows, so the store is not locked while the source computes the slice; dropping the writer
/// on any error rolls the slice back.
async fn write(
    store: &Store,
    rollup: &Rollup,
    planned: &Planned,
    pieces: bool,
    first: Option<Msg>,
    channel: &mut mpsc::Receiver<Msg>,
) -> Result<Written, SyncError> {
    let slice = &planned.slice;
    let open = |pieces| store.begin_slice(rollup, slice.day, (slice.start, slice.end), pieces);
    let mut writer: Option<SliceWriter> = None;
    let mut first = Some(first);
    loop {
        let msg = match first.take() {
            Some(msg) => msg,
            None => channel.recv().await,
        };
        let Some(msg) = msg else {
            return Err(SyncError::slice(
                rollup,
                slice,
                "the source connection stopped before the slice was complete",
            ));
        };
        match msg {
            Msg::Failed(e) => return Err(e),
            // Dropping the writer rolls back what this slice wrote so far.
            Msg::Split => return Ok(Written::Again { pieces: true }),
            Msg::Restart => return Ok(Written::Again { pieces: false }),
            Msg::Rows(rows) => {
                opened(&mut writer, || open(pieces))?.insert(&rows)?;
            }
            Msg::PieceStart => opened(&mut writer, || open(pieces))?.begin_piece()?,
            Msg::PieceKeep => opened(&mut writer, || open(pieces))?.keep_piece()?,
            Msg::PieceDrop => opened(&mut writer, || open(pieces))?.drop_piece()?,
            Msg::Done { rows, pulled_at } => {
                let w = match writer.take() {
                    Some(w) => w,
                    None => open(pieces)?,
                };
                let changed = w.commit(rows, pulled_at, planned.reason.as_str())?;
                return Ok(Written::Slice { rows, changed });
            }
        }
    }
}

/// The slice's writer, opened on first use.
fn opened<'w, 's>(
    writer: &'w mut Option<SliceWriter<'s>>,
    open: impl FnOnce() -> Result<SliceWriter<'s>, StoreError>,
) -> Result<&'w mut SliceWriter<'s>, StoreError> {
    if writer.is_none() {
        *writer = Some(open()?);
    }
    Ok(writer.as_mut().expect("opened above"))
}
