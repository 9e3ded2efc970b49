//! `tally run` and `tally deliver`, and the dry run of both: what goes where, for real or shown.

use chrono::NaiveDate;

use super::args::{DeliverArgs, RunArgs, Selection};
use super::{emit, nothing_synced, synced, usage};
use crate::config::Config;
use crate::deliver::{self, Destination};
use crate::error::Error;
use crate::report::ReportSpec;
use crate::run::{self, Trigger};
use crate::schedule::heartbeat::Heartbeat;
use crate::schedule::pipeline::Notifier;
use crate::secret::mask_secrets;
use crate::store::Store;
use crate::sync::SyncError;

/// `tally run`: sync, render, deliver and record; with `--dry-run`, what it would send, from the
/// store as it is.
pub async fn run(config: &Config, a: &RunArgs, quiet: bool, raw: bool) -> Result<bool, Error> {
    let day = run::report_date(config, a.date.date);
    if a.select.dry_run {
        let (specs, destinations) = selection(config, &a.select)?;
        if !Store::exists(&config.store) {
            return Err(nothing_synced(config, "run --dry-run"));
        }
        tracing::info!(
            "dry run: no sync (the sources are not contacted); the reports are built from the store as it is"
        );
        return dry_run(config, &specs, &destinations, (day, raw));
    }
    let options = run::Options {
        force: a.force,
        quiet,
        print: true,
        wait: a.wait,
        reports: a.select.reports.clone(),
        destinations: a.select.destinations.clone(),
    };
    // From cron too, the heartbeat hears of the run, as the daemon's.
    let heartbeat = Heartbeat::new(config.schedule.as_ref().and_then(|s| s.heartbeat.as_ref()));
    if let Some(h) = &heartbeat {
        h.start().await;
    }
    let result = run::run(config, day, Trigger::Manual, options).await;
    let outcome = match &result {
        Ok(delivered) if delivered.ok() => Some(Ok(delivered.summary(day))),
        Ok(delivered) => Some(Err(mask_secrets(&delivered.failure_text()))),
        Err(Error::Sync(SyncError::Interrupted)) => None,
        Err(e) => Some(Err(mask_secrets(&e.to_string()))),
    };
    match (&heartbeat, &outcome) {
        (Some(h), Some(Ok(summary))) => h.success(summary).await,
        (Some(h), Some(Err(error))) => h.fail(error).await,
        _ => {}
    }
    // A failure reaches `[schedule] notify`, once per streak, as the daemon's do.
    let mut notifier = Notifier::new(config);
    if notifier.has_destination()
        && let Some(outcome) = outcome
    {
        notifier.after_manual_run(day, outcome.map(|_| ())).await;
    }
    Ok(result?.ok())
}

/// `tally deliver`: the reports from the store, without syncing, and the alerts that fire.
pub async fn deliver(config: &Config, a: &DeliverArgs, raw: bool) -> Result<bool, Error> {
    let day = run::report_date(config, a.date.date);
    let (specs, destinations) = selection(config, &a.select)?;
    if !Store::exists(&config.store) {
        return Err(nothing_synced(config, "deliver"));
    }
    if a.select.dry_run {
        return dry_run(config, &specs, &destinations, (day, raw));
    }
    let store = Store::open_locked(&config.store, false)?;
    synced(config, &store, &specs, "deliver")?;
    let reports = run::build_all(config, &store, &specs, day)?;
    let (fired, failures) = run::fire_alerts(config, &store, &reports, (day, true));
    let parcels = run::parcels(&reports, &fired, &destinations);
    let mut delivered = deliver::deliver_all(&store, &parcels, day, a.force).await;
    for failure in failures {
        delivered.fail(failure);
    }
    Ok(delivered.ok())
}

/// The reports and destinations `select` names (all of them when it names none).
fn selection<'a>(
    config: &'a Config,
    select: &Selection,
) -> Result<(Vec<&'a ReportSpec>, Vec<&'a Destination>), Error> {
    let specs = config.select_reports(&select.reports).map_err(usage)?;
    let destinations =
        deliver::select(&config.destinations, &select.destinations).map_err(usage)?;
    Ok((specs, destinations))
}

/// Builds the reports from the store as it is and prints what each destination would get, as a
/// person would read it (with `raw`, from `-v`, the payloads too). Contacts nobody and records
/// nothing (no delivery, no run, no file; only the store's caches of computed days may fill).
fn dry_run(
    config: &Config,
    specs: &[&ReportSpec],
    destinations: &[&Destination],
    (day, raw): (NaiveDate, bool),
) -> Result<bool, Error> {
    let store = Store::open_locked(&config.store, false)?;
    synced(config, &store, specs, "dry run")?;
    let reports = run::build_all(config, &store, specs, day)?;
    let (fired, failures) = run::fire_alerts(config, &store, &reports, (day, false));
    if let Some(failure) = failures.first() {
        return Err(Error::Runtime(failure.clone()));
    }
    let parcels = run::parcels(&reports, &fired, destinations);
    let text = deliver::preview(&parcels, raw)?;
    emit(text.as_bytes(), None)?;
    Ok(true)
}
