//! Gentle pacing of the slice queries on one connection: `pause` between two queries, and with
//! `max_rows_per_second`, long enough after each query that rows arrive no faster than that.
//! A source with `parallel = N` has N connections; each gets a 1/N share of the row rate, so the
//! source as a whole stays under it.

use std::time::Duration;

use crate::config::SourceSpec;

/// The pace of one source's queries.
#[derive(Debug)]
pub struct Pacer {
    pause: Duration,
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

    /// Records a query that returned `rows` rows.
    pub fn done(&mut self, rows: u64) {
        self.next = Some(self.wait_after(rows));
    }

    fn wait_after(&self, rows: u64) -> Duration {
        let spacing = self
            .max_rows_per_second
            .filter(|r| *r > 0)
            .map_or(Duration::ZERO, |r| {
                Duration::from_secs_f64((rows * self.connections) as f64 / r as f64)
            });
        self.pause.max(spacing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_the_pause_or_the_row_rate_whichever_is_longer() {
        let mut p = Pacer {
            pause: Duration::from_millis(100),
            max_rows_per_second: Some(1000),
            connections: 1,
            next: None,
        };
        assert_eq!(p.wait_after(10), Duration::from_millis(100));
        assert_eq!(p.wait_after(5000), Duration::from_secs(5));
        p.connections = 4;
        assert_eq!(p.wait_after(5000), Duration::from_secs(20));
        p.max_rows_per_second = None;
        assert_eq!(p.wait_after(5000), Duration::from_millis(100));
        p.done(1);
        assert_eq!(p.next, Some(Duration::from_millis(100)));
    }
}
