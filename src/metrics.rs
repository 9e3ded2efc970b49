//! What tally counts about itself, for `[schedule] listen`'s `/metrics` (the Prometheus text
//! format, written by `prometheus-client`) and `/healthz`. One registry for the process: the
//! stages add to it as they work (slices and rows pulled, retries, waits, deliveries, alerts),
//! the daemon sets the run figures and the health. No label holds a secret or a user.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A rollup.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RollupLabel {
    rollup: String,
}

/// A source.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

/// A source and why tally waited for it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WaitLabel {
    source: String,
    reason: String,
}

/// A run's result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

/// A destination and the delivery's result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabel {
    destination: String,
    result: String,
}

/// An alert.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabel {
    alert: String,
}

/// A report.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReportLabel {
    report: String,
}

/// The version.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: String,
}

type Seconds = Gauge<f64, AtomicU64>;

/// Every metric, and the registry that writes them out.
struct Metrics {
    registry: Registry,
    runs: Family<ResultLabel, Counter>,
    last_run: Seconds,
    last_success: Seconds,
    next_run: Seconds,
    run_duration: Histogram,
    slices: Family<RollupLabel, Counter>,
    rows: Family<RollupLabel, Counter>,
    retries: Family<SourceLabel, Counter>,
    waits: Family<WaitLabel, Counter<f64, AtomicU64>>,
    deliveries: Family<DeliveryLabel, Counter>,
    alerts: Family<AlertLabel, Counter>,
    store_bytes: Gauge,
    report_day: Family<ReportLabel, Seconds>,
}

static METRICS: LazyLock<Mutex<Metrics>> = LazyLock::new(|| Mutex::new(Metrics::new()));

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::default();
        let up: Gauge = Gauge::default();
        up.set(1);
        registry.register("tally_up", "1 while tally runs", up);
        let info: Family<VersionLabel, Gauge> = Family::default();
        info.get_or_create(&VersionLabel {
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
        .set(1);
        registry.register("tally_build_info", "tally's version", info);
        let mut m = Metrics {
            runs: Family::default(),
            last_run: Seconds::default(),
            last_success: Seconds::default(),
            next_run: Seconds::default(),
            // 1 s to about 4.5 hours.
            run_duration: Histogram::new(exponential_buckets(1.0, 2.0, 15)),
            slices: Family::default(),
            rows: Family::default(),
            retries: Family::default(),
            waits: Family::default(),
            deliveries: Family::default(),
            alerts: Family::default(),
            store_bytes: Gauge::default(),
            report_day: Family::default(),
            registry,
        };
        m.register();
        m
    }

    /// Puts every metric into the registry, with its help text.
    fn register(&mut self) {
        let m = self;
        let r = &mut m.registry;
        r.register("tally_runs", "Runs, by result", m.runs.clone());
        r.register(
            "tally_last_run_timestamp_seconds",
            "When the last run ended (Unix time)",
            m.last_run.clone(),
        );
        r.register(
            "tally_last_success_timestamp_seconds",
            "When the last successful run ended (Unix time)",
            m.last_success.clone(),
        );
        r.register(
            "tally_next_run_timestamp_seconds",
            "When the next scheduled run is due (Unix time)",
            m.next_run.clone(),
        );
        r.register(
            "tally_run_duration_seconds",
            "How long runs took",
            m.run_duration.clone(),
        );
        r.register(
            "tally_slices_pulled",
            "Slices pulled, by rollup",
            m.slices.clone(),
        );
        r.register(
            "tally_rows_pulled",
            "Rows pulled, by rollup",
            m.rows.clone(),
        );
        r.register(
            "tally_source_retries",
            "Slice queries and connections tried again, by source",
            m.retries.clone(),
        );
        r.register(
            "tally_source_wait_seconds",
            "Time spent waiting for a source's load or replica lag to come down",
            m.waits.clone(),
        );
        r.register(
            "tally_deliveries",
            "Deliveries, by destination and result",
            m.deliveries.clone(),
        );
        r.register(
            "tally_alerts_sent",
            "Alerts sent, by alert",
            m.alerts.clone(),
        );
        r.register(
            "tally_store_bytes",
            "The store's size on disk",
            m.store_bytes.clone(),
        );
        r.register(
            "tally_report_last_day_timestamp_seconds",
            "The last report date delivered, as midnight of that day in the config's time zone",
            m.report_day.clone(),
        );
    }
}

fn with<T>(f: impl FnOnce(&Metrics) -> T) -> T {
    f(&METRICS.lock().unwrap_or_else(|e| e.into_inner()))
}

/// A slice of `rollup` was pulled, with `rows` rows.
pub fn slice_pulled(rollup: &str, rows: u64) {
    with(|m| {
        let label = RollupLabel {
            rollup: rollup.to_string(),
        };
        m.slices.get_or_create(&label).inc();
        m.rows.get_or_create(&label).inc_by(rows);
    });
}

/// A query or connection of `source` is tried again.
pub fn source_retry(source: &str) {
    with(|m| {
        m.retries
            .get_or_create(&SourceLabel {
                source: source.to_string(),
            })
            .inc();
    });
}

/// tally waited `seconds` for `source`, because of its load (`lag == false`) or lag.
pub fn source_waited(source: &str, lag: bool, seconds: f64) {
    with(|m| {
        m.waits
            .get_or_create(&WaitLabel {
                source: source.to_string(),
                reason: if lag { "lag" } else { "load" }.to_string(),
            })
            .inc_by(seconds);
    });
}

/// A delivery to `destination` ended: `ok` or not.
pub fn delivered(destination: &str, ok: bool) {
    with(|m| {
        m.deliveries
            .get_or_create(&DeliveryLabel {
                destination: destination.to_string(),
                result: if ok { "success" } else { "failure" }.to_string(),
            })
            .inc();
    });
}

/// Alert `alert` was sent.
pub fn alert_sent(alert: &str) {
    with(|m| {
        m.alerts
            .get_or_create(&AlertLabel {
                alert: alert.to_string(),
            })
            .inc();
    });
}

/// The time zone of report days, for [`report_delivered`] (UTC until set).
static ZONE: Mutex<Option<chrono_tz::Tz>> = Mutex::new(None);

/// Report days are days in `zone`.
pub fn set_zone(zone: chrono_tz::Tz) {
    *ZONE.lock().unwrap_or_else(|e| e.into_inner()) = Some(zone);
}

/// `report` was delivered for `day` (the gauge holds the newest such day's midnight in the
/// config's time zone).
pub fn report_delivered(report: &str, day: chrono::NaiveDate) {
    let zone = ZONE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or(chrono_tz::Tz::UTC);
    let midnight = crate::days::day_start(zone, day).timestamp();
    with(|m| {
        let gauge = m.report_day.get_or_create(&ReportLabel {
            report: report.to_string(),
        });
        if (midnight as f64) > gauge.get() {
            gauge.set(midnight as f64);
        }
    });
}

/// A run ended at `ended` (Unix time) after `seconds`: `ok` or not.
pub fn run_ended(ok: bool, ended: f64, seconds: f64) {
    with(|m| {
        m.runs
            .get_or_create(&ResultLabel {
                result: if ok { "success" } else { "failure" }.to_string(),
            })
            .inc();
        m.last_run.set(ended);
        if ok {
            m.last_success.set(ended);
        }
        m.run_duration.observe(seconds);
    });
}

/// The last successful run, as read from the store when the daemon starts.
pub fn last_success_was(at: f64) {
    with(|m| {
        if at > m.last_success.get() {
            m.last_success.set(at);
        }
    });
}

/// The next scheduled run (Unix time).
pub fn next_run_at(at: i64) {
    with(|m| m.next_run.set(at as f64));
    NEXT_RUN.store(at, Ordering::Relaxed);
}

/// The metrics in the Prometheus text format, with the store's size `store_bytes`.
pub fn text(store_bytes: u64) -> String {
    with(|m| {
        m.store_bytes
            .set(i64::try_from(store_bytes).unwrap_or(i64::MAX));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &m.registry);
        out
    })
}

/// When the next run is due (Unix time; 0 before the daemon knows).
static NEXT_RUN: AtomicI64 = AtomicI64::new(0);
/// True when the last run failed after its retries.
static FAILING: AtomicBool = AtomicBool::new(false);
/// When it failed (Unix time): a successful run after it (a manual one) clears it.
static FAILED_AT: AtomicI64 = AtomicI64::new(0);
/// Why, in one line.
static FAILURE: Mutex<String> = Mutex::new(String::new());

/// The last run failed after its retries (`Some(why)`), or worked (`None`).
pub fn set_failing(why: Option<&str>) {
    FAILING.store(why.is_some(), Ordering::Relaxed);
    FAILED_AT.store(chrono::Utc::now().timestamp(), Ordering::Relaxed);
    let mut failure = FAILURE.lock().unwrap_or_else(|e| e.into_inner());
    *failure = why.map_or(String::new(), |w| {
        w.lines().next().unwrap_or("").to_string()
    });
}

/// A run starts: until it ends, no run is overdue.
pub fn run_started() {
    NEXT_RUN.store(0, Ordering::Relaxed);
}

/// `Ok` when tally is healthy; `Err(reason)` (one line) when the last run failed after its
/// retries (and no run succeeded since: `last_success`, Unix time, from the run history), or
/// when the next run is overdue by more than an hour at `now` (Unix time).
pub fn health(now: i64, last_success: Option<i64>) -> Result<(), String> {
    let recovered = last_success.is_some_and(|t| t >= FAILED_AT.load(Ordering::Relaxed));
    if FAILING.load(Ordering::Relaxed) && !recovered {
        let why = FAILURE.lock().unwrap_or_else(|e| e.into_inner()).clone();
        return Err(format!("the last run failed: {why}"));
    }
    let next = NEXT_RUN.load(Ordering::Relaxed);
    if next > 0 && now - next > 3600 {
        return Err(format!(
            "the next run is overdue by {} minutes: the daemon is stuck",
            (now - next) / 60
        ));
    }
    Ok(())
}
