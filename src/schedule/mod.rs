//! The schedule: when runs are due (`[schedule] cron` in the config's time zone), and the daemon
//! loop that runs them, catches up missed times once, retries failures and sends run-failure
//! notices. Time comes from a [`Clock`], so tests drive the loop without sleeping.

mod clock;
pub mod heartbeat;
pub mod pipeline;
pub mod serve;
pub mod status;

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use croner::Cron;

pub use clock::{Clock, SystemClock};

use crate::days::days_before;
use crate::run::Trigger;

/// A run later than this after its scheduled time counts as a catch-up.
const GRACE: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// A cron pattern evaluated in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    timezone: Tz,
}

impl Schedule {
    /// Parses a 5-field pattern (or 6 with seconds first).
    pub fn new(pattern: &str, timezone: Tz) -> Result<Schedule, String> {
        let cron = Cron::from_str(pattern).map_err(|e| format!("`{pattern}`: {e}"))?;
        Ok(Schedule { cron, timezone })
    }

    /// A pattern the config check parsed, in `timezone`.
    pub fn from_cron(cron: &Cron, timezone: Tz) -> Schedule {
        Schedule {
            cron: cron.clone(),
            timezone,
        }
    }

    /// The first scheduled time strictly after `t`. Across DST changes a time of day runs once:
    /// in a spring-forward gap just after the gap, on a fall-back day at its first occurrence.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.timezone), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The newest scheduled time at or before `t`.
    pub fn latest_until(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&t.with_timezone(&self.timezone), true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The report date of a run scheduled at `t`: the day before, in the schedule's zone.
    pub fn report_date(&self, t: DateTime<Utc>) -> NaiveDate {
        days_before(t.with_timezone(&self.timezone).date_naive(), 1)
    }

    /// A time in the schedule's zone, for messages.
    pub fn local(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.timezone)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    }
}

/// Runs the pipeline for the daemon.
pub trait Runner {
    /// Runs for `date`; the error is a message for the log and the notice.
    fn run(
        &mut self,
        date: NaiveDate,
        trigger: Trigger,
    ) -> impl Future<Output = Result<(), String>>;
    /// When the newest successful run started (manual runs count).
    fn last_success(&mut self) -> Option<DateTime<Utc>>;
    /// The run for `date` failed after its retries with `error` (the heartbeat's `fail`).
    fn gave_up(&mut self, date: NaiveDate, error: &str) -> impl Future<Output = ()> {
        let _ = (date, error);
        async {}
    }
}

/// Sends a notice when scheduled runs fail, and the note when they work again.
pub trait Notices {
    /// A failure streak started.
    fn failed(&mut self, text: &str) -> impl Future<Output = ()>;
    /// The failure streak ended.
    fn recovered(&mut self, text: &str) -> impl Future<Output = ()>;
}

/// The daemon's loop.
pub struct Daemon<C, R, N> {
    schedule: Schedule,
    retries: u32,
    retry_delay: Duration,
    clock: C,
    runner: R,
    notices: N,
    /// True while runs fail (a notice was sent and no run worked since).
    failing: bool,
    /// The scheduled time last handled, so a failed time is not run again and again.
    handled: Option<DateTime<Utc>>,
    /// When the loop first looked at the clock: a time before it passed while no daemon ran.
    started: Option<DateTime<Utc>>,
}

/// What one [`Daemon::tick`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// Ran for a scheduled time (successfully or not).
    Ran,
    /// Slept until the next scheduled time.
    Slept,
    /// A stop was requested, or the schedule has no next time.
    Stop,
}

impl<C: Clock, R: Runner, N: Notices> Daemon<C, R, N> {
    /// A daemon; `failing` says whether the last scheduled run failed (a notice is out).
    pub fn new(
        schedule: Schedule,
        (retries, retry_delay): (u32, Duration),
        clock: C,
        runner: R,
        notices: N,
        failing: bool,
    ) -> Self {
        Daemon {
            schedule,
            retries,
            retry_delay,
            clock,
            runner,
            notices,
            failing,
            handled: None,
            started: None,
        }
    }

    /// Runs until a stop is requested.
    pub async fn run_until_stopped(&mut self) {
        while self.tick().await != Tick::Stop {}
    }

    /// One step: when the newest scheduled time has passed without a successful run (at start,
    /// after a sleep or after the machine woke up), run once for it; otherwise sleep until the
    /// next scheduled time.
    pub async fn tick(&mut self) -> Tick {
        if crate::shutdown::requested() {
            return Tick::Stop;
        }
        let now = self.clock.now();
        let started = *self.started.get_or_insert(now);
        if let Some(due) = self.schedule.latest_until(now) {
            let done = self.runner.last_success().is_some_and(|t| t >= due);
            if !done && self.handled != Some(due) {
                self.handled = Some(due);
                // Missed: it passed before the daemon started, or the daemon woke up late for it
                // (a suspended machine).
                let trigger = if due < started || now - due > GRACE {
                    Trigger::CatchUp
                } else {
                    Trigger::Schedule
                };
                self.run_with_retries(due, trigger).await;
                return Tick::Ran;
            }
        }
        let Some(next) = self.schedule.next_after(now) else {
            return Tick::Stop;
        };
        tracing::info!("next run at {}", self.schedule.local(next));
        crate::metrics::next_run_at(next.timestamp());
        crate::service::status(&format!("next run {}", self.schedule.local(next)));
        self.clock.sleep_until(next).await;
        Tick::Slept
    }

    async fn run_with_retries(&mut self, due: DateTime<Utc>, trigger: Trigger) {
        let date = self.schedule.report_date(due);
        let mut error = String::new();
        for attempt in 0..=self.retries {
            if attempt > 0 {
                let at = self.clock.now()
                    + chrono::TimeDelta::from_std(self.retry_delay).unwrap_or_default();
                tracing::warn!("retrying the run for {date} at {}", self.schedule.local(at));
                self.clock.sleep_until(at).await;
                if crate::shutdown::requested() {
                    return;
                }
            }
            let trigger = if attempt == 0 {
                trigger
            } else {
                Trigger::Retry
            };
            tracing::info!("running for {date} ({})", trigger.as_str());
            match self.runner.run(date, trigger).await {
                Ok(()) => {
                    crate::metrics::set_failing(None);
                    if self.failing {
                        self.failing = false;
                        let text = format!("tally recovered: the run for {date} succeeded.");
                        self.notices.recovered(&text).await;
                    }
                    return;
                }
                Err(e) => {
                    tracing::error!("the run for {date} failed: {e}");
                    error = e;
                }
            }
            if crate::shutdown::requested() {
                return;
            }
        }
        crate::metrics::set_failing(Some(&error));
        self.runner.gave_up(date, &error).await;
        if !self.failing {
            self.failing = true;
            // The failed date is not run again by itself: the next run is the next scheduled
            // time, for its own date.
            let next = self.schedule.next_after(self.clock.now()).map_or(
                "none (the schedule has no next time)".into(),
                |t| {
                    format!(
                        "{}, for {}",
                        self.schedule.local(t),
                        self.schedule.report_date(t)
                    )
                },
            );
            let text = format!(
                "tally failed: the run for {date} failed after {} attempt(s): {error}\nNext run: \
                 {next}. To deliver {date} once this is fixed: tally run --date {date}",
                self.retries + 1
            );
            self.notices.failed(&text).await;
        }
    }
}

#[cfg(test)]
mod tests;
