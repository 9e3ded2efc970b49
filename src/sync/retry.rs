//! Retrying after a source blinked: how many tries a slice gets, and how long to wait between
//! them (exponential, jittered, capped), so that a restarting replica or a failover is waited
//! out and many connections do not come back at the same instant.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Tries of one slice (or one connection) before a transient failure fails the sync.
pub(super) const TRIES: u32 = 5;

/// The first wait; each further one doubles: the five tries span 15 to 30 s, long enough for a
/// server to restart. Longer outages are the run's to retry (`[schedule] retries`).
const FIRST: Duration = Duration::from_secs(2);

/// The longest wait.
const CAP: Duration = Duration::from_secs(30);

/// The wait after failed try number `attempt` (1 for the first): `FIRST × 2^(attempt-1)`, at
/// most [`CAP`], then a random half to whole of it.
pub(super) fn backoff(attempt: u32) -> Duration {
    let full = ceiling(attempt);
    // Seeded from the clock: the point is only that processes and connections differ.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    full.mul_f64(SmallRng::seed_from_u64(seed).random_range(0.5..=1.0))
}

/// The wait before jitter.
fn ceiling(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    FIRST.saturating_mul(1 << doublings).min(CAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_thirty_seconds_with_jitter() {
        let s = Duration::from_secs;
        assert_eq!(
            (1..=6).map(ceiling).collect::<Vec<_>>(),
            [s(2), s(4), s(8), s(16), s(30), s(30)]
        );
        assert_eq!(ceiling(u32::MAX), s(30));
        for attempt in 1..=TRIES {
            let w = backoff(attempt);
            assert!(w >= ceiling(attempt) / 2 && w <= ceiling(attempt), "{w:?}");
        }
    }
}
