//! Sync: decides which slices to pull ([`plan_slices`]) and pulls them ([`pull`]), one slice per
//! transaction, so the store only ever holds whole slices.

mod pace;
mod progress;
pub mod slice;

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use indexmap::IndexMap;

use crate::config::{DayRange, Plan, Rollup, days_before};
use crate::source::{Explain, PullError, Source, SourceError};
use crate::store::{Store, StoreError};
use pace::Pacer;
pub use progress::Progress;
pub use slice::Slice;

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
    #[error(
        "rollup `{rollup}`: the slice query would scan the whole table ({access}); create an index: \
         {hint} (or set allow_full_scan = true)"
    )]
    FullScan {
        /// Rollup name.
        rollup: String,
        /// The access path EXPLAIN showed.
        access: String,
        /// The index to create.
        hint: String,
    },
    /// SIGTERM or SIGINT stopped the sync between two slices.
    #[error("stopped by a signal; every slice pulled so far is in the store")]
    Interrupted,
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

/// Decides which slices of `ranges` to pull: slices not in the store, slices whose end lies
/// within `lookback` of the newest slice end, slices pulled before they were complete, and every
/// slice with `refresh`. Slices that start after `now`, and days that `keep` would prune right
/// away, are never pulled.
pub fn plan_slices(
    plan: &Plan,
    store: &Store,
    ranges: &IndexMap<String, DayRange>,
    refresh: bool,
    now: DateTime<Utc>,
) -> Result<Vec<Planned>, StoreError> {
    let today = now.with_timezone(&plan.timezone).date_naive();
    let mut planned = Vec::new();
    for (name, range) in ranges {
        let rollup = &plan.rollups[name];
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
            .flat_map(|day| slice::day_slices(plan.timezone, day, rollup.slice_hours))
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
        let lookback = chrono::TimeDelta::from_std(rollup.lookback).unwrap_or_default();
        for s in slices {
            let reason = match done.get(&s.start) {
                _ if refresh => Reason::Refresh,
                None => Reason::New,
                Some(pulled_at) if *pulled_at < s.end => Reason::Lookback,
                Some(_) if newest.is_some_and(|n| s.end > n - lookback) => Reason::Lookback,
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
/// (counted back from `today`).
pub async fn pull(
    plan: &Plan,
    store: &mut Store,
    planned: &[Planned],
    today: NaiveDate,
    progress: &Progress,
) -> Result<IndexMap<String, Pulled>, SyncError> {
    let mut pulled: IndexMap<String, Pulled> = IndexMap::new();
    let mut by_rollup: IndexMap<&str, Vec<&Planned>> = IndexMap::new();
    for p in planned {
        by_rollup.entry(p.rollup.as_str()).or_default().push(p);
    }
    // Every rollup gets its tables, so reports work even when nothing needed pulling.
    for (name, rollup) in &plan.rollups {
        if store.ensure_rollup(rollup)? {
            tracing::warn!("rollup `{name}` changed since its rows were pulled; pulling it again");
        }
    }
    progress.start(planned.len() as u64);
    // One session and one pace per source, shared by its rollups.
    let mut sources: HashMap<&str, (Source, Pacer)> = HashMap::new();
    for (name, slices) in &by_rollup {
        let rollup = &plan.rollups[*name];
        let spec = &plan.sources[&rollup.source];
        if !sources.contains_key(spec.name.as_str()) {
            let source = Source::connect(spec).await?;
            sources.insert(&spec.name, (source, Pacer::new(spec)));
        }
        let (source, pacer) = sources
            .get_mut(spec.name.as_str())
            .expect("connected above");
        if let Some(first) = slices.first() {
            refuse_full_scan(source, rollup, &first.slice).await?;
        }
        let totals = pulled.entry(name.to_string()).or_default();
        for p in slices {
            // Let the signal listener run, then stop between slices if asked to.
            tokio::task::yield_now().await;
            if crate::shutdown::requested() {
                progress.finish();
                return Err(SyncError::Interrupted);
            }
            let rows = pull_slice(store, source, pacer, rollup, &p.slice).await?;
            totals.slices += 1;
            totals.rows += rows;
            progress.slice(name, p, rows);
        }
    }
    progress.finish();
    for rollup in plan.rollups.values() {
        store.prune(rollup, days_before(today, rollup.keep_days))?;
    }
    Ok(pulled)
}

/// Asks the source how it would run the rollup's slice query, and refuses a plan that reads
/// the whole table unless the rollup allows it.
async fn refuse_full_scan(
    source: &mut Source,
    rollup: &Rollup,
    slice: &Slice,
) -> Result<(), SyncError> {
    let plan = source.explain(rollup, slice.start, slice.end).await?;
    tracing::debug!("rollup `{}`: {}", rollup.name, plan.access);
    if plan.full_scan && !rollup.allow_full_scan {
        return Err(SyncError::FullScan {
            rollup: rollup.name.clone(),
            access: plan.access,
            hint: Explain::index_hint(rollup),
        });
    }
    Ok(())
}

/// Replaces one slice: the source's rows stream into an open store transaction, committed with
/// the checkpoint only when the whole slice has arrived. A slice whose query hits the statement
/// timeout is pulled again in smaller pieces.
async fn pull_slice(
    store: &Store,
    source: &mut Source,
    pacer: &mut Pacer,
    rollup: &Rollup,
    slice: &Slice,
) -> Result<u64, SyncError> {
    let pulled_at = Utc::now();
    let failed = |e: SourceError, note: &str| SyncError::Slice {
        rollup: rollup.name.clone(),
        day: slice.day,
        start: slice.start,
        end: slice.end,
        message: format!("{e}{note}"),
    };
    {
        let mut writer = store.begin_slice(rollup, slice.day, (slice.start, slice.end), false)?;
        pacer.wait().await;
        let result = source
            .pull(rollup, slice.start, slice.end, &mut |row| {
                writer.insert(row)
            })
            .await;
        match result {
            Ok(rows) => {
                pacer.done(rows);
                writer.commit(rows, pulled_at)?;
                return Ok(rows);
            }
            Err(PullError::Source(e)) if e.timed_out && slice.end - slice.start > HOUR => {
                pacer.done(0);
                tracing::warn!(
                    "rollup `{}`: the slice {} [{}, {}) hit the statement timeout; pulling it in smaller pieces",
                    rollup.name,
                    slice.day,
                    slice.start,
                    slice.end
                );
            }
            Err(PullError::Source(e)) => return Err(failed(e, "")),
            Err(PullError::Sink(e)) => return Err(SyncError::Store(e)),
        }
    }
    // The slice's first attempt rolled back (its writer is gone); now piece by piece, halving
    // each piece that times out, down to one hour.
    let mut writer = store.begin_slice(rollup, slice.day, (slice.start, slice.end), true)?;
    let mut todo = halves(slice.start, slice.end);
    let mut rows = 0;
    while let Some((start, end)) = todo.pop() {
        writer.begin_piece()?;
        pacer.wait().await;
        match source
            .pull(rollup, start, end, &mut |row| writer.insert(row))
            .await
        {
            Ok(n) => {
                pacer.done(n);
                writer.keep_piece()?;
                rows += n;
            }
            Err(PullError::Source(e)) if e.timed_out && end - start > HOUR => {
                pacer.done(0);
                writer.drop_piece()?;
                todo.extend(halves(start, end));
            }
            Err(PullError::Source(e)) if e.timed_out => {
                let note = format!(
                    " (even the one-hour piece [{start}, {end}) timed out: raise statement_timeout or add an index)"
                );
                return Err(failed(e, &note));
            }
            Err(PullError::Source(e)) => return Err(failed(e, "")),
            Err(PullError::Sink(e)) => return Err(SyncError::Store(e)),
        }
    }
    writer.commit(rows, pulled_at)?;
    Ok(rows)
}

const HOUR: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// `[start, end)` cut in two at a whole hour, as a stack: the first half is popped first.
fn halves(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let middle = start + chrono::TimeDelta::hours(((end - start).num_hours() / 2).max(1));
    vec![(middle, end), (start, middle)]
}
