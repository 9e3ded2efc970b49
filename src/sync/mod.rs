//! Sync: decides which slices to pull ([`plan_slices`]) and pulls them ([`pull`]), one slice per
//! transaction, so the store only ever holds whole slices.

mod fetch;
mod pace;
mod progress;
mod retry;
pub mod slice;
mod throttle;
mod write;

use std::collections::{HashMap, HashSet};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use chrono::{DateTime, NaiveDate, Utc};
use indexmap::IndexMap;

use futures_util::future::{Either, join_all, select};
use tokio::sync::mpsc;

use chrono_tz::Tz;

use crate::days::{DayRange, days_before};
use crate::rollup::Rollup;
use crate::source::SourceSpec;
use crate::source::{Source, SourceError};
use crate::store::{Store, StoreError};
use fetch::{Link, Outbox, Running, Worker};
use pace::Pacer;
pub use progress::Progress;
pub use slice::Slice;
use throttle::Throttle;

/// A sync failure.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A source failed outside a slice (connecting).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The slice query would read the whole table and the rollup does not allow that.
    #[error("rollup `{rollup}`: {refusal}")]
    FullScan {
        /// Rollup name.
        rollup: String,
        /// What the source would do and what would fix it ([`crate::source::Explain::refusal`]).
        refusal: String,
    },
    /// SIGTERM or SIGINT stopped the sync.
    #[error(
        "stopped by a signal; every slice committed so far is in the store, the one in flight was rolled back"
    )]
    Interrupted,
    /// Some sources failed; the others' slices are in the store.
    #[error("{}", failed_sources(.failed, .pulled))]
    Sources {
        /// Each failed source's name and error.
        failed: Vec<(String, SyncError)>,
        /// The sources that were pulled.
        pulled: Vec<String>,
    },
    /// A slice could not be pulled; the store still holds its previous version.
    #[error("rollup `{rollup}`, slice {day} [{start}, {end}): {message}")]
    Slice {
        /// Rollup name.
        rollup: String,
        /// The slice's day.
        day: NaiveDate,
        /// Slice start.
        start: DateTime<Utc>,
        /// Slice end.
        end: DateTime<Utc>,
        /// What went wrong.
        message: String,
    },
}

/// "source `a` failed: …" for each failed source, and which sources were pulled anyway.
fn failed_sources(failed: &[(String, SyncError)], pulled: &[String]) -> String {
    let mut text = failed
        .iter()
        .map(|(name, e)| match e {
            // Its own text starts with the source's name.
            SyncError::Source(e) => format!("source `{name}` failed: {}: {}", e.context, e.message),
            e => format!("source `{name}` failed: {e}"),
        })
        .collect::<Vec<_>>()
        .join("\n");
    if !pulled.is_empty() {
        let names: Vec<String> = pulled.iter().map(|n| format!("`{n}`")).collect();
        text.push_str(&format!(
            "\n(the slices of {} are in the store)",
            names.join(", ")
        ));
    }
    text
}

impl SyncError {
    /// A failure of one slice of `rollup`.
    fn slice(rollup: &Rollup, slice: &Slice, message: impl Into<String>) -> SyncError {
        SyncError::Slice {
            rollup: rollup.name.clone(),
            day: slice.day,
            start: slice.start,
            end: slice.end,
            message: message.into(),
        }
    }
}

/// Why a slice is pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Not in the store yet.
    New,
    /// In the store, but within the lookback window (late rows may still arrive).
    Lookback,
    /// `--refresh` asked for it.
    Refresh,
}

impl Reason {
    /// Lower-case name for output.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::New => "new",
            Reason::Lookback => "lookback",
            Reason::Refresh => "refresh",
        }
    }
}

/// One slice a sync will pull.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Rollup name.
    pub rollup: String,
    /// The slice.
    pub slice: Slice,
    /// Why.
    pub reason: Reason,
}

/// What a sync pulled, per rollup.
#[derive(Debug, Clone, Default)]
pub struct Pulled {
    /// Slices pulled.
    pub slices: u64,
    /// Rows received (aggregated rows, not source rows).
    pub rows: u64,
}

/// What a sync reads of the config: the zone of its days, the sources and the rollups.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The zone of days: slices never cross its midnight.
    pub timezone: Tz,
    /// Sources by name.
    pub sources: &'a IndexMap<String, SourceSpec>,
    /// Rollups by name.
    pub rollups: &'a IndexMap<String, Rollup>,
}

/// Decides which slices of `ranges` to pull: slices not in the store, slices whose end lies
/// within `lookback` of the newest slice end, slices pulled before they were complete, and every
/// slice with `refresh`. Slices that start after `now`, and days that `keep` would prune right
/// away, are never pulled.
pub fn plan_slices(
    scope: Scope<'_>,
    store: &Store,
    ranges: &IndexMap<String, DayRange>,
    refresh: bool,
    now: DateTime<Utc>,
) -> Result<Vec<Planned>, StoreError> {
    let today = now.with_timezone(&scope.timezone).date_naive();
    let mut planned = Vec::new();
    for (name, range) in ranges {
        let rollup = &scope.rollups[name];
        let horizon = days_before(today, rollup.keep_days);
        if range.first < horizon {
            tracing::warn!(
                "rollup `{name}`: days before {horizon} are older than keep ({} days) and are not pulled",
                rollup.keep_days
            );
        }
        let slices: Vec<Slice> = range
            .days()
            .filter(|day| *day >= horizon)
            .flat_map(|day| slice::day_slices(scope.timezone, day, rollup.slice_hours))
            .filter(|s| s.start < now)
            .collect();
        let current = store.rollup_is_current(rollup)?;
        let done: HashMap<DateTime<Utc>, DateTime<Utc>> = if current {
            store
                .checkpoints(name, range.first, range.last)?
                .into_iter()
                .map(|c| (c.start, c.pulled_at))
                .collect()
        } else {
            HashMap::new()
        };
        let stored_end = if current {
            store.newest_end(name)?
        } else {
            None
        };
        // "Pulled so far": the store's newest slice end before this run; on a first run, the
        // newest slice this run pulls.
        let newest = stored_end.or_else(|| slices.iter().map(|s| s.end).max());
        let lookback =
            chrono::TimeDelta::from_std(rollup.lookback).unwrap_or(chrono::TimeDelta::MAX);
        // Slices ending after this are within the lookback (all of them when it reaches past
        // the calendar).
        let edge = newest.and_then(|n| n.checked_sub_signed(lookback));
        for s in slices {
            let reason = match done.get(&s.start) {
                _ if refresh => Reason::Refresh,
                None => Reason::New,
                Some(pulled_at) if *pulled_at < s.end => Reason::Lookback,
                Some(_) if newest.is_some() && edge.is_none_or(|e| s.end > e) => Reason::Lookback,
                Some(_) => continue,
            };
            planned.push(Planned {
                rollup: name.clone(),
                slice: s,
                reason,
            });
        }
    }
    Ok(planned)
}

/// Pulls the planned slices, source by source, and prunes rows older than each rollup's `keep`
/// (counted back from `today`). A source with `parallel = N` runs its slice queries on N
/// connections at once while the store writes the slices in order, one transaction each.
pub async fn pull(
    scope: Scope<'_>,
    store: &mut Store,
    planned: &[Planned],
    today: NaiveDate,
    progress: &Progress,
) -> Result<IndexMap<String, Pulled>, SyncError> {
    // Every rollup gets its tables, so reports work even when nothing needed pulling.
    for (name, rollup) in scope.rollups {
        if store.ensure_rollup(rollup)? {
            tracing::warn!("rollup `{name}` changed since its rows were pulled; pulling it again");
        }
    }
    let mut pulled: IndexMap<String, Pulled> = IndexMap::new();
    let mut by_source: IndexMap<&str, Vec<(&Rollup, &Planned)>> = IndexMap::new();
    for p in planned {
        let rollup = &scope.rollups[&p.rollup];
        pulled.entry(p.rollup.clone()).or_default();
        by_source
            .entry(rollup.source.as_str())
            .or_default()
            .push((rollup, p));
    }
    progress.start(planned.len() as u64);
    // Every source's connections work at once; the store writes one slice at a time.
    let running = Running::default();
    let mut lanes = Vec::new();
    let mut fetches = Vec::new();
    let mut first_id = 0;
    for (source, work) in &by_source {
        let spec = &scope.sources[*source];
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..connections(spec, work.len()))
            .map(|_| mpsc::channel(fetch::AHEAD))
            .unzip();
        let n = senders.len();
        lanes.push(write::Lane::new(source, work, receivers));
        fetches.push(fetch_source(spec, work, senders, (&running, first_id)));
        first_id += n;
    }
    let pulling = async {
        let fetching = join_all(fetches);
        let writing = write::write_lanes(store, &mut lanes, progress, &mut pulled);
        // The writer decides: when it stops (done, failed or interrupted), so do the connections.
        match select(pin!(writing), pin!(fetching)).await {
            Either::Left((result, _)) => result,
            Either::Right((_, writing)) => writing.await,
        }
    };
    // A signal stops the sync at once: dropping the pull rolls back the slice in flight, and the
    // queries that were running are cancelled on their servers.
    let result = match select(pin!(pulling), pin!(crate::shutdown::wait())).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => {
            running.cancel_all(CANCEL_LIMIT).await;
            Err(SyncError::Interrupted)
        }
    };
    progress.finish();
    result?;
    let failed: Vec<(String, SyncError)> = lanes
        .iter_mut()
        .filter_map(|lane| Some((lane.source.to_string(), lane.failed.take()?)))
        .collect();
    let sources: Vec<&str> = by_source.keys().copied().collect();
    finish(scope, store, today, &sources, failed)?;
    Ok(pulled)
}

/// After the slices: prunes what `keep` lets go in the rollups of the sources that worked, and
/// fails naming each source that did not (and those whose slices are in the store anyway).
fn finish(
    scope: Scope<'_>,
    store: &Store,
    today: NaiveDate,
    sources: &[&str],
    failed: Vec<(String, SyncError)>,
) -> Result<(), SyncError> {
    for rollup in scope.rollups.values() {
        if !failed.iter().any(|(source, _)| *source == rollup.source) {
            store.prune(rollup, days_before(today, rollup.keep_days))?;
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    let pulled = sources
        .iter()
        .filter(|s| !failed.iter().any(|(f, _)| f == *s))
        .map(|s| s.to_string())
        .collect();
    Err(SyncError::Sources { failed, pulled })
}

/// How many connections a source's slices get: `parallel`, at most one per slice, and one for
/// a database that cannot run queries side by side (a file read in this process).
fn connections(spec: &SourceSpec, slices: usize) -> usize {
    let parallel = if spec.driver.capabilities().parallel {
        spec.parallel
    } else {
        1
    };
    parallel.clamp(1, slices.max(1))
}

/// How long tally waits for a server to take a cancel request when it stops.
const CANCEL_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// One source's side of a sync: open its connections, check each rollup's plan, then fetch the
/// slices (slice `i` on connection `i % connections`). A failure before the first slice goes to
/// the writer as the first slice's failure. Each connection's running query is recorded in
/// `running` under `first_id + i`.
async fn fetch_source(
    spec: &SourceSpec,
    work: &[(&Rollup, &Planned)],
    senders: Vec<mpsc::Sender<fetch::Msg>>,
    (running, first_id): (&Running, usize),
) {
    let n = senders.len();
    let busy = Arc::new(AtomicUsize::new(0));
    let mut workers: Vec<Worker> = (1..=n)
        .map(|k| Worker {
            link: Link::new(spec, k, n),
            pacer: Pacer::new(spec, n),
            throttle: Throttle::new(spec, Arc::clone(&busy)),
            busy: Arc::clone(&busy),
            running: running.clone(),
            id: first_id + k - 1,
        })
        .collect();
    if let Err(e) = prepare(&mut workers, work).await {
        let _ = senders[0].send(fetch::Msg::Failed(e)).await;
        return;
    }
    join_all(
        workers
            .iter_mut()
            .zip(senders)
            .enumerate()
            .map(|(i, (worker, tx))| {
                fetch::fetch_all(worker, work.iter().skip(i).step_by(n), Outbox::new(tx))
            }),
    )
    .await;
}

/// Connects every worker and checks each rollup's plan before its first slice query runs.
async fn prepare(
    workers: &mut [Worker<'_>],
    work: &[(&Rollup, &Planned)],
) -> Result<(), SyncError> {
    for worker in workers.iter_mut() {
        worker.link.connect().await?;
    }
    let mut checked = HashSet::new();
    for (rollup, p) in work {
        if checked.insert(rollup.name.as_str()) {
            let source = workers[0].link.connect().await?;
            refuse_full_scan(source, rollup, &p.slice).await?;
        }
    }
    Ok(())
}

/// Asks the source how it would run the rollup's slice query, and refuses a plan that reads
/// the whole table unless the rollup allows it.
async fn refuse_full_scan(
    source: &mut Source,
    rollup: &Rollup,
    slice: &Slice,
) -> Result<(), SyncError> {
    let explain = source.explain(rollup, slice.start, slice.end).await?;
    tracing::debug!("rollup `{}`: {}", rollup.name, explain.access);
    match explain.refusal(rollup) {
        Some(refusal) => Err(SyncError::FullScan {
            rollup: rollup.name.clone(),
            refusal,
        }),
        None => Ok(()),
    }
}

const HOUR: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// `[start, end)` cut in two at a whole hour, as a stack: the first half is popped first.
fn halves(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let middle = start + chrono::TimeDelta::hours(((end - start).num_hours() / 2).max(1));
    vec![(middle, end), (start, middle)]
}
