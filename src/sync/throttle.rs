//! Waiting for a busy or lagging source, the way gh-ost and pt-archiver do: before a slice query,
//! read the source's load figures (`max_load`) and replica lag (`max_lag`), and while one is over
//! its limit, wait and read again, once a second, for at most `max_load_wait`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::source::{Lag, Source, SourceError};
use crate::source::{LoadLimit, SourceSpec};

/// Read the load at most this often.
const EVERY: Duration = Duration::from_secs(1);

/// While waiting, say so again this often.
const REMIND: Duration = Duration::from_secs(10);

/// One connection's view of its source's load.
pub(super) struct Throttle<'a> {
    spec: &'a SourceSpec,
    /// How many of this source's connections are running a slice query right now: tally's own
    /// queries are not load to wait for (waiting for them could wait for ever, as they wait for
    /// the store, which waits for this connection).
    busy: Arc<AtomicUsize>,
    /// When the load was last read and found fine.
    checked: Option<Instant>,
    /// The lag could not be read; said once.
    lag_unknown_said: bool,
}

impl<'a> Throttle<'a> {
    pub(super) fn new(spec: &'a SourceSpec, busy: Arc<AtomicUsize>) -> Throttle<'a> {
        Throttle {
            spec,
            busy,
            checked: None,
            lag_unknown_said: false,
        }
    }

    /// True when there is nothing to check.
    fn off(&self) -> bool {
        self.spec.max_load.is_empty() && self.spec.max_lag.is_none()
    }

    /// Returns when the source is under its limits; waits (reading again every second) while it
    /// is not, and fails after `max_load_wait`.
    pub(super) async fn wait(&mut self, source: &mut Source) -> Result<(), SourceError> {
        if self.off() || self.checked.is_some_and(|t| t.elapsed() < EVERY) {
            return Ok(());
        }
        let started = Instant::now();
        let mut said: Option<Instant> = None;
        loop {
            let over = self.over(source).await?;
            if over.is_empty() {
                if said.is_some() {
                    tracing::info!(
                        "source `{}`: back under its limits after {:.1} s; pulling again",
                        self.spec.name,
                        started.elapsed().as_secs_f64()
                    );
                }
                self.checked = Some(Instant::now());
                return Ok(());
            }
            let waited = started.elapsed();
            if waited >= self.spec.max_load_wait {
                return Err(SourceError {
                    source_name: self.spec.name.clone(),
                    context: "waiting for the load to come down".into(),
                    message: format!(
                        "{} for longer than max_load_wait ({}); the sync stops without querying it",
                        over.join(", "),
                        humantime::format_duration(self.spec.max_load_wait)
                    ),
                    failure: crate::source::Failure::Permanent,
                });
            }
            if said.is_none_or(|t| t.elapsed() >= REMIND) {
                tracing::warn!(
                    "source `{}`: {}; waiting before the next slice query ({:.0} s so far, at most max_load_wait {})",
                    self.spec.name,
                    over.join(", "),
                    waited.as_secs_f64(),
                    humantime::format_duration(self.spec.max_load_wait)
                );
                said = Some(Instant::now());
            }
            tokio::time::sleep(EVERY).await;
            // Waiting is progress for systemd's watchdog: the daemon is not stuck.
            crate::service::alive();
            // Waiting for a replica's lag, unless a load figure is over too.
            let lag = over.iter().all(|o| o.starts_with("the replica"));
            crate::metrics::source_waited(&self.spec.name, lag, EVERY.as_secs_f64());
        }
    }

    /// What is over its limit right now, in words.
    async fn over(&mut self, source: &mut Source) -> Result<Vec<String>, SourceError> {
        let mut values = source.load(&self.spec.max_load).await?;
        let own = self.busy.load(Ordering::Relaxed) as u64;
        for (limit, value) in self.spec.max_load.iter().zip(values.iter_mut()) {
            *value = value.saturating_sub(own_share(&limit.name, own));
        }
        let lag = match self.spec.max_lag {
            Some(_) => source.lag().await?,
            None => Lag::Primary,
        };
        if let Lag::Unknown(why) = &lag
            && !self.lag_unknown_said
        {
            self.lag_unknown_said = true;
            tracing::warn!("source `{}`: max_lag is not checked: {why}", self.spec.name);
        }
        Ok(exceeded(
            &self.spec.max_load,
            &values,
            self.spec.max_lag,
            &lag,
        ))
    }
}

/// How much of load figure `name` is tally's own, with `busy` of its connections in a slice
/// query: PostgreSQL's `active` already leaves out the asking session; MySQL's `Threads_running`
/// also counts the thread that runs `SHOW STATUS`. Other figures are taken as they are.
fn own_share(name: &str, busy: u64) -> u64 {
    if name.eq_ignore_ascii_case("active") {
        busy
    } else if name.eq_ignore_ascii_case("Threads_running") {
        busy + 1
    } else {
        0
    }
}

/// Each load figure above its limit, and the lag when over `max_lag`, as `name = value (limit)`.
pub(super) fn exceeded(
    limits: &[LoadLimit],
    values: &[u64],
    max_lag: Option<Duration>,
    lag: &Lag,
) -> Vec<String> {
    let mut over: Vec<String> = limits
        .iter()
        .zip(values)
        .filter(|(l, v)| **v > l.max)
        .map(|(l, v)| format!("{} = {v} is above max_load {}", l.name, l.max))
        .collect();
    if let Some(max) = max_lag {
        match lag {
            Lag::Behind(d) if *d > max => over.push(format!(
                "the replica is {:.0} s behind its primary, more than max_lag {}",
                d.as_secs_f64(),
                humantime::format_duration(max)
            )),
            Lag::Stopped(why) => over.push(format!("the replica is not replaying: {why}")),
            _ => {}
        }
    }
    over
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(name: &str, max: u64) -> LoadLimit {
        LoadLimit {
            name: name.into(),
            max,
        }
    }

    #[test]
    fn names_each_figure_over_its_limit_with_both_numbers() {
        let limits = [
            limit("Threads_running", 25),
            limit("Threads_connected", 500),
        ];
        assert!(exceeded(&limits, &[25, 500], None, &Lag::Primary).is_empty());
        assert_eq!(
            exceeded(&limits, &[26, 10], None, &Lag::Primary),
            ["Threads_running = 26 is above max_load 25"]
        );
    }

    #[test]
    fn tally_s_own_queries_are_not_load() {
        assert_eq!(own_share("active", 3), 3);
        assert_eq!(own_share("Threads_running", 3), 4);
        assert_eq!(own_share("Threads_connected", 3), 0);
    }

    #[test]
    fn lag_counts_only_on_a_replica_and_only_with_max_lag() {
        let s = Duration::from_secs;
        assert!(exceeded(&[], &[], Some(s(30)), &Lag::Primary).is_empty());
        assert!(exceeded(&[], &[], Some(s(30)), &Lag::Behind(s(30))).is_empty());
        let over = exceeded(&[], &[], Some(s(30)), &Lag::Behind(s(31)));
        assert!(
            over[0].contains("31 s behind") && over[0].contains("max_lag 30s"),
            "{over:?}"
        );
        assert!(exceeded(&[], &[], None, &Lag::Behind(s(3600))).is_empty());
        assert_eq!(
            exceeded(&[], &[], Some(s(30)), &Lag::Stopped("x".into())).len(),
            1
        );
        assert!(exceeded(&[], &[], Some(s(30)), &Lag::Unknown("no grant".into())).is_empty());
    }
}
