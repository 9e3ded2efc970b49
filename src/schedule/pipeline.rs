//! The daemon's real runner (the pipeline of `tally run`) and notifier (run-failure notices to a
//! Slack or webhook destination), with the failure streak kept in the store so restarts do not
//! repeat notices.

use chrono::{DateTime, NaiveDate, Utc};

use super::heartbeat::Heartbeat;
use super::{Notices, Runner};
use crate::config::Config;
use crate::deliver;
use crate::deliver::Destination;
use crate::run::{self, Options, Trigger};
use crate::secret::mask_secrets;
use crate::store::Store;

/// `_tally_meta` key that is set while scheduled runs fail.
pub const FAILING_KEY: &str = "schedule_failing";

/// Runs `tally run` for the daemon, with its heartbeat pings and metrics.
pub struct PipelineRunner<'a> {
    config: &'a Config,
    quiet: bool,
    heartbeat: Option<Heartbeat>,
}

impl<'a> PipelineRunner<'a> {
    /// A runner for the config.
    pub fn new(config: &'a Config, quiet: bool) -> Self {
        let url = config.schedule.as_ref().and_then(|s| s.heartbeat.as_ref());
        PipelineRunner {
            config,
            quiet,
            heartbeat: Heartbeat::new(url),
        }
    }
}

impl Runner for PipelineRunner<'_> {
    async fn run(&mut self, date: NaiveDate, trigger: Trigger) -> Result<(), String> {
        let options = Options {
            force: false,
            quiet: self.quiet,
            print: false,
            // A manual run may hold the lock; the scheduled one waits for it.
            wait: true,
            ..Options::default()
        };
        crate::metrics::run_started();
        if let Some(h) = &self.heartbeat {
            h.start().await;
        }
        let started = std::time::Instant::now();
        let outcome = match run::run(self.config, date, trigger, options).await {
            Ok(delivered) if delivered.ok() => Ok(delivered.summary(date)),
            Ok(delivered) => Err(mask_secrets(&delivered.failure_text())),
            Err(e) => Err(mask_secrets(&e.to_string())),
        };
        let ended = Utc::now().timestamp_millis() as f64 / 1000.0;
        crate::metrics::run_ended(outcome.is_ok(), ended, started.elapsed().as_secs_f64());
        give_back_memory();
        match outcome {
            Ok(summary) => {
                if let Some(h) = &self.heartbeat {
                    h.success(&summary).await;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn gave_up(&mut self, _date: NaiveDate, error: &str) {
        if let Some(h) = &self.heartbeat {
            h.fail(error).await;
        }
    }

    fn last_success(&mut self) -> Option<DateTime<Utc>> {
        Store::open(&self.config.store)
            .and_then(|s| s.last_success())
            .unwrap_or_else(|e| {
                tracing::warn!("reading the run history: {e}");
                None
            })
    }
}

/// Hands the memory a run used back to the system, for the hours the daemon idles: the free
/// pages of glibc's heaps (glibc keeps them for the next allocation otherwise), and the pages
/// of tally's own binary that the run read (its code for syncing, reporting and drawing, and
/// the chart font), which the kernel reads again from the file when the next run needs them.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn give_back_memory() {
    // SAFETY: malloc_trim only gives free pages of glibc's heaps back to the system; it touches
    // no memory in use, and it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return;
    };
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        // Only the binary's read-only mappings (code and constants): clean pages of the file.
        if perms.contains('w') || fields.nth(3).map(std::path::Path::new) != Some(exe.as_path()) {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        // SAFETY: the range is a read-only file mapping of this process, from the kernel's own
        // list; MADV_PAGEOUT only drops its clean pages from memory, and they are read from the
        // file again when touched. It never changes what the memory holds.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT);
        }
    }
}

/// Elsewhere the allocator keeps what it keeps.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_back_memory() {}

/// Posts run-failure notices to the `[schedule] notify` destination, or only logs them without
/// one.
pub struct Notifier<'a> {
    config: &'a Config,
    destination: Option<&'a Destination>,
}

impl<'a> Notifier<'a> {
    /// A notifier for the config's notice destination.
    pub fn new(config: &'a Config) -> Self {
        let destination = config
            .schedule
            .as_ref()
            .and_then(|s| s.notify.as_ref())
            .and_then(|name| config.destinations.iter().find(|d| &d.name == name));
        Notifier {
            config,
            destination,
        }
    }

    /// True when `[schedule] notify` names a destination.
    pub fn has_destination(&self) -> bool {
        self.destination.is_some()
    }

    /// After a manual run (`tally run`, from cron): the failure notice when a streak starts,
    /// the recovery note when one ends; the streak is the daemon's, shared through the store.
    pub async fn after_manual_run(&mut self, date: NaiveDate, outcome: Result<(), String>) {
        match outcome {
            Err(error) if !self.failing() => {
                let text = format!(
                    "tally failed: the run for {date} failed: {error}\nTo deliver it once this \
                     is fixed: tally run --date {date}"
                );
                self.failed(&text).await;
            }
            Ok(()) if self.failing() => {
                let text = format!("tally recovered: the run for {date} succeeded.");
                self.recovered(&text).await;
            }
            _ => {}
        }
    }

    /// True when the store says a failure streak is going on.
    pub fn failing(&self) -> bool {
        Store::open(&self.config.store)
            .and_then(|s| s.meta(FAILING_KEY))
            .is_ok_and(|v| v.is_some())
    }

    async fn send(&self, text: &str, failing: bool) {
        tracing::warn!("{text}");
        if let Some(dest) = self.destination
            && let Err(e) = deliver::notify(dest, text).await
        {
            tracing::error!(
                "sending the notice to {}: {}",
                dest.name,
                mask_secrets(&e.to_string())
            );
        }
        let flag = failing.then_some("1");
        if let Err(e) = Store::open(&self.config.store).and_then(|s| s.set_meta(FAILING_KEY, flag))
        {
            tracing::warn!("recording the failure streak: {e}");
        }
    }
}

impl Notices for Notifier<'_> {
    async fn failed(&mut self, text: &str) {
        self.send(text, true).await;
    }

    async fn recovered(&mut self, text: &str) {
        self.send(text, false).await;
    }
}
