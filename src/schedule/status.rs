//! What `tally status` (and the Slack app's `status`) shows: the next scheduled run, the last
//! runs, each rollup's newest final day and the alerts that fire, read from the store.

use chrono::{DateTime, NaiveDate, Utc};

use super::Schedule;
use crate::config::Config;
use crate::store::{RunRecord, Store, StoreError};

/// The state of the schedule and the store.
pub struct Status {
    /// The cron pattern and the next run, in the config's zone.
    pub next: Option<(String, Option<String>)>,
    /// The newest runs, newest first.
    pub last: Vec<RunRecord>,
    /// Each rollup's newest final day.
    pub rollups: Vec<(String, Option<NaiveDate>)>,
    /// The alerts that fire.
    pub alerts: Vec<Firing>,
}

/// An alert whose newest evaluation matched rows.
pub struct Firing {
    /// The alert's name.
    pub name: String,
    /// The date it was last evaluated for.
    pub date: NaiveDate,
    /// The rows (their key cells) and since when each has matched.
    pub rows: Vec<(String, NaiveDate)>,
    /// The newest date a message of it was sent for.
    pub last_sent: Option<NaiveDate>,
}

impl Status {
    /// Reads the status with the `runs` newest runs.
    pub fn read(config: &Config, store: &Store, runs: u32) -> Result<Status, StoreError> {
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
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Status {
            next,
            last: store.runs(runs)?,
            rollups,
            alerts: firing(config, store)?,
        })
    }

    /// The schedule's line: its pattern and the next run.
    pub fn schedule_line(&self, config: &Config) -> String {
        match &self.next {
            Some((cron, next)) => format!(
                "schedule: `{cron}` in {}; next run {}",
                config.timezone,
                next.as_deref().unwrap_or("none")
            ),
            None => "schedule: none (add [schedule] cron to run `tally daemon`)".into(),
        }
    }

    /// A line of run `r`: its id, status, trigger, date, start and error.
    pub fn run_line(config: &Config, r: &RunRecord) -> String {
        format!(
            "#{} {} ({}) for {}, started {}{}",
            r.id,
            r.status,
            r.trigger,
            r.report_date,
            DateTime::parse_from_rfc3339(&r.started_at).map_or(r.started_at.clone(), |t| {
                t.with_timezone(&config.timezone)
                    .format("%Y-%m-%d %H:%M %Z")
                    .to_string()
            }),
            r.error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        )
    }

    /// A line per firing alert.
    pub fn alert_lines(&self) -> Vec<String> {
        self.alerts
            .iter()
            .map(|a| {
                let since = a.rows.iter().map(|(_, s)| *s).min().unwrap_or(a.date);
                let keys: Vec<&str> = a.rows.iter().map(|(k, _)| k.as_str()).collect();
                format!(
                    "alert {} firing since {since} (on {}: {}); last message {}",
                    a.name,
                    a.date,
                    keys.join(", "),
                    a.last_sent
                        .map_or("none".to_string(), |d| format!("for {d}"))
                )
            })
            .collect()
    }
}

/// The alerts of the config whose newest evaluation matched rows.
fn firing(config: &Config, store: &Store) -> Result<Vec<Firing>, StoreError> {
    let mut out = Vec::new();
    for (name, date, rows) in store.alerts_firing()? {
        let Some(alert) = config.alerts.get(&name).filter(|_| !rows.is_empty()) else {
            continue;
        };
        let rows = rows
            .into_iter()
            .map(|m| {
                let cells: Vec<String> = serde_json::from_str(&m.key).unwrap_or_default();
                (cells.join(" · "), m.since)
            })
            .collect();
        out.push(Firing {
            name,
            date,
            rows,
            last_sent: store.last_delivered(&alert.report_name())?,
        });
    }
    Ok(out)
}
