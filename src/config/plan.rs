//! The checked configuration. Every value here has been validated; nothing in this module does
//! I/O beyond reading the config and env files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bigdecimal::BigDecimal;
use chrono::{Days, NaiveDate};
use chrono_tz::Tz;
use indexmap::IndexMap;

/// A checked `[sources.NAME]`.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// The source's name in the config.
    pub name: String,
    /// The database's driver, found by the URL's scheme.
    pub driver: &'static dyn crate::source::Driver,
    /// The connection URL, without the TLS parameters tally reads itself: a secret, since it
    /// may hold a password (print `display_url`).
    pub url: super::Secret,
    /// The URL with its password replaced by `***`.
    pub display_url: String,
    /// For file sources (`sqlite://PATH`), the file, relative to the config file.
    pub path: Option<PathBuf>,
    /// How the connection is encrypted and verified.
    pub tls: Tls,
    /// Zone of naive timestamps in this source.
    pub timezone: Tz,
    /// Time limit of one slice query.
    pub statement_timeout: Duration,
    /// Time limit of connecting: TCP, TLS handshake, login and session setup.
    pub connect_timeout: Duration,
    /// Pause between two slice queries.
    pub pause: Pause,
    /// Most rows per second this source sends (slice queries are spaced out to keep under it).
    pub max_rows_per_second: Option<u64>,
    /// Connections that run slice queries at the same time (1 to [`MAX_PARALLEL`]).
    pub parallel: usize,
    /// Load thresholds: no slice query starts while one of them is exceeded.
    pub max_load: Vec<LoadLimit>,
    /// How long to wait for the load (or the lag) to come down before the sync fails.
    pub max_load_wait: Duration,
    /// Highest replica lag at which slice queries start; `None` turns the check off.
    pub max_lag: Option<Duration>,
}

/// The pause between two slice queries on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// A share of the previous query's time ([`AUTO_PAUSE_SHARE`]), at most [`AUTO_PAUSE_MAX`].
    Auto,
    /// A fixed pause (zero: none).
    Fixed(Duration),
}

/// With `pause = "auto"`, the pause after a query is its time divided by this: the source
/// spends at most 4/5 of a connection's time on tally's queries.
pub const AUTO_PAUSE_SHARE: u32 = 4;

/// The longest automatic pause.
pub const AUTO_PAUSE_MAX: Duration = Duration::from_secs(5);

/// One `max_load` threshold, like `Threads_running=25`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadLimit {
    /// The load figure: a MySQL `SHOW GLOBAL STATUS` variable, or `active` for PostgreSQL.
    pub name: String,
    /// Slice queries wait while the figure is above this.
    pub max: u64,
}

/// How a connection to a source is encrypted and verified (libpq's `sslmode`, MySQL's
/// `ssl-mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// The mode.
    pub mode: TlsMode,
    /// PEM file of the CA certificates to trust instead of the system's.
    pub ca: Option<PathBuf>,
    /// PEM file of a client certificate (with `key`).
    pub cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    pub key: Option<PathBuf>,
}

impl Tls {
    /// No TLS (SQLite files, and the default of nothing).
    pub fn none() -> Tls {
        Tls {
            mode: TlsMode::Disable,
            ca: None,
            cert: None,
            key: None,
        }
    }
}

/// Whether TLS is used and what is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Never TLS (`disable`, `DISABLED`).
    Disable,
    /// TLS when the server offers it, without verifying its certificate (`prefer`, `PREFERRED`).
    Prefer,
    /// TLS or fail, without verifying the certificate (`require`, `REQUIRED`).
    Require,
    /// TLS, with a certificate signed by a trusted CA, whatever name it carries (`verify-ca`,
    /// `VERIFY_CA`).
    VerifyCa,
    /// TLS, with a trusted certificate for the host connected to (`verify-full`,
    /// `VERIFY_IDENTITY`).
    VerifyFull,
}

impl TlsMode {
    /// True when the server's certificate chain is checked.
    pub fn verifies(self) -> bool {
        matches!(self, TlsMode::VerifyCa | TlsMode::VerifyFull)
    }
}

/// The longest `keep`: 100 years ("forever" for a store of daily rollups).
pub const MAX_KEEP_DAYS: u32 = 36_500;

/// The longest `lookback`.
pub const MAX_LOOKBACK_DAYS: u32 = 3_650;

/// The longest segment `window`.
pub const MAX_WINDOW_DAYS: u32 = 366;

/// The most days a report covers.
pub const MAX_REPORT_DAYS: u32 = 3_660;

/// The most connections a source may use at once.
pub const MAX_PARALLEL: usize = 16;

/// An aggregate function allowed in a measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// `count(*)` or `count(x)`.
    Count,
    /// `sum(x)`.
    Sum,
    /// `min(x)`.
    Min,
    /// `max(x)`.
    Max,
}

/// A named measure of a rollup.
#[derive(Debug, Clone)]
pub struct Measure {
    /// Column name in the store.
    pub name: String,
    /// Aggregate function.
    pub agg: Agg,
    /// Argument expression (`*` for `count(*)`).
    pub arg: String,
}

/// A named grouping column of a rollup.
#[derive(Debug, Clone)]
pub struct Dimension {
    /// Column name in the store.
    pub name: String,
    /// SQL expression evaluated by the source.
    pub expr: String,
}

/// A checked `[rollups.NAME]`.
#[derive(Debug, Clone)]
pub struct Rollup {
    /// Rollup name, also its table name in the store.
    pub name: String,
    /// Source name.
    pub source: String,
    /// Table name parts (`schema`, `table`).
    pub table: Vec<String>,
    /// Time column.
    pub time: String,
    /// User expression.
    pub user: String,
    /// Grouping columns in config order.
    pub dimensions: Vec<Dimension>,
    /// Measures in config order.
    pub measures: Vec<Measure>,
    /// Predicate pushed to the source.
    pub filter: Option<String>,
    /// Slice length in hours (24 for daily slices).
    pub slice_hours: u32,
    /// Late-row window.
    pub lookback: Duration,
    /// Days of rows kept in the store.
    pub keep_days: u32,
    /// Zone of the days (the config's `timezone`).
    pub day_zone: Tz,
    /// Zone of the source's naive timestamps.
    pub source_zone: Tz,
    /// Sync may run slice queries that read the whole table.
    pub allow_full_scan: bool,
}

impl Rollup {
    /// A fingerprint of everything that shapes the stored rows: when it changes, the stored rows
    /// no longer mean the same thing and the rollup is pulled again.
    pub fn fingerprint(&self) -> String {
        let dims: Vec<String> = self
            .dimensions
            .iter()
            .map(|d| format!("{}={}", d.name, d.expr))
            .collect();
        let measures: Vec<String> = self
            .measures
            .iter()
            .map(|m| format!("{}={:?}({})", m.name, m.agg, m.arg))
            .collect();
        format!(
            "source={};table={};time={};user={};dims=[{}];measures=[{}];filter={};slice={}h;zones={},{}",
            self.source,
            self.table.join("."),
            self.time,
            self.user,
            dims.join(","),
            measures.join(","),
            self.filter.as_deref().unwrap_or(""),
            self.slice_hours,
            self.day_zone,
            self.source_zone
        )
    }

    /// What column `i` of the slice query is, for messages: the user, a dimension or a measure.
    pub fn column(&self, i: usize) -> String {
        let dims = self.dimensions.len();
        match i {
            0 => "the user".to_string(),
            i if i <= dims => format!("dimension `{}`", self.dimensions[i - 1].name),
            i => match self.measures.get(i - 1 - dims) {
                Some(m) => format!("measure `{}`", m.name),
                None => format!("column {}", i + 1),
            },
        }
    }

    /// Looks up a measure by name.
    pub fn measure(&self, name: &str) -> Option<&Measure> {
        self.measures.iter().find(|m| m.name == name)
    }
}

/// One group of a segment.
#[derive(Debug, Clone)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Lowest score in the group.
    pub min_score: BigDecimal,
}

/// A checked `[segments.NAME]`.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Segment name, also its table name in the store.
    pub name: String,
    /// Rollup scored.
    pub rollup: String,
    /// Measure weighted.
    pub score: String,
    /// Dimension whose values carry weights.
    pub by: Option<String>,
    /// Window length in days.
    pub window_days: u32,
    /// Weights by dimension value.
    pub weights: HashMap<String, BigDecimal>,
    /// Weight of unlisted values.
    pub default_weight: BigDecimal,
    /// Groups, highest `min_score` first.
    pub groups: Vec<Group>,
    /// Name of the rewarded-without-activity group.
    pub inactive: String,
}

/// What a report computes.
#[derive(Debug, Clone)]
pub enum ReportKind {
    /// The built-in report: rewards per segment group per day.
    SegmentRewards {
        /// Segment name.
        segment: String,
        /// Rewards rollup name.
        rewards: String,
        /// Measure of the rewards rollup that is summed.
        amount: String,
    },
    /// Custom SQL over the store.
    Sql {
        /// The query.
        sql: String,
        /// Rollups the query names (synced before it runs).
        rollups: Vec<String>,
        /// Segments the query names (materialized before it runs).
        segments: Vec<String>,
    },
}

/// A checked `[reports.NAME]`.
#[derive(Debug, Clone)]
pub struct ReportSpec {
    /// Report name (file names use it).
    pub name: String,
    /// Title shown above it.
    pub title: String,
    /// Number of days, ending with the report date.
    pub days: u32,
    /// What it computes.
    pub kind: ReportKind,
}

impl ReportSpec {
    /// First and last report day for report date `date`.
    pub fn range(&self, date: NaiveDate) -> (NaiveDate, NaiveDate) {
        (days_before(date, self.days.saturating_sub(1)), date)
    }
}

/// A checked `[schedule]`.
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    /// The cron pattern (known to parse).
    pub cron: String,
    /// Extra attempts after a failed run.
    pub retries: u32,
    /// Wait before each extra attempt.
    pub retry_delay: Duration,
    /// Name of the destination that gets alerts.
    pub alert: Option<String>,
}

/// The whole checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file it was read from.
    pub config_path: PathBuf,
    /// Zone of days and windows.
    pub timezone: Tz,
    /// The SQLite store file.
    pub store: PathBuf,
    /// Sources by name.
    pub sources: IndexMap<String, SourceSpec>,
    /// Rollups by name.
    pub rollups: IndexMap<String, Rollup>,
    /// Segments by name.
    pub segments: IndexMap<String, Segment>,
    /// Reports by name, in config order.
    pub reports: IndexMap<String, ReportSpec>,
    /// Output directory of `tally run`.
    pub output_dir: PathBuf,
    /// Destinations, in config order.
    pub destinations: Vec<crate::deliver::Destination>,
    /// Font of the PNG chart, instead of the built-in one.
    pub chart_font: Option<PathBuf>,
    /// The daemon's schedule.
    pub schedule: Option<ScheduleSpec>,
}

/// An inclusive range of days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    /// First day.
    pub first: NaiveDate,
    /// Last day (inclusive).
    pub last: NaiveDate,
}

impl DayRange {
    fn union(self, other: DayRange) -> DayRange {
        DayRange {
            first: self.first.min(other.first),
            last: self.last.max(other.last),
        }
    }

    /// Every day of the range, in order.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let last = self.last;
        self.first.iter_days().take_while(move |d| *d <= last)
    }
}

/// `n` days before `date`, or the first day of the calendar when that is further back (never
/// a later day: a `keep` horizon that moved forward would prune what it should keep).
pub fn days_before(date: NaiveDate, n: u32) -> NaiveDate {
    date.checked_sub_days(Days::new(n.into()))
        .unwrap_or(NaiveDate::MIN)
}

impl Config {
    /// The days each rollup must hold for the given reports on report date `date`: a segment
    /// needs its whole window before the first report day.
    pub fn required_days<'a>(
        &self,
        reports: impl IntoIterator<Item = &'a ReportSpec>,
        date: NaiveDate,
    ) -> IndexMap<String, DayRange> {
        let mut need: IndexMap<String, DayRange> = IndexMap::new();
        let mut add = |rollup: &str, range: DayRange| {
            need.entry(rollup.to_string())
                .and_modify(|r| *r = r.union(range))
                .or_insert(range);
        };
        for report in reports {
            let (first, last) = report.range(date);
            let plain = DayRange { first, last };
            let (rollups, segments): (Vec<&str>, Vec<&str>) = match &report.kind {
                ReportKind::SegmentRewards {
                    segment, rewards, ..
                } => (vec![rewards.as_str()], vec![segment.as_str()]),
                ReportKind::Sql {
                    rollups, segments, ..
                } => (
                    rollups.iter().map(String::as_str).collect(),
                    segments.iter().map(String::as_str).collect(),
                ),
            };
            for r in rollups {
                add(r, plain);
            }
            for s in segments {
                let seg = &self.segments[s];
                let first = days_before(first, seg.window_days - 1);
                add(&seg.rollup, DayRange { first, last });
            }
        }
        need
    }

    /// Looks up reports by name; an unknown name is an error naming it.
    pub fn select_reports(&self, names: &[String]) -> Result<Vec<&ReportSpec>, String> {
        if names.is_empty() {
            return Ok(self.reports.values().collect());
        }
        names
            .iter()
            .map(|n| {
                self.reports.get(n).ok_or_else(|| {
                    let known: Vec<&str> = self.reports.keys().map(String::as_str).collect();
                    format!("no report named `{n}` (reports: {})", known.join(", "))
                })
            })
            .collect()
    }
}

/// Resolves `path` relative to the directory of the config file.
pub fn relative_to(config_path: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        config_path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join(p)
    }
}
