//! `tally report` and `tally query`: reports and SQL over the store, printed or written to a file.

use std::path::Path;

use chrono::NaiveDate;

use super::args::{QueryArgs, ReportArgs};
use super::{emit, nothing_synced, synced, usage};
use crate::config::Config;
use crate::error::Error;
use crate::report::render::{self, Format};
use crate::report::revise;
use crate::report::{self, Body, Report, ReportError, ReportSpec, chart};
use crate::run;
use crate::store::Store;

/// Renders the named reports (every report without names) for the report date, syncing first
/// unless `--no-sync`.
pub async fn run(config: &Config, a: &ReportArgs, quiet: bool) -> Result<bool, Error> {
    let specs = config.select_reports(&a.names).map_err(usage)?;
    show(config, &specs, a, quiet).await
}

/// Renders `specs` as `a` says (its names aside): syncs what they need unless `--no-sync`, then
/// prints them or writes them to `--output`.
pub async fn show(
    config: &Config,
    specs: &[&ReportSpec],
    a: &ReportArgs,
    quiet: bool,
) -> Result<bool, Error> {
    let day = run::report_date(config, a.date.date);
    if a.format.text().is_none()
        && a.output.is_some()
        && let [spec] = specs
        && !chart::draws(&spec.kind)
    {
        // Said before anything is synced for a chart that cannot be drawn.
        return Err(ReportError::Chart(chart::cannot_draw(&spec.name)).into());
    }
    if a.no_sync && !Store::exists(&config.store) {
        return Err(nothing_synced(config, "report --no-sync"));
    }
    let mut store = Store::open_locked(&config.store, false)?;
    if a.no_sync {
        synced(config, &store, specs, "report --no-sync")?;
    } else {
        let ranges = run::needed(config, specs, day)?;
        run::sync_ranges(config, &mut store, &ranges, false, quiet).await?;
    }
    let mut reports = run::build_all(config, &store, specs, day)?;
    if a.revisions {
        reports = revisions(&store, &reports, day)?;
    }
    let bytes = match a.format.text() {
        Some(f) => texts(&reports, f).into_bytes(),
        None => png(&reports, a.output.as_deref())?,
    };
    emit(&bytes, a.output.as_deref())?;
    Ok(true)
}

/// For each report, the cells that differ from what its last delivery showed (any destination,
/// up to the report date): the key columns, `column`, `old`, `new`.
fn revisions(store: &Store, reports: &[Report], day: NaiveDate) -> Result<Vec<Report>, Error> {
    let after = day.succ_opt().unwrap_or(day);
    reports
        .iter()
        .map(|report| {
            let found = revise::since(store, report, None, after)?;
            Ok(match found {
                Some(r) => r.as_report(report),
                None => revise::Revisions {
                    key_columns: revise::key_columns(report)
                        .into_iter()
                        .map(|i| report.columns[i].clone())
                        .collect(),
                    cells: Vec::new(),
                    cause: revise::Cause::LateRows,
                }
                .as_report(report),
            })
        })
        .collect()
}

/// The reports in a text format; several JSON documents go in one array (two in a row are not
/// JSON).
fn texts(reports: &[Report], format: Format) -> String {
    let text: Vec<String> = reports.iter().map(|r| render::render(r, format)).collect();
    match format {
        Format::Json if text.len() > 1 => format!("[\n{}]\n", text.join(",\n")),
        _ => text.join("\n"),
    }
}

/// The chart of the one report asked for, which goes to a file.
fn png(reports: &[Report], output: Option<&Path>) -> Result<Vec<u8>, Error> {
    if output.is_none() {
        return Err(usage("--format png needs --output FILE"));
    }
    let [report] = reports else {
        return Err(usage("--format png draws one report: name it"));
    };
    Ok(chart::png(report).map_err(ReportError::Chart)?)
}

/// Runs read-only SQL over the store and prints the rows.
pub fn query(config: &Config, a: &QueryArgs) -> Result<bool, Error> {
    let sql = query_text(a.sql.as_deref(), a.file.as_deref())?;
    if !Store::exists(&config.store) {
        return Err(nothing_synced(config, "query"));
    }
    let store = Store::inspect(&config.store)?;
    let (columns, rows) =
        report::sql::run(&store, "query", &sql, None).map_err(|e| segment_hint(config, e))?;
    let today = run::today(config);
    let result = Report {
        name: "query".into(),
        title: "query".into(),
        first: today,
        last: today,
        columns,
        rows,
        body: Body::Table,
        style: config.style.clone(),
        definition: String::new(),
    };
    let text = match a.format {
        Format::Table => render::table(&result) + "\n",
        other => render::render(&result, other),
    };
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
        (None, None) => Err(usage("query: give the SQL, `-` or --file")),
    }
}
