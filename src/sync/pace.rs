//! Gentle pacing of the slice queries on one connection: after each query, a pause (by default a
//! share of the query's own time, so a busy source that answers slowly gets longer breaks), and
//! with `max_rows_per_second`, long enough that rows arrive no faster than that. A source with
//! `parallel = N` has N connections; each gets a 1/N share of the row rate, so the source as a
//! whole stays under it.

use std::time::Duration;

use crate::source::SourceSpec;
use crate::source::spec::{AUTO_PAUSE_MAX, AUTO_PAUSE_SHARE, Pause};

/// The pace of one source's queries.
#[derive(Debug)]
pub struct Pacer {
    pause: Pause,
    max_rows_per_second: Option<u64>,
    /// The source's connections, which share the row rate.
    connections: u64,
    /// The wait before the next query; `None` before the first.
    next: Option<Duration>,
}

impl Pacer {
    /// The pace the source's config asks for, for one of its `connections` open connections.
    pub fn new(spec: &SourceSpec, connections: usize) -> Pacer {
        Pacer {
            pause: spec.pause,
            max_rows_per_second: spec.max_rows_per_second,
            connections: connections as u64,
            next: None,
        }
    }

    /// Waits as long as the previous query asks.
    pub async fn wait(&mut self) {
        if let Some(wait) = self.next.filter(|w| !w.is_zero()) {
            tokio::time::sleep(wait).await;
        }
    }

    /// Records a query that returned `rows` rows after keeping the source busy for `took` (until
    /// its first row arrived).
    pub fn done(&mut self, rows: u64, took: Duration) {
        self.next = Some(self.wait_after(rows, took));
    }

    fn wait_after(&self, rows: u64, took: Duration) -> Duration {
        let pause = match self.pause {
            Pause::Auto => (took / AUTO_PAUSE_SHARE).min(AUTO_PAUSE_MAX),
            Pause::Fixed(d) => d,
        };
        let spacing = self
            .max_rows_per_second
            .filter(|r| *r > 0)
            .map_or(Duration::ZERO, |r| {
                Duration::from_secs_f64((rows * self.connections) as f64 / r as f64)
            });
        pause.max(spacing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacer(pause: Pause, max_rows_per_second: Option<u64>) -> Pacer {
        Pacer {
            pause,
            max_rows_per_second,
            connections: 1,
            next: None,
        }
    }

    #[test]
    fn waits_for_the_pause_or_the_row_rate_whichever_is_longer() {
        let ms = Duration::from_millis;
        let mut p = pacer(Pause::Fixed(ms(100)), Some(1000));
        assert_eq!(p.wait_after(10, ms(1)), ms(100));
        assert_eq!(p.wait_after(5000, ms(1)), Duration::from_secs(5));
        p.connections = 4;
        assert_eq!(p.wait_after(5000, ms(1)), Duration::from_secs(20));
        p.max_rows_per_second = None;
        assert_eq!(p.wait_after(5000, ms(1)), ms(100));
        p.done(1, ms(1));
        assert_eq!(p.next, Some(ms(100)));
    }

    #[test]
    fn the_automatic_pause_is_a_quarter_of_the_query_up_to_five_seconds() {
        let ms = Duration::from_millis;
        let p = pacer(Pause::Auto, None);
        assert_eq!(p.wait_after(100, Duration::ZERO), Duration::ZERO);
        assert_eq!(p.wait_after(100, ms(400)), ms(100));
        assert_eq!(p.wait_after(100, ms(1_000)), ms(250));
        assert_eq!(p.wait_after(100, ms(19_000)), ms(4_750));
        assert_eq!(p.wait_after(100, ms(20_000)), ms(5_000));
        assert_eq!(p.wait_after(100, Duration::from_secs(3600)), ms(5_000));
        // The row rate still wins when it asks for more.
        let p = pacer(Pause::Auto, Some(100));
        assert_eq!(p.wait_after(1000, ms(400)), Duration::from_secs(10));
        // `pause = "0s"` is no pause at all.
        let p = pacer(Pause::Fixed(Duration::ZERO), None);
        assert_eq!(p.wait_after(1000, Duration::from_secs(60)), Duration::ZERO);
    }
}
