//! Time for the daemon: the real clock, or one a test controls.

use std::future::Future;

use chrono::{DateTime, Utc};

/// Where the daemon gets the time and how it waits.
pub trait Clock {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// Waits until `t` (or until a stop is requested).
    fn sleep_until(&self, t: DateTime<Utc>) -> impl Future<Output = ()>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// Sleeps in steps of at most a minute and looks at the wall clock after each: a suspended
    /// machine's monotonic clock stands still, and a daemon that wakes up late must notice.
    async fn sleep_until(&self, t: DateTime<Utc>) {
        loop {
            crate::service::alive();
            let left = t - Utc::now();
            if left <= chrono::TimeDelta::zero() || crate::shutdown::requested() {
                return;
            }
            // Awake at least every minute, and as often as systemd's watchdog asks.
            let most = crate::service::alive_every()
                .unwrap_or(std::time::Duration::MAX)
                .min(std::time::Duration::from_secs(60));
            let step = left.to_std().unwrap_or_default().min(most);
            tokio::select! {
                _ = tokio::time::sleep(step) => {}
                _ = crate::shutdown::wait() => return,
            }
        }
    }
}
