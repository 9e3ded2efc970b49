//! Writing: the store's single writer takes each slice's rows from the connection that fetched
//! it ([`super::fetch`]), each source's slices in the planned order, and commits the slice with
//! its checkpoint in one transaction.

use futures_util::future::select_all;
use indexmap::IndexMap;
use tokio::sync::mpsc;

use super::fetch::Msg;
use super::{Planned, Progress, Pulled, Slice, SyncError};
use crate::config::Rollup;
use crate::store::{SliceWriter, Store, StoreError};

/// One source's slices as the writer sees them: slice `i` arrives on `channels[i % channels.len()]`.
pub(super) struct Lane<'a> {
    /// The source's name.
    pub(super) source: &'a str,
    work: &'a [(&'a Rollup, &'a Planned)],
    channels: Vec<mpsc::Receiver<Msg>>,
    /// The next slice to write.
    next: usize,
    /// Why the source failed, if it did.
    pub(super) failed: Option<SyncError>,
}

impl<'a> Lane<'a> {
    /// The slices of one source and the channels of its connections.
    pub(super) fn new(
        source: &'a str,
        work: &'a [(&'a Rollup, &'a Planned)],
        channels: Vec<mpsc::Receiver<Msg>>,
    ) -> Lane<'a> {
        Lane {
            source,
            work,
            channels,
            next: 0,
            failed: None,
        }
    }

    fn done(&self) -> bool {
        self.failed.is_some() || self.next == self.work.len()
    }

    /// The first message of the next slice.
    async fn first(&mut self) -> Option<Msg> {
        let n = self.channels.len();
        self.channels[self.next % n].recv().await
    }
}

/// Writes every source's slices, each source's in order, one slice at a time: the next slice
/// written is the one whose first message arrives first, so the sources' queries overlap. A
/// source that fails is set aside (its connections stop) and the others go on; a store failure
/// stops everything. Stops between two slices when a signal asks.
pub(super) async fn write_lanes(
    store: &Store,
    lanes: &mut [Lane<'_>],
    progress: &Progress,
    pulled: &mut IndexMap<String, Pulled>,
) -> Result<(), SyncError> {
    loop {
        // Let the signal listener run, then stop between slices if asked to.
        tokio::task::yield_now().await;
        if crate::shutdown::requested() {
            return Err(SyncError::Interrupted);
        }
        let waiting: Vec<_> = lanes
            .iter_mut()
            .enumerate()
            .filter(|(_, lane)| !lane.done())
            .map(|(i, lane)| Box::pin(async move { (i, lane.first().await) }))
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        // Receiving is cancel-safe: the lanes that lost keep their messages.
        let ((i, first), _, rest) = select_all(waiting).await;
        drop(rest);
        let lane = &mut lanes[i];
        let (rollup, planned) = lane.work[lane.next];
        let n = lane.channels.len();
        let channel = &mut lane.channels[lane.next % n];
        let slice = &planned.slice;
        match write(store, rollup, slice, first, channel).await {
            Ok((rows, changed)) => {
                lane.next += 1;
                let totals = pulled.entry(rollup.name.clone()).or_default();
                totals.slices += 1;
                totals.rows += rows;
                progress.slice(&rollup.name, planned, rows, changed);
            }
            // Name the slice that the store failed on.
            Err(SyncError::Store(e)) => return Err(SyncError::slice(rollup, slice, e.to_string())),
            Err(e) => {
                tracing::error!("source `{}`: {e}", lane.source);
                lane.failed = Some(e);
                // Its connections stop when their channels close.
                lane.channels.clear();
            }
        }
    }
}

/// Replaces one slice with the rows that arrive for it. The transaction opens with the first
/// message, so the store is not locked while the source computes the slice; dropping the writer
/// on any error rolls the slice back. Returns the rows, and false when they were the ones
/// already stored.
async fn write(
    store: &Store,
    rollup: &Rollup,
    slice: &Slice,
    first: Option<Msg>,
    channel: &mut mpsc::Receiver<Msg>,
) -> Result<(u64, bool), SyncError> {
    let open = |pieces| store.begin_slice(rollup, slice.day, (slice.start, slice.end), pieces);
    let mut pieces = false;
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
            Msg::Split => {
                writer = None;
                pieces = true;
            }
            Msg::Restart => {
                writer = None;
                pieces = false;
            }
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
                let changed = w.commit(rows, pulled_at)?;
                return Ok((rows, changed));
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
