//! `tally history` and `tally status`: what ran, and what will.

use chrono::Utc;

use crate::config::Plan;
use crate::error::Error;
use crate::report::Report;
use crate::report::render;
use crate::schedule::Schedule;
use crate::store::Store;
use crate::value::Value;

/// Prints the newest `limit` runs as a table.
pub fn history(plan: &Plan, limit: u32) -> Result<bool, Error> {
    let store = Store::inspect(&plan.store)?;
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
    println!("{}", render::table(&table(&columns, rows)));
    Ok(true)
}

/// Prints the next scheduled time, the last run and each rollup's newest final day.
pub fn status(plan: &Plan) -> Result<bool, Error> {
    let store = Store::inspect(&plan.store)?;
    if !Store::exists(&plan.store) {
        println!(
            "store: none yet at {} (nothing has run)",
            plan.store.display()
        );
    }
    match &plan.schedule {
        Some(spec) => {
            let schedule = Schedule::new(&spec.cron, plan.timezone)
                .map_err(crate::config::ConfigError::Usage)?;
            let next = schedule
                .next_after(Utc::now())
                .map_or("none".into(), |t| schedule.local(t));
            println!(
                "schedule: `{}` in {}; next run {next}",
                spec.cron, plan.timezone
            );
        }
        None => println!("schedule: none (add [schedule] cron to run `tally daemon`)"),
    }
    match store.runs(1)?.into_iter().next() {
        Some(r) => println!(
            "last run: #{} {} ({}) for {}, started {}{}",
            r.id,
            r.status,
            r.trigger,
            r.report_date,
            r.started_at,
            r.error.map(|e| format!(": {e}")).unwrap_or_default()
        ),
        None => println!("last run: none"),
    }
    let rows = plan
        .rollups
        .values()
        .map(|r| {
            let day = store.newest_final_day(&r.name, r.lookback)?;
            Ok(vec![
                Value::Text(r.name.clone()),
                Value::Text(day.map_or("none".into(), |d| d.to_string())),
            ])
        })
        .collect::<Result<Vec<_>, Error>>()?;
    println!(
        "{}",
        render::table(&table(&["rollup", "newest final day"], rows))
    );
    Ok(true)
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
    }
}
