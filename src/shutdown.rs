//! Graceful shutdown: SIGTERM or SIGINT sets a flag that sync checks between slices, so the slice
//! in flight commits (or rolls back) and the command stops cleanly; the daemon wakes from sleep.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static WAKE: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Asks the running command to stop at the next safe point.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
    WAKE.notify_waiters();
}

/// True once a stop was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Waits until a stop is asked for.
pub async fn wait() {
    let notified = WAKE.notified();
    if requested() {
        return;
    }
    notified.await;
}

/// Turns SIGTERM and SIGINT into [`request`]. Call once, inside the runtime.
pub fn listen() {
    tokio::spawn(async {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            tracing::warn!("stop requested: finishing the current slice, then stopping");
            request();
        }
    });
}
