//! `[schedule]`: as written ([`ScheduleConfig`]), checked ([`ScheduleSpec`], with the cron
//! pattern parsed once), and the checks between them.

use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use super::Checker;
use crate::deliver::Destination;

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
    /// Destination (name, or `slack` / `webhook` for the first of that kind) that gets alerts.
    pub alert: Option<String>,
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
    /// Name of the destination that gets alerts.
    pub alert: Option<String>,
}

/// Checks `[schedule]`.
pub(super) fn check(
    c: &mut Checker,
    s: &ScheduleConfig,
    destinations: &[Destination],
) -> ScheduleSpec {
    let cron = croner::Cron::from_str(&s.cron).unwrap_or_else(|e| {
        c.issue(
            "schedule.cron",
            format!(
                "`{}`: {e} (use 5 fields like \"0 9 * * *\", or 6 with seconds first)",
                s.cron
            ),
        );
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
    let alert = s.alert.as_ref().and_then(|name| {
        let found = destinations
            .iter()
            .find(|d| &d.name == name)
            .or_else(|| destinations.iter().find(|d| d.kind_name() == name));
        match found {
            Some(d) if !d.target.alerts() => {
                c.issue(
                    "schedule.alert",
                    format!("`{name}` writes files; alerts go to a slack or webhook destination"),
                );
                None
            }
            Some(d) => Some(d.name.clone()),
            None => {
                c.issue(
                    "schedule.alert",
                    format!("no [[deliver]] destination named `{name}` (or of that kind)"),
                );
                None
            }
        }
    });
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
        alert,
    }
}
