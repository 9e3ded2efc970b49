//! One run of the pipeline, shared by `tally run` and the daemon: take the run lock, sync what
//! the reports need, render them to the output directory, deliver them, and record the run in
//! the store's history.

use chrono::{NaiveDate, Utc};
use indexmap::IndexMap;

use crate::config::{Config, ConfigError};
use crate::days::{DayRange, days_before};
use crate::deliver::{self, Delivered, Destination, Parcel, files};
use crate::error::Error;
use crate::lint;
use crate::report::alert::{self, Alert};
use crate::report::{self, Report, ReportSpec, render};
use crate::secret::mask_secrets;
use crate::store::Store;
use crate::sync::{self, Progress, Pulled, SyncError};

/// What started a run, as recorded in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `tally run`.
    Manual,
    /// The daemon, at a scheduled time.
    Schedule,
    /// The daemon, for a scheduled time that passed while it was not running.
    CatchUp,
    /// The daemon, again after a failure.
    Retry,
}

impl Trigger {
    /// The name stored in the history.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
            Trigger::CatchUp => "catch-up",
            Trigger::Retry => "retry",
        }
    }
}

/// How a run behaves.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Deliver again what was delivered before (only what is selected).
    pub force: bool,
    /// No progress bar.
    pub quiet: bool,
    /// Print each report as a table.
    pub print: bool,
    /// Wait for the run lock instead of failing.
    pub wait: bool,
    /// Only these reports (all when empty).
    pub reports: Vec<String>,
    /// Only these destinations, by name or kind (all when empty).
    pub destinations: Vec<String>,
}

/// Today in the configured zone.
pub fn today(config: &Config) -> NaiveDate {
    Utc::now().with_timezone(&config.timezone).date_naive()
}

/// The first rollup that `specs` read of which the store holds nothing (never synced).
pub fn unsynced(
    config: &Config,
    store: &Store,
    specs: &[&ReportSpec],
) -> Result<Option<String>, crate::store::StoreError> {
    for rollup in config
        .required_days(specs.iter().copied(), NaiveDate::MIN)
        .into_keys()
    {
        if !store.has_table(&rollup)? {
            return Ok(Some(rollup));
        }
    }
    Ok(None)
}

/// The report date: the given one, or yesterday (the last complete day) in the configured zone.
pub fn report_date(config: &Config, date: Option<NaiveDate>) -> NaiveDate {
    date.unwrap_or_else(|| days_before(today(config), 1))
}

/// The day ranges the given reports need on `date`; an error when there are no reports.
pub fn needed(
    config: &Config,
    specs: &[&ReportSpec],
    date: NaiveDate,
) -> Result<IndexMap<String, DayRange>, Error> {
    if specs.is_empty() {
        return Err(ConfigError::Usage(
            "nothing to sync: the config has no reports (use --from and --to to sync a range)"
                .into(),
        )
        .into());
    }
    Ok(config.required_days(specs.iter().copied(), date))
}

/// Pulls what `ranges` need and logs a line per rollup.
pub async fn sync_ranges(
    config: &Config,
    store: &mut Store,
    ranges: &IndexMap<String, DayRange>,
    refresh: bool,
    quiet: bool,
) -> Result<IndexMap<String, Pulled>, Error> {
    let scope = config.sync_scope();
    let planned = sync::plan_slices(scope, store, ranges, refresh, Utc::now())?;
    if planned.is_empty() {
        tracing::info!("store is up to date");
    }
    let started = std::time::Instant::now();
    let progress = Progress::new(quiet);
    let pulled = sync::pull(scope, store, &planned, today(config), &progress).await?;
    let took = started.elapsed();
    for (rollup, p) in &pulled {
        tracing::info!(
            rollup = rollup.as_str(),
            slices = p.slices,
            rows = p.rows,
            duration_ms = took.as_millis() as u64,
            "{rollup}: pulled {} slices, {} rows",
            p.slices,
            p.rows
        );
    }
    Ok(pulled)
}

/// Builds the reports from the store.
pub fn build_all(
    config: &Config,
    store: &Store,
    specs: &[&ReportSpec],
    day: NaiveDate,
) -> Result<Vec<Report>, Error> {
    let inputs = config.report_inputs();
    report::notes::record_changes(inputs, store, specs, day)?;
    let reports = specs
        .iter()
        .map(|s| {
            let built = report::build(inputs, store, s, day).map_err(Error::from);
            crate::service::alive();
            built
        })
        .collect::<Result<Vec<Report>, Error>>()?;
    report::segment_tables(inputs, store, specs.iter().copied(), day)?;
    Ok(reports)
}

/// What the alerts on `reports` send for `date`, each report with its alert; and what failed
/// (an alert whose condition fails), one line each. With `remember`, what each alert matched is
/// recorded for the next date (a dry run does not).
pub fn fire_alerts<'a>(
    config: &'a Config,
    store: &Store,
    reports: &[Report],
    (date, remember): (NaiveDate, bool),
) -> (Vec<(&'a Alert, Report)>, Vec<String>) {
    let mut fired = Vec::new();
    let mut failures = Vec::new();
    for (alert, result) in alert::fire(config.alerts.values(), reports, (store, date, remember)) {
        match result {
            Ok(sent) => fired.extend(sent.into_iter().map(|r| (alert, r))),
            Err(e) => failures.push(format!("alert {}: {e}", alert.name)),
        }
    }
    (fired, failures)
}

/// What goes where: each report to the selected destinations that want it, then each fired
/// alert to the selected destinations it names.
pub fn parcels<'a>(
    reports: &'a [Report],
    fired: &'a [(&Alert, Report)],
    selected: &[&'a Destination],
) -> Vec<Parcel<'a>> {
    let mut parcels: Vec<Parcel> = reports
        .iter()
        .map(|report| Parcel {
            report,
            to: selected
                .iter()
                .copied()
                .filter(|d| d.wants(&report.name))
                .collect(),
        })
        .collect();
    for (alert, report) in fired {
        let to: Vec<&Destination> = selected
            .iter()
            .copied()
            .filter(|d| alert.sends_to(&d.name))
            .collect();
        if to.is_empty() {
            tracing::warn!(
                "alert {} matched {} rows of {}, but no selected destination takes it: nothing sent",
                alert.name,
                report.rows.len(),
                alert.report
            );
        }
        parcels.push(Parcel { report, to });
    }
    parcels
}

/// Runs the pipeline for report date `date` and records it; returns what the deliveries did
/// (when some failed, the run is recorded as failed, with each failure).
pub async fn run(
    config: &Config,
    date: NaiveDate,
    trigger: Trigger,
    opts: Options,
) -> Result<Delivered, Error> {
    let mut store = Store::open_locked(&config.store, opts.wait)?;
    let id = store.start_run(trigger.as_str(), date)?;
    let mut pulled = IndexMap::new();
    let mut delivered = Delivered::default();
    let result = steps(config, &mut store, date, &opts, &mut pulled, &mut delivered).await;
    let pulled_text = pulled
        .iter()
        .map(|(r, p)| format!("{r}: {} slices, {} rows", p.slices, p.rows))
        .collect::<Vec<_>>()
        .join("; ");
    let delivered_text = format!(
        "{} sent, {} skipped, {} failed",
        delivered.sent,
        delivered.skipped,
        delivered.failures.len()
    );
    let (status, error) = match &result {
        Ok(()) if delivered.ok() => ("ok", None),
        Ok(()) => ("failed", Some(mask_secrets(&delivered.failure_text()))),
        Err(Error::Sync(SyncError::Interrupted)) => ("interrupted", Some(result_text(&result))),
        Err(_) => ("failed", Some(result_text(&result))),
    };
    store.finish_run(id, status, &pulled_text, &delivered_text, error.as_deref())?;
    result.map(|()| delivered)
}

fn result_text(result: &Result<(), Error>) -> String {
    match result {
        Ok(()) => String::new(),
        Err(e) => mask_secrets(&e.to_string()),
    }
}

/// Logs, once per run, what in the data says the config gives wrong numbers ([`lint`]).
fn log_data_warnings(config: &Config, store: &Store, reports: &[Report]) {
    match lint::data_warnings(config, store, reports) {
        Ok(warnings) => {
            for w in warnings {
                tracing::warn!("{w}");
            }
        }
        Err(e) => tracing::debug!("looking for configs that give wrong numbers: {e}"),
    }
}

async fn steps(
    config: &Config,
    store: &mut Store,
    date: NaiveDate,
    opts: &Options,
    pulled: &mut IndexMap<String, Pulled>,
    delivered: &mut Delivered,
) -> Result<(), Error> {
    let specs = config
        .select_reports(&opts.reports)
        .map_err(|m| Error::Config(ConfigError::Usage(m)))?;
    let destinations = deliver::select(&config.destinations, &opts.destinations)
        .map_err(|m| Error::Config(ConfigError::Usage(m)))?;
    let ranges = needed(config, &specs, date)?;
    let rollups: Vec<&str> = ranges.keys().map(String::as_str).collect();
    crate::service::status(&format!("syncing {} for {date}", rollups.join(", ")));
    *pulled = sync_ranges(config, store, &ranges, false, opts.quiet).await?;
    crate::service::status(&format!("building the reports for {date}"));
    crate::service::alive();
    let reports = build_all(config, store, &specs, date)?;
    crate::service::alive();
    log_data_warnings(config, store, &reports);
    for report in &reports {
        for path in files::write(&config.output_dir, report, &files::DEFAULT_FORMATS)? {
            tracing::info!("wrote {}", path.display());
        }
        if opts.print {
            crate::stdout::line(&render::render(report, render::Format::Table))
                .map_err(Error::stdout)?;
        }
    }
    let (fired, failures) = fire_alerts(config, store, &reports, (date, true));
    let parcels = parcels(&reports, &fired, &destinations);
    *delivered = deliver::deliver_all(store, &parcels, date, opts.force).await;
    for failure in failures {
        delivered.fail(failure);
    }
    // What deliveries showed is kept as long as the rollups keep their days.
    let keep = config
        .rollups
        .values()
        .map(|r| r.keep_days)
        .max()
        .unwrap_or(0);
    if let Err(e) = store.prune_sent(crate::days::days_before(today(config), keep)) {
        tracing::warn!("{e}");
    }
    Ok(())
}
