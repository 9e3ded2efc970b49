//! The commands: each loads the checked plan, then drives the pipeline
//! (sync → segment → report → deliver) as far as it needs.

pub mod args;
mod check;
mod daemon;
mod status;

use std::io::Write;
use std::path::Path;

use chrono::{NaiveDate, Utc};
use indexmap::IndexMap;

pub use args::{Cli, Command};

use crate::config::{self, ConfigError, DayRange, Plan, ReportSpec};
use crate::deliver;
use crate::error::Error;
use crate::report::{self, Report, ReportError, chart, render};
use crate::run::{self, Trigger};
use crate::store::{RunLock, Store};
use crate::sync;

/// Runs a command. `Ok(false)` means it ran but something in it failed (exit code 1).
pub async fn execute(cli: &Cli) -> Result<bool, Error> {
    match &cli.command {
        Command::Demo { dir } => crate::demo::run(dir, cli.quiet).await,
        Command::Check => check::run(&load(cli)?).await,
        Command::Plan { date } => plan_command(&load(cli)?, date.date),
        Command::Sync {
            date,
            from,
            to,
            refresh,
        } => {
            let plan = load(cli)?;
            let ranges = match (from, to) {
                (Some(first), Some(last)) => explicit_range(&plan, *first, *last)?,
                _ => {
                    let specs: Vec<&ReportSpec> = plan.reports.values().collect();
                    run::needed(&plan, &specs, run::report_date(&plan, date.date))?
                }
            };
            let _lock = RunLock::acquire(&plan.store, false)?;
            let mut store = Store::open(&plan.store)?;
            run::sync_ranges(&plan, &mut store, &ranges, *refresh, cli.quiet).await?;
            Ok(true)
        }
        Command::Report {
            names,
            date,
            format,
            output,
            no_sync,
        } => {
            let plan = load(cli)?;
            let specs = plan
                .select_reports(names)
                .map_err(|m| Error::Config(ConfigError::Usage(m)))?;
            let day = run::report_date(&plan, date.date);
            if *no_sync && !Store::exists(&plan.store) {
                return Err(nothing_synced(&plan, "report --no-sync"));
            }
            let _lock = RunLock::acquire(&plan.store, false)?;
            let mut store = Store::open(&plan.store)?;
            if !no_sync {
                let ranges = run::needed(&plan, &specs, day)?;
                run::sync_ranges(&plan, &mut store, &ranges, false, cli.quiet).await?;
            } else {
                synced(&plan, &store, &specs, "report --no-sync")?;
            }
            let reports = run::build_all(&plan, &store, &specs, day)?;
            let bytes = match format.text() {
                Some(f) => {
                    let text: Vec<String> = reports.iter().map(|r| render::render(r, f)).collect();
                    match f {
                        // Several JSON documents in a row are not JSON: wrap them in an array.
                        render::Format::Json if text.len() > 1 => {
                            format!("[\n{}]\n", text.join(",\n"))
                        }
                        _ => text.join("\n"),
                    }
                    .into_bytes()
                }
                None => png(&plan, &reports, output.as_deref())?,
            };
            emit(&bytes, output.as_deref())?;
            Ok(true)
        }
        Command::Deliver { date, force } => {
            let plan = load(cli)?;
            let day = run::report_date(&plan, date.date);
            if !Store::exists(&plan.store) {
                return Err(nothing_synced(&plan, "deliver"));
            }
            let _lock = RunLock::acquire(&plan.store, false)?;
            let store = Store::open(&plan.store)?;
            let specs: Vec<&ReportSpec> = plan.reports.values().collect();
            synced(&plan, &store, &specs, "deliver")?;
            let reports = run::build_all(&plan, &store, &specs, day)?;
            Ok(deliver::deliver_all(&plan, &store, &reports, day, *force)
                .await
                .ok())
        }
        Command::Run { date, force, wait } => {
            let plan = load(cli)?;
            let day = run::report_date(&plan, date.date);
            let options = run::Options {
                force: *force,
                quiet: cli.quiet,
                print: true,
                wait: *wait,
            };
            run::run(&plan, day, Trigger::Manual, options).await
        }
        Command::Daemon => daemon::run(&load(cli)?, cli.quiet).await,
        Command::History { limit } => status::history(&load(cli)?, *limit),
        Command::Status => status::status(&load(cli)?),
        Command::Query { sql, format } => {
            let plan = load(cli)?;
            if !Store::exists(&plan.store) {
                return Err(nothing_synced(&plan, "query"));
            }
            let store = Store::inspect(&plan.store)?;
            let (columns, rows) = report::sql::run(&store, "query", sql, None)?;
            let today = run::today(&plan);
            let result = Report {
                name: "query".into(),
                title: "query".into(),
                first: today,
                last: today,
                columns,
                rows,
            };
            let text = match format {
                render::Format::Table => render::table(&result) + "\n",
                other => render::render(&result, *other),
            };
            emit(text.as_bytes(), None)?;
            Ok(true)
        }
    }
}

/// `command` needs a store with synced rows, and there is no store yet.
fn nothing_synced(plan: &Plan, command: &str) -> Error {
    Error::Runtime(format!(
        "{command}: nothing is synced yet (no store at {}): run `tally sync` or `tally run` first",
        plan.store.display()
    ))
}

/// Fails unless every rollup the reports read has been synced at least once.
fn synced(plan: &Plan, store: &Store, specs: &[&ReportSpec], command: &str) -> Result<(), Error> {
    let needed = plan.required_days(specs.iter().copied(), chrono::NaiveDate::MIN);
    for rollup in needed.keys() {
        if !store.has_table(rollup)? {
            return Err(Error::Runtime(format!(
                "{command}: nothing is synced yet for rollup `{rollup}`: run `tally sync` (or the \
                 command without --no-sync) first"
            )));
        }
    }
    Ok(())
}

fn load(cli: &Cli) -> Result<Plan, Error> {
    Ok(config::load(&cli.config, cli.env_file.as_deref())?)
}

fn explicit_range(
    plan: &Plan,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<IndexMap<String, DayRange>, Error> {
    if first > last {
        return Err(ConfigError::Usage(format!("--from {first} is after --to {last}")).into());
    }
    Ok(plan
        .rollups
        .keys()
        .map(|name| (name.clone(), DayRange { first, last }))
        .collect())
}

/// The chart of the one report asked for, which goes to a file.
fn png(plan: &Plan, reports: &[Report], output: Option<&Path>) -> Result<Vec<u8>, Error> {
    let usage = |m: &str| Error::Config(ConfigError::Usage(m.into()));
    if output.is_none() {
        return Err(usage("--format png needs --output FILE"));
    }
    let [report] = reports else {
        return Err(usage("--format png draws one report: name it"));
    };
    chart::use_font(plan.chart_font.as_deref()).map_err(ReportError::Chart)?;
    Ok(chart::png(report).map_err(ReportError::Chart)?)
}

fn emit(bytes: &[u8], output: Option<&Path>) -> Result<(), Error> {
    match output {
        Some(path) => {
            std::fs::write(path, bytes).map_err(Error::io(format!("writing {}", path.display())))
        }
        None => std::io::stdout()
            .write_all(bytes)
            .map_err(Error::io("writing to standard output")),
    }
}

fn plan_command(plan: &Plan, date: Option<NaiveDate>) -> Result<bool, Error> {
    let specs: Vec<&ReportSpec> = plan.reports.values().collect();
    let day = run::report_date(plan, date);
    let ranges = run::needed(plan, &specs, day)?;
    let store = Store::inspect(&plan.store)?;
    let planned = sync::plan_slices(plan, &store, &ranges, false, Utc::now())?;
    println!("report date {day}");
    for (name, range) in &ranges {
        let rollup = &plan.rollups[name];
        let source = &plan.sources[&rollup.source];
        let count = planned.iter().filter(|p| &p.rollup == name).count();
        println!(
            "\nrollup {name} (source {}): days {} to {}, {count} slice(s) to pull",
            source.name, range.first, range.last
        );
        println!(
            "  sql: {}",
            crate::source::query::slice_sql(rollup, source.kind.into())
        );
        for p in planned.iter().filter(|p| &p.rollup == name) {
            println!(
                "  {} [{}, {}) {}",
                p.slice.day,
                p.slice
                    .start
                    .with_timezone(&plan.timezone)
                    .format("%Y-%m-%d %H:%M %Z"),
                p.slice
                    .end
                    .with_timezone(&plan.timezone)
                    .format("%Y-%m-%d %H:%M %Z"),
                p.reason.as_str()
            );
        }
    }
    Ok(true)
}
