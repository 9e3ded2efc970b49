//! `tally history` and `tally status`: what ran, and what will.

use chrono::{DateTime, Utc};

use serde_json::{Value as Json, json};

use super::args::InfoFormat;
use crate::config::Config;
use crate::error::Error;
use crate::report::Report;
use crate::report::render;
use crate::schedule::status::Status;
use crate::store::{RunRecord, Store};
use crate::value::Value;

/// Prints the newest `limit` runs: for people, within 100 columns with times in the config's
/// zone; as JSON, every field as the store keeps it.
pub fn history(config: &Config, limit: u32, format: InfoFormat) -> Result<bool, Error> {
    let store = Store::inspect(&config.store)?;
    let runs = store.runs(limit)?;
    let text = match format {
        InfoFormat::Json => json_rows(&table(&RAW_COLUMNS, runs.into_iter().map(raw).collect())),
        InfoFormat::Text => {
            let rows = runs.into_iter().map(|r| compact(config, r)).collect();
            render::table_within(&table(&COMPACT_COLUMNS, rows), 100)
        }
    };
    crate::stdout::line(&text).map_err(Error::stdout)?;
    Ok(true)
}

/// The columns of the run history as the store keeps it.
const RAW_COLUMNS: [&str; 9] = [
    "id",
    "started",
    "finished",
    "status",
    "trigger",
    "date",
    "pulled",
    "deliveries",
    "error",
];

/// The columns of the run history for people.
const COMPACT_COLUMNS: [&str; 9] = [
    "id",
    "started",
    "took",
    "status",
    "trigger",
    "date",
    "pulled",
    "delivered",
    "error",
];

fn raw(r: RunRecord) -> Vec<Value> {
    vec![
        Value::Int(r.id),
        Value::Text(r.started_at),
        Value::Text(r.finished_at.unwrap_or_default()),
        Value::Text(r.status),
        Value::Text(r.trigger),
        Value::Text(r.report_date),
        Value::Text(r.pulled),
        Value::Text(r.deliveries),
        Value::Text(r.error.unwrap_or_default()),
    ]
}

/// A run in a line for people: the start in the config's zone, how long it took, the rows
/// pulled in all, what was delivered, and the error.
fn compact(config: &Config, r: RunRecord) -> Vec<Value> {
    let started = DateTime::parse_from_rfc3339(&r.started_at).ok();
    let finished = r
        .finished_at
        .as_deref()
        .and_then(|f| DateTime::parse_from_rfc3339(f).ok());
    let took = match (started, finished) {
        (Some(a), Some(b)) => humantime::format_duration(std::time::Duration::from_secs(
            (b - a).num_seconds().max(0) as u64,
        ))
        .to_string(),
        _ => String::new(),
    };
    let rows: u64 = r
        .pulled
        .split(';')
        .filter_map(|part| {
            part.trim()
                .strip_suffix(" rows")?
                .rsplit(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    // "0 sent, 0 skipped, 0 failed" says as much as "0 sent".
    let delivered: Vec<&str> = r
        .deliveries
        .split(", ")
        .enumerate()
        .filter(|(i, d)| *i == 0 || !d.starts_with("0 "))
        .map(|(_, d)| d)
        .collect();
    vec![
        Value::Int(r.id),
        // The year is in the report's date beside it.
        Value::Text(started.map_or(r.started_at.clone(), |t| {
            t.with_timezone(&config.timezone)
                .format("%m-%d %H:%M %Z")
                .to_string()
        })),
        Value::Text(took),
        Value::Text(r.status),
        Value::Text(r.trigger),
        Value::Text(r.report_date),
        Value::Text(if r.pulled.is_empty() {
            String::new()
        } else {
            format!("{} rows", crate::value::number(&Value::Int(rows as i64)))
        }),
        Value::Text(delivered.join(", ")),
        Value::Text(r.error.unwrap_or_default()),
    ]
}

/// The rows as a JSON array of objects, keys in column order.
fn json_rows(report: &Report) -> String {
    let rows: Vec<Json> = report
        .rows
        .iter()
        .map(|r| {
            Json::Object(
                report
                    .columns
                    .iter()
                    .zip(r)
                    .map(|(c, v)| {
                        let value = match v {
                            Value::Int(i) => json!(i),
                            Value::Null => Json::Null,
                            other => json!(other.to_string()),
                        };
                        (c.clone(), value)
                    })
                    .collect(),
            )
        })
        .collect();
    serde_json::to_string_pretty(&rows).unwrap_or_default()
}

/// Prints the next scheduled time, the last run and each rollup's newest final day.
pub fn status(config: &Config, format: InfoFormat) -> Result<bool, Error> {
    let store = Store::inspect(&config.store)?;
    let status = Status::read(config, &store, 1)?;
    match format {
        InfoFormat::Json => print_json(config, &status)?,
        InfoFormat::Text => print_text(config, &status)?,
    }
    Ok(true)
}

fn print_json(config: &Config, s: &Status) -> Result<(), Error> {
    let doc = json!({
        "store": config.store.display().to_string(),
        "store_exists": Store::exists(&config.store),
        "schedule": s.next.as_ref().map(|(cron, next)| json!({
            "cron": cron,
            "timezone": config.timezone.to_string(),
            "next_run": next,
        })),
        "last_run": s.last.first().map(|r| json!({
            "id": r.id,
            "status": r.status,
            "trigger": r.trigger,
            "date": r.report_date,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "error": r.error,
        })),
        "rollups": s.rollups.iter().map(|(name, day)| json!({
            "rollup": name,
            "newest_final_day": day.map(|d| d.to_string()),
        })).collect::<Vec<_>>(),
        "alerts_firing": s.alerts.iter().map(|a| json!({
            "alert": a.name,
            "date": a.date.to_string(),
            "since": a.rows.iter().map(|(_, s)| *s).min().map(|d| d.to_string()),
            "rows": a.rows.iter().map(|(k, s)| json!({"key": k, "since": s.to_string()})).collect::<Vec<_>>(),
            "last_sent": a.last_sent.map(|d| d.to_string()),
        })).collect::<Vec<_>>(),
    });
    crate::stdout::line(&serde_json::to_string_pretty(&doc).unwrap_or_default())
        .map_err(Error::stdout)?;
    Ok(())
}

fn print_text(config: &Config, s: &Status) -> Result<(), Error> {
    if !Store::exists(&config.store) {
        crate::stdout::line(&format!(
            "store: none yet at {} (nothing has run)",
            config.store.display()
        ))
        .map_err(Error::stdout)?;
    }
    crate::stdout::line(&s.schedule_line(config)).map_err(Error::stdout)?;
    let last = match s.last.first() {
        Some(r) => format!("last run: {}", Status::run_line(config, r)),
        None => "last run: none".into(),
    };
    crate::stdout::line(&last).map_err(Error::stdout)?;
    let rows = s
        .rollups
        .iter()
        .map(|(name, day)| {
            vec![
                Value::Text(name.clone()),
                Value::Text(day.map_or("none".into(), |d| d.to_string())),
            ]
        })
        .collect();
    crate::stdout::line(&render::table(&table(
        &["rollup", "newest final day"],
        rows,
    )))
    .map_err(Error::stdout)?;
    for line in s.alert_lines() {
        crate::stdout::line(&line).map_err(Error::stdout)?;
    }
    Ok(())
}

fn table(columns: &[&str], rows: Vec<Vec<Value>>) -> Report {
    let today = Utc::now().date_naive();
    Report {
        name: String::new(),
        title: String::new(),
        first: today,
        last: today,
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows,
        body: crate::report::Body::Table,
        style: Default::default(),
        definition: String::new(),
    }
}
