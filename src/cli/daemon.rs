//! `tally daemon`: runs the pipeline at every time of `[schedule] cron`.

use crate::config::{Config, ConfigError};
use crate::error::Error;
use crate::schedule::pipeline::{Notifier, PipelineRunner};
use crate::schedule::{Daemon, Schedule, SystemClock};

/// Runs until SIGTERM or SIGINT; the run in progress stops after its current slice.
pub async fn run(config: &Config, quiet: bool) -> Result<bool, Error> {
    let spec = config.schedule.as_ref().ok_or_else(|| {
        ConfigError::Usage(
            "tally daemon needs a [schedule] section with `cron` in the config".into(),
        )
    })?;
    let schedule = Schedule::from_cron(&spec.cron, config.timezone);
    let notifier = Notifier::new(config);
    let failing = notifier.failing();
    tracing::info!(
        "tally daemon started: `{}` in {}, {} retries {}s apart",
        spec.pattern,
        config.timezone,
        spec.retries,
        spec.retry_delay.as_secs()
    );
    let mut daemon = Daemon::new(
        schedule,
        (spec.retries, spec.retry_delay),
        SystemClock,
        PipelineRunner::new(config, quiet),
        notifier,
        failing,
    );
    daemon.run_until_stopped().await;
    tracing::info!("tally daemon stopped");
    Ok(true)
}
