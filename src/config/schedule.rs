//! `[schedule]`: as written ([`ScheduleConfig`]), checked ([`ScheduleSpec`], with the cron
//! pattern parsed once), and the checks between them. The daemon (`crate::schedule`) reads it;
//! its notice destination is checked by name and kind.

use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::check::{Checker, Recipient};
use crate::secret::Secret;

/// `[schedule]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Cron pattern (5 fields, or 6 with seconds first) in the config's time zone.
    pub cron: String,
    /// Extra attempts after a failed run.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before each extra attempt.
    #[serde(default = "default_retry_delay")]
    pub retry_delay: String,
    /// Destination (name, or `slack` / `webhook` for the first of that kind) that gets the
    /// run-failure notices.
    pub notify: Option<String>,
    /// The old name of `notify`, still read (with a warning).
    pub alert: Option<String>,
    /// Address the daemon serves `/metrics` and `/healthz` on, like `127.0.0.1:9187`.
    pub listen: Option<String>,
    /// A healthchecks.io-style URL pinged when a run starts, succeeds or fails (a secret).
    pub heartbeat: Option<String>,
}

/// The first number of the pattern outside its field's range, named by the field (croner says
/// only "Number out of bounds").
fn out_of_range(pattern: &str) -> Option<String> {
    const FIELDS: [(&str, u32, u32); 6] = [
        ("second", 0, 59),
        ("minute", 0, 59),
        ("hour", 0, 23),
        ("day-of-month", 1, 31),
        ("month", 1, 12),
        ("day-of-week", 0, 7),
    ];
    let fields: Vec<&str> = pattern.split_whitespace().collect();
    let named = match fields.len() {
        5 => &FIELDS[1..],
        6 => &FIELDS[..],
        _ => return None,
    };
    for (field, &(name, min, max)) in fields.iter().zip(named) {
        for part in field.split(',') {
            // The range before a `/step` (and before `#n` of a weekday) holds the values.
            let base = part.split(['/', '#']).next().unwrap_or("");
            for number in base.split('-').filter_map(|n| n.parse::<u32>().ok()) {
                if number < min || number > max {
                    return Some(format!(
                        "the {name} field's {number} is out of range: use {min} to {max}"
                    ));
                }
            }
        }
    }
    None
}

fn default_retries() -> u32 {
    2
}

fn default_retry_delay() -> String {
    "10m".into()
}

/// A checked `[schedule]`.
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    /// The cron pattern, as written (for messages).
    pub pattern: String,
    /// The pattern, parsed.
    pub cron: croner::Cron,
    /// Extra attempts after a failed run.
    pub retries: u32,
    /// Wait before each extra attempt.
    pub retry_delay: Duration,
    /// Name of the destination that gets the run-failure notices.
    pub notify: Option<String>,
    /// Where the daemon serves `/metrics` and `/healthz`.
    pub listen: Option<std::net::SocketAddr>,
    /// The heartbeat URL.
    pub heartbeat: Option<Secret>,
}

/// Checks `[schedule]`; `destinations` by name and kind.
pub(super) fn check(
    c: &mut Checker,
    s: &ScheduleConfig,
    destinations: &[Recipient],
) -> ScheduleSpec {
    if s.cron.split_whitespace().count() > 6 {
        c.issue(
            "schedule.cron",
            format!(
                "`{}` has {} fields: use 5 like \"0 9 * * *\", or 6 with seconds first (a year \
                 field would stop the daily report after that year)",
                s.cron,
                s.cron.split_whitespace().count()
            ),
        );
    }
    let parsed = match out_of_range(&s.cron) {
        Some(problem) => Err(problem),
        None => croner::Cron::from_str(&s.cron)
            .map_err(|e| format!("{e} (use 5 fields like \"0 9 * * *\", or 6 with seconds first)")),
    };
    let cron = parsed.unwrap_or_else(|problem| {
        c.issue("schedule.cron", format!("`{}`: {problem}", s.cron));
        croner::Cron::from_str("0 0 * * *").expect("a valid pattern")
    });
    if cron
        .find_next_occurrence(&chrono::Utc::now(), false)
        .is_err()
    {
        c.issue(
            "schedule.cron",
            format!(
                "`{}` never fires: no date matches it (like the 31st of February)",
                s.cron
            ),
        );
    }
    let notify = notify(c, s, destinations);
    let (listen, heartbeat) = watchers(c, s);
    ScheduleSpec {
        pattern: s.cron.clone(),
        cron,
        retries: c.count("schedule.retries", s.retries, 0, 100),
        retry_delay: c.duration_in(
            "schedule.retry_delay",
            &s.retry_delay,
            Duration::from_secs(1),
            Duration::from_secs(24 * 3600),
        ),
        notify,
        listen,
        heartbeat,
    }
}

/// `notify` (or its old name `alert`): the destination, by name and kind, that takes notices.
fn notify(c: &mut Checker, s: &ScheduleConfig, destinations: &[Recipient]) -> Option<String> {
    let (key, wanted) = match (&s.notify, &s.alert) {
        (Some(_), Some(_)) => {
            c.issue(
                "schedule.alert",
                "`alert` is the old name of `notify`: keep `notify` only",
            );
            ("schedule.notify", s.notify.as_ref())
        }
        (None, Some(old)) => {
            c.warn(
                "schedule.alert",
                "is now called `notify` (run-failure notices; [alerts.NAME] are alerts on \
                 data): rename the key to schedule.notify; `alert` is still read",
            );
            ("schedule.alert", Some(old))
        }
        (notify, None) => ("schedule.notify", notify.as_ref()),
    };
    wanted.and_then(|name| match Recipient::find(destinations, name) {
        Some(d) if !d.notices => {
            c.issue(
                key,
                format!("`{name}` writes files; notices go to a slack or webhook destination"),
            );
            None
        }
        Some(d) => Some(d.name.to_string()),
        None => {
            c.issue(
                key,
                format!("no [[deliver]] destination named `{name}` (or of that kind)"),
            );
            None
        }
    })
}

/// `listen` and `heartbeat`: where the daemon serves its metrics, and the URL it pings.
fn watchers(c: &mut Checker, s: &ScheduleConfig) -> (Option<std::net::SocketAddr>, Option<Secret>) {
    let listen = s.listen.as_deref().and_then(|text| {
        text.trim()
            .parse::<std::net::SocketAddr>()
            .map_err(|_| {
                c.issue(
                    "schedule.listen",
                    format!("`{text}` is not an address and port, like \"127.0.0.1:9187\""),
                );
            })
            .ok()
    });
    // Only the commands that run the pipeline need it (see `Checker::interpolate_for`).
    let heartbeat = s.heartbeat.as_deref().and_then(|written| {
        let url = c.interpolate_for("schedule", "schedule.heartbeat", written)?;
        c.http_url("schedule.heartbeat", &url);
        Some(Secret::new(url.trim_end_matches('/')))
    });
    (listen, heartbeat)
}

#[cfg(test)]
mod tests {
    use super::out_of_range;

    #[test]
    fn a_number_out_of_range_names_its_field() {
        let said = |p| out_of_range(p).unwrap_or_default();
        assert!(said("0 25 * * *").contains("hour field's 25"));
        assert!(said("61 9 * * *").contains("minute field's 61"));
        assert!(said("0 9 32 * *").contains("day-of-month field's 32"));
        assert!(said("0 9 * 13 *").contains("month field's 13"));
        assert!(said("0 9 * * 1-8").contains("day-of-week field's 8"));
        assert!(said("60 0 9 * * *").contains("second field's 60"));
        for fine in [
            "0 9 * * *",
            "*/15 0-23 1,15 1-12 0-7",
            "0 9 * * 5#2",
            "0 0 9 * * MON",
        ] {
            assert_eq!(out_of_range(fine), None, "{fine}");
        }
    }
}
