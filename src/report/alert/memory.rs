//! What an alert sends for one date, with what it matched before: with `fire = "once"` every
//! row that matches (once per date, as deliveries are recorded); with `fire = "change"` only the
//! rows of the report date that newly match, and one "Resolved" message for the rows that
//! stopped matching, per alert message that first sent them; with `no_data`, that the report
//! has no rows for the date. What matched is kept in the store for the next date and for
//! `tally status`.

use chrono::NaiveDate;

use super::{Alert, Fire, evaluate};
use crate::report::revise::key_columns;
use crate::report::{Body, Report, ReportError};
use crate::store::{Matched, Store};
use crate::value::Value;

/// The key of the "no rows for the date" row.
const NO_DATA: &str = "[\"(no data)\"]";

/// The reports `alert` sends for `date` about `report` (none when nothing is news). With
/// `remember`, what it matched is recorded for the next date (a dry run does not).
pub fn send(
    store: &Store,
    alert: &Alert,
    report: &Report,
    date: NaiveDate,
    remember: bool,
) -> Result<Vec<Report>, ReportError> {
    let today = of_date(report, date);
    let empty = today.rows.is_empty();
    // `fire = "once"` looks at every row of the report, as it always has.
    let watched = if alert.fire == Fire::Once {
        report
    } else {
        &today
    };
    let matched = if empty && alert.no_data {
        None
    } else {
        evaluate(alert, watched)?
    };
    let key = key_of(alert, report)?;
    let mut now: Vec<(String, Vec<Value>)> = matched
        .iter()
        .flat_map(|m| m.rows.iter())
        .map(|row| (cells(&key, row), row.clone()))
        .collect();
    if empty && alert.no_data {
        now.push((NO_DATA.to_string(), Vec::new()));
    }
    let before = store
        .alert_before(&alert.name, date)?
        .map(|(_, rows)| rows)
        .unwrap_or_default();
    let since = |k: &str| before.iter().find(|m| m.key == k).map(|m| m.since);
    let mut state: Vec<Matched> = Vec::new();
    for (k, _) in &now {
        if !state.iter().any(|m| m.key == *k) {
            state.push(Matched {
                key: k.clone(),
                since: since(k).unwrap_or(date),
            });
        }
    }
    if remember {
        store.record_alert(&alert.name, date, &state)?;
    }
    let mut out = Vec::new();
    match alert.fire {
        Fire::Once => {
            out.extend(matched);
            if empty && alert.no_data {
                out.push(no_data(alert, report, date));
            }
        }
        Fire::Change => {
            let new: Vec<&(String, Vec<Value>)> =
                now.iter().filter(|(k, _)| since(k).is_none()).collect();
            if new.iter().any(|(k, _)| k == NO_DATA) {
                out.push(no_data(alert, report, date));
            }
            let rows: Vec<Vec<Value>> = new
                .iter()
                .filter(|(k, _)| k != NO_DATA)
                .map(|(_, r)| r.clone())
                .collect();
            if let (Some(m), false) = (&matched, rows.is_empty()) {
                out.push(Report { rows, ..m.clone() });
            }
            out.extend(resolved(alert, report, &key, &before, &now, date));
        }
    }
    Ok(out)
}

/// The report's rows of `date` (all of them when it has no `day` column).
fn of_date(report: &Report, date: NaiveDate) -> Report {
    let Some(day) = report.columns.iter().position(|c| c == "day") else {
        return report.clone();
    };
    let date = Value::Text(date.to_string());
    Report {
        rows: report
            .rows
            .iter()
            .filter(|r| r[day] == date)
            .cloned()
            .collect(),
        ..report.clone()
    }
}

/// The columns that tell the alert's rows apart: its `key`, or the report's columns that are
/// not numbers, without `day`.
fn key_of(alert: &Alert, report: &Report) -> Result<Vec<usize>, ReportError> {
    if !alert.key.is_empty() {
        return alert
            .key
            .iter()
            .map(|k| {
                report
                    .columns
                    .iter()
                    .position(|c| c == k)
                    .ok_or_else(|| ReportError::Alert {
                        alert: alert.name.clone(),
                        message: format!(
                            "key `{k}` is not a column of report `{}` (columns: {})",
                            report.name,
                            report.columns.join(", ")
                        ),
                    })
            })
            .collect();
    }
    Ok(key_columns(report)
        .into_iter()
        .filter(|&i| report.columns[i] != "day")
        .collect())
}

/// A row's key: its key cells as a JSON array.
fn cells(key: &[usize], row: &[Value]) -> String {
    let cells: Vec<String> = key.iter().map(|&i| row[i].to_string()).collect();
    serde_json::to_string(&cells).unwrap_or_default()
}

/// "The report has no rows for the date", as an alert of its own.
fn no_data(alert: &Alert, report: &Report, date: NaiveDate) -> Report {
    Report {
        name: alert.report_name(),
        title: alert.title.clone(),
        first: report.first,
        last: report.last,
        columns: report.columns.clone(),
        rows: Vec::new(),
        body: Body::Alert {
            report: report.name.clone(),
            condition: format!("no rows for {date}"),
        },
        style: report.style.clone(),
        definition: String::new(),
    }
}

/// One "Resolved" message per alert message that first sent rows that no longer match: their
/// keys, to go into that message's thread.
fn resolved(
    alert: &Alert,
    report: &Report,
    key: &[usize],
    before: &[Matched],
    now: &[(String, Vec<Value>)],
    date: NaiveDate,
) -> Vec<Report> {
    let gone: Vec<&Matched> = before
        .iter()
        .filter(|m| !now.iter().any(|(k, _)| *k == m.key))
        .collect();
    let mut sinces: Vec<NaiveDate> = gone.iter().map(|m| m.since).collect();
    sinces.sort();
    sinces.dedup();
    let columns: Vec<String> = if key.is_empty() {
        vec!["row".to_string()]
    } else {
        key.iter().map(|&i| report.columns[i].clone()).collect()
    };
    sinces
        .into_iter()
        .map(|since| {
            let rows = gone
                .iter()
                .filter(|m| m.since == since)
                .map(|m| {
                    let cells: Vec<String> = serde_json::from_str(&m.key).unwrap_or_default();
                    let mut row: Vec<Value> = cells.into_iter().map(Value::Text).collect();
                    row.resize(columns.len(), Value::Null);
                    row
                })
                .collect();
            Report {
                name: format!("{}.resolved-{since}", alert.report_name()),
                title: format!("Resolved: {}", alert.title),
                first: date,
                last: date,
                columns: columns.clone(),
                rows,
                body: Body::Resolved {
                    report: report.name.clone(),
                    condition: alert.when.clone(),
                    alert: alert.report_name(),
                    since,
                },
                style: Default::default(),
                definition: String::new(),
            }
        })
        .collect()
}
