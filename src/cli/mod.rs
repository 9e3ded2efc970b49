//! The commands: each loads the checked config, then drives the pipeline
//! (sync → segment → report → deliver) as far as it needs.

pub mod args;
mod check;
mod daemon;
mod init;
mod status;

use std::io::Write;
use std::path::Path;

use chrono::{NaiveDate, Utc};
use indexmap::IndexMap;

pub use args::{Cli, Command};

use crate::config::{self, Config, ConfigError, DayRange, ReportSpec};
use crate::deliver;
use crate::error::Error;
use crate::report::{self, Report, ReportError, chart, render};
use crate::run::{self, Trigger};
use crate::store::Store;
use crate::sync;

/// Runs a command. `Ok(false)` means it ran but something in it failed (exit code 1).
pub async fn execute(cli: &Cli) -> Result<bool, Error> {
    match &cli.command {
        Command::Demo { dir } => crate::demo::run(dir, cli.quiet).await,
        Command::Init { dir } => init::run(dir),
        Command::Check { format } => check::run(&load(cli)?, *format).await,
        Command::Plan { date, format } => plan_command(&load(cli)?, date.date, *format),
        Command::Completions { shell } => {
            let shell = match shell {
                args::Shell::Bash => clap_complete::Shell::Bash,
                args::Shell::Zsh => clap_complete::Shell::Zsh,
                args::Shell::Fish => clap_complete::Shell::Fish,
            };
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "tally", &mut std::io::stdout());
            Ok(true)
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
                .render(&mut page)
                .map_err(Error::io("rendering the man page"))?;
            emit(&page, None)?;
            Ok(true)
        }
        Command::Sync {
            date,
            from,
            to,
            refresh,
            rollups,
        } => {
            let config = load(cli)?;
            let mut ranges = match (from, to) {
                (Some(first), Some(last)) => explicit_range(&config, *first, *last)?,
                _ => {
                    let specs: Vec<&ReportSpec> = config.reports.values().collect();
                    run::needed(&config, &specs, run::report_date(&config, date.date))?
                }
            };
            if !rollups.is_empty() {
                for name in rollups {
                    if !config.rollups.contains_key(name) {
                        let known: Vec<&str> = config.rollups.keys().map(String::as_str).collect();
                        return Err(ConfigError::Usage(format!(
                            "no rollup named `{name}` (rollups: {})",
                            known.join(", ")
                        ))
                        .into());
                    }
                }
                ranges.retain(|name, _| rollups.contains(name));
                if ranges.is_empty() {
                    return Err(ConfigError::Usage(format!(
                        "the reports need none of {} on this date: name a range with --from and --to",
                        rollups.join(", ")
                    ))
                    .into());
                }
            }
            let mut store = Store::open_locked(&config.store, false)?;
            run::sync_ranges(&config, &mut store, &ranges, *refresh, cli.quiet).await?;
            Ok(true)
        }
        Command::Report {
            names,
            date,
            format,
            output,
            no_sync,
        } => {
            let config = load(cli)?;
            let specs = config
                .select_reports(names)
                .map_err(|m| Error::Config(ConfigError::Usage(m)))?;
            let day = run::report_date(&config, date.date);
            if format.text().is_none()
                && output.is_some()
                && let [spec] = specs.as_slice()
                && !chart::draws(&spec.kind)
            {
                // Said before anything is synced for a chart that cannot be drawn.
                return Err(ReportError::Chart(chart::cannot_draw(&spec.name)).into());
            }
            if *no_sync && !Store::exists(&config.store) {
                return Err(nothing_synced(&config, "report --no-sync"));
            }
            let mut store = Store::open_locked(&config.store, false)?;
            if !no_sync {
                let ranges = run::needed(&config, &specs, day)?;
                run::sync_ranges(&config, &mut store, &ranges, false, cli.quiet).await?;
            } else {
                synced(&config, &store, &specs, "report --no-sync")?;
            }
            let reports = run::build_all(&config, &store, &specs, day)?;
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
                None => png(&config, &reports, output.as_deref())?,
            };
            emit(&bytes, output.as_deref())?;
            Ok(true)
        }
        Command::Deliver {
            date,
            force,
            select,
        } => {
            let config = load(cli)?;
            let day = run::report_date(&config, date.date);
            let (specs, destinations) = selection(&config, select)?;
            if !Store::exists(&config.store) {
                return Err(nothing_synced(&config, "deliver"));
            }
            if select.dry_run {
                return dry_run(&config, &specs, &destinations, day);
            }
            let store = Store::open_locked(&config.store, false)?;
            synced(&config, &store, &specs, "deliver")?;
            let reports = run::build_all(&config, &store, &specs, day)?;
            Ok(
                deliver::deliver_all(&config, &store, &reports, day, *force, &destinations)
                    .await
                    .ok(),
            )
        }
        Command::Run {
            date,
            force,
            wait,
            select,
        } => {
            let config = load(cli)?;
            let day = run::report_date(&config, date.date);
            if select.dry_run {
                let (specs, destinations) = selection(&config, select)?;
                if !Store::exists(&config.store) {
                    return Err(nothing_synced(&config, "run --dry-run"));
                }
                tracing::info!(
                    "dry run: no sync (the sources are not contacted); the reports are built from the store as it is"
                );
                return dry_run(&config, &specs, &destinations, day);
            }
            let options = run::Options {
                force: *force,
                quiet: cli.quiet,
                print: true,
                wait: *wait,
                reports: select.reports.clone(),
                destinations: select.destinations.clone(),
            };
            Ok(run::run(&config, day, Trigger::Manual, options).await?.ok())
        }
        Command::Daemon => daemon::run(&load(cli)?, cli.quiet).await,
        Command::History { limit, format } => status::history(&load(cli)?, *limit, *format),
        Command::Status { format } => status::status(&load(cli)?, *format),
        Command::Query { sql, file, format } => {
            let config = load(cli)?;
            let sql = query_text(sql.as_deref(), file.as_deref())?;
            if !Store::exists(&config.store) {
                return Err(nothing_synced(&config, "query"));
            }
            let store = Store::inspect(&config.store)?;
            let (columns, rows) = report::sql::run(&store, "query", &sql, None)
                .map_err(|e| segment_hint(&config, e))?;
            let today = run::today(&config);
            let result = Report {
                name: "query".into(),
                title: "query".into(),
                first: today,
                last: today,
                columns,
                rows,
                body: crate::report::Body::Table,
                style: render::Style {
                    csv_formulas: config.csv_formulas,
                },
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

/// The reports and destinations `select` names (all of them when it names none).
fn selection<'a>(
    config: &'a Config,
    select: &args::Selection,
) -> Result<(Vec<&'a ReportSpec>, Vec<&'a config::Destination>), Error> {
    let usage = |m: String| Error::Config(ConfigError::Usage(m));
    let specs = config.select_reports(&select.reports).map_err(usage)?;
    let destinations = deliver::select(config, &select.destinations).map_err(usage)?;
    Ok((specs, destinations))
}

/// Builds the reports from the store as it is and prints what each destination would get.
/// Contacts nobody and records nothing (no delivery, no run, no file; only the store's caches
/// of computed days may fill).
fn dry_run(
    config: &Config,
    specs: &[&ReportSpec],
    destinations: &[&config::Destination],
    day: NaiveDate,
) -> Result<bool, Error> {
    let store = Store::open_locked(&config.store, false)?;
    synced(config, &store, specs, "dry run")?;
    let reports = run::build_all(config, &store, specs, day)?;
    let text = deliver::preview(config, &reports, destinations)?;
    emit(text.as_bytes(), None)?;
    Ok(true)
}

/// A query that reads a segment's table before any report wrote it gets told how to write it.
fn segment_hint(config: &Config, e: ReportError) -> ReportError {
    match e {
        ReportError::Sql { report, message } => {
            let missing = message.strip_prefix("no such table: ").map(str::trim);
            let message = match missing.filter(|t| config.segments.contains_key(*t)) {
                Some(table) => format!(
                    "{message} (`{table}` holds the groups of segment `{table}`; it is written when a \
                     SQL report that names it runs: `tally report` or `tally run` first)"
                ),
                None => message,
            };
            ReportError::Sql { report, message }
        }
        other => other,
    }
}

/// The SQL of `tally query`: the argument, standard input for `-`, or a file.
fn query_text(sql: Option<&str>, file: Option<&Path>) -> Result<String, Error> {
    match (sql, file) {
        (Some("-"), _) => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(Error::io("reading the SQL from standard input"))?;
            Ok(text)
        }
        (Some(sql), _) => Ok(sql.to_string()),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(Error::io(format!("query: reading {}", path.display()))),
        (None, None) => Err(ConfigError::Usage("query: give the SQL, `-` or --file".into()).into()),
    }
}

/// `command` needs a store with synced rows, and there is no store yet.
fn nothing_synced(config: &Config, command: &str) -> Error {
    Error::Runtime(format!(
        "{command}: nothing is synced yet (no store at {}): run `tally sync` or `tally run` first",
        config.store.display()
    ))
}

/// Fails unless every rollup the reports read has been synced at least once.
fn synced(
    config: &Config,
    store: &Store,
    specs: &[&ReportSpec],
    command: &str,
) -> Result<(), Error> {
    let needed = config.required_days(specs.iter().copied(), chrono::NaiveDate::MIN);
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

fn load(cli: &Cli) -> Result<Config, Error> {
    Ok(config::load(&cli.config, cli.env_file.as_deref())?)
}

fn explicit_range(
    config: &Config,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<IndexMap<String, DayRange>, Error> {
    if first > last {
        return Err(ConfigError::Usage(format!("--from {first} is after --to {last}")).into());
    }
    Ok(config
        .rollups
        .keys()
        .map(|name| (name.clone(), DayRange { first, last }))
        .collect())
}

/// The chart of the one report asked for, which goes to a file.
fn png(config: &Config, reports: &[Report], output: Option<&Path>) -> Result<Vec<u8>, Error> {
    let usage = |m: &str| Error::Config(ConfigError::Usage(m.into()));
    if output.is_none() {
        return Err(usage("--format png needs --output FILE"));
    }
    let [report] = reports else {
        return Err(usage("--format png draws one report: name it"));
    };
    chart::use_font(config.chart_font.as_deref()).map_err(ReportError::Chart)?;
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

fn plan_command(
    config: &Config,
    date: Option<NaiveDate>,
    format: args::InfoFormat,
) -> Result<bool, Error> {
    let specs: Vec<&ReportSpec> = config.reports.values().collect();
    let day = run::report_date(config, date);
    let ranges = run::needed(config, &specs, day)?;
    let store = Store::inspect(&config.store)?;
    let planned = sync::plan_slices(config, &store, &ranges, false, Utc::now())?;
    if format == args::InfoFormat::Json {
        let rollups: Vec<serde_json::Value> = ranges
            .iter()
            .map(|(name, range)| {
                let rollup = &config.rollups[name];
                let source = &config.sources[&rollup.source];
                let slices: Vec<serde_json::Value> = planned
                    .iter()
                    .filter(|p| &p.rollup == name)
                    .map(|p| {
                        serde_json::json!({
                            "day": p.slice.day.to_string(),
                            "start": p.slice.start.to_rfc3339(),
                            "end": p.slice.end.to_rfc3339(),
                            "reason": p.reason.as_str(),
                        })
                    })
                    .collect();
                serde_json::json!({
                    "rollup": name,
                    "source": source.name,
                    "first": range.first.to_string(),
                    "last": range.last.to_string(),
                    "sql": source.driver.slice_sql(rollup),
                    "slices": slices,
                })
            })
            .collect();
        let doc = serde_json::json!({"report_date": day.to_string(), "rollups": rollups});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(true);
    }
    println!("report date {day}");
    for (name, range) in &ranges {
        let rollup = &config.rollups[name];
        let source = &config.sources[&rollup.source];
        let count = planned.iter().filter(|p| &p.rollup == name).count();
        println!(
            "\nrollup {name} (source {}): days {} to {}, {count} slice(s) to pull",
            source.name, range.first, range.last
        );
        println!("  sql: {}", source.driver.slice_sql(rollup));
        for p in planned.iter().filter(|p| &p.rollup == name) {
            println!(
                "  {} [{}, {}) {}",
                p.slice.day,
                p.slice
                    .start
                    .with_timezone(&config.timezone)
                    .format("%Y-%m-%d %H:%M %Z"),
                p.slice
                    .end
                    .with_timezone(&config.timezone)
                    .format("%Y-%m-%d %H:%M %Z"),
                p.reason.as_str()
            );
        }
    }
    Ok(true)
}
