//! `tally sync`: pull what the reports need (or an explicit range) into the store.

use chrono::NaiveDate;
use indexmap::IndexMap;

use super::args::SyncArgs;
use super::usage;
use crate::config::Config;
use crate::days::DayRange;
use crate::error::Error;
use crate::report::ReportSpec;
use crate::run;
use crate::store::Store;

/// Syncs the days the reports need for the report date, or `--from`/`--to` for every rollup;
/// `--rollup` narrows either.
pub async fn run(config: &Config, a: &SyncArgs, quiet: bool) -> Result<bool, Error> {
    let mut ranges = match (a.from, a.to) {
        (Some(first), Some(last)) => explicit_range(config, first, last)?,
        _ => {
            let specs: Vec<&ReportSpec> = config.reports.values().collect();
            run::needed(config, &specs, run::report_date(config, a.date.date))?
        }
    };
    if !a.rollups.is_empty() {
        for name in &a.rollups {
            if !config.rollups.contains_key(name) {
                let known: Vec<&str> = config.rollups.keys().map(String::as_str).collect();
                return Err(usage(format!(
                    "no rollup named `{name}` (rollups: {})",
                    known.join(", ")
                )));
            }
        }
        ranges.retain(|name, _| a.rollups.contains(name));
        if ranges.is_empty() {
            return Err(usage(format!(
                "the reports need none of {} on this date: name a range with --from and --to",
                a.rollups.join(", ")
            )));
        }
    }
    let mut store = Store::open_locked(&config.store, false)?;
    run::sync_ranges(config, &mut store, &ranges, a.refresh, quiet).await?;
    Ok(true)
}

fn explicit_range(
    config: &Config,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<IndexMap<String, DayRange>, Error> {
    if first > last {
        return Err(usage(format!("--from {first} is after --to {last}")));
    }
    Ok(config
        .rollups
        .keys()
        .map(|name| (name.clone(), DayRange { first, last }))
        .collect())
}
