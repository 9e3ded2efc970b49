//! `tally history` and `tally status`: what ran, and what will.

use chrono::{NaiveDate, Utc};

use serde_json::{Value as Json, json};

use super::args::InfoFormat;
use crate::config::Config;
use crate::error::Error;
use crate::report::Report;
use crate::report::render;
use crate::schedule::Schedule;
use crate::store::{RunRecord, Store};
use crate::value::Value;

/// Prints the newest `limit` runs as a table (or JSON).
pub fn history(config: &Config, limit: u32, format: InfoFormat) -> Result<bool, Error> {
    let store = Store::inspect(&config.store)?;
    let rows = store
        .runs(limit)?
        .into_iter()
        .map(|r| {
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
        })
        .collect();
    let columns = [
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
    let report = table(&columns, rows);
    match format {
        InfoFormat::Text => crate::stdout::line(&render::table(&report)).map_err(Error::stdout)?,
        InfoFormat::Json => crate::stdout::line(&json_rows(&report)).map_err(Error::stdout)?,
    }
    Ok(true)
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

/// What `tally status` shows.
struct Status {
    /// The cron pattern and the next run, in the config's zone.
    next: Option<(String, Option<String>)>,
    last: Option<RunRecord>,
    /// Each rollup's newest final day.
    rollups: Vec<(String, Option<NaiveDate>)>,
}

/// Prints the next scheduled time, the last run and each rollup's newest final day.
pub fn status(config: &Config, format: InfoFormat) -> Result<bool, Error> {
    let store = Store::inspect(&config.store)?;
    let next = config.schedule.as_ref().map(|spec| {
        let schedule = Schedule::from_cron(&spec.cron, config.timezone);
        (
            spec.pattern.clone(),
            schedule.next_after(Utc::now()).map(|t| schedule.local(t)),
        )
    });
    let rollups = config
        .rollups
        .values()
        .map(|r| Ok((r.name.clone(), store.newest_final_day(&r.name, r.lookback)?)))
        .collect::<Result<Vec<_>, Error>>()?;
    let status = Status {
        next,
        last: store.runs(1)?.into_iter().next(),
        rollups,
    };
    match format {
        InfoFormat::Json => print_json(config, &status)?,
        InfoFormat::Text => print_text(config, status)?,
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
        "last_run": s.last.as_ref().map(|r| json!({
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
    });
    crate::stdout::line(&serde_json::to_string_pretty(&doc).unwrap_or_default())
        .map_err(Error::stdout)?;
    Ok(())
}

fn print_text(config: &Config, s: Status) -> Result<(), Error> {
    if !Store::exists(&config.store) {
        crate::stdout::line(&format!(
            "store: none yet at {} (nothing has run)",
            config.store.display()
        ))
        .map_err(Error::stdout)?;
    }
    match s.next {
        Some((cron, next)) => crate::stdout::line(&format!(
            "schedule: `{cron}` in {}; next run {}",
            config.timezone,
            next.unwrap_or_else(|| "none".into())
        ))
        .map_err(Error::stdout)?,
        None => crate::stdout::line("schedule: none (add [schedule] cron to run `tally daemon`)")
            .map_err(Error::stdout)?,
    }
    match s.last {
        Some(r) => crate::stdout::line(&format!(
            "last run: #{} {} ({}) for {}, started {}{}",
            r.id,
            r.status,
            r.trigger,
            r.report_date,
            r.started_at,
            r.error.map(|e| format!(": {e}")).unwrap_or_default()
        ))
        .map_err(Error::stdout)?,
        None => crate::stdout::line("last run: none").map_err(Error::stdout)?,
    }
    let rows = s
        .rollups
        .into_iter()
        .map(|(name, day)| {
            vec![
                Value::Text(name),
                Value::Text(day.map_or("none".into(), |d| d.to_string())),
            ]
        })
        .collect();
    crate::stdout::line(&render::table(&table(
        &["rollup", "newest final day"],
        rows,
    )))
    .map_err(Error::stdout)?;
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
    }
}
