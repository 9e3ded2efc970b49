//! Writing: the store's single writer takes each slice's rows from the connection that fetched
//! it ([`super::fetch`]), in the planned order, and commits the slice with its checkpoint in one
//! transaction.

use indexmap::IndexMap;
use tokio::sync::mpsc;

use super::fetch::Msg;
use super::{Planned, Progress, Pulled, Slice, SyncError};
use crate::config::Rollup;
use crate::store::{SliceWriter, Store, StoreError};

/// Writes the slices of `work`; slice `i` arrives on `channels[i % channels.len()]`. Stops
/// between two slices when a signal asks.
pub(super) async fn write_all(
    store: &Store,
    work: &[(&Rollup, &Planned)],
    channels: &mut [mpsc::Receiver<Msg>],
    progress: &Progress,
    pulled: &mut IndexMap<String, Pulled>,
) -> Result<(), SyncError> {
    for (i, (rollup, planned)) in work.iter().enumerate() {
        // Let the signal listener run, then stop between slices if asked to.
        tokio::task::yield_now().await;
        if crate::shutdown::requested() {
            return Err(SyncError::Interrupted);
        }
        let channel = &mut channels[i % channels.len()];
        let slice = &planned.slice;
        let (rows, changed) = write(store, rollup, slice, channel)
            .await
            .map_err(|e| match e {
                // Name the slice that the store failed on.
                SyncError::Store(e) => SyncError::slice(rollup, slice, e.to_string()),
                other => other,
            })?;
        let totals = pulled.entry(rollup.name.clone()).or_default();
        totals.slices += 1;
        totals.rows += rows;
        progress.slice(&rollup.name, planned, rows, changed);
    }
    Ok(())
}

/// Replaces one slice with the rows that arrive for it. The transaction opens with the first
/// message, so the store is not locked while the source computes the slice; dropping the writer
/// on any error rolls the slice back. Returns the rows, and false when they were the ones
/// already stored.
async fn write(
    store: &Store,
    rollup: &Rollup,
    slice: &Slice,
    channel: &mut mpsc::Receiver<Msg>,
) -> Result<(u64, bool), SyncError> {
    let open = |pieces| store.begin_slice(rollup, slice.day, (slice.start, slice.end), pieces);
    let mut pieces = false;
    let mut writer: Option<SliceWriter> = None;
    loop {
        let Some(msg) = channel.recv().await else {
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
