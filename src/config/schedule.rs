//! `[schedule]`: as written ([`ScheduleConfig`]), checked ([`ScheduleSpec`], with the cron
//! pattern parsed once), and the checks between them. The daemon (`crate::schedule`) reads it;
//! its notice destination is checked by name and kind.

use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::check::{Checker, Recipient};

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
    let notify = wanted.and_then(|name| match Recipient::find(destinations, name) {
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
        notify,
    }
}
