//! `tally daemon`: runs the pipeline at every time of `[schedule] cron`.

use crate::config::{Config, ConfigError};
use crate::error::Error;
use crate::schedule::pipeline::{Notifier, PipelineRunner};
use crate::schedule::{Daemon, Schedule, SystemClock, serve};
use crate::store::Store;

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
    // The store opens (it is made when new): then the daemon is ready.
    let store = Store::open(&config.store)?;
    crate::metrics::set_zone(config.timezone);
    if let Some(at) = store.last_success()? {
        crate::metrics::last_success_was(at.timestamp_millis() as f64 / 1000.0);
    }
    drop(store);
    if failing {
        crate::metrics::set_failing(Some(
            "the last scheduled run failed before this daemon started (see tally history)",
        ));
    }
    if let Some(addr) = spec.listen {
        let bound = serve::start(addr, config.store.clone()).map_err(Error::Runtime)?;
        tracing::info!("serving /metrics and /healthz on http://{bound}");
    }
    if config.slack_app.is_some() {
        crate::slack_app::start(std::sync::Arc::new(config.clone())).map_err(Error::Runtime)?;
        tracing::info!("slack_app: connecting to Slack (Socket Mode)");
    }
    // systemd hears of a stop as soon as it is asked for, even in the middle of a run.
    tokio::spawn(async {
        crate::shutdown::wait().await;
        crate::service::stopping();
    });
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
    crate::service::ready("started: looking for a run that is due");
    daemon.run_until_stopped().await;
    crate::service::stopping();
    tracing::info!("tally daemon stopped");
    Ok(true)
}
