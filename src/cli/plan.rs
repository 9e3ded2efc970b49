//! `tally plan`: the slices a sync would pull and the SQL it would send, touching nothing.

use chrono::Utc;
use indexmap::IndexMap;
use serde_json::{Value as Json, json};

use super::args::{InfoFormat, PlanArgs};
use crate::config::Config;
use crate::days::DayRange;
use crate::error::Error;
use crate::report::ReportSpec;
use crate::run;
use crate::store::Store;
use crate::sync::{self, Planned};

/// Prints, per rollup, its days, its slice query and the slices to pull, with why.
pub fn run(config: &Config, a: &PlanArgs) -> Result<bool, Error> {
    let specs: Vec<&ReportSpec> = config.reports.values().collect();
    let day = run::report_date(config, a.date.date);
    let ranges = run::needed(config, &specs, day)?;
    let store = Store::inspect(&config.store)?;
    let planned = sync::plan_slices(config.sync_scope(), &store, &ranges, false, Utc::now())?;
    match a.format {
        InfoFormat::Json => {
            let doc = json!({"report_date": day.to_string(), "rollups": json_rollups(config, &ranges, &planned)});
            crate::stdout::line(&serde_json::to_string_pretty(&doc).unwrap_or_default())
                .map_err(Error::stdout)?;
        }
        InfoFormat::Text => {
            crate::stdout::line(&format!("report date {day}")).map_err(Error::stdout)?;
            for (name, range) in &ranges {
                print_rollup(config, name, range, &planned)?;
            }
        }
    }
    Ok(true)
}

fn json_rollups(
    config: &Config,
    ranges: &IndexMap<String, DayRange>,
    planned: &[Planned],
) -> Vec<Json> {
    ranges
        .iter()
        .map(|(name, range)| {
            let rollup = &config.rollups[name];
            let source = &config.sources[&rollup.source];
            let slices: Vec<Json> = planned
                .iter()
                .filter(|p| &p.rollup == name)
                .map(|p| {
                    json!({
                        "day": p.slice.day.to_string(),
                        "start": p.slice.start.to_rfc3339(),
                        "end": p.slice.end.to_rfc3339(),
                        "reason": p.reason.as_str(),
                    })
                })
                .collect();
            json!({
                "rollup": name,
                "source": source.name,
                "first": range.first.to_string(),
                "last": range.last.to_string(),
                "sql": source.driver.slice_sql(rollup),
                "slices": slices,
            })
        })
        .collect()
}

fn print_rollup(
    config: &Config,
    name: &str,
    range: &DayRange,
    planned: &[Planned],
) -> Result<(), Error> {
    let rollup = &config.rollups[name];
    let source = &config.sources[&rollup.source];
    let mine: Vec<&Planned> = planned.iter().filter(|p| p.rollup == name).collect();
    crate::stdout::line(&format!(
        "\nrollup {name} (source {}): days {} to {}, {} slice(s) to pull",
        source.name,
        range.first,
        range.last,
        mine.len()
    ))
    .map_err(Error::stdout)?;
    crate::stdout::line(&format!("  sql: {}", source.driver.slice_sql(rollup)))
        .map_err(Error::stdout)?;
    let local = |t: chrono::DateTime<Utc>| {
        t.with_timezone(&config.timezone)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    };
    for p in mine {
        crate::stdout::line(&format!(
            "  {} [{}, {}) {}",
            p.slice.day,
            local(p.slice.start),
            local(p.slice.end),
            p.reason.as_str()
        ))
        .map_err(Error::stdout)?;
    }
    Ok(())
}
