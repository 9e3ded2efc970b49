//! Graceful shutdown: SIGTERM or SIGINT sets a flag and wakes whoever waits for it. A sync stops
//! at once (the slice in flight rolls back, its query is cancelled on the server), SQL over the
//! store is interrupted, and the daemon wakes from sleep.

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

/// Turns SIGTERM and SIGINT into [`request`], on a thread of its own: the flag is set even
/// while the command's thread is busy in a long SQLite statement (whose progress handler reads
/// it). Call once.
pub fn listen() {
    let spawned = std::thread::Builder::new()
        .name("tally-signals".into())
        .spawn(|| {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
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
                    tracing::warn!(
                        "stop requested: stopping; what is committed stays, the slice in flight \
                         is rolled back"
                    );
                    request();
                }
            });
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot listen for signals: {e}");
    }
}
