//! systemd's notification protocol (`Type=notify`): `READY=1` once the daemon can run,
//! `STATUS=` lines that `systemctl status` shows, `WATCHDOG=1` at half the interval systemd
//! asks for (from the scheduler's loop and from a run's progress, so that a stuck daemon is
//! restarted), and `STOPPING=1`. Without `NOTIFY_SOCKET` nothing is sent.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// Half the watchdog interval, and when `WATCHDOG=1` was last sent.
static WATCHDOG: Mutex<Option<(Duration, Option<Instant>)>> = Mutex::new(None);

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!("telling systemd: {e}");
    }
}

/// The daemon is ready; `status` says what it does next.
pub fn ready(status: &str) {
    if let Some(interval) = sd_notify::watchdog_enabled() {
        *WATCHDOG.lock().unwrap_or_else(|e| e.into_inner()) = Some((interval / 2, None));
    }
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
    alive();
}

/// What the daemon does now, for `systemctl status`.
pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// The daemon is making progress: `WATCHDOG=1`, at most once per half interval.
pub fn alive() {
    let mut watchdog = WATCHDOG.lock().unwrap_or_else(|e| e.into_inner());
    let Some((half, last)) = watchdog.as_mut() else {
        return;
    };
    if last.is_none_or(|t| t.elapsed() >= *half) {
        *last = Some(Instant::now());
        send(&[NotifyState::Watchdog]);
    }
}

/// How long the daemon may wait between [`alive`] calls: half the watchdog interval, or `None`
/// without a watchdog.
pub fn alive_every() -> Option<Duration> {
    WATCHDOG
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .map(|(half, _)| half)
}

/// The daemon is stopping.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}
